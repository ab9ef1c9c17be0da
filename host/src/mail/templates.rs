//! E-mail templates: the defaults compiled into the binary, and a service provider's own, in
//! the MiniJinja dialect of Jinja. A provider's template is code one tenant writes and the
//! server runs, so it is held to what a policy is: checked when saved (every variable it
//! names must exist, with the line of the first that does not), rendered with fuel and size
//! limits, with no includes, imports or macros (a template is one string), and it never sees
//! an invitation's token: the accept link and the expiry are added below its text by the
//! server, so a provider cannot write a template that sends its customers' owners' tokens
//! anywhere else.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};

use super::MailKind;

/// Characters of a subject template.
pub const MAX_SUBJECT_SOURCE: usize = 500;
/// Bytes of a body template.
pub const MAX_BODY_SOURCE: usize = 16 * 1024;
/// Characters of a rendered subject (longer ones are cut).
const MAX_SUBJECT: usize = 200;
/// Bytes of a rendered body.
const MAX_BODY: usize = 64 * 1024;
/// MiniJinja's instruction budget for one render: the defaults use a few dozen.
const FUEL: u64 = 20_000;

/// A subject and a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Template {
    pub subject: String,
    pub body: String,
}

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// Why a template is refused: the field, and the reason with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub field: &'static str,
    pub reason: String,
}

/// The values a template of `kind` may use.
pub type Values = BTreeMap<&'static str, String>;

/// The variables of each kind, with the example values a template is checked with.
pub fn variables(kind: MailKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        MailKind::Invitation => &[
            ("org_name", "Acme Corp"),
            ("invitee_name", "Ada Lovelace"),
            ("role", "admin"),
            ("provider_name", "Example Telecom"),
            ("expires_on", "2026-12-31"),
        ],
        MailKind::PlanChanged => &[
            ("org_name", "Acme Corp"),
            ("old_plan", "Basic"),
            ("new_plan", "Premium"),
            ("provider_name", "Example Telecom"),
        ],
        MailKind::RemoteSupportPending => &[
            ("org_name", "Acme Corp"),
            ("provider_name", "Example Telecom"),
            ("requester_name", "Sam Support"),
            ("scope", "read"),
            ("minutes", "60"),
            ("reason", "ticket 4711: calls drop after 30 seconds"),
            ("decide_by", "2026-12-02 18:00 UTC"),
        ],
        MailKind::WebhookDisabled => &[
            ("org_name", "Acme Corp"),
            ("org_id", "0193a8f0-0000-7000-8000-000000000000"),
            ("webhook_id", "0193a8f0-0000-7000-8000-000000000001"),
            ("url", "https://hooks.example.com/tenantry"),
            ("failing_since", "2026-12-01 09:00 UTC"),
            ("failed_attempts", "8"),
            ("last_error", "HTTP 503"),
        ],
    }
}

/// The template a kind has when its provider wrote none.
pub fn default_template(kind: MailKind) -> Template {
    let text = match kind {
        MailKind::Invitation => include_str!("defaults/invitation.txt"),
        MailKind::PlanChanged => include_str!("defaults/plan_changed.txt"),
        MailKind::RemoteSupportPending => include_str!("defaults/remote_support_pending.txt"),
        MailKind::WebhookDisabled => include_str!("defaults/webhook_disabled.txt"),
    };
    // A subject line, a blank line, the body (the unit tests check each default).
    let (subject, body) = text.split_once("\n\n").unwrap_or((text, ""));
    Template {
        subject: subject.to_owned(),
        body: body.to_owned(),
    }
}

/// Refuses a template that is too large, does not parse, names a variable its kind does not
/// have, or runs out of fuel on the example values.
pub fn check(kind: MailKind, template: &Template) -> Result<(), Refused> {
    if template.subject.trim().is_empty() || template.subject.chars().count() > MAX_SUBJECT_SOURCE {
        return Err(Refused {
            field: "subject",
            reason: format!("must be 1 to {MAX_SUBJECT_SOURCE} characters"),
        });
    }
    if template.body.trim().is_empty() || template.body.len() > MAX_BODY_SOURCE {
        return Err(Refused {
            field: "body",
            reason: format!("must be 1 to {MAX_BODY_SOURCE} bytes"),
        });
    }
    let example: Values = variables(kind)
        .iter()
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect();
    render(kind, template, &example).map(|_| ())
}

/// Renders `template` with `values`; the subject becomes one line.
pub fn render(kind: MailKind, template: &Template, values: &Values) -> Result<Rendered, Refused> {
    let names = || {
        variables(kind)
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let one = |field: &'static str, source: &str, limit: usize| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        let refused = |e: minijinja::Error| Refused {
            field,
            reason: match (e.line(), e.kind()) {
                (Some(line), minijinja::ErrorKind::UndefinedError) => format!(
                    "line {line}: an undefined value (this template has: {})",
                    names()
                ),
                (Some(line), _) => format!("line {line}: {}", e.detail().unwrap_or("invalid")),
                (None, _) => e.to_string(),
            },
        };
        let text = env
            .template_from_str(source)
            .and_then(|t| t.render(values))
            .map_err(refused)?;
        if text.len() > limit {
            return Err(Refused {
                field,
                reason: format!("renders to more than {limit} bytes"),
            });
        }
        Ok(text)
    };
    let subject = one("subject", &template.subject, MAX_BODY)?;
    let body = one("body", &template.body, MAX_BODY)?;
    let subject: String = subject
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_SUBJECT)
        .collect();
    if subject.is_empty() {
        return Err(Refused {
            field: "subject",
            reason: "renders to nothing".to_owned(),
        });
    }
    Ok(Rendered { subject, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(kind: MailKind) -> Values {
        variables(kind)
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_default_passes_its_own_check_and_names_its_organization() {
        for kind in MailKind::ALL {
            let template = default_template(kind);
            check(kind, &template).unwrap();
            let mail = render(kind, &template, &example(kind)).unwrap();
            assert!(mail.body.contains("Acme Corp"), "{kind:?}: {}", mail.body);
            assert!(!mail.subject.contains('\n'));
        }
    }

    #[test]
    fn an_unknown_variable_is_refused_with_its_line_and_the_ones_that_exist() {
        let template = Template {
            subject: "Welcome".into(),
            body: "Hello\n\nyour token: {{ token }}\n".into(),
        };
        let refused = check(MailKind::Invitation, &template).unwrap_err();
        assert_eq!(refused.field, "body");
        assert!(refused.reason.starts_with("line 3:"), "{}", refused.reason);
        assert!(
            refused.reason.contains("invitee_name"),
            "{}",
            refused.reason
        );
    }

    #[test]
    fn a_syntax_error_is_refused_with_its_line() {
        let template = Template {
            subject: "{% if org_name %}".into(),
            body: "fine".into(),
        };
        let refused = check(MailKind::PlanChanged, &template).unwrap_err();
        assert_eq!(refused.field, "subject");
        assert!(refused.reason.starts_with("line 1:"), "{}", refused.reason);
    }

    #[test]
    fn a_template_that_loops_or_grows_without_bound_is_stopped() {
        for body in [
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "{{ org_name * 100000000 }}",
            "{% for i in range(10000) %}{{ reason }}{{ reason }}{{ reason }}{% endfor %}",
        ] {
            let template = Template {
                subject: "s".into(),
                body: body.into(),
            };
            assert!(
                check(MailKind::RemoteSupportPending, &template).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn a_subject_source_is_at_most_500_characters() {
        let at = |n: usize| Template {
            subject: "ä".repeat(n),
            body: "b".into(),
        };
        assert!(check(MailKind::PlanChanged, &at(MAX_SUBJECT_SOURCE)).is_ok());
        let refused = check(MailKind::PlanChanged, &at(MAX_SUBJECT_SOURCE + 1)).unwrap_err();
        assert_eq!(refused.field, "subject");
    }

    #[test]
    fn a_subject_becomes_one_line_of_at_most_200_characters() {
        let template = Template {
            subject:
                "{{ org_name }}\r\nBcc: attacker@example.com {% for i in range(300) %}x{% endfor %}"
                    .into(),
            body: "b".into(),
        };
        let mail = render(
            MailKind::PlanChanged,
            &template,
            &example(MailKind::PlanChanged),
        )
        .unwrap();
        assert!(
            mail.subject
                .starts_with("Acme Corp Bcc: attacker@example.com x")
        );
        assert!(!mail.subject.contains(['\r', '\n']));
        assert_eq!(mail.subject.chars().count(), 200);
    }
}
