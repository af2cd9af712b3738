//! RFC 3339 times on the command line (`--created-after 2026-12-01T12:00:00Z`) and in tables,
//! to and from the library's epoch milliseconds. Hand-written: the CLI needs only this one
//! format, in UTC or with a numeric offset, not a date-time crate.

/// Epoch milliseconds of an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (`t`,
/// `z` and a space separator accepted, as RFC 3339 allows).
pub fn parse(text: &str) -> Result<i64, String> {
    let bad = |why: &str| format!("'{text}' is not an RFC 3339 date-time ({why})");
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(bad("expected e.g. 2026-12-01T12:00:00Z"));
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let s = text.get(range).ok_or_else(|| bad("not ASCII"))?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("a field is not a number"));
        }
        s.parse::<i64>().map_err(|_| bad("a field is not a number"))
    };
    let sep_ok = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !sep_ok {
        return Err(bad("expected e.g. 2026-12-01T12:00:00Z"));
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad("a field is out of range"));
    }
    // Fraction: milliseconds kept, finer digits dropped.
    let mut i = 19;
    let mut millis = 0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad("empty fraction"));
        }
        let digits = &text[start..i.min(start + 3)];
        millis = digits.parse::<i64>().map_err(|_| bad("bad fraction"))?
            * 10_i64.pow(3 - digits.len() as u32);
    }
    let offset_minutes = match &text[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6
            && matches!(tz.as_bytes()[0], b'+' | b'-')
            && tz.as_bytes()[3] == b':' =>
        {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return Err(bad("offset out of range"));
            }
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (h * 60 + m)
        }
        _ => return Err(bad("expected Z or an offset like +02:00")),
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Ok(seconds * 1_000 + millis)
}

/// Epoch milliseconds as RFC 3339 in UTC, to the second: `2026-12-01T12:00:00Z`.
pub fn format(ms: i64) -> String {
    let secs = ms.div_euclid(1_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::{format, parse};

    #[test]
    fn parses_utc_offsets_and_fractions() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse("2026-12-01T12:00:00Z"), Ok(1_796_126_400_000));
        assert_eq!(parse("2026-12-01T14:00:00+02:00"), Ok(1_796_126_400_000));
        assert_eq!(parse("2026-12-01 11:30:00.25-00:30"), Ok(1_796_126_400_250));
        assert_eq!(parse("2024-02-29t00:00:00.123456z"), Ok(1_709_164_800_123));
        assert_eq!(parse("1969-12-31T23:59:59Z"), Ok(-1_000));
    }

    #[test]
    fn rejects_what_is_not_rfc_3339() {
        for bad in [
            "2026-12-01",
            "2026-12-01T12:00:00",
            "2026-13-01T12:00:00Z",
            "2025-02-29T12:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T12:00:00+2:00",
            "2026-12-01T12:00:00.Z",
            "yesterday at noon, UTC",
            "2026-12-01T12:00:00Zé",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_back_in_utc() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(1_796_126_400_999), "2026-12-01T12:00:00Z");
        assert_eq!(format(-1_000), "1969-12-31T23:59:59Z");
        assert_eq!(format(1_709_164_800_123), "2024-02-29T00:00:00Z");
    }
}
