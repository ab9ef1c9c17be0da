//! The SMTP client: one pooled connection set to the configured server, one message per
//! recipient (no recipient sees another's address).

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::templates::Rendered;

/// Why one e-mail was not accepted by the SMTP server.
#[derive(Debug, Clone)]
pub struct SendError {
    /// The server refused it for good (an unknown mailbox, a 5xx answer): trying again will
    /// not help.
    pub permanent: bool,
    pub message: String,
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(url: &str, from: &str, timeout_secs: u64) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("[smtp] url is not an SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(timeout_secs.max(1))))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("[smtp] from is not a mailbox (`Name <address>`): {e}"))?;
        Ok(Self { transport, from })
    }

    pub async fn send(&self, to: &str, mail: &Rendered) -> Result<(), SendError> {
        let permanent = |message: String| SendError {
            permanent: true,
            message,
        };
        let to = to
            .parse::<Mailbox>()
            .map_err(|e| permanent(format!("not an address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| permanent(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            })
    }
}
