//! Meeting IDs (Zoom-style numbers) and passcodes.
//!
//! IDs are drawn uniformly at random, so knowing one meeting's ID says nothing about another's.
//! Scheduled meetings get 10 digits; personal rooms 11, so the two never collide.

use rand::Rng;

const PASSCODE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A 10-digit meeting ID for scheduled and instant meetings.
pub fn new_meeting_id() -> i64 {
    rand::rngs::OsRng.gen_range(1_000_000_000..=9_999_999_999)
}

/// An 11-digit ID for a user's personal meeting room.
pub fn new_personal_meeting_id() -> i64 {
    rand::rngs::OsRng.gen_range(10_000_000_000..=99_999_999_999)
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
        let ids: Vec<i64> = (0..200).map(|_| new_meeting_id()).collect();
        assert!(ids.iter().all(|id| id.to_string().len() == 10));
        let sequential = ids.windows(2).filter(|w| (w[1] - w[0]).abs() == 1).count();
        assert_eq!(sequential, 0);
        assert_eq!(new_personal_meeting_id().to_string().len(), 11);
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
