//! What a meeting's title, description and length may be.

use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result};

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
        (Some(m), None) => Ok(Duration::minutes(m)),
        (None, Some(end)) if end <= start => {
            Err(Error::invalid("invalid_end_time", "end_time must be after start_time"))
        }
        (None, Some(end)) => Ok(end - start),
        (None, None) => Ok(fallback),
    }
}
