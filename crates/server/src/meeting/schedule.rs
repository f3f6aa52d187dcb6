//! When a meeting happens: a first start, a duration, a time zone and an optional RRULE.
//!
//! Recurrences expand in the meeting's own time zone, so "every Monday at 10:00 Berlin time"
//! stays at 10:00 local across daylight-saving changes.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rrule::{Frequency, RRuleSet};

use crate::error::{Error, Result};

/// Expansion window and cap when comparing recurring meetings for conflicts.
const CONFLICT_HORIZON_DAYS: i64 = 366;
const MAX_EXPANSION: u16 = 500;

/// One concrete time slot of a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Occurrence {
    pub fn overlaps(&self, other: &Occurrence) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// A validated schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub start: DateTime<Utc>,
    pub duration: Duration,
    pub tz: Tz,
    /// The RRULE body (`FREQ=WEEKLY;BYDAY=MO`), without the `RRULE:` prefix.
    pub rrule: Option<String>,
    set: Option<RRuleSet>,
}

/// Parses an IANA time zone name.
pub fn parse_tz(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        Error::invalid("invalid_timezone", format!("unknown time zone {name:?}; use an IANA name such as Europe/Paris"))
    })
}

impl Schedule {
    pub fn new(start: DateTime<Utc>, duration: Duration, tz: Tz, rrule: Option<&str>) -> Result<Schedule> {
        super::details::check_duration(duration)?;
        super::details::check_start(start)?;
        let rrule = rrule.map(str::trim).filter(|r| !r.is_empty()).map(|r| r.trim_start_matches("RRULE:").to_owned());
        let set = rrule.as_deref().map(|r| parse_rrule(r, start, tz)).transpose()?;
        Ok(Schedule { start, duration, tz, rrule, set })
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.start + self.duration
    }

    /// Occurrences whose end lies after `from`, earliest first, at most `limit`.
    pub fn occurrences_after(&self, from: DateTime<Utc>, limit: u16) -> Vec<Occurrence> {
        let Some(set) = &self.set else {
            let only = Occurrence { start: self.start, end: self.end() };
            return if only.end > from && limit > 0 { vec![only] } else { vec![] };
        };
        // An occurrence still running at `from` started up to one duration earlier.
        let after = (from - self.duration).with_timezone(&rrule::Tz::UTC);
        set.clone()
            .after(after)
            .all(limit.saturating_add(1))
            .dates
            .into_iter()
            .map(|d| {
                let start = d.with_timezone(&Utc);
                Occurrence { start, end: start + self.duration }
            })
            .filter(|o| o.end > from)
            .take(limit as usize)
            .collect()
    }

    /// The occurrence running at `now`, or else the next one.
    pub fn current_or_next(&self, now: DateTime<Utc>) -> Option<Occurrence> {
        self.occurrences_after(now, 1).into_iter().next()
    }

    /// The first pair of overlapping occurrences within a year of this schedule's start.
    pub fn first_overlap(&self, other: &Schedule) -> Option<Occurrence> {
        let from = self.start.min(other.start);
        let until = self.start + Duration::days(CONFLICT_HORIZON_DAYS);
        let mine: Vec<Occurrence> =
            self.occurrences_after(from, MAX_EXPANSION).into_iter().filter(|o| o.start < until).collect();
        let theirs: Vec<Occurrence> =
            other.occurrences_after(from, MAX_EXPANSION).into_iter().filter(|o| o.start < until).collect();
        // Both lists are sorted: walk them together.
        let (mut i, mut j) = (0, 0);
        while i < mine.len() && j < theirs.len() {
            if mine[i].overlaps(&theirs[j]) {
                return Some(theirs[j]);
            }
            if mine[i].end <= theirs[j].end {
                i += 1;
            } else {
                j += 1;
            }
        }
        None
    }
}

fn parse_rrule(rule: &str, start: DateTime<Utc>, tz: Tz) -> Result<RRuleSet> {
    let bad = |why: String| Error::invalid("invalid_recurrence", why);
    if rule.contains(['\n', '\r']) || rule.to_uppercase().contains("DTSTART") {
        return Err(bad("recurrence is a single RRULE such as FREQ=WEEKLY;BYDAY=MO;COUNT=10".into()));
    }
    let local = start.with_timezone(&tz).format("%Y%m%dT%H%M%S");
    let text = format!("DTSTART;TZID={}:{local}\nRRULE:{rule}", tz.name());
    let set: RRuleSet = text.parse().map_err(|e| bad(format!("recurrence: {e}")))?;
    for r in set.get_rrule() {
        if r.get_freq() > Frequency::Daily {
            return Err(bad("meetings recur at most daily (FREQ=DAILY, WEEKLY, MONTHLY or YEARLY)".into()));
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn weekly_recurrence_keeps_local_time_across_dst() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        // 10:00 Berlin in winter is 09:00 UTC; in summer 08:00 UTC.
        let s =
            Schedule::new(at("2026-03-16T09:00:00Z"), Duration::minutes(30), tz, Some("FREQ=WEEKLY;COUNT=4")).unwrap();
        let occ = s.occurrences_after(at("2026-03-01T00:00:00Z"), 10);
        assert_eq!(occ.len(), 4);
        assert_eq!(occ[0].start, at("2026-03-16T09:00:00Z"));
        assert_eq!(occ[2].start, at("2026-03-30T08:00:00Z"), "after the switch to summer time");
    }

    #[test]
    fn current_occurrence_counts_until_it_ends() {
        let s = Schedule::new(at("2026-01-05T10:00:00Z"), Duration::minutes(60), Tz::UTC, Some("FREQ=DAILY")).unwrap();
        let now = at("2026-01-07T10:30:00Z");
        assert_eq!(s.current_or_next(now).unwrap().start, at("2026-01-07T10:00:00Z"));
    }

    #[test]
    fn overlap_found_between_single_and_recurring() {
        let weekly =
            Schedule::new(at("2026-01-05T10:00:00Z"), Duration::minutes(60), Tz::UTC, Some("FREQ=WEEKLY")).unwrap();
        let clash = Schedule::new(at("2026-01-19T10:30:00Z"), Duration::minutes(15), Tz::UTC, None).unwrap();
        let free = Schedule::new(at("2026-01-19T11:00:00Z"), Duration::minutes(15), Tz::UTC, None).unwrap();
        assert_eq!(clash.first_overlap(&weekly).unwrap().start, at("2026-01-19T10:00:00Z"));
        assert!(free.first_overlap(&weekly).is_none(), "back-to-back is not a conflict");
    }

    #[test]
    fn bad_rules_are_refused() {
        let start = at("2026-01-05T10:00:00Z");
        let d = Duration::minutes(30);
        assert!(Schedule::new(start, d, Tz::UTC, Some("FREQ=HOURLY")).is_err());
        assert!(Schedule::new(start, d, Tz::UTC, Some("FREQ=SOMETIMES")).is_err());
        assert!(Schedule::new(start, d, Tz::UTC, Some("FREQ=DAILY\nDTSTART:20200101T000000Z")).is_err());
        assert!(Schedule::new(start, Duration::minutes(0), Tz::UTC, None).is_err());
        assert!(parse_tz("Mars/Olympus").is_err());
    }
}
