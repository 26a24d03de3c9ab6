//! Timestamps: CloudTrail's `eventTime` text, and the times users type on the command line.
//!
//! cairn keeps every time as milliseconds since the Unix epoch, UTC (`i64`).

/// Milliseconds in one second.
pub const MS_PER_SEC: i64 = 1_000;
const MS_PER_DAY: i64 = 86_400 * MS_PER_SEC;

/// Parses a record's `eventTime`.
///
/// AWS writes `YYYY-MM-DDTHH:MM:SSZ`. Exports of CloudTrail data by other tools also use a space
/// instead of `T`, fractional seconds (any number of digits; kept to the millisecond), a missing
/// zone (taken as UTC, as those tools write UTC) and numeric offsets (`+02:00`). Anything else is
/// `None`.
pub fn parse_event_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // Leap seconds (":60") do not occur in CloudTrail and are rejected like any other bad time.
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some((b'.', fraction)) = rest.split_first() {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for i in 0..3 {
            millis = millis * 10
                + fraction
                    .get(i)
                    .filter(|_| i < n)
                    .map_or(0, |d| i64::from(d - b'0'));
        }
        rest = &fraction[n..];
    }
    let offset_ms = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2], 0, 2)?;
            let minutes = digits(&[*m1, *m2], 0, 2)?;
            let offset = (hours * 60 + minutes) * 60 * MS_PER_SEC;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let ms = days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * MS_PER_SEC + millis;
    Some(ms - offset_ms)
}

/// Parses a time given by a user: epoch seconds (`1700000000`, `1700000000.5`), an ISO 8601
/// date-time (as [`parse_event_time`] accepts, also without seconds) or a date (`2024-01-31`,
/// midnight UTC). This is what the AWS CLI accepts for `--start-time` and `--end-time`.
pub fn parse_user_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return epoch_seconds_to_ms(seconds);
    }
    if let Some(ms) = parse_event_time(text) {
        return Some(ms);
    }
    let b = text.as_bytes();
    if b.len() == 10 {
        return parse_event_time(&format!("{text}T00:00:00Z"));
    }
    // `YYYY-MM-DDTHH:MM` with an optional zone.
    if b.len() >= 16 && b[13] == b':' && b.get(16).is_none_or(|c| *c != b':') {
        return parse_event_time(&format!("{}:00{}", &text[..16], &text[16..]));
    }
    None
}

/// The system clock in ms since the epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The system clock in seconds since the epoch, as the AWS JSON protocol writes times.
pub fn now_secs() -> f64 {
    now_ms() as f64 / 1000.0
}

/// Converts epoch seconds (possibly fractional, as the AWS JSON protocol sends them) to
/// milliseconds; `None` when the value is not finite or out of range.
pub fn epoch_seconds_to_ms(seconds: f64) -> Option<i64> {
    let ms = (seconds * 1000.0).round();
    (ms.is_finite() && ms.abs() < 8.0e15).then_some(ms as i64)
}

/// Epoch seconds as the AWS JSON protocol writes them: a number, fractional when the time has
/// milliseconds.
pub fn ms_to_epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Formats a time the way CloudTrail writes `eventTime`: `YYYY-MM-DDTHH:MM:SSZ`, with `.mmm`
/// only when the time has milliseconds.
pub fn format_event_time(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let seconds = in_day / MS_PER_SEC;
    let millis = in_day % MS_PER_SEC;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if millis == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
    }
}

/// Parses SigV4's `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`, UTC).
pub fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    parse_event_time(&iso)
}

/// Formats a time as SigV4's `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`).
pub fn format_amz_date(ms: i64) -> String {
    let (year, month, day) = civil_date(ms);
    let seconds = ms.rem_euclid(MS_PER_DAY) / MS_PER_SEC;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{s:02}Z")
}

/// Formats a time as CloudTrail writes timestamps inside `requestParameters` of its own API
/// events: `Dec 16, 2023, 2:46:48 PM` (UTC), as the datasets' LookupEvents records show.
pub fn format_request_parameter_time(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = civil_date(ms);
    let seconds = ms.rem_euclid(MS_PER_DAY) / MS_PER_SEC;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let (h12, half) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    let name = MONTHS[(month - 1) as usize];
    format!("{name} {day}, {year}, {h12}:{m:02}:{s:02} {half}")
}

/// The (year, month, day) of a time, UTC.
pub fn civil_date(ms: i64) -> (i64, i64, i64) {
    civil_from_days(ms.div_euclid(MS_PER_DAY))
}

fn digits(b: &[u8], start: usize, len: usize) -> Option<i64> {
    let mut value = 0;
    for c in b.get(start..start + len)? {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(c - b'0');
    }
    Some(value)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigv4_and_request_parameter_times() {
        let ms = parse_amz_date("20231216T144648Z").unwrap();
        assert_eq!(format_event_time(ms), "2023-12-16T14:46:48Z");
        assert_eq!(format_amz_date(ms), "20231216T144648Z");
        assert_eq!(
            format_request_parameter_time(ms),
            "Dec 16, 2023, 2:46:48 PM"
        );
        let midnight = parse_event_time("2023-12-17T00:05:09Z").unwrap();
        assert_eq!(
            format_request_parameter_time(midnight),
            "Dec 17, 2023, 12:05:09 AM"
        );
        assert_eq!(parse_amz_date("2023-12-16T14:46:48Z"), None);
        assert_eq!(parse_amz_date("20231316T144648Z"), None);
    }

    #[test]
    fn parses_the_shapes_found_in_real_exports() {
        let base = parse_event_time("2018-11-28T22:31:59Z").unwrap();
        assert_eq!(base, 1_543_444_319_000);
        assert_eq!(parse_event_time("2018-11-28 22:31:59"), Some(base));
        assert_eq!(parse_event_time("2018-11-28 22:31:59Z"), Some(base));
        assert_eq!(
            parse_event_time("2018-11-28T22:31:59.123456789Z"),
            Some(base + 123)
        );
        assert_eq!(parse_event_time("2018-11-28 22:31:59.5"), Some(base + 500));
        assert_eq!(parse_event_time("2018-11-29T00:31:59+02:00"), Some(base));
    }

    #[test]
    fn rejects_what_is_not_a_time() {
        for bad in [
            "redacted",
            "...",
            "2018-13-01T00:00:00Z",
            "2019-02-29T00:00:00Z",
            "2018-11-28T22:31:59Q",
            "2018-11-28T22:31:59.",
        ] {
            assert_eq!(parse_event_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2024-12-31T12:00:00.250Z",
            "1969-07-20T20:17:40Z",
        ] {
            assert_eq!(format_event_time(parse_event_time(text).unwrap()), text);
        }
    }

    #[test]
    fn user_times_accept_epoch_seconds_and_dates() {
        assert_eq!(parse_user_time("1543444319"), Some(1_543_444_319_000));
        assert_eq!(parse_user_time("1543444319.25"), Some(1_543_444_319_250));
        assert_eq!(
            parse_user_time("2018-11-28"),
            parse_event_time("2018-11-28T00:00:00Z")
        );
        assert_eq!(
            parse_user_time("2018-11-28T22:31"),
            parse_event_time("2018-11-28T22:31:00Z")
        );
        assert_eq!(
            parse_user_time("2018-11-28T22:31:59Z"),
            Some(1_543_444_319_000)
        );
        assert_eq!(parse_user_time("yesterday"), None);
    }
}
