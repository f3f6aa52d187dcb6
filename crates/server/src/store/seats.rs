//! Seats of live meetings, kept in the shared database in cluster mode so another node can
//! rebuild a meeting whose node died.

use sqlx::Row as _;

use super::Store;
use crate::error::Result;

/// A seat as stored: the participant (JSON of the protocol's `Participant`) and what resuming
/// it needs. The resume token itself is stored only as its hash.
#[derive(Debug, Clone)]
pub struct SeatRow {
    pub resume_hash: String,
    pub meeting_id: i64,
    pub participant_id: String,
    pub attendance_id: String,
    pub client_key: Option<String>,
    pub participant: String,
    /// The video slots of the seat's slot subscription (`None`: per track).
    pub video_slots: Option<u8>,
    pub updated_at: i64,
}

impl Store {
    /// Inserts or replaces a seat.
    pub async fn save_seat(&self, s: &SeatRow) -> Result<()> {
        sqlx::query("DELETE FROM live_seats WHERE resume_hash = $1").bind(&s.resume_hash).execute(self.pool()).await?;
        sqlx::query(
            "INSERT INTO live_seats (resume_hash, meeting_id, participant_id, attendance_id, client_key, participant, \
             updated_at, video_slots) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.resume_hash)
        .bind(s.meeting_id)
        .bind(&s.participant_id)
        .bind(&s.attendance_id)
        .bind(&s.client_key)
        .bind(&s.participant)
        .bind(s.updated_at)
        .bind(s.video_slots.map(i64::from))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn seat_by_resume(&self, meeting_id: i64, resume_hash: &str) -> Result<Option<SeatRow>> {
        let row = sqlx::query("SELECT * FROM live_seats WHERE meeting_id = $1 AND resume_hash = $2")
            .bind(meeting_id)
            .bind(resume_hash)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok(SeatRow {
                resume_hash: r.try_get("resume_hash")?,
                meeting_id: r.try_get("meeting_id")?,
                participant_id: r.try_get("participant_id")?,
                attendance_id: r.try_get("attendance_id")?,
                client_key: r.try_get("client_key")?,
                participant: r.try_get("participant")?,
                video_slots: r.try_get::<Option<i64>, _>("video_slots")?.and_then(|v| u8::try_from(v).ok()),
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    pub async fn update_seat_participant(
        &self,
        meeting_id: i64,
        participant_id: &str,
        participant: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE live_seats SET participant = $3 WHERE meeting_id = $1 AND participant_id = $2")
            .bind(meeting_id)
            .bind(participant_id)
            .bind(participant)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_seat(&self, meeting_id: i64, participant_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM live_seats WHERE meeting_id = $1 AND participant_id = $2")
            .bind(meeting_id)
            .bind(participant_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_seats(&self, meeting_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM live_seats WHERE meeting_id = $1").bind(meeting_id).execute(self.pool()).await?;
        Ok(())
    }
}
