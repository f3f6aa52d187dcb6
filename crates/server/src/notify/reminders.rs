//! Reminders before a meeting starts: the scanner that plans them as jobs, and the job that
//! sends one (mail and push).

use std::time::Duration;

use tokio::task::JoinHandle;

use super::{queue_mail, templates, when, Reminder};
use crate::clock::from_ms;
use crate::error::Result;
use crate::mail::Mail;
use crate::services::Services;
use crate::store::wake_job_runner;

/// The job kind that sends one reminder.
pub const REMINDER_JOB: &str = "reminder";
/// Reminders are scheduled for occurrences starting within this window.
const REMINDER_HORIZON_MS: i64 = 24 * 3_600_000;

/// Starts the reminder scanner; abort the handle to stop it.
pub fn spawn_reminder_scan(state: &Services) -> JoinHandle<()> {
    tokio::spawn(scan_reminders(state.clone()))
}

/// The reminder job: mail (through the mail queue) and push, unless the meeting changed.
pub(crate) async fn send_reminder(state: &Services, payload: &str) -> Result<()> {
    let r: Reminder = serde_json::from_str(payload).map_err(anyhow::Error::from)?;
    let Some(m) = state.store.meeting(r.meeting_id).await? else { return Ok(()) };
    let now = state.clock.now();
    // The meeting may have been cancelled or moved since the reminder was planned.
    let still_planned = m.status == crate::meeting::MeetingStatus::Scheduled
        && m.schedule()
            .ok()
            .and_then(|s| s.occurrences_after(from_ms(r.occurrence_start), 1).into_iter().next())
            .is_some_and(|o| o.start.timestamp_millis() == r.occurrence_start);
    if !still_planned || r.occurrence_start <= now.timestamp_millis() {
        tracing::debug!(meeting_id = m.id, "reminder dropped: meeting changed or already started");
        return Ok(());
    }
    let minutes = ((r.occurrence_start - now.timestamp_millis()) as f64 / 60_000.0).round() as i64;
    let mut ctx = serde_json::to_value(super::mail_context(state, &m, "", "reminder")).map_err(anyhow::Error::from)?;
    ctx["minutes"] = minutes.max(1).into();
    ctx["when"] = when(&m, from_ms(r.occurrence_start)).into();
    let (text, html) = templates::render("reminder", ctx)?;
    let mail = Mail {
        to: r.email.clone(),
        subject: format!("Starting in {} min: {}", minutes.max(1), m.title),
        text,
        html,
        calendar: None,
    };
    if let Some(user_id) = &r.user_id {
        let push = crate::push::PushMessage::new(
            format!("Starting in {} min: {}", minutes.max(1), m.title),
            when(&m, from_ms(r.occurrence_start)),
            crate::notify::ics::join_url(&m, &state.config.public_url),
        )
        .with_tag(format!("meeting-{}", m.id));
        crate::push::spawn_send_to_user(state, user_id, push);
    }
    // Through the mail queue, so a failing SMTP server retries the mail, not the reminder.
    queue_mail(state, &mail).await
}

async fn scan_reminders(state: Services) {
    let every = Duration::from_millis(state.config.reminder_scan_ms);
    loop {
        if let Err(e) = plan_reminders(&state).await {
            tracing::warn!(error = %e, "reminder scan failed");
        }
        tokio::time::sleep(every).await;
    }
}

/// Queues a reminder job for every person and occurrence whose reminder time is near. The
/// dedupe key makes this idempotent: rescans and restarts never queue one twice.
pub(crate) async fn plan_reminders(state: &Services) -> Result<()> {
    let now = state.clock.now_ms();
    let lookahead = 2 * i64::try_from(state.config.reminder_scan_ms).unwrap_or(i64::MAX / 4);
    for m in state.store.meetings_needing_reminders().await? {
        let Ok(sched) = m.schedule() else { continue };
        let upcoming: Vec<_> = sched
            .occurrences_after(from_ms(now), 3)
            .into_iter()
            .filter(|o| o.start.timestamp_millis() > now && o.start.timestamp_millis() <= now + REMINDER_HORIZON_MS)
            .collect();
        if upcoming.is_empty() {
            continue;
        }
        let mut people: Vec<(String, Option<String>, i64)> = Vec::new();
        if let Some(host) = state.store.user_by_id(&m.host_id).await? {
            let minutes = state.store.reminder_minutes(&host.id).await?;
            people.push((host.email, Some(host.id), minutes));
        }
        for inv in state.store.invitees(m.id).await? {
            let minutes = match &inv.user_id {
                Some(uid) => state.store.reminder_minutes(uid).await?,
                None => 10,
            };
            people.push((inv.email, inv.user_id, minutes));
        }
        for occ in &upcoming {
            let start = occ.start.timestamp_millis();
            for (email, user_id, minutes) in &people {
                let remind_at = start - minutes * 60_000;
                if *minutes <= 0 || remind_at > now + lookahead {
                    continue;
                }
                let key = format!("reminder:{}:{start}:{email}", m.id);
                let payload = serde_json::to_string(&Reminder {
                    meeting_id: m.id,
                    occurrence_start: start,
                    email: email.clone(),
                    user_id: user_id.clone(),
                })
                .map_err(anyhow::Error::from)?;
                if state.store.enqueue_job(REMINDER_JOB, &payload, remind_at.max(now), Some(&key), now).await? {
                    tracing::info!(meeting_id = m.id, "reminder planned");
                    wake_job_runner();
                }
            }
        }
    }
    Ok(())
}
