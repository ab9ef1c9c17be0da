//! The policy playground for an organization's own layer, and for a service provider's layer
//! over all its customers: per hook, the active version and its history (roll back to any), an
//! editor for a Rhai candidate with fixtures, a dry run of one input with each layer's answer
//! (the customers' layer on a customer the provider picks), a preview of the candidate over the
//! organization's recorded decisions listing each one that would change, binding it as a new
//! version (its fixtures and the replaced version's must pass), Wasm plugins uploaded and bound
//! with a config (`super::plugins`), and the decision log filtered by verdict.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::customers::Search;
use super::pages::{Notice, Tab, org_layout, when};
use super::{Refusal, Signed, error_page, outcome, page, sender_for, viewer_of};
use crate::app::access::Offer;
use crate::app::decisions::{
    CandidateBody, DecisionFilter, DecisionRecord, EvaluateBody, Preview, PreviewBody,
};
use crate::app::policies::{Target, VersionBody, VersionView};
use crate::app::{App, PageRequest};
use crate::domain::ids::OrgId;
use crate::domain::org::{AccountType, Org};
use crate::error::Error;
use crate::policy::combine::Decision;
use crate::policy::fixtures::Case;
use crate::policy::verdict::Verdict;
use crate::policy::{Hook, Layer};

/// How many recorded decisions the log section shows.
const LOG_SHOWN: usize = 20;

/// Which of its layers an organization's playground edits.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Which {
    /// The organization's own layer.
    #[default]
    Org,
    /// A service provider's layer over all its customers.
    Customers,
    /// The platform's layer, the operator's.
    Platform,
}

impl Which {
    pub(super) fn target(self, org: OrgId) -> Target {
        match self {
            Self::Org => Target::Org(org),
            Self::Customers => Target::Customers(org),
            Self::Platform => Target::Platform,
        }
    }

    /// Whose plugin uploads the layer binds: the organization's, or (platform) the operator's.
    pub(super) fn uploads_of(self, org: OrgId) -> Option<OrgId> {
        match self {
            Self::Org | Self::Customers => Some(org),
            Self::Platform => None,
        }
    }

    /// The candidate's place in a decision.
    fn layer(self) -> Layer {
        match self {
            Self::Org => Layer::Organization,
            Self::Customers => Layer::ServiceProvider,
            Self::Platform => Layer::Platform,
        }
    }

    /// The query that keeps this layer across links and forms.
    pub(super) fn query(self) -> &'static str {
        match self {
            Self::Org => "",
            Self::Customers => "?layer=customers",
            Self::Platform => "?layer=platform",
        }
    }

    /// The `authorize` action that writes this layer.
    fn write_action(self) -> &'static str {
        match self {
            Self::Org => "policy.write",
            Self::Customers => "customer_policy.write",
            Self::Platform => "platform_policy.write",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Org => "this organization's own",
            Self::Customers => "its customers'",
            Self::Platform => "the platform's",
        }
    }
}

/// The layer a playground path is about (`?layer=customers`; the organization's own without).
#[derive(Deserialize, Default, Clone, Copy)]
pub struct Layered {
    #[serde(default)]
    pub(super) layer: Which,
}

/// What the editor holds: the candidate and the dry run's input, kept across the forms.
#[derive(Deserialize, Default)]
pub struct Editor {
    #[serde(default)]
    source: String,
    #[serde(default)]
    fixtures: String,
    /// For `authorize`: the action to dry-run as the signed-in person.
    #[serde(default)]
    action: String,
    /// The resource (for `authorize`) or the whole input (other hooks), as JSON.
    #[serde(default)]
    input: String,
    /// For the customers' layer: the customer the dry run decides for.
    #[serde(default)]
    customer: String,
}

/// What the last form came to, shown under the editor.
enum Outcome {
    DryRun(Decision),
    Preview(Preview),
}

#[derive(Deserialize, Default)]
pub struct LogFilter {
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    layer: Which,
}

fn hook_of(text: &str) -> Result<Hook, Error> {
    Hook::parse(text).ok_or(Error::NotFound("hook"))
}

/// Who sent a playground form, about which organization and hook.
pub(super) fn sender_for_hook(
    app: &App,
    headers: &HeaderMap,
    csrf: &str,
    org: &str,
    hook: &str,
) -> Result<(Signed, OrgId, Hook), Refusal> {
    let (signed, org) = sender_for(app, headers, csrf, org)?;
    let hook = hook_of(hook).map_err(Refusal::Unknown)?;
    Ok((signed, org, hook))
}

pub async fn show(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, hook)): Path<(String, String)>,
    Query(filter): Query<LogFilter>,
) -> Response {
    let (signed, org) = match viewer_of(&app, &headers, &org) {
        Ok(viewer) => viewer,
        Err(refusal) => return refusal.page(),
    };
    let hook = match hook_of(&hook) {
        Ok(hook) => hook,
        Err(error) => return error_page(error),
    };
    let view = Screen {
        hook,
        layer: filter.layer,
        editor: None,
        outcome: None,
        filter,
    };
    screen(&app, &signed, org, view, StatusCode::OK, None)
}

pub(super) struct Screen {
    pub(super) hook: Hook,
    pub(super) layer: Which,
    /// None: the editor starts from the active version's source.
    editor: Option<Editor>,
    outcome: Option<Outcome>,
    filter: LogFilter,
}

impl Screen {
    /// The playground of `hook` at `layer` as it is, after a form that shows no outcome.
    pub(super) fn fresh(hook: Hook, layer: Which) -> Self {
        Self {
            hook,
            layer,
            editor: None,
            outcome: None,
            filter: LogFilter::default(),
        }
    }
}

pub(super) fn screen(
    app: &App,
    signed: &Signed,
    org: OrgId,
    view: Screen,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let org = match app.get_org(signed.actor, org) {
        Ok(org) => org,
        Err(error) => return error_page(error),
    };
    let all = PageRequest {
        limit: App::MAX_PAGE,
        after: None,
    };
    let (hook, layer) = (view.hook, view.layer);
    let provider = org.account_type == AccountType::ServiceProvider;
    let operator = signed.actor.is_operator();
    match layer {
        Which::Customers if !provider => return error_page(Error::NotFound("customers' layer")),
        Which::Platform if !operator => return error_page(Error::NotFound("platform layer")),
        _ => {}
    }
    let versions = app
        .policy_versions(signed.actor, layer.target(org.id), hook, all)
        .map(|page| page.items)
        .map_err(|error| error.to_string());
    let offered = app
        .offered(
            signed.actor,
            org.id,
            &[
                layer.write_action(),
                "policy.evaluate",
                "policy.preview",
                "decision.read",
                "plugin.read",
                "plugin.upload",
            ]
            .map(Offer::plain),
        )
        .unwrap_or_default();
    let customers = match layer {
        Which::Customers => {
            super::customers::customers(app, signed, org.id, &Search::default()).unwrap_or_default()
        }
        Which::Org | Which::Platform => Vec::new(),
    };
    let editor = view.editor.unwrap_or_else(|| Editor {
        source: versions
            .as_ref()
            .ok()
            .and_then(|v| v.iter().find(|v| v.active))
            // A plugin's version holds its config, not Rhai: the editor starts afresh then.
            .filter(|v| v.kind == "rhai")
            .map_or_else(|| starter(hook, layer), |v| v.source.clone()),
        ..Editor::default()
    });
    let verdict = serde_json::from_value::<Verdict>(view.filter.verdict.clone().into()).ok();
    let log = offered.contains(&"decision.read").then(|| {
        let filter = DecisionFilter {
            hook: Some(hook),
            verdict,
            ..DecisionFilter::default()
        };
        app.latest_decisions(signed.actor, org.id, &filter, LOG_SHOWN)
            .map_err(|error| error.to_string())
    });
    let here = Here {
        org: &org,
        hook,
        layer,
    };
    let body = html! {
        @if provider || operator {
            nav.tabs aria-label="Layer" {
                @for (each, text) in [(Which::Org, "This organization", true), (Which::Customers, "All customers", provider), (Which::Platform, "The platform", operator)].into_iter().filter(|l| l.2).map(|l| (l.0, l.1)) {
                    a href={ "/console/orgs/" (org.id) "/policies/" (hook.name()) (each.query()) }
                        aria-current=[(each == layer).then_some("page")] { (text) }
                }
            }
        }
        nav.tabs aria-label="Hook" {
            @for each in Hook::ALL {
                a href={ "/console/orgs/" (org.id) "/policies/" (each.name()) (layer.query()) }
                    aria-current=[(each == hook).then_some("page")] { (each.name()) }
            }
        }
        (history(&here, &versions, &offered, &signed.csrf))
        (editor_form(&here, &editor, &customers, &offered, &signed.csrf))
        @if let Some(outcome) = &view.outcome { (outcome_of(outcome)) }
        @if offered.contains(&"plugin.read") {
            (super::plugins::section(app, signed, &here, &offered))
        }
        @if layer == Which::Org {
            @if let Some(log) = &log { (decision_log(&org, hook, log, &view.filter)) }
        }
    };
    page(
        status,
        org_layout(&org, Tab::Policies, notice.as_ref(), &signed.csrf, body),
    )
}

/// The playground a section is drawn for: whose, which hook, which layer.
pub(super) struct Here<'a> {
    pub(super) org: &'a Org,
    pub(super) hook: Hook,
    pub(super) layer: Which,
}

impl Here<'_> {
    /// The playground's path, with `tail` (`""`, `/rollback/2`, `/plugins`) and the layer.
    pub(super) fn path(&self, tail: &str) -> String {
        format!(
            "/console/orgs/{}/policies/{}{tail}{}",
            self.org.id,
            self.hook.name(),
            self.layer.query()
        )
    }

    /// Whether `offered` lets the viewer write this layer.
    pub(super) fn writable(&self, offered: &[&str]) -> bool {
        offered.contains(&self.layer.write_action())
    }
}

/// What the editor holds for a hook without a version of this layer's yet.
fn starter(hook: Hook, layer: Which) -> String {
    let (whose, order) = match layer {
        Which::Org => (
            "This organization's own",
            "the platform's and the provider's layers are asked first",
        ),
        Which::Customers => (
            "This provider's (over all its customers)",
            "the platform's layer is asked first, each customer's own after",
        ),
        Which::Platform => (
            "The platform's",
            "it is asked first, the provider's and the organization's after",
        ),
    };
    format!(
        "// {whose} `{name}` layer. Answer allow(reason), deny(reason) or\n\
         // abstain(); {order}.\n\
         fn {name}(input) {{\n    abstain()\n}}\n",
        name = hook.name()
    )
}

fn history(
    here: &Here<'_>,
    versions: &Result<Vec<VersionView>, String>,
    offered: &[&str],
    csrf: &str,
) -> Markup {
    html! {
        section aria-labelledby="versions" {
            h2 #versions { "Versions of " (here.layer.title()) " " code { (here.hook.name()) } " layer" }
            @match versions {
                Ok(versions) if versions.is_empty() => { p { "None yet: the other layers decide alone." } }
                Ok(versions) => {
                    table {
                        thead { tr { th scope="col" { "Version" } th scope="col" { "Kind" } th scope="col" { "Author" } th scope="col" { "Created" } th scope="col" { "Fixtures" } th scope="col" { "" } } }
                        tbody {
                            @for version in versions.iter().rev() {
                                tr {
                                    td { (version.number) }
                                    td { (version.kind) }
                                    td { (version.author) }
                                    td { (when(version.created_at)) }
                                    td { (version.fixtures) }
                                    td {
                                        @if version.active {
                                            strong { "active" }
                                        } @else if here.writable(offered) {
                                            (super::pages::button(&here.path(&format!("/rollback/{}", version.number)), &format!("Make version {} active", version.number), csrf))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Err(reason) => { p { "Not shown: " (reason) } }
            }
        }
    }
}

fn editor_form(
    here: &Here<'_>,
    editor: &Editor,
    customers: &[Org],
    offered: &[&str],
    csrf: &str,
) -> Markup {
    let hook = here.hook;
    html! {
        section aria-labelledby="editor" {
            h2 #editor { "Candidate" }
            form.wide method="post" action=(here.path("")) {
                input type="hidden" name="csrf" value=(csrf);
                label for="source" { "Rhai source" }
                textarea #source name="source" rows="14" spellcheck="false" { (editor.source) }
                label for="fixtures" { "Fixtures (JSON list of {name, input, expect, reason_contains?}; optional)" }
                textarea #fixtures name="fixtures" rows="4" spellcheck="false" { (editor.fixtures) }
                @if hook == Hook::Authorize {
                    label for="action" { "Dry run: the action, as you (e.g. team.create)" }
                    input #action type="text" name="action" value=(editor.action);
                    label for="input" { "Dry run: the resource (JSON; optional)" }
                } @else {
                    input type="hidden" name="action" value="";
                    label for="input" { "Dry run: the hook's input (JSON)" }
                }
                textarea #input name="input" rows="3" spellcheck="false" { (editor.input) }
                @if here.layer == Which::Customers {
                    label for="customer" { "Dry run: the customer it decides for" }
                    select #customer name="customer" {
                        @for customer in customers {
                            option value=(customer.id) selected[editor.customer == customer.id.to_string()] { (customer.name) " (" (customer.tenant_id) ")" }
                        }
                    }
                }
                div.buttons {
                    @if offered.contains(&"policy.evaluate") { button type="submit" name="intent" value="dry-run" { "Dry run" } }
                    @if here.layer == Which::Org && offered.contains(&"policy.preview") { button type="submit" name="intent" value="preview" { "Preview over recorded decisions" } }
                    @if here.writable(offered) { button type="submit" name="intent" value="bind" { "Bind as a new version" } }
                }
                @if here.layer == Which::Customers {
                    p.muted { "A preview replays one organization's own decisions; try this layer on a customer with a dry run." }
                }
            }
        }
    }
}

fn verdict_of(answer: &crate::policy::verdict::Answer) -> Markup {
    html! {
        strong { (answer.verdict.name()) }
        @if let Some(reason) = &answer.reason { ": " (reason) }
    }
}

fn outcome_of(outcome: &Outcome) -> Markup {
    html! {
        section aria-labelledby="outcome" {
            @match outcome {
                Outcome::DryRun(decision) => {
                    h2 #outcome { "Dry run: " (decision.answer.verdict.name()) }
                    p { (verdict_of(&decision.answer)) }
                    table {
                        thead { tr { th scope="col" { "Layer" } th scope="col" { "Version" } th scope="col" { "Answer" } th scope="col" { "µs" } } }
                        tbody {
                            @for layer in &decision.layers {
                                tr {
                                    td { (layer.layer.name()) }
                                    td { code { (layer.version) } }
                                    td { (verdict_of(&layer.answer)) @if let Some(error) = &layer.error { br; span.muted { (error) } } }
                                    td { (layer.micros) }
                                }
                            }
                        }
                    }
                }
                Outcome::Preview(preview) => {
                    h2 #outcome { "Preview: " (preview.changed) " of " (preview.evaluated) " recorded decisions would change" }
                    @if !preview.complete { p.muted { "The preview's time ran out before every decision was replayed." } }
                    @if !preview.changes.is_empty() {
                        table {
                            thead { tr { th scope="col" { "When" } th scope="col" { "Action" } th scope="col" { "Was" } th scope="col" { "Would be" } } }
                            tbody {
                                @for change in &preview.changes {
                                    tr {
                                        td { (when(change.at)) }
                                        td { code { (change.input.get("action").and_then(Value::as_str).unwrap_or("—")) } }
                                        td { (verdict_of(&change.old)) }
                                        td { (verdict_of(&change.new)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn decision_log(
    org: &Org,
    hook: Hook,
    log: &Result<Vec<DecisionRecord>, String>,
    filter: &LogFilter,
) -> Markup {
    let verdicts = ["", "allow", "deny", "abstain", "grant", "require_approval"];
    html! {
        section aria-labelledby="log" {
            h2 #log { "Recorded decisions, the newest first" }
            form.filters method="get" action={ "/console/orgs/" (org.id) "/policies/" (hook.name()) } {
                input type="hidden" name="layer" value="org";
                label for="verdict" { "Verdict" }
                select #verdict name="verdict" {
                    @for verdict in verdicts {
                        option value=(verdict) selected[filter.verdict == verdict] { @if verdict.is_empty() { "any" } @else { (verdict.replace('_', " ")) } }
                    }
                }
                button type="submit" { "Filter" }
            }
            @match log {
                Ok(records) if records.is_empty() => { p { "No decision recorded." } }
                Ok(records) => {
                    table {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Action" } th scope="col" { "Answer" } th scope="col" { "Decided by" } } }
                        tbody {
                            @for record in records {
                                tr {
                                    td { (when(record.at)) }
                                    td { code { (record.input.get("action").and_then(Value::as_str).unwrap_or("—")) } }
                                    td { (verdict_of(&record.decision.answer)) }
                                    td { @if let Some(layer) = record.decision.deciding_layer { (layer.name()) } @else { "—" } }
                                }
                            }
                        }
                    }
                }
                Err(reason) => { p { "Not shown: " (reason) } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct EditorForm {
    csrf: String,
    intent: String,
    #[serde(flatten)]
    editor: Editor,
}

/// A JSON field of the editor, or the field's error.
fn json_field(field: &str, text: &str) -> Result<Option<Value>, Error> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some).map_err(|e| {
        Error::field(
            "the editor's input is invalid",
            field,
            format!("is not JSON: {e}"),
        )
    })
}

/// A list of fixtures typed into a form (empty: none), or the field's error.
pub(super) fn fixtures_of(text: &str) -> Result<Vec<Case>, Error> {
    json_field("fixtures", text)?
        .map(serde_json::from_value)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|e| {
            Error::field(
                "the editor's input is invalid",
                "fixtures",
                format!("are not a list of fixtures: {e}"),
            )
        })
}

pub async fn run(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, hook)): Path<(String, String)>,
    Query(Layered { layer }): Query<Layered>,
    Form(form): Form<EditorForm>,
) -> Response {
    let (signed, org, hook) = match sender_for_hook(&app, &headers, &form.csrf, &org, &hook) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let editor = form.editor;
    let mut outcome_shown = None;
    let (status, notice) = match form.intent.as_str() {
        "dry-run" => {
            let result = dry_run(&app, &signed, org, hook, layer, &editor).await;
            match result {
                Ok(decision) => {
                    outcome_shown = Some(Outcome::DryRun(decision));
                    (StatusCode::OK, None)
                }
                Err(error) => refused(error),
            }
        }
        "preview" if layer == Which::Org => {
            let body = PreviewBody {
                source: Some(editor.source.clone()),
                plugin: None,
                config: None,
            };
            match app.preview(signed.actor, org, hook, body).await {
                Ok(preview) => {
                    outcome_shown = Some(Outcome::Preview(preview));
                    (StatusCode::OK, None)
                }
                Err(error) => refused(error),
            }
        }
        "bind" => {
            let result = match fixtures_of(&editor.fixtures) {
                Ok(fixtures) => {
                    let body = VersionBody {
                        source: Some(editor.source.clone()),
                        plugin: None,
                        config: None,
                        fixtures,
                    };
                    app.put_policy(signed.actor, layer.target(org), hook, body)
                        .await
                }
                Err(error) => Err(error),
            };
            let (status, notice) = outcome(result, StatusCode::CREATED, |version| {
                Notice::Done(format!("Version {} is bound and active.", version.number))
            });
            (status, Some(notice))
        }
        _ => return error_page(Error::NotFound("action")),
    };
    let view = Screen {
        hook,
        layer,
        editor: Some(editor),
        outcome: outcome_shown,
        filter: LogFilter::default(),
    };
    screen(&app, &signed, org, view, status, notice)
}

/// A refusal as the status and notice shown with the editor (which keeps what was typed).
fn refused(error: Error) -> (StatusCode, Option<Notice>) {
    let (status, notice) = super::refusal(error);
    (status, Some(notice))
}

/// The candidate decides one input: as the organization's own layer, or as the provider's
/// layer for the customer picked (the decision is that customer's, as the provider's people
/// see it).
async fn dry_run(
    app: &App,
    signed: &Signed,
    org: OrgId,
    hook: Hook,
    layer: Which,
    editor: &Editor,
) -> Result<Decision, Error> {
    let given = json_field("input", &editor.input)?;
    // The customers' layer decides for the customer picked; the others for this organization.
    let org = match layer {
        Which::Org | Which::Platform => org,
        Which::Customers => {
            super::path_id(editor.customer.trim(), OrgId, "customer").map_err(|_| {
                Error::field(
                    "the editor's input is invalid",
                    "customer",
                    "pick one of the provider's customers",
                )
            })?
        }
    };
    let candidate = Some(CandidateBody {
        layer: layer.layer(),
        source: Some(editor.source.clone()),
        plugin: None,
        config: None,
    });
    let body = if hook == Hook::Authorize {
        EvaluateBody {
            hook,
            input: None,
            org: Some(org),
            action: Some(editor.action.trim().to_owned()),
            resource: given,
            candidate,
        }
    } else {
        EvaluateBody {
            hook,
            input: Some(given.ok_or_else(|| {
                Error::field(
                    "the editor's input is invalid",
                    "input",
                    "is required: the hook's input as JSON",
                )
            })?),
            org: Some(org),
            action: None,
            resource: None,
            candidate,
        }
    };
    app.evaluate(signed.actor, body).await
}

pub async fn rollback(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, hook, number)): Path<(String, String, String)>,
    Query(Layered { layer }): Query<Layered>,
    Form(form): Form<super::CsrfOnly>,
) -> Response {
    let (signed, org, hook) = match sender_for_hook(&app, &headers, &form.csrf, &org, &hook) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let Ok(number) = number.parse::<u32>() else {
        return error_page(Error::NotFound("policy version"));
    };
    let (status, notice) = outcome(
        app.rollback_policy(signed.actor, layer.target(org), hook, number)
            .await,
        StatusCode::OK,
        |version| Notice::Done(format!("Version {} is active again.", version.number)),
    );
    screen(
        &app,
        &signed,
        org,
        Screen::fresh(hook, layer),
        status,
        Some(notice),
    )
}
