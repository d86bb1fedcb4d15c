//! Commit SHAs: the one check of "is this a full SHA", the short form and the commit's URL.

/// `{server}/{owner/repo}/commit/{sha}`.
pub fn commit_url(server: &str, repository: &str, sha: &str) -> String {
    format!("{}/{repository}/commit/{sha}", server.trim_end_matches('/'))
}

/// The first 7 characters of a SHA (the whole string if shorter).
pub fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Whether `s` is a full 40-hex commit SHA (lower case).
pub fn is_full_sha(s: &str) -> bool {
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
    }
}
