//! Outgoing e-mail: over SMTP when configured, otherwise as `.eml` files in the outbox
//! directory, so the embedded default works offline and anyone can open what was "sent".

use std::path::PathBuf;

use lettre::message::header::{ContentDisposition, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};

/// One message to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// An iCalendar invitation, sent both inline (so mail clients offer accept / decline)
    /// and as `invite.ics`.
    #[serde(default)]
    pub calendar: Option<CalendarPart>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalendarPart {
    /// `REQUEST` or `CANCEL`.
    pub method: String,
    pub ics: String,
}

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// RFC 5322 files named `<timestamp>-<uuid>.eml`.
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    /// SMTP when `smtp_url` is set, else the outbox in the data directory.
    pub fn from_config(cfg: &Config) -> Result<Mailer> {
        match &cfg.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("smtp_url is not usable: {e}"))?
                    .build();
                Ok(Mailer::Smtp(transport))
            }
            None => Ok(Mailer::Outbox(cfg.data_dir.join("outbox"))),
        }
    }

    pub async fn send(&self, from: &str, mail: &Mail) -> Result<()> {
        let message = build(from, mail)?;
        match self {
            Mailer::Outbox(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let name =
                    format!("{}-{}.eml", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"), uuid::Uuid::new_v4().simple());
                // Write then rename, so a reader never sees half a message.
                let tmp = dir.join(format!(".{name}.tmp"));
                tokio::fs::write(&tmp, message.formatted()).await?;
                tokio::fs::rename(&tmp, dir.join(&name)).await?;
                tracing::info!(file = %name, "mail written to outbox");
            }
            Mailer::Smtp(transport) => {
                transport.send(message).await.map_err(|e| anyhow::anyhow!("SMTP: {e}"))?;
                tracing::info!("mail sent over SMTP");
            }
        }
        Ok(())
    }
}

fn build(from: &str, mail: &Mail) -> Result<Message> {
    let to: Mailbox = mail.to.parse().map_err(|_| Error::invalid("invalid_email", "bad recipient address"))?;
    let from: Mailbox = from.parse().map_err(|e| anyhow::anyhow!("bad sender address {from:?}: {e}"))?;
    let mut alternative = MultiPart::alternative()
        .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(mail.text.clone()))
        .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(mail.html.clone()));
    let builder = Message::builder().from(from).to(to).subject(mail.subject.clone());
    let message = match &mail.calendar {
        None => builder.multipart(alternative),
        Some(cal) => {
            let inline_type = ContentType::parse(&format!("text/calendar; charset=utf-8; method={}", cal.method))
                .map_err(|e| anyhow::anyhow!("calendar content type: {e}"))?;
            alternative = alternative.singlepart(SinglePart::builder().header(inline_type).body(cal.ics.clone()));
            let file_type = ContentType::parse("application/ics; name=\"invite.ics\"")
                .map_err(|e| anyhow::anyhow!("ics content type: {e}"))?;
            let attachment = SinglePart::builder()
                .header(file_type)
                .header(ContentDisposition::attachment("invite.ics"))
                .body(cal.ics.clone());
            builder.multipart(MultiPart::mixed().multipart(alternative).singlepart(attachment))
        }
    };
    message.map_err(|e| anyhow::anyhow!("building mail: {e}").into())
}
