//! Telling people about meetings: invitation / update / cancellation mails with iCalendar
//! attachments, reminders before start, and account mails — all through the persistent job
//! queue, so a slow or failing SMTP server delays mail but never a request.

pub mod ics;
mod reminders;
mod templates;

pub(crate) use reminders::send_reminder;
pub use reminders::{spawn_reminder_scan, REMINDER_JOB};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::from_ms;
use crate::error::Result;
use crate::mail::{CalendarPart, Mail};
use crate::meeting::schedule_tz;
use crate::services::Services;
use crate::store::{InviteeRow, MeetingRow, UserRow};

/// The `From:` of every mail.
pub fn sender(state: &Services) -> String {
    if let Some(from) = &state.config.smtp_from {
        return from.clone();
    }
    let host = url::Url::parse(&state.config.public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "localhost".into());
    let domain = if host.contains('.') && host.parse::<std::net::IpAddr>().is_err() {
        host
    } else {
        "localhost.localdomain".into()
    };
    format!("Convene <no-reply@{domain}>")
}

/// The job kind that sends one queued mail.
pub const MAIL_JOB: &str = "mail";

/// Queues a mail for delivery (retried with backoff if the transport fails).
pub async fn queue_mail(state: &Services, mail: &Mail) -> Result<()> {
    let payload = serde_json::to_string(mail).map_err(anyhow::Error::from)?;
    let now = state.clock.now_ms();
    state.store.enqueue_job(MAIL_JOB, &payload, now, None, now).await?;
    crate::store::wake_job_runner();
    Ok(())
}

/// The mail job: hands a queued mail to the transport.
pub(crate) async fn send_mail(state: &Services, payload: &str) -> Result<()> {
    let mail: Mail = serde_json::from_str(payload).map_err(anyhow::Error::from)?;
    state.mailer.send(&sender(state), &mail).await
}

/// The password-reset mail.
pub async fn password_reset(state: &Services, user: &UserRow, link: &str) -> Result<()> {
    let (text, html) =
        templates::render("password_reset", serde_json::json!({"name": user.display_name, "link": link}))?;
    let mail =
        Mail { to: user.email.clone(), subject: "Reset your Convene password".into(), text, html, calendar: None };
    queue_mail(state, &mail).await
}

/// The mail with the one-time link that verifies `email` for `user`.
pub async fn verify_email(state: &Services, user: &UserRow, email: &str, link: &str) -> Result<()> {
    let ctx = serde_json::json!({"name": user.display_name, "email": email, "link": link});
    let (text, html) = templates::render("verify_email", ctx)?;
    let mail = Mail { to: email.to_owned(), subject: "Confirm your e-mail address".into(), text, html, calendar: None };
    queue_mail(state, &mail).await
}

/// What someone registering with an address that already has an account gets told, at that
/// address (the registration itself answers as if it worked, so it reveals nothing).
pub async fn already_registered(state: &Services, user: &UserRow) -> Result<()> {
    let reset_url = format!("{}/#/forgot", state.config.public_url);
    let ctx = serde_json::json!({"name": user.display_name, "email": user.email, "reset_url": reset_url});
    let (text, html) = templates::render("already_registered", ctx)?;
    let mail = Mail { to: user.email.clone(), subject: "Your Convene account".into(), text, html, calendar: None };
    queue_mail(state, &mail).await
}

/// How many mails a meeting change sends: every invitee gets an invitation or an update, and
/// everyone removed a cancellation (as [`meeting_changed`] does). Cancelling the whole
/// meeting is not counted: telling people is the point.
pub fn mails_for_update(previous: &[InviteeRow], current: &[InviteeRow]) -> usize {
    current.len() + previous.iter().filter(|p| !current.iter().any(|i| i.email == p.email)).count()
}

/// The "recording ready" mail, to each address allowed to watch the recording at `link`.
pub async fn recording_ready(state: &Services, m: &MeetingRow, recipients: &[String], link: &str) -> Result<()> {
    let ctx = serde_json::json!({"title": m.title, "when": when(m, from_ms(m.started_at.unwrap_or(m.start_at))), "link": link});
    let (text, html) = templates::render("recording_ready", ctx)?;
    for to in recipients {
        let mail = Mail {
            to: to.clone(),
            subject: format!("Recording ready: {}", m.title),
            text: text.clone(),
            html: html.clone(),
            calendar: None,
        };
        queue_mail(state, &mail).await?;
    }
    Ok(())
}

/// What happened to a meeting, for the mails it causes.
pub enum MeetingChange<'a> {
    Scheduled,
    /// Edited; the invitees before the edit decide who gets an update, an invitation or a
    /// cancellation.
    Updated {
        previous_invitees: &'a [InviteeRow],
    },
    Cancelled,
}

/// Sends invitees the mails a scheduled / edited / cancelled meeting calls for.
pub async fn meeting_changed(state: &Services, m: &MeetingRow, change: MeetingChange<'_>) -> Result<()> {
    let invitees = state.store.invitees(m.id).await?;
    let host = state.store.user_by_id(&m.host_id).await?;
    let now = state.clock.now();
    let (request_to, cancel_to): (Vec<&InviteeRow>, Vec<InviteeRow>) = match &change {
        MeetingChange::Scheduled => (invitees.iter().collect(), vec![]),
        MeetingChange::Updated { previous_invitees } => {
            let removed = previous_invitees.iter().filter(|p| !invitees.iter().any(|i| i.email == p.email)).cloned();
            (invitees.iter().collect(), removed.collect())
        }
        MeetingChange::Cancelled => (vec![], invitees.clone()),
    };
    let action_for = |inv: &InviteeRow| match &change {
        MeetingChange::Updated { previous_invitees } if previous_invitees.iter().any(|p| p.email == inv.email) => {
            "updated"
        }
        _ => "invited",
    };
    for inv in request_to {
        let mail = meeting_mail(state, m, host.as_ref(), &invitees, inv, action_for(inv), now)?;
        queue_mail(state, &mail).await?;
    }
    for inv in &cancel_to {
        // Removed invitees get a cancellation of their copy of the event.
        let mail = meeting_mail(state, m, host.as_ref(), std::slice::from_ref(inv), inv, "cancelled", now)?;
        queue_mail(state, &mail).await?;
    }
    Ok(())
}

fn meeting_mail(
    state: &Services,
    m: &MeetingRow,
    host: Option<&UserRow>,
    attendees: &[InviteeRow],
    to: &InviteeRow,
    action: &str,
    now: DateTime<Utc>,
) -> Result<Mail> {
    let cancelled = action == "cancelled";
    let method = if cancelled { "CANCEL" } else { "REQUEST" };
    let ctx = ics::EventContext { host, invitees: attendees, public_url: &state.config.public_url, cancelled, now };
    let ics = ics::meeting_calendar(m, method, &ctx);
    let host_name = host.map_or("The host".to_owned(), |h| h.display_name.clone());
    let (text, html) = templates::render("meeting", mail_context(state, m, &host_name, action))?;
    let subject = match action {
        "cancelled" => format!("Cancelled: {}", m.title),
        "updated" => format!("Updated: {}", m.title),
        _ => format!("Invitation: {}", m.title),
    };
    Ok(Mail { to: to.email.clone(), subject, text, html, calendar: Some(CalendarPart { method: method.into(), ics }) })
}

#[derive(Serialize)]
struct MailContext {
    action: String,
    host_name: String,
    title: String,
    when: String,
    recurrence: Option<String>,
    join_url: String,
    meeting_id: String,
    passcode: String,
    description: String,
}

fn mail_context(state: &Services, m: &MeetingRow, host_name: &str, action: &str) -> MailContext {
    MailContext {
        action: action.into(),
        host_name: host_name.into(),
        title: m.title.clone(),
        when: when(m, from_ms(m.start_at)),
        recurrence: m.recurrence.as_deref().map(describe_rrule),
        join_url: ics::join_url(m, &state.config.public_url),
        meeting_id: format_meeting_id(m.id),
        passcode: m.passcode.clone(),
        description: m.description.clone(),
    }
}

/// "Mon 7 Jan 2030, 10:00–10:30 (Europe/Paris)" for an occurrence starting at `start`.
fn when(m: &MeetingRow, start: DateTime<Utc>) -> String {
    let tz = schedule_tz(&m.timezone);
    let end = start + chrono::Duration::milliseconds(m.end_at - m.start_at);
    format!(
        "{}–{} ({})",
        start.with_timezone(&tz).format("%a %-d %b %Y, %H:%M"),
        end.with_timezone(&tz).format("%H:%M"),
        tz.name()
    )
}

/// Groups digits the way people read meeting IDs aloud: 841 2345 6789.
pub fn format_meeting_id(id: i64) -> String {
    let s = id.to_string();
    let (a, rest) = s.split_at(s.len() - 7);
    format!("{a} {} {}", &rest[..3], &rest[3..])
}

/// A short English reading of an RRULE ("every week, 10 times").
fn describe_rrule(rule: &str) -> String {
    let mut freq = "";
    let mut extra = Vec::new();
    for part in rule.split(';') {
        match part.split_once('=') {
            Some(("FREQ", f)) => freq = f,
            Some(("COUNT", n)) => extra.push(format!("{n} times")),
            Some(("UNTIL", u)) => extra.push(format!("until {}", u.get(..8).unwrap_or(u))),
            Some(("BYDAY", d)) => extra.push(format!("on {d}")),
            _ => {}
        }
    }
    let base = match freq {
        "DAILY" => "every day",
        "WEEKLY" => "every week",
        "MONTHLY" => "every month",
        "YEARLY" => "every year",
        _ => rule,
    };
    std::iter::once(base.to_owned()).chain(extra).collect::<Vec<_>>().join(", ")
}

/// Payload of a reminder job.
#[derive(Debug, Serialize, Deserialize)]
struct Reminder {
    meeting_id: i64,
    occurrence_start: i64,
    email: String,
    user_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_rules_read_well() {
        assert_eq!(format_meeting_id(8412345678), "841 234 5678");
        assert_eq!(format_meeting_id(16495087717), "1649 508 7717");
        assert_eq!(describe_rrule("FREQ=WEEKLY;COUNT=10"), "every week, 10 times");
    }
}
