//! The job runner: claims the persistent queue's due jobs (mail, reminders, recording
//! composition) and runs each, retrying a failure with backoff. It sits above the modules
//! whose jobs it runs, which only queue work and ring the queue's bell
//! ([`wake_job_runner`](crate::store::wake_job_runner)).

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::services::Services;
use crate::store::{job_queued, JobRow};

/// A running job holds its lease this long; after that another worker may retry it.
const LEASE_MS: i64 = 5 * 60_000;
const RETRY_BASE_MS: i64 = 30_000;
const RETRY_CAP_MS: i64 = 3_600_000;

/// Starts the job runner and the reminder scanner; abort the handles to stop them.
pub fn spawn(state: &Services) -> Vec<JoinHandle<()>> {
    vec![tokio::spawn(run_jobs(state.clone())), crate::notify::spawn_reminder_scan(state)]
}

async fn run_jobs(state: Services) {
    let poll = Duration::from_millis(state.config.job_poll_ms);
    loop {
        match state.store.claim_job(state.clock.now_ms(), LEASE_MS).await {
            Ok(Some(job)) => run_one(&state, job).await,
            Ok(None) => {
                let _ = tokio::time::timeout(poll, job_queued()).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "job queue unavailable");
                tokio::time::sleep(poll).await;
            }
        }
    }
}

async fn run_one(state: &Services, job: JobRow) {
    let result = match job.kind.as_str() {
        crate::notify::MAIL_JOB => crate::notify::send_mail(state, &job.payload).await,
        crate::notify::REMINDER_JOB => crate::notify::send_reminder(state, &job.payload).await,
        crate::recording::COMPOSE_JOB => crate::recording::compose_job(state, &job).await,
        other => Err(anyhow::anyhow!("unknown job kind {other:?}").into()),
    };
    let now = state.clock.now_ms();
    let outcome = match result {
        Ok(()) => {
            metrics::counter!("jobs_total", "kind" => job.kind.clone(), "outcome" => "done").increment(1);
            state.store.complete_job(&job.id, now).await
        }
        Err(e) => {
            let retry_at = (job.attempts < job.max_attempts).then(|| {
                let exp = u32::try_from(job.attempts.saturating_sub(1)).unwrap_or(u32::MAX).min(20);
                now + RETRY_BASE_MS.saturating_mul(1 << exp).min(RETRY_CAP_MS)
            });
            tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %e, will_retry = retry_at.is_some(), "job failed");
            let outcome = if retry_at.is_some() { "retry" } else { "failed" };
            metrics::counter!("jobs_total", "kind" => job.kind.clone(), "outcome" => outcome).increment(1);
            state.store.fail_job(&job.id, &e.to_string(), retry_at, now).await
        }
    };
    if let Err(e) = outcome {
        tracing::warn!(job = %job.id, error = %e, "could not record job outcome; its lease will expire and it will run again");
    }
}
