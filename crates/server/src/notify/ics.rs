//! iCalendar (RFC 5545) for meetings: invitations (METHOD:REQUEST / CANCEL, RFC 5546) and the
//! subscribable feed. Built with the `icalendar` crate.
//!
//! One-off meetings are written in UTC; recurring ones with a TZID and local times, so the
//! series keeps its local hour across daylight-saving changes in every calendar app.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, CalendarDateTime, Component, Event, EventLike, EventStatus, Property};

use crate::clock::from_ms;
use crate::meeting::schedule_tz;
use crate::store::{InviteeRow, MeetingRow, UserRow};

/// Everything an event needs besides the meeting row.
pub struct EventContext<'a> {
    pub host: Option<&'a UserRow>,
    pub invitees: &'a [InviteeRow],
    pub public_url: &'a str,
    pub cancelled: bool,
    pub now: DateTime<Utc>,
}

/// The stable UID of a meeting's calendar event.
pub fn uid(meeting_id: i64, public_url: &str) -> String {
    let host = url::Url::parse(public_url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    format!("meeting-{meeting_id}@{}", if host.is_empty() { "convene" } else { &host })
}

pub fn join_url(m: &MeetingRow, public_url: &str) -> String {
    format!("{public_url}/j/{}?pwd={}", m.id, m.passcode)
}

fn event(m: &MeetingRow, ctx: &EventContext<'_>) -> Event {
    let mut ev = Event::new();
    let join = join_url(m, ctx.public_url);
    let description = format!(
        "Join: {join}\nMeeting ID: {}\nPasscode: {}{}",
        m.id,
        m.passcode,
        if m.description.is_empty() { String::new() } else { format!("\n\n{}", m.description) }
    );
    ev.uid(&uid(m.id, ctx.public_url))
        .sequence(u32::try_from(m.sequence).unwrap_or(0))
        .timestamp(ctx.now)
        .summary(&m.title)
        .description(&description)
        .location(&join)
        .url(&join);
    let (start, end) = (from_ms(m.start_at), from_ms(m.end_at));
    if let Some(rule) = &m.recurrence {
        let tz = schedule_tz(&m.timezone);
        let local = |t: DateTime<Utc>| CalendarDateTime::WithTimezone {
            date_time: t.with_timezone(&tz).naive_local(),
            tzid: tz.name().to_owned(),
        };
        ev.starts(local(start)).ends(local(end)).add_property("RRULE", rule.as_str());
    } else {
        ev.starts(CalendarDateTime::Utc(start)).ends(CalendarDateTime::Utc(end));
    }
    if let Some(host) = ctx.host {
        let mut organizer = Property::new("ORGANIZER", format!("mailto:{}", host.email));
        organizer.add_parameter("CN", &host.display_name);
        ev.append_property(organizer);
    }
    for inv in ctx.invitees {
        let mut attendee = Property::new("ATTENDEE", format!("mailto:{}", inv.email));
        attendee.add_parameter("ROLE", "REQ-PARTICIPANT");
        attendee.add_parameter("PARTSTAT", "NEEDS-ACTION");
        attendee.add_parameter("RSVP", "TRUE");
        ev.append_multi_property(attendee);
    }
    if ctx.cancelled || m.status == crate::meeting::MeetingStatus::Cancelled {
        ev.status(EventStatus::Cancelled);
    } else {
        ev.status(EventStatus::Confirmed);
    }
    ev.done()
}

/// A calendar holding one meeting, with the given METHOD (`REQUEST`, `CANCEL`, `PUBLISH`).
pub fn meeting_calendar(m: &MeetingRow, method: &str, ctx: &EventContext<'_>) -> String {
    let mut cal = Calendar::new();
    cal.append_property(Property::new("METHOD", method));
    cal.push(event(m, ctx));
    cal.done().to_string()
}

/// A feed of many meetings (what calendar apps subscribe to).
pub fn feed<'a>(name: &str, meetings: impl IntoIterator<Item = (&'a MeetingRow, EventContext<'a>)>) -> String {
    let mut cal = Calendar::new();
    cal.name(name).append_property(Property::new("METHOD", "PUBLISH"));
    let mut refresh = Property::new("REFRESH-INTERVAL", "PT15M");
    refresh.add_parameter("VALUE", "DURATION");
    cal.append_property(refresh);
    cal.append_property(Property::new("X-PUBLISHED-TTL", "PT15M"));
    for (m, ctx) in meetings {
        cal.push(event(m, &ctx));
    }
    cal.done().to_string()
}
