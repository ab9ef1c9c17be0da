//! E-mail, the parts that know nothing of the store: `[smtp]`, the kinds of e-mail tenantry
//! sends and their templates, and the SMTP client. What is queued when, and its delivery, are
//! use cases (`app/mail.rs`, `app/mail_delivery.rs`).

pub mod templates;
pub mod transport;

use serde::{Deserialize, Serialize};

/// `[smtp]`: where e-mail goes. Without `url` nothing is sent, and invitation tokens are
/// returned to whoever made the invitation, as the API always did.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    /// The SMTP server: `smtps://user:password@host:465` (TLS), `smtp://host:587?tls=required`
    /// (STARTTLS), or `smtp://host:25` (plain, for a relay on the server's own network).
    /// Unset: no e-mail; invitation tokens are answered to the inviter.
    pub url: Option<String>,
    /// The sender, `Name <address>`.
    pub from: String,
    /// The link an invitee follows to accept, with `{token}` where the invitation token goes
    /// (a provider's portal page). Unset: the e-mail carries the token and how to accept it
    /// through the API.
    pub accept_url: Option<String>,
    /// Seconds one delivery may take, connection included.
    pub timeout_secs: u64,
    /// Milliseconds between looks for e-mail to send.
    pub poll_interval_ms: u64,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            url: None,
            from: "tenantry <tenantry@localhost>".to_owned(),
            accept_url: None,
            timeout_secs: 10,
            poll_interval_ms: 1_000,
        }
    }
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry the SMTP password.
        f.debug_struct("MailSettings")
            .field("url", &self.url.as_ref().map(|_| "<set>"))
            .field("from", &self.from)
            .field("accept_url", &self.accept_url)
            .finish_non_exhaustive()
    }
}

impl MailSettings {
    pub fn enabled(&self) -> bool {
        self.url.is_some()
    }

    /// The SMTP client when `url` is set; settings that could not send are refused here, at
    /// start, so a typo stops the server instead of every invitation.
    pub fn mailer(&self) -> Result<Option<transport::Mailer>, String> {
        if let Some(accept) = &self.accept_url {
            if !accept.contains("{token}") {
                return Err("[smtp] accept_url must contain `{token}`".to_owned());
            }
            url::Url::parse(&accept.replace("{token}", "inv_x"))
                .map_err(|e| format!("[smtp] accept_url is not a URL: {e}"))?;
        }
        self.url
            .as_deref()
            .map(|url| transport::Mailer::new(url, &self.from, self.timeout_secs))
            .transpose()
    }

    /// Where the invitee goes to accept `token`, or how to accept it without a portal.
    pub fn accept_instructions(&self, token: &str) -> String {
        match &self.accept_url {
            Some(url) => format!("Accept the invitation: {}", url.replace("{token}", token)),
            None => format!(
                "Your invitation token: {token}\nAccept it with `POST /v1/invitations/accept` and the body {{\"token\": \"{token}\"}}."
            ),
        }
    }
}

/// What tenantry e-mails, and to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// To the invitee: the organization, the role, the accept link and its expiry.
    Invitation,
    /// To the service provider's admins and the organization's: a new plan.
    PlanChanged,
    /// To the organization's owner and admins: their service provider asks for remote
    /// support and waits for their approval.
    RemoteSupportPending,
    /// To the organization's owner: a webhook endpoint failed for a day and was disabled.
    WebhookDisabled,
}

impl MailKind {
    pub const ALL: [Self; 4] = [
        Self::Invitation,
        Self::PlanChanged,
        Self::RemoteSupportPending,
        Self::WebhookDisabled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::PlanChanged => "plan_changed",
            Self::RemoteSupportPending => "remote_support_pending",
            Self::WebhookDisabled => "webhook_disabled",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// A stable number for keys.
    pub fn code(self) -> u128 {
        match self {
            Self::Invitation => 1,
            Self::PlanChanged => 2,
            Self::RemoteSupportPending => 3,
            Self::WebhookDisabled => 4,
        }
    }
}
