//! Importing members from CSV on the members screen: the text pasted into the form (no file
//! upload, so no multipart parser), all rows or none, every bad row listed with its line and
//! column; the sample file to start from is a download.

use axum::extract::{Form, Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::members::{Filter, screen};
use super::pages::Notice;
use super::{outcome, refused, sender_for, signed};
use crate::app::App;
use crate::app::import::SAMPLE;
use crate::domain::org::Org;

pub(super) fn section(org: &Org, offered: &[&str], csrf: &str) -> Markup {
    html! {
        @if offered.contains(&"import") {
            section aria-labelledby="import" {
                h2 #import { "Import members" }
                p {
                    "Paste CSV with the columns of the "
                    a href={ "/console/orgs/" (org.id) "/members/import/sample.csv" } { "sample file" }
                    ". Every row is imported, or none: each bad row is listed."
                }
                form method="post" action={ "/console/orgs/" (org.id) "/members/import" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="csv" { "CSV" }
                    textarea #csv name="csv" rows="6" spellcheck="false" required {}
                    button type="submit" { "Import" }
                }
            }
        }
    }
}

/// The sample file, as a download (signed in: the same as the API's).
pub async fn sample(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(error) = signed(&app, &headers) {
        return refused(error);
    }
    let mut response = SAMPLE.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"members-sample.csv\""),
    );
    response
}

#[derive(Deserialize)]
pub struct ImportForm {
    csrf: String,
    csv: String,
}

pub async fn import(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<ImportForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let report = app
        .import_members(signed.actor, org, form.csv.into_bytes(), false, None)
        .await;
    let (status, notice) = outcome(report, StatusCode::CREATED, |report| {
        let tokens: Vec<String> = report
            .members
            .iter()
            .filter_map(|m| {
                m.invitation_token
                    .as_ref()
                    .map(|token| format!("{}: {token}", m.name))
            })
            .collect();
        if tokens.is_empty() {
            Notice::Done(format!("{} members imported.", report.imported))
        } else {
            Notice::Secret {
                text: format!(
                    "{} members imported. Their invitation tokens, shown only now:",
                    report.imported
                ),
                secret: tokens.join("\n"),
            }
        }
    });
    screen(&app, &signed, org, &Filter::default(), status, Some(notice))
}
