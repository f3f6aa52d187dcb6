//! What a meeting's title, description and length may be.

use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result};

/// The longest a single meeting may be scheduled for.
const MAX_DURATION_MINUTES: i64 = 24 * 60;
/// The latest a meeting may start: the last year a calendar file (and a browser) can show.
const LAST_YEAR: i32 = 9999;

/// A title of 1-200 printable characters, trimmed.
pub fn validate_title(raw: &str) -> Result<String> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > 200 || t.chars().any(char::is_control) {
        return Err(Error::invalid("invalid_title", "title must be 1-200 printable characters"));
    }
    Ok(t.to_owned())
}

/// A description of at most 5000 characters, trimmed.
pub fn validate_description(raw: &str) -> Result<String> {
    if raw.chars().count() > 5000 {
        return Err(Error::invalid("invalid_description", "description is limited to 5000 characters"));
    }
    Ok(raw.trim().to_owned())
}

/// A meeting's length from the two ways of giving it (a duration or an end time; not both),
/// else `fallback`.
pub fn duration_of(
    start: DateTime<Utc>,
    duration_minutes: Option<i64>,
    end_time: Option<DateTime<Utc>>,
    fallback: Duration,
) -> Result<Duration> {
    match (duration_minutes, end_time) {
        (Some(_), Some(_)) => Err(Error::invalid("ambiguous_duration", "give duration_minutes or end_time, not both")),
        // Checked before it becomes a `Duration`, which cannot hold every i64 of minutes.
        (Some(m), None) if !(1..=MAX_DURATION_MINUTES).contains(&m) => Err(invalid_duration()),
        (Some(m), None) => Ok(Duration::minutes(m)),
        (None, Some(end)) if end <= start => {
            Err(Error::invalid("invalid_end_time", "end_time must be after start_time"))
        }
        (None, Some(end)) => Ok(end - start),
        (None, None) => Ok(fallback),
    }
}

/// A meeting lasts from one minute to a day.
pub(super) fn check_duration(d: Duration) -> Result<()> {
    if (1..=MAX_DURATION_MINUTES).contains(&d.num_minutes()) {
        Ok(())
    } else {
        Err(invalid_duration())
    }
}

/// A meeting starts no later than the year 9999, so its times (and a year of recurrences after
/// them) stay within what dates, calendar files and browsers can carry.
pub(super) fn check_start(start: DateTime<Utc>) -> Result<()> {
    use chrono::Datelike;
    if start.year() > LAST_YEAR {
        return Err(Error::invalid(
            "invalid_start_time",
            format!("start_time must be before the year {}", LAST_YEAR + 1),
        ));
    }
    Ok(())
}

fn invalid_duration() -> Error {
    Error::invalid("invalid_duration", format!("a meeting lasts between 1 and {MAX_DURATION_MINUTES} minutes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_starts_from_outside_are_range_checked_not_trusted() {
        let start = Utc::now();
        let hour = Duration::minutes(60);
        for m in [i64::MAX, i64::MIN, 0, -1, 24 * 60 + 1] {
            let e = duration_of(start, Some(m), None, hour).unwrap_err();
            assert_eq!(e.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY, "{m}");
        }
        assert_eq!(duration_of(start, Some(24 * 60), None, hour).unwrap(), Duration::days(1));
        let far = "+262142-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert!(check_start(far).is_err());
        assert!(duration_of(start, None, Some(far), hour).is_ok_and(|d| check_duration(d).is_err()));
        assert!(check_start("9999-12-31T10:00:00Z".parse().unwrap()).is_ok());
    }
}
