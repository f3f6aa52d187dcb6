//! Breakout-room attendance: one row per stay of an attendee in a breakout room.

use sqlx::Row as _;

use super::Store;
use crate::error::Result;

/// One stay in a breakout room.
#[derive(Debug, Clone)]
pub struct BreakoutStay {
    pub attendance_id: String,
    pub room: i64,
    pub room_name: String,
    /// Unix ms.
    pub entered_at: i64,
    pub left_at: Option<i64>,
}

impl Store {
    /// An attendee entered breakout room `room`; `id` names the stay.
    pub async fn breakout_entered(
        &self,
        id: &str,
        attendance_id: &str,
        meeting_id: i64,
        room: u32,
        room_name: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO breakout_attendance (id, attendance_id, meeting_id, room, room_name, entered_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(attendance_id)
        .bind(meeting_id)
        .bind(i64::from(room))
        .bind(room_name)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The stay `id` ended.
    pub async fn breakout_left(&self, id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE breakout_attendance SET left_at = $1 WHERE id = $2 AND left_at IS NULL")
            .bind(at)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Every stay in a breakout room of a meeting, in order.
    pub async fn breakout_stays(&self, meeting_id: i64) -> Result<Vec<BreakoutStay>> {
        let rows = sqlx::query(
            "SELECT attendance_id, room, room_name, entered_at, left_at FROM breakout_attendance \
             WHERE meeting_id = $1 ORDER BY entered_at, id",
        )
        .bind(meeting_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BreakoutStay {
                    attendance_id: r.try_get("attendance_id")?,
                    room: r.try_get("room")?,
                    room_name: r.try_get("room_name")?,
                    entered_at: r.try_get("entered_at")?,
                    left_at: r.try_get("left_at")?,
                })
            })
            .collect()
    }
}
