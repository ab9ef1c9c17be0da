//! RFC 3339 in the one shape this host writes: `2026-12-06T22:27:41.123Z` (UTC, milliseconds,
//! trailing zeros of the fraction dropped, no fraction at a whole second), read and written
//! without the `time` crate's general formatter.
//!
//! Every stored record and every answer carries timestamps. Through `time`, reading one cost
//! about 830 instructions (a `String` allocated, then the general RFC 3339 parser), 1.4% of an
//! authorized read, and writing one about 560 (`callgrind` of `tenantry-bench
//! instructions-case read`); this module saved about 1% of the read. Both functions answer `None` outside the shape they know (an
//! offset, a leap second, a year before 1970 or after 9999, ...), and
//! [`super::clock::Timestamp`] then falls back to `time`, so what is accepted and what is
//! written stays exactly what `time` accepts and writes (`tests` compare the two).

const MILLIS_PER_DAY: i64 = 86_400_000;

/// `millis` since the Unix epoch as `time` formats it in UTC, for years 1970 to 9999.
pub fn format_millis(millis: i64) -> Option<String> {
    if !(0..=LAST_MILLI).contains(&millis) {
        return None;
    }
    let (days, of_day) = (millis / MILLIS_PER_DAY, millis % MILLIS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (seconds, milli) = (of_day / 1000, of_day % 1000);
    let mut text = String::with_capacity(24);
    push_digits(&mut text, year, 4);
    text.push('-');
    push_digits(&mut text, i64::from(month), 2);
    text.push('-');
    push_digits(&mut text, i64::from(day), 2);
    text.push('T');
    push_digits(&mut text, seconds / 3600, 2);
    text.push(':');
    push_digits(&mut text, seconds / 60 % 60, 2);
    text.push(':');
    push_digits(&mut text, seconds % 60, 2);
    if milli != 0 {
        text.push('.');
        let (mut value, mut width) = (milli, 3);
        while value % 10 == 0 {
            value /= 10;
            width -= 1;
        }
        push_digits(&mut text, value, width);
    }
    text.push('Z');
    Some(text)
}

/// Milliseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[.f]Z` (one to nine fraction
/// digits, truncated to milliseconds as `time`'s answer is), for years 1970 to 9999; `None`
/// for any other text, valid or not.
pub fn parse_millis(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes.last() != Some(&b'Z') {
        return None;
    }
    for (at, separator) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        if bytes[at] != separator {
            return None;
        }
    }
    let year = number(&bytes[0..4])?;
    let month = number(&bytes[5..7])?;
    let day = number(&bytes[8..10])?;
    let hour = number(&bytes[11..13])?;
    let minute = number(&bytes[14..16])?;
    let second = number(&bytes[17..19])?;
    let in_range = (1970..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !in_range {
        return None;
    }
    let milli = match &bytes[19..] {
        [b'Z'] => 0,
        [b'.', fraction @ .., b'Z'] if (1..=9).contains(&fraction.len()) => {
            number(fraction)?;
            let mut milli = 0;
            for position in 0..3 {
                let digit = fraction.get(position).map_or(0, |d| i64::from(d - b'0'));
                milli = milli * 10 + digit;
            }
            milli
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * MILLIS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + milli)
}

/// 9999-12-31T23:59:59.999Z.
const LAST_MILLI: i64 = 253_402_300_799_999;

/// The value of ASCII digits, `None` if any byte is not one.
fn number(digits: &[u8]) -> Option<i64> {
    digits.iter().try_fold(0i64, |value, &d| {
        d.is_ascii_digit().then(|| value * 10 + i64::from(d - b'0'))
    })
}

fn push_digits(text: &mut String, value: i64, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10i64.pow(place) % 10) as u8;
        text.push(char::from(b'0' + digit));
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    use super::*;

    fn by_time(millis: i64) -> Option<String> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .ok()?
            .format(&Rfc3339)
            .ok()
    }

    fn parsed_by_time(text: &str) -> Option<i64> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
    }

    /// Instants spread over the whole range, each day's edges, leap days and every fraction
    /// width.
    fn instants() -> Vec<i64> {
        let mut all = vec![0, 1, 10, 100, 999, 1000, LAST_MILLI, LAST_MILLI - 1];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            all.push((state % (LAST_MILLI as u64 + 1)) as i64);
        }
        for day in [59, 365 + 59, 2 * 365 + 59, 11_016, 11_017, 10_956, 47_540] {
            let start = day * MILLIS_PER_DAY;
            all.extend([start, start - 1, start + 120, start + 7_000]);
        }
        all
    }

    #[test]
    fn formats_as_time_does_over_the_range_it_knows() {
        for millis in instants() {
            assert_eq!(format_millis(millis), by_time(millis), "{millis}");
        }
    }

    #[test]
    fn reads_what_it_writes_and_agrees_with_time() {
        for millis in instants() {
            let text = format_millis(millis).unwrap();
            assert_eq!(parse_millis(&text), Some(millis), "{text}");
            assert_eq!(parsed_by_time(&text), Some(millis), "{text}");
        }
    }

    #[test]
    fn outside_its_range_it_leaves_the_answer_to_time() {
        assert_eq!(format_millis(-1), None);
        assert_eq!(format_millis(LAST_MILLI + 1), None);
        for text in [
            "1969-12-31T23:59:59Z",
            "2026-12-06T22:27:41+02:00",
            "2026-12-06t22:27:41z",
            "2026-12-06T22:27:60Z",
            "2026-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2026-12-06T22:27:41.Z",
            "2026-12-06T22:27:41.1234567890Z",
            "2026-12-06T22:27:4xZ",
            "2026-12-06 22:27:41Z",
            "+2026-12-06T22:27:41Z",
        ] {
            assert_eq!(parse_millis(text), None, "{text}");
        }
    }

    /// Texts one edit away from what the formatter writes: wherever the fast path answers, it
    /// answers what `time` does.
    #[test]
    fn near_misses_are_refused_or_read_as_time_reads_them() {
        type Edit = dyn Fn(&mut Vec<u8>, usize);
        let edits: [&Edit; 4] = [
            &|t, at| t[at] = b'0' + (t[at].wrapping_add(1) % 10),
            &|t, at| t[at] = b'x',
            &|t, at| {
                t.remove(at);
            },
            &|t, at| t.insert(at, b'9'),
        ];
        let mut texts: Vec<String> = Vec::new();
        for millis in instants().into_iter().take(300) {
            let text = format_millis(millis).unwrap();
            for edit in edits {
                for at in 0..text.len() {
                    let mut bytes = text.clone().into_bytes();
                    edit(&mut bytes, at);
                    texts.extend(String::from_utf8(bytes).ok());
                }
            }
        }
        for day in [
            "2023-02-29",
            "2024-02-30",
            "2026-04-31",
            "2026-00-10",
            "2026-12-32",
        ] {
            texts.push(format!("{day}T00:00:00Z"));
        }
        for text in texts {
            if let Some(millis) = parse_millis(&text) {
                assert_eq!(Some(millis), parsed_by_time(&text), "{text}");
            }
        }
    }

    #[test]
    fn a_timestamp_reads_from_an_owned_json_string_as_from_text() {
        use crate::domain::clock::Timestamp;
        let text = "2026-12-06T22:27:41.12Z";
        let owned: Timestamp = serde_json::from_value(serde_json::json!(text)).unwrap();
        let borrowed: Timestamp = serde_json::from_str(&format!("\"{text}\"")).unwrap();
        assert_eq!(owned, borrowed);
        assert_eq!(owned.to_rfc3339(), text);
        let refused = serde_json::from_value::<Timestamp>(serde_json::json!("yesterday"));
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("is not an RFC 3339 time")
        );
    }

    #[test]
    fn fractions_are_truncated_to_milliseconds_as_time_truncates_them() {
        for text in [
            "2026-12-06T22:27:41.1Z",
            "2026-12-06T22:27:41.12Z",
            "2026-12-06T22:27:41.1239Z",
            "2026-12-06T22:27:41.999999999Z",
            "2024-02-29T12:00:00.000000001Z",
            "2000-02-29T00:00:00Z",
        ] {
            assert_eq!(parse_millis(text), parsed_by_time(text), "{text}");
        }
    }
}
