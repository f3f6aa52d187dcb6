//! Background images: the one virtual-background image an account may upload, on its row.

use sqlx::Row as _;

use super::Store;
use crate::error::Result;

impl Store {
    /// Stores (or with `None` removes) my background image and its ETag.
    pub async fn set_background(&self, user_id: &str, image: Option<(&[u8], &str)>, now: i64) -> Result<()> {
        let (bytes, etag) = match image {
            Some((bytes, etag)) => (Some(bytes.to_vec()), Some(etag.to_owned())),
            None => (None, None),
        };
        sqlx::query("UPDATE users SET background = $1, background_etag = $2, updated_at = $3 WHERE id = $4")
            .bind(bytes)
            .bind(etag)
            .bind(now)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The stored background image and its ETag.
    pub async fn background(&self, user_id: &str) -> Result<Option<(Vec<u8>, String)>> {
        let row = sqlx::query("SELECT background, background_etag FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let bytes: Option<Vec<u8>> = row.try_get("background")?;
        let etag: Option<String> = row.try_get("background_etag")?;
        Ok(bytes.zip(etag))
    }
}
