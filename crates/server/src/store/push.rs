//! Web Push subscriptions: the browsers each account asked to be notified on.

use sqlx::Row as _;

use super::Store;
use crate::error::Result;

/// One stored browser subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub user_id: String,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub user_agent: String,
    pub created_at: i64,
    pub last_success_at: Option<i64>,
    pub failure_count: i64,
}

const SUB_COLUMNS: &str = "id, user_id, endpoint, p256dh, auth, user_agent, created_at, last_success_at, failure_count";

fn subscription_from(row: &sqlx::any::AnyRow) -> Result<Subscription> {
    Ok(Subscription {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        endpoint: row.try_get("endpoint")?,
        p256dh: row.try_get("p256dh")?,
        auth: row.try_get("auth")?,
        user_agent: row.try_get("user_agent")?,
        created_at: row.try_get("created_at")?,
        last_success_at: row.try_get("last_success_at")?,
        failure_count: row.try_get("failure_count")?,
    })
}

/// A user keeps at most this many subscriptions; the oldest go first.
pub const MAX_SUBSCRIPTIONS_PER_USER: usize = 20;

/// What a browser hands over when it subscribes.
pub struct NewSubscription<'a> {
    pub user_id: &'a str,
    pub endpoint: &'a str,
    pub p256dh: &'a str,
    pub auth: &'a str,
    pub user_agent: &'a str,
    pub now: i64,
}

impl Store {
    /// Stores a subscription, or refreshes the one with the same endpoint (which then belongs to
    /// this user: whoever is signed in on that browser now). Returns it and whether it is new.
    pub async fn upsert_push_subscription(&self, new: NewSubscription<'_>) -> Result<(Subscription, bool)> {
        let existed = self.push_subscription_by_endpoint(new.endpoint).await?.is_some();
        sqlx::query(
            "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, user_agent, created_at, failure_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0) \
             ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, \
             auth = excluded.auth, user_agent = excluded.user_agent, failure_count = 0",
        )
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .bind(new.user_id)
        .bind(new.endpoint)
        .bind(new.p256dh)
        .bind(new.auth)
        .bind(new.user_agent)
        .bind(new.now)
        .execute(self.pool())
        .await?;
        let subs = self.push_subscriptions_of(new.user_id).await?;
        if subs.len() > MAX_SUBSCRIPTIONS_PER_USER {
            // `subscriptions_of` lists oldest first.
            for old in subs.iter().filter(|s| s.endpoint != new.endpoint).take(subs.len() - MAX_SUBSCRIPTIONS_PER_USER)
            {
                self.delete_push_subscription(&old.id).await?;
            }
        }
        let sub = self
            .push_subscription_by_endpoint(new.endpoint)
            .await?
            .ok_or_else(|| anyhow::anyhow!("push subscription vanished after upsert"))?;
        Ok((sub, !existed))
    }

    pub async fn push_subscription_by_endpoint(&self, endpoint: &str) -> Result<Option<Subscription>> {
        let row = sqlx::query(&format!("SELECT {SUB_COLUMNS} FROM push_subscriptions WHERE endpoint = $1"))
            .bind(endpoint)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(subscription_from).transpose()
    }

    /// A user's subscriptions, oldest first.
    pub async fn push_subscriptions_of(&self, user_id: &str) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(&format!(
            "SELECT {SUB_COLUMNS} FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(subscription_from).collect()
    }

    /// Removes a user's subscription by endpoint; whether there was one.
    pub async fn delete_push_subscription_of(&self, user_id: &str, endpoint: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2")
            .bind(user_id)
            .bind(endpoint)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_push_subscription(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM push_subscriptions WHERE id = $1").bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// The push service accepted a message for this subscription.
    pub async fn push_delivered(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE push_subscriptions SET last_success_at = $1, failure_count = 0 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A delivery to this subscription failed (it is kept, the failure counted).
    pub async fn push_failed(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE push_subscriptions SET failure_count = failure_count + 1 WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
