//! Huge and hostile texts: every Discord limit respected, nobody pinged.

use lastgood_testkit::discord::DiscordStandIn;
use serde_json::{Value, json};

use crate::common::{SHA, cmd, embed, len};

fn total(e: &Value) -> usize {
    len(&e["title"])
        + len(&e["description"])
        + len(&e["footer"]["text"])
        + len(&e["author"]["name"])
        + e["fields"].as_array().map_or(0, |fs| {
            fs.iter().map(|f| len(&f["name"]) + len(&f["value"])).sum()
        })
}

#[test]
fn huge_hostile_texts_are_truncated_and_accepted() {
    // The first line's cut (1024 per field value, "…" included) falls right after an emoji,
    // then on CJK; the rest of the text is 100 KB of hostile content.
    let first_line = format!("{}🚀漢{}", "a".repeat(1021), "字".repeat(2000));
    let hostile = "@everyone @here <@123> <@&456> ``` ```` 🚀漢字e\u{301} ";
    let big = hostile.repeat(100_000 / hostile.len() + 1);
    let commit_message = format!("{first_line}\n{big}");
    for (event, locale) in [
        ("ci-failed", "en"),
        ("custom", "fr"),
        ("deploy-started", "fr"),
    ] {
        let discord = DiscordStandIn::start();
        let run = cmd(&discord)
            .input("event", event)
            .input("locale", locale)
            .input("environment", &big)
            .input("sha", SHA)
            .input("author", &big)
            .input("commit-message", &commit_message)
            .input("details", &big)
            .input("title", &big)
            .input("description", &big)
            .input("url", format!("https://x.example/{}", "p".repeat(5000)))
            .run();
        assert_eq!(run.code, 0, "{event}: {}", run.stderr);
        assert_eq!(run.output("sent"), Some("true"), "{}", run.stderr);
        assert_eq!(discord.requests().len(), 1, "no 400, no retry");
        let body = &discord.accepted()[0];
        let e = embed(body);
        assert!(total(e) <= 6000, "{}", total(e));
        assert!(len(&e["title"]) <= 256 && e["title"].as_str().unwrap().ends_with('…'));
        assert!(len(&e["description"]) <= 4096);
        let description = e["description"].as_str().unwrap();
        assert!(description.contains('…'), "{description}");
        assert_eq!(description.matches("```").count() % 2, 0, "fences balanced");
        let fields = e["fields"].as_array().unwrap();
        for f in fields {
            assert!(len(&f["value"]) <= 1024 && len(&f["name"]) <= 256);
        }
        let message = fields.iter().find(|f| f["name"] == "Message").unwrap();
        let value = message["value"].as_str().unwrap();
        assert!(value.ends_with('…'), "{value}");
        assert!(!value.contains('\n'), "first line only");
        if total(e) < 6000 - 1024 {
            assert!(value.ends_with("🚀…"), "{}", &value[value.len() - 10..]);
        }
        // Nobody is pinged: no role configured, so no content at all.
        assert_eq!(body["allowed_mentions"], json!({"parse": []}));
        assert!(body.get("content").is_none());
        let text = body.to_string();
        assert!(!text.contains("@everyone") && !text.contains("@here"));
    }
}

#[test]
fn the_message_line_cut_falls_between_emoji_and_cjk() {
    let discord = DiscordStandIn::start();
    let first_line = format!("{}🚀漢字", "a".repeat(1022));
    let run = cmd(&discord)
        .input("event", "ci-succeeded")
        .input("commit-message", &first_line)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let body = &discord.accepted()[0];
    let fields = embed(body)["fields"].as_array().unwrap();
    let value = fields.iter().find(|f| f["name"] == "Message").unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(value.chars().count(), 1024);
    assert!(value.ends_with("a🚀…"), "{}", &value[value.len() - 12..]);
}

#[test]
fn an_open_fence_in_the_description_with_long_details_fits() {
    // The description's lone ``` is neutralised (it grows by two zero-width spaces); the long
    // details must still leave the description within 4096 characters.
    let discord = DiscordStandIn::start();
    let run = cmd(&discord)
        .input("event", "ci-failed")
        .input("description", "pytest failed, see ```the log")
        .input("details", "E   assert 1 == 2\n".repeat(1000))
        .input("fail-on-error", "true")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(discord.requests().len(), 1, "accepted at once");
    let e = embed(&discord.accepted()[0]).clone();
    assert!(len(&e["description"]) <= 4096, "{}", len(&e["description"]));
    assert!(total(&e) <= 6000);
}
