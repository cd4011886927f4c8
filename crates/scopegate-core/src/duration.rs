//! Durations in the policy file: a positive whole number and a unit, `90s`,
//! `15m`, `1h`, `30d`.

use std::time::Duration;

/// What a duration string should look like, for error messages.
pub const DURATION_FORMAT: &str =
    "a positive whole number followed by ms, s, m, h or d (e.g. \"500ms\", \"90s\", \"15m\", \"1h\", \"30d\")";

pub fn parse_duration(s: &str) -> Option<Duration> {
    // Every valid spelling is ASCII; anything else is refused before the
    // unit is cut off (a byte index inside a character would panic).
    if !s.is_ascii() {
        return None;
    }
    if let Some(ms) = s.strip_suffix("ms") {
        if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = ms.parse().ok()?;
        return (n > 0).then(|| Duration::from_millis(n));
    }
    let unit_at = s.len().checked_sub(1)?;
    let (digits, unit) = s.split_at(unit_at);
    let per_unit: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let secs = n.checked_mul(per_unit)?;
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// The shortest exact spelling of `d` in the policy file's units.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 {
        return format!("{}ms", d.as_millis());
    }
    let s = d.as_secs();
    match s {
        _ if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_that_is_not_ascii_is_refused_not_a_panic() {
        for bad in ["1\u{e9}", "\u{bb40f}", "5\u{1cde}[\u{c6}C", "\u{e9}d", "1h\u{301}"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_duration_never_panics(s in "\\PC{0,12}") {
            let _ = parse_duration(&s);
        }
    }

    #[test]
    fn durations_take_one_unit() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(30 * 86_400)));
        for bad in [
            "",
            "h",
            "0s",
            "-1h",
            "1.5h",
            "1 h",
            "1w",
            "1H",
            "99999999999999999999d",
            "+1h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(90 * 86_400)), "90d");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }
}
