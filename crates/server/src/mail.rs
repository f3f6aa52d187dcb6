//! Outgoing e-mail. Until SMTP is configured, messages are written as `.eml` files to the
//! outbox directory so the embedded default works offline and tests can read them.

use std::path::PathBuf;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use crate::error::{Error, Result};

/// One message to send.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// RFC 5322 files named `<timestamp>-<uuid>.eml`.
    Outbox(PathBuf),
}

impl Mailer {
    pub fn outbox(dir: PathBuf) -> Mailer {
        Mailer::Outbox(dir)
    }

    pub async fn send(&self, from: &str, mail: Mail) -> Result<()> {
        let to: Mailbox = mail.to.parse().map_err(|_| Error::invalid("invalid_email", "bad recipient address"))?;
        let from: Mailbox = from.parse().map_err(|e| anyhow::anyhow!("bad sender address {from:?}: {e}"))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(mail.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(mail.text))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(mail.html)),
            )
            .map_err(|e| anyhow::anyhow!("building mail: {e}"))?;
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
        }
        Ok(())
    }
}

/// Escapes text for inclusion in an HTML mail body.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
