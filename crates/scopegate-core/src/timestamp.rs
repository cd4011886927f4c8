//! Unix seconds as a UTC calendar time, for what people read (the audit
//! trail, the portal's pages). No time zone data: UTC only.

/// A UTC calendar time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Utc {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
}

impl Utc {
    /// The proleptic Gregorian date and time of `unix` seconds (Howard
    /// Hinnant's days-to-civil algorithm).
    pub fn from_unix(unix: i64) -> Utc {
        let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Utc {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: secs / 3600,
            minute: secs % 3600 / 60,
            second: secs % 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Utc;

    #[test]
    fn unix_seconds_become_civil_utc() {
        let t = Utc::from_unix(951_825_600);
        assert_eq!((t.year, t.month, t.day, t.hour), (2000, 2, 29, 12));
        assert_eq!(Utc::from_unix(-1).year, 1969);
    }
}
