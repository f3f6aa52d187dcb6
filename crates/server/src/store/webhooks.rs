//! Webhook endpoints, their delivery queue (which doubles as the delivery log) and attempts.
//!
//! A delivery is claimed by a conditional UPDATE that only succeeds if the row is still in the
//! state the worker read (same attempt count, no live lease), so two workers — on one node or
//! several — can never send the same attempt at once. The lease (`locked_until`) expires on its
//! own, so a crashed worker's attempt is picked up again.

use sqlx::Row as _;

use super::{Row, Store};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub id: String,
    pub owner_id: String,
    /// `user` or `organization`.
    pub scope: String,
    pub url: String,
    pub secret: String,
    /// Event types subscribed to; empty means every type except `chat.message`.
    pub events: Vec<String>,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

fn webhook_from(row: &Row) -> Result<WebhookRow> {
    let events: String = row.try_get("events")?;
    let active: i64 = row.try_get("active")?;
    Ok(WebhookRow {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        scope: row.try_get("scope")?,
        url: row.try_get("url")?,
        secret: row.try_get("secret")?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        active: active != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const WEBHOOK_COLUMNS: &str = "id, owner_id, scope, url, secret, events, active, created_at, updated_at";

#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub locked_until: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

fn delivery_from(row: &Row) -> Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        payload: row.try_get("payload")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        locked_until: row.try_get("locked_until")?,
        last_status: row.try_get("last_status")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}

const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event_id, d.event_type, d.payload, d.status, d.attempts, \
     d.next_attempt_at, d.locked_until, d.last_status, d.last_error, d.created_at, d.delivered_at";

/// One finished attempt of a delivery.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub delivery_id: String,
    pub attempt: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
}

/// A delivery a worker now holds the lease for, with where and how to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery: DeliveryRow,
    pub url: String,
    pub secret: String,
    pub webhook_active: bool,
}

/// What became of an attempt.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub started_at: i64,
    pub finished_at: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    /// Delivered (2xx).
    pub success: bool,
    /// When to try again; `None` gives up (`failed`).
    pub retry_at: Option<i64>,
}

impl Store {
    pub async fn insert_webhook(&self, w: &WebhookRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhooks (id, owner_id, scope, url, secret, events, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&w.id)
        .bind(&w.owner_id)
        .bind(&w.scope)
        .bind(&w.url)
        .bind(&w.secret)
        .bind(serde_json::to_string(&w.events).unwrap_or_else(|_| "[]".into()))
        .bind(i64::from(w.active))
        .bind(w.created_at)
        .bind(w.updated_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Saves url, events and active.
    pub async fn update_webhook(&self, w: &WebhookRow) -> Result<()> {
        sqlx::query("UPDATE webhooks SET url = $1, events = $2, active = $3, updated_at = $4 WHERE id = $5")
            .bind(&w.url)
            .bind(serde_json::to_string(&w.events).unwrap_or_else(|_| "[]".into()))
            .bind(i64::from(w.active))
            .bind(w.updated_at)
            .bind(&w.id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn webhook(&self, id: &str) -> Result<Option<WebhookRow>> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(webhook_from).transpose()
    }

    /// The user's own user-scope webhooks, plus every organization webhook if `with_organization`.
    pub async fn webhooks_visible_to(&self, user_id: &str, with_organization: bool) -> Result<Vec<WebhookRow>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks \
             WHERE (scope = 'user' AND owner_id = $1) OR (scope = 'organization' AND $2 = 1) \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql).bind(user_id).bind(i64::from(with_organization)).fetch_all(self.pool()).await?;
        rows.iter().map(webhook_from).collect()
    }

    /// Active webhooks that may receive an event about `owner_id`'s meeting: every organization
    /// webhook and that owner's own (the dispatcher then filters by event type).
    pub async fn webhooks_for_event(&self, owner_id: Option<&str>) -> Result<Vec<WebhookRow>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE active = 1 \
             AND (scope = 'organization' OR (scope = 'user' AND owner_id = $1)) ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql).bind(owner_id.unwrap_or("")).fetch_all(self.pool()).await?;
        rows.iter().map(webhook_from).collect()
    }

    /// How many webhooks a user has created (of either scope).
    pub async fn count_webhooks_of(&self, owner_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE owner_id = $1")
            .bind(owner_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Queues an event for a webhook, due at once. Returns false if this event was already
    /// queued for it (an event is delivered once per endpoint, however often it is offered).
    pub async fn enqueue_delivery(
        &self,
        id: &str,
        webhook_id: &str,
        event_id: &str,
        event_type: &str,
        payload: &str,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, payload, status, attempts, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) \
             ON CONFLICT (webhook_id, event_id) DO NOTHING",
        )
        .bind(id)
        .bind(webhook_id)
        .bind(event_id)
        .bind(event_type)
        .bind(payload)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryRow>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(delivery_from).transpose()
    }

    /// A page of a webhook's delivery log, newest first, optionally of one status; and the total.
    pub async fn deliveries(
        &self,
        webhook_id: &str,
        status: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<DeliveryRow>, i64)> {
        let filter = "d.webhook_id = $1 AND ($2 = '' OR d.status = $2)";
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE {filter} \
             ORDER BY d.created_at DESC, d.id DESC LIMIT $3 OFFSET $4"
        );
        let status = status.unwrap_or("");
        let rows =
            sqlx::query(&sql).bind(webhook_id).bind(status).bind(limit).bind(offset).fetch_all(self.pool()).await?;
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM webhook_deliveries d WHERE {filter}"))
            .bind(webhook_id)
            .bind(status)
            .fetch_one(self.pool())
            .await?;
        Ok((rows.iter().map(delivery_from).collect::<Result<_>>()?, total))
    }

    /// The finished attempts of these deliveries, in order.
    pub async fn attempts_of(&self, delivery_ids: &[String]) -> Result<Vec<AttemptRow>> {
        if delivery_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (1..=delivery_ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT delivery_id, attempt, started_at, duration_ms, status, error FROM webhook_attempts \
             WHERE delivery_id IN ({placeholders}) ORDER BY delivery_id, attempt"
        );
        let mut query = sqlx::query(&sql);
        for id in delivery_ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(AttemptRow {
                    delivery_id: r.try_get("delivery_id")?,
                    attempt: r.try_get("attempt")?,
                    started_at: r.try_get("started_at")?,
                    duration_ms: r.try_get("duration_ms")?,
                    status: r.try_get("status")?,
                    error: r.try_get("error")?,
                })
            })
            .collect()
    }

    /// Takes the lease on up to `limit` due deliveries, counting the attempt it starts. Only
    /// deliveries that still have attempts left (fewer than `max_attempts`) are taken; one
    /// whose final attempt was lost with its worker is marked failed here.
    pub async fn claim_due_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        max_attempts: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', locked_until = NULL, \
             last_error = COALESCE(last_error, 'the final attempt was interrupted') \
             WHERE status = 'pending' AND attempts >= $1 AND locked_until IS NOT NULL AND locked_until <= $2",
        )
        .bind(max_attempts)
        .bind(now)
        .execute(self.pool())
        .await?;

        let sql = format!(
            "SELECT {DELIVERY_COLUMNS}, w.url AS w_url, w.secret AS w_secret, w.active AS w_active \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND d.attempts < $2 \
             AND (d.locked_until IS NULL OR d.locked_until <= $1) \
             ORDER BY d.next_attempt_at, d.id LIMIT $3"
        );
        let rows = sqlx::query(&sql).bind(now).bind(max_attempts).bind(limit).fetch_all(self.pool()).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut delivery = delivery_from(row)?;
            // Succeeds only if nobody claimed (or finished) this attempt since we read it.
            let taken = sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, locked_until = $1 \
                 WHERE id = $2 AND status = 'pending' AND attempts = $3 \
                 AND (locked_until IS NULL OR locked_until <= $4)",
            )
            .bind(lease_until)
            .bind(&delivery.id)
            .bind(delivery.attempts)
            .bind(now)
            .execute(self.pool())
            .await?;
            if taken.rows_affected() != 1 {
                continue;
            }
            delivery.attempts += 1;
            delivery.locked_until = Some(lease_until);
            let active: i64 = row.try_get("w_active")?;
            claimed.push(ClaimedDelivery {
                delivery,
                url: row.try_get("w_url")?,
                secret: row.try_get("w_secret")?,
                webhook_active: active != 0,
            });
        }
        Ok(claimed)
    }

    /// Records how attempt number `attempt` went and releases the lease. Does nothing if the
    /// lease was lost meanwhile (another worker has started a later attempt).
    pub async fn finish_attempt(&self, delivery_id: &str, attempt: i64, outcome: &AttemptOutcome) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let (status, next, delivered_at) = match (outcome.success, outcome.retry_at) {
            (true, _) => ("delivered", outcome.finished_at, Some(outcome.finished_at)),
            (false, Some(at)) => ("pending", at, None),
            (false, None) => ("failed", outcome.finished_at, None),
        };
        let updated = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, delivered_at = $3, locked_until = NULL, \
             last_status = $4, last_error = $5 WHERE id = $6 AND attempts = $7 AND status = 'pending'",
        )
        .bind(status)
        .bind(next)
        .bind(delivered_at)
        .bind(outcome.status)
        .bind(&outcome.error)
        .bind(delivery_id)
        .bind(attempt)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status, error) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, attempt) DO NOTHING",
        )
        .bind(delivery_id)
        .bind(attempt)
        .bind(outcome.started_at)
        .bind((outcome.finished_at - outcome.started_at).max(0))
        .bind(outcome.status)
        .bind(&outcome.error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
