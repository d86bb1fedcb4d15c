//! Time: UTC timestamps in RFC 3339 (without a date-time dependency) and the durations of the
//! inputs (`500ms`, `10s`, `5m`, `1h`), parsed and formatted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-11-26T15:04:05Z` (UTC, whole seconds).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let (date, secs_of_day, _) = civil(t);
    format!("{date}T{}Z", clock(secs_of_day))
}

/// `2026-11-26T15:04:05.123Z` (UTC, milliseconds), as Discord's embed timestamps.
pub(crate) fn rfc3339_millis(t: SystemTime) -> String {
    let (date, secs_of_day, millis) = civil(t);
    format!("{date}T{}.{millis:03}Z", clock(secs_of_day))
}

/// The current time, [`rfc3339`].
pub(crate) fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

fn clock(secs_of_day: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// (`YYYY-MM-DD`, seconds into the day, milliseconds); times before 1970 read as 1970.
fn civil(t: SystemTime) -> (String, u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        secs % 86_400,
        d.subsec_millis(),
    )
}

/// The longest duration accepted (a year): longer ones are typos, and would overflow clocks.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses `500ms`, `10s`, `5m`, `1h` (and sums like `1m30s`); a bare number means seconds.
/// At most [`MAX_DURATION`].
pub(crate) fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let total = parse_duration_unbounded(text)?;
    if total > MAX_DURATION {
        return Err(format!(
            "`{}` is too long (at most 8760h, a year)",
            text.trim()
        ));
    }
    Ok(total)
}

fn parse_duration_unbounded(text: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration (use e.g. `500ms`, `10s`, `5m`, `1h`)");
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().map(Duration::from_secs).map_err(|_| bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    Ok(total)
}

/// Formats a duration for people: `850ms`, `12s`, `2m05s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = d.as_secs_f64();
        if s.fract() < 0.05 {
            format!("{}s", d.as_secs())
        } else {
            format!("{s:.1}s")
        }
    } else {
        let secs = d.as_secs();
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(rfc3339(t), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339_millis(t), "2026-11-18T11:06:40.123Z");
        // A leap day.
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("8760h"), Ok(MAX_DURATION));
        for bad in [
            "",
            "s",
            "10x",
            "-1s",
            "1.5s",
            "ms10",
            "99999999999999999999h",
            "18446744073709551615",
            "8761h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_secs(12)), "12s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, tricky_text};
    use proptest::prelude::*;

    const UNITS: [(&str, u128); 4] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];

    proptest! {
        #![proptest_config(config(1))]

        /// Any text is a duration of at most a year, or an error; never a panic.
        #[test]
        fn any_text_is_a_bounded_duration_or_an_error(
            text in prop_oneof![tricky_text(24), "[0-9hms ]{0,24}", "[0-9]{15,25}[hms]{0,2}"]
        ) {
            if let Ok(d) = parse_duration(&text) {
                prop_assert!(d <= MAX_DURATION);
                prop_assert!(!text.trim().is_empty());
            }
        }

        /// A sum of parts (`1h5m30s250ms`, any order, repeats, blanks around) is their exact
        /// total when it is at most a year, refused when longer.
        #[test]
        fn sums_of_parts_are_exact_and_bounded(
            parts in prop::collection::vec((prop_oneof![0u64..100_000, any::<u64>()], 0usize..4), 1..5),
            pad in "[ \t\n]{0,2}",
        ) {
            let text: String = parts.iter().map(|(n, u)| format!("{n}{}", UNITS[*u].0)).collect();
            let total: Option<u128> = parts.iter().try_fold(0u128, |acc, (n, u)| {
                acc.checked_add(u128::from(*n) * UNITS[*u].1)
            });
            let got = parse_duration(&format!("{pad}{text}{pad}"));
            match total.filter(|t| *t <= MAX_DURATION.as_millis()) {
                Some(ms) => prop_assert_eq!(got.map(|d| d.as_millis()), Ok(ms), "{}", text),
                None => prop_assert!(got.is_err(), "{}", text),
            }
        }

        /// What [`format_duration`] prints for whole seconds (or less than one) reads back.
        #[test]
        fn formatted_durations_read_back(secs in 0u64..=MAX_DURATION.as_secs(), ms in 0u64..1000) {
            for d in [Duration::from_secs(secs), Duration::from_millis(ms)] {
                prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
            }
        }
    }
}
