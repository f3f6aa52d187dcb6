//! Meeting chat, shared files and removals.

use sqlx::Row as _;

use super::{Row, Store};
use crate::error::Result;

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChatRow {
    pub id: String,
    pub meeting_id: i64,
    pub from_participant: String,
    pub from_user_id: Option<String>,
    pub from_name: String,
    pub to_participant: Option<String>,
    pub to_user_id: Option<String>,
    pub to_name: Option<String>,
    pub text: String,
    pub file_id: Option<String>,
    pub sent_at: i64,
    /// Sent to everyone in breakout room `n` (1-based); `None`: the main room or private.
    pub breakout_room: Option<i64>,
}

fn chat_from(r: &Row) -> Result<ChatRow> {
    Ok(ChatRow {
        id: r.try_get("id")?,
        meeting_id: r.try_get("meeting_id")?,
        from_participant: r.try_get("from_participant")?,
        from_user_id: r.try_get("from_user_id")?,
        from_name: r.try_get("from_name")?,
        to_participant: r.try_get("to_participant")?,
        to_user_id: r.try_get("to_user_id")?,
        to_name: r.try_get("to_name")?,
        text: r.try_get("text")?,
        file_id: r.try_get("file_id")?,
        sent_at: r.try_get("sent_at")?,
        breakout_room: r.try_get("breakout_room")?,
    })
}

/// A stored shared file's metadata (the bytes live in the data directory).
#[derive(Debug, Clone)]
pub struct FileRow {
    pub id: String,
    pub meeting_id: i64,
    pub uploader_participant: String,
    pub uploader_user_id: Option<String>,
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub sha256: String,
    pub created_at: i64,
}

fn file_from(r: &Row) -> Result<FileRow> {
    Ok(FileRow {
        id: r.try_get("id")?,
        meeting_id: r.try_get("meeting_id")?,
        uploader_participant: r.try_get("uploader_participant")?,
        uploader_user_id: r.try_get("uploader_user_id")?,
        name: r.try_get("name")?,
        size: r.try_get("size")?,
        content_type: r.try_get("content_type")?,
        sha256: r.try_get("sha256")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Who is reading chat: a live participant and/or an account.
pub struct Viewer<'a> {
    pub participant_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
}

impl Store {
    pub async fn insert_chat(&self, c: &ChatRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO chat_messages (id, meeting_id, from_participant, from_user_id, from_name, to_participant, \
             to_user_id, to_name, text, file_id, sent_at, breakout_room) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&c.id)
        .bind(c.meeting_id)
        .bind(&c.from_participant)
        .bind(&c.from_user_id)
        .bind(&c.from_name)
        .bind(&c.to_participant)
        .bind(&c.to_user_id)
        .bind(&c.to_name)
        .bind(&c.text)
        .bind(&c.file_id)
        .bind(c.sent_at)
        .bind(c.breakout_room)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Chat the viewer may read, oldest first: everything public plus private messages they
    /// sent or received (matched by participant or account). Returns a page and the total.
    pub async fn chat_for(
        &self,
        meeting_id: i64,
        viewer: &Viewer<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ChatRow>, i64)> {
        let filter = "meeting_id = $1 AND (to_participant IS NULL \
             OR from_participant = $2 OR to_participant = $2 OR from_user_id = $3 OR to_user_id = $3)";
        let pid = viewer.participant_id.unwrap_or("");
        let uid = viewer.user_id.unwrap_or("");
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM chat_messages WHERE {filter}"))
            .bind(meeting_id)
            .bind(pid)
            .bind(uid)
            .fetch_one(self.pool())
            .await?;
        let rows =
            sqlx::query(&format!("SELECT * FROM chat_messages WHERE {filter} ORDER BY sent_at, id LIMIT $4 OFFSET $5"))
                .bind(meeting_id)
                .bind(pid)
                .bind(uid)
                .bind(limit)
                .bind(offset)
                .fetch_all(self.pool())
                .await?;
        Ok((rows.iter().map(chat_from).collect::<Result<_>>()?, total))
    }

    pub async fn insert_file(&self, f: &FileRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO meeting_files (id, meeting_id, uploader_participant, uploader_user_id, name, size, \
             content_type, sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&f.id)
        .bind(f.meeting_id)
        .bind(&f.uploader_participant)
        .bind(&f.uploader_user_id)
        .bind(&f.name)
        .bind(f.size)
        .bind(&f.content_type)
        .bind(&f.sha256)
        .bind(f.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn file(&self, meeting_id: i64, id: &str) -> Result<Option<FileRow>> {
        let row = sqlx::query("SELECT * FROM meeting_files WHERE meeting_id = $1 AND id = $2")
            .bind(meeting_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(file_from).transpose()
    }

    /// Whether the chat message that shared a file may be read by `viewer` (public, or they
    /// are its sender or recipient).
    pub async fn file_visible_to(&self, meeting_id: i64, file_id: &str, viewer: &Viewer<'_>) -> Result<bool> {
        let pid = viewer.participant_id.unwrap_or("");
        let uid = viewer.user_id.unwrap_or("");
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM chat_messages WHERE meeting_id = $1 AND file_id = $2 AND (to_participant IS NULL \
             OR from_participant = $3 OR to_participant = $3 OR from_user_id = $4 OR to_user_id = $4)",
        )
        .bind(meeting_id)
        .bind(file_id)
        .bind(pid)
        .bind(uid)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    pub async fn ban(&self, meeting_id: i64, subject: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO meeting_bans (meeting_id, subject, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(meeting_id)
        .bind(subject)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn is_banned(&self, meeting_id: i64, subjects: &[String]) -> Result<bool> {
        for s in subjects {
            let hit: Option<i64> =
                sqlx::query_scalar("SELECT created_at FROM meeting_bans WHERE meeting_id = $1 AND subject = $2")
                    .bind(meeting_id)
                    .bind(s)
                    .fetch_optional(self.pool())
                    .await?;
            if hit.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
