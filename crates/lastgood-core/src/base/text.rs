//! Text for people: lengths and cuts that count characters (Unicode scalar values, as Discord
//! does) and never split a glyph, and the defusing of mentions and code fences. Discord's
//! embeds and the health probe's messages use the same helpers.

/// The zero-width space that defuses mentions and fences.
const ZWSP: char = '\u{200B}';

/// The mark of a cut.
const ELLIPSIS: char = '…';

/// Number of characters (Unicode scalar values) in `text`, as Discord counts them.
pub(crate) fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// Marks that attach to the character before them: cutting right after one of these bases
/// leaves a broken glyph, so a cut never ends on them.
fn is_attached(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'      // combining diacritical marks
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{200C}' | '\u{200D}'    // joiners
        | '\u{FE00}'..='\u{FE0F}'    // variation selectors
        | '\u{1F3FB}'..='\u{1F3FF}'  // skin tones
        | '\u{E0020}'..='\u{E007F}') // tags
}

fn is_regional_indicator(c: char) -> bool {
    ('\u{1F1E6}'..='\u{1F1FF}').contains(&c)
}

/// Whether a cut between `chars[at - 1]` and `chars[at]` would split one visible glyph: a mark
/// or joiner after the cut, a joiner before it, or the two halves of a flag.
fn splits_glyph(chars: &[char], at: usize) -> bool {
    if at == 0 || at >= chars.len() {
        return false;
    }
    if is_attached(chars[at]) || chars[at - 1] == '\u{200D}' {
        return true;
    }
    if is_regional_indicator(chars[at]) && is_regional_indicator(chars[at - 1]) {
        let run = chars[..at]
            .iter()
            .rev()
            .take_while(|c| is_regional_indicator(**c))
            .count();
        return run % 2 == 1;
    }
    false
}

/// `text` cut to at most `max` characters, ending with "…" when cut. The cut never splits a
/// glyph (base + combining marks, ZWJ emoji sequence, flag): it moves before it.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if char_len(text) <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut cut = max - 1;
    while splits_glyph(&chars, cut) {
        cut -= 1;
    }
    let mut out: String = chars[..cut].iter().collect();
    out.push(ELLIPSIS);
    out
}

/// `text` cut to at most `max` characters keeping its end, starting with "…" when cut. The cut
/// never splits a glyph: it moves after it.
pub(crate) fn truncate_start(text: &str, max: usize) -> String {
    let len = char_len(text);
    if len <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut start = len - (max - 1);
    while start < len && splits_glyph(&chars, start) {
        start += 1;
    }
    let mut out = String::from(ELLIPSIS);
    out.extend(&chars[start..]);
    out
}

/// Inserts a zero-width space after the `@` of `@everyone` and `@here`.
pub(crate) fn defuse_mentions(text: &str) -> String {
    text.replace("@everyone", "@\u{200B}everyone")
        .replace("@here", "@\u{200B}here")
}

/// Makes `text` safe inside a ``` code block: no two backticks stay adjacent, so it can never
/// close the block.
pub(crate) fn neutralise_fences(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev = None;
    for c in text.chars() {
        if c == '`' && prev == Some('`') {
            out.push(ZWSP);
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("abcd", 0), "");
        // Emoji and CJK are one character each.
        assert_eq!(truncate("🚀🚀🚀🚀", 3), "🚀🚀…");
        assert_eq!(truncate("漢字漢字", 4), "漢字漢字");
        assert_eq!(truncate("漢字漢字漢", 4), "漢字漢…");
        // A combining mark at the cut: the base goes with it.
        assert_eq!(truncate("abe\u{0301}xyz", 5), "abe\u{0301}…");
        assert_eq!(truncate("abe\u{0301}xyz", 4), "ab…");
        // A complete emoji with its variation selector is kept.
        assert_eq!(truncate("x❤\u{FE0F}yz", 4), "x❤\u{FE0F}…");
        // Flags are pairs of regional indicators: never halved.
        assert_eq!(truncate("🇫🇷🇫🇷🇫🇷", 4), "🇫🇷…");
        assert_eq!(truncate("🇫🇷🇫🇷🇫🇷", 5), "🇫🇷🇫🇷…");
        assert_eq!(truncate_start("🇫🇷🇫🇷🇫🇷", 4), "…🇫🇷");
        // A ZWJ sequence cut in the middle leaves no dangling joiner.
        let family = "x👨\u{200D}👩\u{200D}👧";
        for max in 1..8 {
            let t = truncate(family, max);
            assert!(char_len(&t) <= max);
            assert!(!t.contains("\u{200D}…"), "{t:?}");
        }
        assert_eq!(truncate_start("abcdef", 4), "…def");
        assert_eq!(truncate_start("a\u{0301}bcd", 4), "…bcd");
        assert_eq!(truncate_start("ab\u{0301}cd", 4), "…cd");
    }

    #[test]
    fn fences_and_mentions_are_defused() {
        let t = neutralise_fences("a ``` b ```` c");
        assert!(!t.contains("``"), "{t:?}");
        assert_eq!(t.chars().filter(|c| *c == '`').count(), 7);
        assert_eq!(
            defuse_mentions("hi @everyone and @here"),
            "hi @\u{200B}everyone and @\u{200B}here"
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, tricky_text};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(1))]

        /// A cut keeps the text when it fits; else it is at most `max` characters, a prefix of
        /// the text then "…", and the cut splits no glyph.
        #[test]
        fn truncate_never_exceeds_never_splits_and_marks_the_cut(
            text in tricky_text(40), max in 0usize..45
        ) {
            let out = truncate(&text, max);
            prop_assert!(char_len(&out) <= max);
            if char_len(&text) <= max {
                prop_assert_eq!(&out, &text);
            } else if max > 0 {
                let kept = out.strip_suffix(ELLIPSIS).expect("the mark of the cut");
                prop_assert!(text.starts_with(kept));
                let chars: Vec<char> = text.chars().collect();
                prop_assert!(!splits_glyph(&chars, char_len(kept)), "{:?} → {:?}", text, out);
            }
        }

        /// The same from the end: "…" then a suffix of the text, cut between glyphs.
        #[test]
        fn truncate_start_never_exceeds_never_splits_and_marks_the_cut(
            text in tricky_text(40), max in 0usize..45
        ) {
            let out = truncate_start(&text, max);
            prop_assert!(char_len(&out) <= max);
            if char_len(&text) <= max {
                prop_assert_eq!(&out, &text);
            } else if max > 0 {
                let kept = out.strip_prefix(ELLIPSIS).expect("the mark of the cut");
                prop_assert!(text.ends_with(kept));
                let chars: Vec<char> = text.chars().collect();
                let at = chars.len() - char_len(kept);
                prop_assert!(!splits_glyph(&chars, at), "{:?} → {:?}", text, out);
            }
        }

        /// No fence survives, every backtick stays, and only zero-width spaces are added.
        #[test]
        fn fences_and_mentions_are_always_defused(text in tricky_text(40)) {
            let out = neutralise_fences(&text);
            prop_assert!(!out.contains("``"), "{:?}", out);
            prop_assert_eq!(out.replace(ZWSP, ""), text.replace(ZWSP, ""));
            let out = defuse_mentions(&format!("{text}@everyone{text}@here"));
            prop_assert!(!out.contains("@everyone") && !out.contains("@here"), "{:?}", out);
        }
    }
}
