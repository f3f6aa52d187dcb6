//! Polls of a meeting: the question, its options with their counts, and — for polls that
//! are not anonymous — who chose what. Counts change by increments, so votes stored in any
//! order add up.

use sqlx::Row as _;

use super::{Row, Store};
use crate::error::Result;

/// A stored poll with its options and, unless anonymous, its ballots.
#[derive(Debug, Clone, PartialEq)]
pub struct PollRow {
    pub id: String,
    pub meeting_id: i64,
    pub question: String,
    pub options: Vec<String>,
    pub counts: Vec<u32>,
    pub multiple: bool,
    pub anonymous: bool,
    pub ended: bool,
    pub shared: bool,
    pub voters: u32,
    /// The participant id of whoever created it.
    pub created_by: String,
    pub created_at: i64,
    pub ended_at: Option<i64>,
    /// Who chose what (for an anonymous poll: only in the live room's memory).
    pub ballots: Vec<BallotRow>,
    /// Who voted in an anonymous poll as stored, without their choices: read back after a
    /// restart or a move, so nobody votes twice (their vote can no longer change).
    pub sealed_voters: Vec<String>,
}

/// One voter's choices in a poll that is not anonymous.
#[derive(Debug, Clone, PartialEq)]
pub struct BallotRow {
    /// `user:<id>` for an account, else the participant id.
    pub voter: String,
    pub user_id: Option<String>,
    pub name: String,
    pub choices: Vec<u32>,
}

/// A vote to store: the voter's earlier choices are taken off, the new ones added.
pub struct VoteChange<'a> {
    pub poll_id: &'a str,
    pub anonymous: bool,
    pub voter: &'a str,
    pub user_id: Option<&'a str>,
    pub name: &'a str,
    pub before: &'a [u32],
    pub after: &'a [u32],
}

fn poll_from(r: &Row) -> Result<PollRow> {
    let flag = |c: &str| -> Result<bool> { Ok(r.try_get::<i64, _>(c)? != 0) };
    Ok(PollRow {
        id: r.try_get("id")?,
        meeting_id: r.try_get("meeting_id")?,
        question: r.try_get("question")?,
        options: Vec::new(),
        counts: Vec::new(),
        multiple: flag("multiple")?,
        anonymous: flag("anonymous")?,
        ended: r.try_get::<String, _>("status")? == "ended",
        shared: flag("shared")?,
        voters: u32::try_from(r.try_get::<i64, _>("voters")?).unwrap_or(0),
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        ended_at: r.try_get("ended_at")?,
        ballots: Vec::new(),
        sealed_voters: Vec::new(),
    })
}

impl Store {
    pub async fn insert_poll(&self, p: &PollRow) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO polls (id, meeting_id, question, multiple, anonymous, status, shared, voters, created_by, \
             created_at, ended_at) VALUES ($1, $2, $3, $4, $5, 'open', 0, 0, $6, $7, NULL)",
        )
        .bind(&p.id)
        .bind(p.meeting_id)
        .bind(&p.question)
        .bind(i64::from(p.multiple))
        .bind(i64::from(p.anonymous))
        .bind(&p.created_by)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await?;
        for (i, text) in p.options.iter().enumerate() {
            sqlx::query("INSERT INTO poll_options (poll_id, idx, text, votes) VALUES ($1, $2, $3, 0)")
                .bind(&p.id)
                .bind(i as i64)
                .bind(text)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores one voter's (new) choices. An anonymous poll's change touches the counts only.
    pub async fn record_vote(&self, v: &VoteChange<'_>) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let bump = |delta: i64, idx: u32| {
            sqlx::query("UPDATE poll_options SET votes = votes + $1 WHERE poll_id = $2 AND idx = $3")
                .bind(delta)
                .bind(v.poll_id.to_owned())
                .bind(i64::from(idx))
        };
        for i in v.before {
            bump(-1, *i).execute(&mut *tx).await?;
        }
        for i in v.after {
            bump(1, *i).execute(&mut *tx).await?;
        }
        if v.before.is_empty() {
            sqlx::query("UPDATE polls SET voters = voters + 1 WHERE id = $1").bind(v.poll_id).execute(&mut *tx).await?;
        }
        if v.anonymous && v.before.is_empty() {
            sqlx::query("INSERT INTO poll_anonymous_voters (poll_id, voter) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(v.poll_id)
                .bind(v.voter)
                .execute(&mut *tx)
                .await?;
        }
        if !v.anonymous {
            sqlx::query("DELETE FROM poll_votes WHERE poll_id = $1 AND participant = $2")
                .bind(v.poll_id)
                .bind(v.voter)
                .execute(&mut *tx)
                .await?;
            for i in v.after {
                sqlx::query(
                    "INSERT INTO poll_votes (poll_id, participant, user_id, voter_name, idx) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(v.poll_id)
                .bind(v.voter)
                .bind(v.user_id)
                .bind(v.name)
                .bind(i64::from(*i))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn end_poll(&self, poll_id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE polls SET status = 'ended', ended_at = $1 WHERE id = $2")
            .bind(at)
            .bind(poll_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn share_poll(&self, poll_id: &str) -> Result<()> {
        sqlx::query("UPDATE polls SET shared = 1 WHERE id = $1").bind(poll_id).execute(self.pool()).await?;
        Ok(())
    }

    /// A meeting's polls, oldest first, with their options, counts and ballots.
    pub async fn polls_of(&self, meeting_id: i64) -> Result<Vec<PollRow>> {
        let rows = sqlx::query("SELECT * FROM polls WHERE meeting_id = $1 ORDER BY created_at, id")
            .bind(meeting_id)
            .fetch_all(self.pool())
            .await?;
        let mut polls = rows.iter().map(poll_from).collect::<Result<Vec<_>>>()?;
        for p in &mut polls {
            let options = sqlx::query("SELECT text, votes FROM poll_options WHERE poll_id = $1 ORDER BY idx")
                .bind(&p.id)
                .fetch_all(self.pool())
                .await?;
            for o in &options {
                p.options.push(o.try_get("text")?);
                p.counts.push(u32::try_from(o.try_get::<i64, _>("votes")?).unwrap_or(0));
            }
            let votes = sqlx::query(
                "SELECT participant, user_id, voter_name, idx FROM poll_votes WHERE poll_id = $1 \
                 ORDER BY voter_name, participant, idx",
            )
            .bind(&p.id)
            .fetch_all(self.pool())
            .await?;
            if p.anonymous {
                let voters = sqlx::query("SELECT voter FROM poll_anonymous_voters WHERE poll_id = $1 ORDER BY voter")
                    .bind(&p.id)
                    .fetch_all(self.pool())
                    .await?;
                p.sealed_voters = voters.iter().map(|v| v.try_get("voter")).collect::<std::result::Result<_, _>>()?;
            }
            for v in &votes {
                let voter: String = v.try_get("participant")?;
                let idx = u32::try_from(v.try_get::<i64, _>("idx")?).unwrap_or(0);
                match p.ballots.last_mut() {
                    Some(b) if b.voter == voter => b.choices.push(idx),
                    _ => p.ballots.push(BallotRow {
                        voter,
                        user_id: v.try_get("user_id")?,
                        name: v.try_get("voter_name")?,
                        choices: vec![idx],
                    }),
                }
            }
        }
        Ok(polls)
    }
}
