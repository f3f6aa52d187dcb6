//! Live captions' transcript lines (migration 0024): written one final caption at a time,
//! read back in order of when they were said.

use sqlx::Row as _;

use super::{Row, Store};
use crate::error::Result;

/// One final caption with who said it, at Unix ms times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    pub id: String,
    pub meeting_id: i64,
    pub participant_id: String,
    pub user_id: Option<String>,
    pub speaker: String,
    pub start_at: i64,
    pub end_at: i64,
    pub text: String,
    /// Said in breakout room `n` (1-based); `None`: the main room.
    pub breakout_room: Option<i64>,
}

fn line_from(r: &Row) -> Result<TranscriptLine> {
    Ok(TranscriptLine {
        id: r.try_get("id")?,
        meeting_id: r.try_get("meeting_id")?,
        participant_id: r.try_get("participant_id")?,
        user_id: r.try_get("user_id")?,
        speaker: r.try_get("speaker")?,
        start_at: r.try_get("start_at")?,
        end_at: r.try_get("end_at")?,
        text: r.try_get("text")?,
        breakout_room: r.try_get("breakout_room")?,
    })
}

impl Store {
    pub async fn insert_transcript_line(&self, l: &TranscriptLine) -> Result<()> {
        sqlx::query(
            "INSERT INTO transcript_lines (id, meeting_id, participant_id, user_id, speaker, start_at, end_at, text, \
             breakout_room) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&l.id)
        .bind(l.meeting_id)
        .bind(&l.participant_id)
        .bind(&l.user_id)
        .bind(&l.speaker)
        .bind(l.start_at)
        .bind(l.end_at)
        .bind(&l.text)
        .bind(l.breakout_room)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The meeting's lines said between `from` and `to` (Unix ms), in order.
    pub async fn transcript(&self, meeting_id: i64, from: i64, to: i64) -> Result<Vec<TranscriptLine>> {
        let rows = sqlx::query(
            "SELECT * FROM transcript_lines WHERE meeting_id = $1 AND start_at >= $2 AND start_at <= $3 \
             ORDER BY start_at, id",
        )
        .bind(meeting_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(line_from).collect()
    }
}
