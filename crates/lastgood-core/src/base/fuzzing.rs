//! What the property tests share (`mod fuzz` at the end of each module that parses outside
//! input or writes a format): how many cases a property runs, and inputs that are hard to cut,
//! escape or parse.
//!
//! `cargo test` (and so `cargo xtask ci`) runs [`CASES`] cases per property; the long run sets
//! `PROPTEST_CASES` (`PROPTEST_CASES=100000 cargo test -p lastgood-core --lib fuzz`, README).
//! Nothing is written to `proptest-regressions/`: a failure prints its shrunk input, which
//! becomes a plain regression test next to the fix.

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

/// Cases per property in a normal test run: the whole set takes seconds on a busy machine.
const CASES: u32 = 256;

/// The configuration of a property: [`CASES`] cases, or `PROPTEST_CASES`; divided by `weight`
/// for properties that write files.
pub(crate) fn config(weight: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(CASES);
    Config {
        cases: (cases / weight.max(1)).max(1),
        failure_persistence: None,
        ..Config::default()
    }
}

/// A scratch directory for a property that writes files: in memory (`/dev/shm`) when the
/// machine has it, so that thousands of cases with their fsyncs take seconds, not the disk's
/// time; else the usual temporary directory.
pub(crate) fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let in_memory = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten();
    in_memory.unwrap_or_else(|| tempfile::tempdir().expect("a temporary directory"))
}

/// One character, weighted towards those that break text: line ends, quotes and the syntax of
/// the formats we write, combining marks, joiners, flags, emoji, and any scalar value at all.
pub(crate) fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('0', '9'),
        2 => prop::sample::select(vec![' ', '\n', '\r', '\t', '\u{0}', '\u{7f}', '\u{1b}']),
        2 => prop::sample::select(vec![
            '`', '@', '=', '<', '>', '"', '\'', '\\', '%', ':', ',', '/', '{', '}', '[', ']',
            '#', '?', '&', '~', '!', '-', '_', '.', '…',
        ]),
        2 => prop::sample::select(vec![
            '\u{0301}', '\u{036F}', '\u{200D}', '\u{200C}', '\u{FE0F}', '\u{1F3FB}', '\u{E0067}',
            '\u{1F1EB}', '\u{1F1F7}', '\u{200B}', '\u{FEFF}', '\u{2028}', '\u{85}',
        ]),
        1 => prop::sample::select(vec!['é', '漢', '🚀', '👨', '👩', '❤', '\u{10FFFF}']),
        1 => any::<char>(),
    ]
}

/// Up to `max` [`tricky_char`]s.
pub(crate) fn tricky_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..=max).prop_map(|v| v.into_iter().collect())
}

/// Any JSON value, a few levels deep, with [`tricky_text`] strings and keys.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("a finite number", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        tricky_text(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(tricky_text(6), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
