//! Commit SHAs: the one check of "is this a full SHA", the short form and the commit's URL.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// A full commit SHA: 40 hexadecimal digits, in lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha(String);

impl Sha {
    /// `text` as a SHA: surrounding blanks dropped, upper case accepted; `None` unless it is
    /// 40 hexadecimal digits.
    pub fn parse(text: &str) -> Option<Sha> {
        let sha = text.trim().to_ascii_lowercase();
        is_full_sha(&sha).then_some(Sha(sha))
    }

    /// The SHA as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 7 characters.
    pub fn short(&self) -> &str {
        short_sha(&self.0)
    }

    /// `{server}/{owner/repo}/commit/{sha}`.
    pub fn commit_url(&self, server: &str, repository: &str) -> String {
        commit_url(server, repository, &self.0)
    }

    /// The SHA as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for Sha {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sha {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Sha {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_ref()
    }
}

impl fmt::Display for Sha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Sha> for String {
    fn from(sha: Sha) -> String {
        sha.0
    }
}

impl TryFrom<String> for Sha {
    type Error = String;

    fn try_from(text: String) -> Result<Sha, String> {
        Sha::parse(&text).ok_or_else(|| format!("`{text}` is not a full 40-hex commit SHA"))
    }
}

impl PartialEq<str> for Sha {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Sha {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Sha {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

impl PartialEq<Sha> for String {
    fn eq(&self, other: &Sha) -> bool {
        *self == other.0
    }
}

/// `{server}/{owner/repo}/commit/{sha}`.
pub(crate) fn commit_url(server: &str, repository: &str, sha: &str) -> String {
    format!("{}/{repository}/commit/{sha}", server.trim_end_matches('/'))
}

/// The first 7 characters of a SHA (the whole string if shorter).
pub fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Whether `s` is a full 40-hex commit SHA in lower case, as git prints it (what [`Sha`] holds).
pub(crate) fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shas() {
        assert!(is_full_sha("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_full_sha("0123456789ABCDEF0123456789abcdef01234567"));
        assert!(!is_full_sha("0123456"));
        assert_eq!(short_sha("0123456789abcdef"), "0123456");
        assert_eq!(short_sha("abc"), "abc");
        let upper = " 0123456789ABCDEF0123456789abcdef01234567\n";
        let sha = Sha::parse(upper).unwrap();
        assert_eq!(sha.as_str(), "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(sha.short(), "0123456");
        assert_eq!(
            sha.commit_url("https://github.com/", "o/r"),
            "https://github.com/o/r/commit/0123456789abcdef0123456789abcdef01234567"
        );
        assert!(Sha::parse("0123456").is_none());
        assert!(Sha::parse("g123456789abcdef0123456789abcdef01234567").is_none());
        let json = serde_json::to_string(&sha).unwrap();
        assert_eq!(json, "\"0123456789abcdef0123456789abcdef01234567\"");
        assert_eq!(serde_json::from_str::<Sha>(&json).unwrap(), sha);
        assert!(serde_json::from_str::<Sha>("\"main\"").is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, tricky_text};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(1))]

        /// A SHA is 40 hexadecimal digits (blanks around, any case), held in lower case and
        /// read back from JSON as itself; anything else is refused, in JSON too.
        #[test]
        fn a_sha_is_forty_hex_digits_and_nothing_else(
            text in prop_oneof![tricky_text(42), "[ \n]{0,2}[0-9a-fA-F]{39,41}[ \n\t]{0,2}", "[0-9a-gA-G]{40}"]
        ) {
            let hex = text.trim();
            let valid = hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit());
            let sha = Sha::parse(&text);
            prop_assert_eq!(sha.is_some(), valid);
            let json = serde_json::to_string(&text).unwrap();
            prop_assert_eq!(serde_json::from_str::<Sha>(&json).ok(), sha.clone());
            if let Some(sha) = sha {
                prop_assert!(is_full_sha(&sha));
                prop_assert_eq!(sha.as_str(), hex.to_ascii_lowercase());
                prop_assert_eq!(sha.short(), &sha.as_str()[..7]);
            }
            let short = short_sha(&text);
            prop_assert!(text.starts_with(short));
        }
    }
}
