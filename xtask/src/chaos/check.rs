//! The invariants, checked after every round against the facts (the checkout, what the app
//! serves, the state directory, the processes) and what the round saw on the way.

use std::path::{Path, PathBuf};

use super::model::Model;
use super::world::World;
use crate::demo::cleanup;

/// The watches still recorded in `state`.
pub(crate) fn pending(state: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(state.join("watches"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect()
}

/// The processes of the round still running, except the app itself.
pub(crate) fn ours(world: &World) -> Vec<u32> {
    let app = std::fs::read_to_string(world.run.join("preprod.pid"))
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok());
    let mut pids = cleanup::processes_in(&world.dir);
    pids.retain(|&p| Some(p) != app && p != std::process::id());
    pids
}

/// Every invariant that does not hold, as `I<n>: …` lines.
pub(crate) fn violations(world: &World, model: &Model) -> Vec<String> {
    let mut found = Vec::new();
    let head = world.head().unwrap_or_default();
    let served = world.served();
    // I1: the app serves what HEAD says.
    if served.as_deref() != Some(head.as_str()) {
        found.push(format!(
            "I1: HEAD is {} but the app serves {}",
            model.name(&head),
            served
                .as_deref()
                .map_or("nothing".to_owned(), |s| model.name(s))
        ));
    }
    // I2: nothing whose CI failed is served.
    for sha in [Some(head.as_str()), served.as_deref()]
        .into_iter()
        .flatten()
    {
        if let Some((_, p)) = model.push_of(sha)
            && !p.ci_success
        {
            found.push(format!(
                "I2: {} is in service and its CI failed",
                model.name(sha)
            ));
            break;
        }
    }
    fresh_newest(world, model, served.as_deref(), &mut found);
    validated_forward(world, model, &mut found);
    clean_state(world, &mut found);
    never_back(model, &mut found);
    found
}

/// I3: when the newest push passed CI and was healthy here, it is served.
fn fresh_newest(world: &World, model: &Model, served: Option<&str>, found: &mut Vec<String>) {
    let Some(newest) = model.pushes.last() else {
        return;
    };
    if newest.good() && healthy_here(world, &newest.sha) && served != Some(newest.sha.as_str()) {
        found.push(format!(
            "I3: the newest push {} passed CI and was healthy here, but {} is served",
            model.name(&newest.sha),
            served.map_or("nothing".to_owned(), |s| model.name(s))
        ));
    }
}

/// The SHAs whose health gate passed here (the journal's healthy deploys and rollbacks).
fn healthy_here(world: &World, sha: &str) -> bool {
    journal(&world.state).iter().any(|e| {
        e["sha"] == sha
            && ((e["event"] == "deploy" && e["outcome"] == "deployed")
                || (e["event"] == "rollback" && e["outcome"] == "rolled-back"))
    })
}

/// The journal's entries (an unreadable line is reported by [`clean_state`]).
fn journal(state: &Path) -> Vec<serde_json::Value> {
    let mut entries = Vec::new();
    for name in ["journal.1.jsonl", "journal.jsonl"] {
        let text = std::fs::read_to_string(state.join(name)).unwrap_or_default();
        entries.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    entries
}

/// I4: last-validated only moved forward, and names a SHA that passed CI and was healthy here.
fn validated_forward(world: &World, model: &Model, found: &mut Vec<String>) {
    let mut last: Option<usize> = None;
    for s in &model.samples {
        let Some(v) = &s.validated else { continue };
        let Some((i, p)) = model.push_of(v) else {
            found.push(format!(
                "I4: last-validated names {v}, not a push (after {})",
                s.after
            ));
            continue;
        };
        if !p.good() || !healthy_here(world, v) {
            found.push(format!(
                "I4: last-validated names {}, which did not pass CI or was not healthy here (after {})",
                model.name(v),
                s.after
            ));
        }
        if let Some(l) = last
            && i < l
        {
            found.push(format!(
                "I4: last-validated moved back from {} to {} (after {})",
                model.name(&model.pushes[l].sha),
                model.name(v),
                s.after
            ));
        }
        last = Some(last.map_or(i, |l| l.max(i)));
    }
}

/// I5: no watch pending, every state file parses, the lock is free, no process of ours left.
fn clean_state(world: &World, found: &mut Vec<String>) {
    let state = &world.state;
    for p in pending(state) {
        found.push(format!(
            "I5: a watch is still pending after resume: {}",
            p.display()
        ));
    }
    for name in ["journal.jsonl", "journal.1.jsonl"] {
        let text = std::fs::read_to_string(state.join(name)).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if serde_json::from_str::<serde_json::Value>(line).is_err() {
                found.push(format!("I5: {name} line {} does not parse: {line}", n + 1));
            }
        }
    }
    for name in ["last-validated-sha.txt", "previous-sha.txt"] {
        if let Ok(text) = std::fs::read_to_string(state.join(name)) {
            let t = text.trim();
            if t.len() != 40 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
                found.push(format!("I5: {name} holds {t:?}, not a SHA"));
            }
        }
    }
    for name in ["deploy-in-progress.json", "health.json"] {
        if let Ok(text) = std::fs::read_to_string(state.join(name))
            && serde_json::from_str::<serde_json::Value>(&text).is_err()
        {
            found.push(format!("I5: {name} does not parse: {text}"));
        }
    }
    if let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .open(state.join("lock"))
    {
        match file.try_lock() {
            Ok(()) => {}
            Err(_) => found.push("I5: the environment lock is still held".to_owned()),
        }
    }
    for pid in ours(world) {
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .replace('\0', " ");
        found.push(format!("I5: a process of ours is left: {pid} {cmd}"));
    }
}

/// I6: the service never stepped back from a SHA that passed CI and was healthy (validated
/// here, and served since).
fn never_back(model: &Model, found: &mut Vec<String>) {
    let mut floor: Option<usize> = None;
    let mut validated: Option<usize> = None;
    for s in &model.samples {
        if let Some(v) = s.validated.as_deref().and_then(|v| model.push_of(v)) {
            validated = Some(validated.map_or(v.0, |x| x.max(v.0)));
        }
        let Some((i, _)) = s.served.as_deref().and_then(|x| model.push_of(x)) else {
            continue;
        };
        if let Some(f) = floor
            && i < f
        {
            found.push(format!(
                "I6: the service stepped back from {} to {} (after {})",
                model.name(&model.pushes[f].sha),
                model.name(&model.pushes[i].sha),
                s.after
            ));
        }
        if validated == Some(i) {
            floor = Some(floor.map_or(i, |f| f.max(i)));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::chaos::model::{Kind, Push, Sample};

    fn model(samples: &[(Option<&str>, Option<&str>)]) -> Model {
        let push = |sha: &str| Push {
            sha: sha.to_owned(),
            kind: Kind::Good,
            ci_success: true,
            ci_done: Duration::ZERO,
            job_broken: false,
            verdict_event: false,
        };
        Model {
            pushes: ["a", "b", "c"].into_iter().map(push).collect(),
            samples: samples
                .iter()
                .map(|(served, validated)| Sample {
                    served: served.map(str::to_owned),
                    validated: validated.map(str::to_owned),
                    after: "a step".to_owned(),
                })
                .collect(),
            trace: Vec::new(),
        }
    }

    #[test]
    fn a_step_back_from_a_validated_served_sha_is_found() {
        let mut found = Vec::new();
        never_back(
            &model(&[
                (Some("a"), Some("a")),
                (Some("b"), Some("b")),
                (Some("a"), Some("b")),
            ]),
            &mut found,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("I6"), "{found:?}");
    }

    #[test]
    fn a_rollback_from_a_sha_not_yet_validated_is_no_step_back() {
        let mut found = Vec::new();
        never_back(
            &model(&[
                (Some("a"), Some("a")),
                (Some("b"), Some("a")),
                (Some("a"), Some("a")),
            ]),
            &mut found,
        );
        assert!(found.is_empty(), "{found:?}");
    }
}
