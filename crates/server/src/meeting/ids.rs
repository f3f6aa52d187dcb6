//! Meeting IDs (Zoom-style numbers) and passcodes.
//!
//! IDs are drawn uniformly at random, so knowing one meeting's ID says nothing about another's.
//! Scheduled meetings get 10 digits; personal rooms 11, so the two never collide.

use rand::Rng;

use crate::error::{Error, Result};

const PASSCODE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Scheduled and instant meetings.
const SCHEDULED: std::ops::RangeInclusive<i64> = 1_000_000_000..=9_999_999_999;
/// Personal rooms.
const PERSONAL: std::ops::RangeInclusive<i64> = 10_000_000_000..=99_999_999_999;

/// A meeting ID: 10 digits, or 11 for a personal room. Built through [`MeetingId::parse`]
/// (or drawn afresh), so a value of this type is always a well-formed ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MeetingId(i64);

impl MeetingId {
    /// The one rule for an ID typed or sent by someone: digits, optionally grouped with
    /// spaces or dashes as people read them aloud (`841 234 5678`), 10 or 11 of them.
    /// Anything else names no meeting (404 `meeting_not_found`).
    pub fn parse(raw: &str) -> Result<MeetingId> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        digits
            .parse::<i64>()
            .ok()
            .filter(|n| SCHEDULED.contains(n) || PERSONAL.contains(n))
            .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
            .map(MeetingId)
            .ok_or_else(|| Error::not_found("meeting_not_found", "no meeting has that ID"))
    }

    /// A fresh 10-digit ID for a scheduled or instant meeting.
    pub fn new_scheduled() -> MeetingId {
        MeetingId(rand::rngs::OsRng.gen_range(SCHEDULED))
    }

    /// A fresh 11-digit ID for a user's personal meeting room.
    pub fn new_personal() -> MeetingId {
        MeetingId(rand::rngs::OsRng.gen_range(PERSONAL))
    }

    /// The number, as the store and the wire carry it.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for MeetingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An 8-character passcode without look-alike characters (no 0/O, 1/l/I).
pub fn new_passcode() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..8).map(|_| PASSCODE_ALPHABET[rng.gen_range(0..PASSCODE_ALPHABET.len())] as char).collect()
}

/// Compares in constant time so response timing does not reveal how much of a guess matched.
pub fn passcode_matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_promised_digits_and_do_not_run_in_sequence() {
        let ids: Vec<i64> = (0..200).map(|_| MeetingId::new_scheduled().get()).collect();
        assert!(ids.iter().all(|id| id.to_string().len() == 10));
        let sequential = ids.windows(2).filter(|w| (w[1] - w[0]).abs() == 1).count();
        assert_eq!(sequential, 0);
        assert_eq!(MeetingId::new_personal().to_string().len(), 11);
    }

    #[test]
    fn ids_parse_as_people_type_them_and_nothing_else() {
        assert_eq!(MeetingId::parse("8412345678").unwrap().get(), 8_412_345_678);
        assert_eq!(MeetingId::parse("841 234 5678").unwrap().get(), 8_412_345_678);
        assert_eq!(MeetingId::parse("1649-508-7717").unwrap().get(), 16_495_087_717);
        for bad in ["", "12", "abc", "+8412345678", "841234567", "999999999999", "84123456789x"] {
            let e = MeetingId::parse(bad).unwrap_err();
            assert_eq!(e.status(), axum::http::StatusCode::NOT_FOUND, "{bad:?}");
        }
    }

    #[test]
    fn passcodes_compare_exactly() {
        let p = new_passcode();
        assert_eq!(p.len(), 8);
        assert!(passcode_matches(&p, &p));
        assert!(!passcode_matches(&p, &p[..7]));
        assert!(!passcode_matches(&p, &p.to_uppercase()) || p == p.to_uppercase());
    }
}
