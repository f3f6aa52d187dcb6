//! Meetings, their co-hosts and invitees, and attendance.

use sqlx::Row as _;

use super::{is_unique_violation, Row, Store};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::meeting::{Access, Lifecycle, Meeting, MeetingKind, MeetingStatus, Schedule, Settings, Ties};

#[derive(Debug, Clone)]
pub struct MeetingRow {
    pub id: i64,
    pub host_id: String,
    pub title: String,
    pub description: String,
    pub kind: MeetingKind,
    pub start_at: i64,
    pub end_at: i64,
    pub timezone: String,
    pub recurrence: Option<String>,
    pub passcode: String,
    /// JSON of [`crate::meeting::Settings`].
    pub settings: String,
    pub status: MeetingStatus,
    /// Bumped on every change (iCalendar SEQUENCE).
    pub sequence: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl MeetingRow {
    /// Where the meeting is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        Lifecycle { status: self.status, kind: self.kind, recurring: self.recurrence.is_some() }
    }

    /// Its settings, with the server's defaults for anything stored before a setting existed.
    pub fn settings(&self, cfg: &Config) -> Settings {
        Settings::from_stored(&self.settings, cfg)
    }

    /// The meeting as permissions see it.
    pub fn facts(&self, cfg: &Config) -> Meeting {
        Meeting { lifecycle: self.lifecycle(), allow_guests: self.settings(cfg).allow_guests }
    }

    /// When it happens.
    pub fn schedule(&self) -> Result<Schedule> {
        Schedule::new(
            crate::clock::from_ms(self.start_at),
            chrono::Duration::milliseconds(self.end_at - self.start_at),
            crate::meeting::schedule_tz(&self.timezone),
            self.recurrence.as_deref(),
        )
    }
}

fn unknown(what: &str, value: &str) -> Error {
    anyhow::anyhow!("stored meeting has an unknown {what} {value:?}").into()
}

fn meeting_from(row: &Row) -> Result<MeetingRow> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(MeetingRow {
        id: row.try_get("id")?,
        host_id: row.try_get("host_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        kind: MeetingKind::parse(&kind).ok_or_else(|| unknown("kind", &kind))?,
        start_at: row.try_get("start_at")?,
        end_at: row.try_get("end_at")?,
        timezone: row.try_get("timezone")?,
        recurrence: row.try_get("recurrence")?,
        passcode: row.try_get("passcode")?,
        settings: row.try_get("settings")?,
        status: MeetingStatus::parse(&status).ok_or_else(|| unknown("status", &status))?,
        sequence: row.try_get("sequence")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const MEETING_COLUMNS: &str = "m.id, m.host_id, m.title, m.description, m.kind, m.start_at, m.end_at, \
     m.timezone, m.recurrence, m.passcode, m.settings, m.status, m.sequence, m.started_at, m.ended_at, \
     m.created_at, m.updated_at";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteeRow {
    pub email: String,
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AttendanceRow {
    pub id: String,
    pub meeting_id: i64,
    pub user_id: Option<String>,
    pub display_name: String,
    pub role: String,
    pub joined_at: i64,
    pub left_at: Option<i64>,
}

fn attendance_from(row: &Row) -> Result<AttendanceRow> {
    Ok(AttendanceRow {
        id: row.try_get("id")?,
        meeting_id: row.try_get("meeting_id")?,
        user_id: row.try_get("user_id")?,
        display_name: row.try_get("display_name")?,
        role: row.try_get("role")?,
        joined_at: row.try_get("joined_at")?,
        left_at: row.try_get("left_at")?,
    })
}

/// A meeting with the people attached to it, as written in one transaction.
pub struct NewMeeting<'a> {
    pub row: &'a MeetingRow,
    pub co_hosts: &'a [String],
    pub invitees: &'a [InviteeRow],
}

impl Store {
    /// Inserts a meeting with its co-hosts and invitees. A clash on the random meeting ID is
    /// reported as `Error::Client { code: "id_collision" }` so the caller draws another.
    pub async fn insert_meeting(&self, new: NewMeeting<'_>) -> Result<()> {
        let m = new.row;
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO meetings (id, host_id, title, description, kind, start_at, end_at, timezone, \
             recurrence, passcode, settings, status, sequence, started_at, ended_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(m.id)
        .bind(&m.host_id)
        .bind(&m.title)
        .bind(&m.description)
        .bind(m.kind.as_str())
        .bind(m.start_at)
        .bind(m.end_at)
        .bind(&m.timezone)
        .bind(&m.recurrence)
        .bind(&m.passcode)
        .bind(&m.settings)
        .bind(m.status.as_str())
        .bind(m.sequence)
        .bind(m.started_at)
        .bind(m.ended_at)
        .bind(m.created_at)
        .bind(m.updated_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::conflict("id_collision", "meeting id already in use"));
            }
            Err(e) => return Err(e.into()),
        }
        write_people(&mut tx, m.id, new.co_hosts, new.invitees).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Saves edited fields (title, times, settings, people…) and bumps the sequence.
    pub async fn update_meeting(&self, new: NewMeeting<'_>) -> Result<()> {
        let m = new.row;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE meetings SET title = $1, description = $2, start_at = $3, end_at = $4, timezone = $5, \
             recurrence = $6, settings = $7, sequence = sequence + 1, updated_at = $8 WHERE id = $9",
        )
        .bind(&m.title)
        .bind(&m.description)
        .bind(m.start_at)
        .bind(m.end_at)
        .bind(&m.timezone)
        .bind(&m.recurrence)
        .bind(&m.settings)
        .bind(m.updated_at)
        .bind(m.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM meeting_cohosts WHERE meeting_id = $1").bind(m.id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM meeting_invitees WHERE meeting_id = $1").bind(m.id).execute(&mut *tx).await?;
        write_people(&mut tx, m.id, new.co_hosts, new.invitees).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn meeting(&self, id: i64) -> Result<Option<MeetingRow>> {
        let sql = format!("SELECT {MEETING_COLUMNS} FROM meetings m WHERE m.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(meeting_from).transpose()
    }

    pub async fn co_hosts(&self, id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT user_id FROM meeting_cohosts WHERE meeting_id = $1 ORDER BY user_id")
            .bind(id)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn invitees(&self, id: i64) -> Result<Vec<InviteeRow>> {
        let rows = sqlx::query("SELECT email, user_id FROM meeting_invitees WHERE meeting_id = $1 ORDER BY email")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok(InviteeRow { email: r.try_get("email")?, user_id: r.try_get("user_id")? })).collect()
    }

    /// Every non-personal meeting the user hosts, co-hosts or is invited to, in the given
    /// statuses. Callers filter by time (recurrences make SQL filtering approximate).
    /// Invitations count only for an account whose address is verified (see
    /// [`Access::of`](crate::meeting::Access::of)): an unverified account sees none.
    pub async fn meetings_of_user(&self, user: &super::UserRow, statuses: &[MeetingStatus]) -> Result<Vec<MeetingRow>> {
        let status_list = statuses.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
        let invited = if user.email_verified() {
            "OR EXISTS (SELECT 1 FROM meeting_invitees i WHERE i.meeting_id = m.id AND (i.user_id = $1 OR i.email = $2))"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {MEETING_COLUMNS} FROM meetings m WHERE m.kind <> 'personal' AND m.status IN ({status_list}) AND ( \
               m.host_id = $1 \
               OR EXISTS (SELECT 1 FROM meeting_cohosts c WHERE c.meeting_id = m.id AND c.user_id = $1) \
               {invited} \
               OR EXISTS (SELECT 1 FROM attendance a WHERE a.meeting_id = m.id AND a.user_id = $1))"
        );
        let mut query = sqlx::query(&sql).bind(&user.id);
        if user.email_verified() {
            query = query.bind(&user.email);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(meeting_from).collect()
    }

    /// The host's meetings that can still clash with a new one (for conflict warnings). A
    /// recurring meeting whose last occurrence ended is still active: the series goes on.
    pub async fn active_meetings_of_host(&self, host_id: &str) -> Result<Vec<MeetingRow>> {
        let sql = format!(
            "SELECT {MEETING_COLUMNS} FROM meetings m WHERE m.host_id = $1 AND m.kind <> 'personal' \
             AND (m.status IN ('scheduled', 'live') OR (m.status = 'ended' AND m.recurrence IS NOT NULL))"
        );
        let rows = sqlx::query(&sql).bind(host_id).fetch_all(self.pool()).await?;
        rows.iter().map(meeting_from).collect()
    }

    pub async fn personal_meeting(&self, host_id: &str) -> Result<Option<MeetingRow>> {
        let sql = format!("SELECT {MEETING_COLUMNS} FROM meetings m WHERE m.host_id = $1 AND m.kind = 'personal'");
        let row = sqlx::query(&sql).bind(host_id).fetch_optional(self.pool()).await?;
        row.as_ref().map(meeting_from).transpose()
    }

    /// What ties an account has to a meeting.
    pub async fn ties(&self, meeting_id: i64, user: &super::UserRow) -> Result<Ties> {
        let (user_id, email) = (user.id.as_str(), user.email.as_str());
        let any = |sql: &'static str, key: &str| {
            let key = key.to_owned();
            async move {
                let n: i64 = sqlx::query_scalar(sql).bind(meeting_id).bind(key).fetch_one(self.pool()).await?;
                Ok::<bool, Error>(n > 0)
            }
        };
        Ok(Ties {
            co_host: any("SELECT COUNT(*) FROM meeting_cohosts WHERE meeting_id = $1 AND user_id = $2", user_id)
                .await?,
            invited_by_id: any("SELECT COUNT(*) FROM meeting_invitees WHERE meeting_id = $1 AND user_id = $2", user_id)
                .await?,
            invited_by_email: any("SELECT COUNT(*) FROM meeting_invitees WHERE meeting_id = $1 AND email = $2", email)
                .await?,
            attended: any("SELECT COUNT(*) FROM attendance WHERE meeting_id = $1 AND user_id = $2", user_id).await?,
            email_verified: user.email_verified(),
        })
    }

    /// How account `user` stands to the meeting `meeting_id` hosted by `host_id`.
    pub async fn access(&self, meeting_id: i64, host_id: &str, user: &super::UserRow) -> Result<Access> {
        let ties = self.ties(meeting_id, user).await?;
        Ok(Access::of(host_id, &user.id, ties))
    }

    /// Links invitations addressed to an e-mail to the account that now owns it.
    pub async fn link_invitations(&self, email: &str, user_id: &str) -> Result<()> {
        sqlx::query("UPDATE meeting_invitees SET user_id = $1 WHERE email = $2 AND user_id IS NULL")
            .bind(user_id)
            .bind(email)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn attendance(&self, meeting_id: i64) -> Result<Vec<AttendanceRow>> {
        let rows = sqlx::query("SELECT * FROM attendance WHERE meeting_id = $1 ORDER BY joined_at, id")
            .bind(meeting_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(attendance_from).collect()
    }

    pub async fn attendance_of_user(&self, user_id: &str) -> Result<Vec<AttendanceRow>> {
        let rows = sqlx::query("SELECT * FROM attendance WHERE user_id = $1 ORDER BY joined_at, id")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(attendance_from).collect()
    }

    /// Records someone entering a meeting (the live-meeting layer calls this).
    pub async fn record_join(&self, row: &AttendanceRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO attendance (id, meeting_id, user_id, display_name, role, joined_at, left_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&row.id)
        .bind(row.meeting_id)
        .bind(&row.user_id)
        .bind(&row.display_name)
        .bind(&row.role)
        .bind(row.joined_at)
        .bind(row.left_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn record_leave(&self, attendance_id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE attendance SET left_at = $1 WHERE id = $2 AND left_at IS NULL")
            .bind(now)
            .bind(attendance_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Marks a meeting live (first join) or ended; the live-meeting layer calls this.
    pub async fn set_meeting_status(&self, id: i64, status: MeetingStatus, now: i64) -> Result<()> {
        let sql = match status {
            MeetingStatus::Live => {
                "UPDATE meetings SET status = 'live', started_at = $1, ended_at = NULL WHERE id = $2"
            }
            MeetingStatus::Ended => "UPDATE meetings SET status = 'ended', ended_at = $1 WHERE id = $2",
            MeetingStatus::Cancelled => {
                "UPDATE meetings SET status = 'cancelled', sequence = sequence + 1, updated_at = $1 WHERE id = $2"
            }
            MeetingStatus::Scheduled => "UPDATE meetings SET status = 'scheduled', updated_at = $1 WHERE id = $2",
        };
        sqlx::query(sql).bind(now).bind(id).execute(self.pool()).await?;
        Ok(())
    }
}

async fn write_people(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    meeting_id: i64,
    co_hosts: &[String],
    invitees: &[InviteeRow],
) -> Result<()> {
    for user_id in co_hosts {
        sqlx::query("INSERT INTO meeting_cohosts (meeting_id, user_id) VALUES ($1, $2)")
            .bind(meeting_id)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
    }
    for inv in invitees {
        sqlx::query("INSERT INTO meeting_invitees (meeting_id, email, user_id) VALUES ($1, $2, $3)")
            .bind(meeting_id)
            .bind(&inv.email)
            .bind(&inv.user_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
