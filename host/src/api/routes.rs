//! The route table: one list builds both the router and the OpenAPI document, so the
//! document cannot drift from what the server answers.

use axum::routing::{MethodRouter, delete, get, patch, post, put};

use super::policies::{CUSTOMERS, ORG, PLATFORM};
use super::resources::{CHANNEL, TEAM};
use super::{
    decisions, links, mail, members, openapi, ops, orgs, plugins, policies, remote_support,
    resources, sessions, webhooks,
};
use crate::app::App;

/// What the OpenAPI document says of a route.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// Needs a bearer token.
    pub auth: bool,
    /// Answers 201 and honours `Idempotency-Key`.
    pub creates: bool,
    /// Request body media type, if any.
    pub body: Option<&'static str>,
    /// What the handler's own types say of its request body, query and answer.
    pub describe: super::openapi::Describer,
}

macro_rules! routes {
    ($( $method:ident $path:literal => $handler:expr, $summary:literal, auth: $auth:literal, creates: $creates:literal, body: $body:expr; )*) => {
        vec![$(
            (
                RouteDoc {
                    method: stringify!($method),
                    path: $path,
                    summary: $summary,
                    auth: $auth,
                    creates: $creates,
                    body: $body,
                    describe: super::openapi::describer(&$handler),
                },
                $method($handler),
            ),
        )*]
    };
}

const JSON: Option<&str> = Some("application/json");
const CSV: Option<&str> = Some("text/csv");
const POLICY: Option<&str> = Some("text/x-rhai");
const WASM: Option<&str> = Some("application/wasm");

pub fn table() -> Vec<(RouteDoc, MethodRouter<App>)> {
    routes![
        post "/v1/orgs" => orgs::create, "create an organization", auth: true, creates: true, body: JSON;
        get "/v1/orgs" => orgs::search, "search the organizations the caller may see", auth: true, creates: false, body: None;
        get "/v1/orgs/{org}" => orgs::get, "read an organization", auth: true, creates: false, body: None;
        patch "/v1/orgs/{org}" => orgs::update, "edit an organization (id and tenant_id are immutable)", auth: true, creates: false, body: JSON;
        delete "/v1/orgs/{org}" => orgs::delete, "delete an organization and everything it owns", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/suspend" => orgs::suspend, "suspend an organization", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/reactivate" => orgs::reactivate, "reactivate an organization", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/managed-by" => orgs::managed_by, "switch who manages an organization (a provider taking over a customer waits for its owner: 202)", auth: true, creates: false, body: JSON;
        post "/v1/orgs/{org}/ownership" => orgs::transfer_ownership, "the owner hands the organization to an admin (and becomes an admin)", auth: true, creates: false, body: JSON;
        post "/v1/orgs/{org}/move" => orgs::move_org, "move a customer to another service provider (operator)", auth: true, creates: false, body: JSON;
        get "/v1/orgs/{org}/change-requests" => orgs::change_requests, "changes the service provider asked for, waiting for the customer's consent", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/change-requests/{request}/accept" => orgs::accept_change_request, "consent to a change the service provider asked for (customer owner or admin)", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/change-requests/{request}/decline" => orgs::decline_change_request, "refuse a change the service provider asked for", auth: true, creates: false, body: None;
        put "/v1/orgs/{org}/plan" => orgs::change_plan, "move an organization to another plan", auth: true, creates: false, body: JSON;
        get "/v1/plans" => orgs::list_plans, "list plans (`assignable_by`: only those a provider may assign)", auth: true, creates: false, body: None;
        post "/v1/plans" => orgs::create_plan, "create a plan", auth: true, creates: true, body: JSON;
        patch "/v1/plans/{plan}" => orgs::edit_plan, "edit a plan's name, limits or features", auth: true, creates: false, body: JSON;
        post "/v1/plans/{plan}/retire" => orgs::retire_plan, "retire a plan: it stays where it is, and is assigned no more", auth: true, creates: false, body: None;
        get "/v1/plans/{plan}/orgs" => orgs::plan_orgs, "the organizations on a plan", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/members" => members::invite, "invite a member", auth: true, creates: true, body: JSON;
        get "/v1/orgs/{org}/members" => members::list, "list members (filters: role, portal_access, status, team, q: a name or e-mail prefix)", auth: true, creates: false, body: None;
        get "/v1/orgs/{org}/members/import/sample.csv" => members::import_sample, "a sample file for the member import, every column explained", auth: true, creates: false, body: None;
        patch "/v1/orgs/{org}/members/{user}" => members::edit, "change a member's role or extension, and (when the account is this organization's alone) name, e-mail and portal access", auth: true, creates: false, body: JSON;
        delete "/v1/orgs/{org}/members/{user}" => members::remove, "remove a member", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/members/{user}/password-reset" => members::reset_password, "a single-use token (24 h) with which a member of this organization alone sets a new password at `POST /v1/invitations/accept`; their sessions end", auth: true, creates: true, body: None;
        put "/v1/orgs/{org}/members/{user}/pin" => members::set_pin, "set (4-8 digits) or generate (`auto`, shown once) a member's PIN in this organization", auth: true, creates: false, body: JSON;
        post "/v1/orgs/{org}/pins/verify" => members::verify_pin, "check a member's PIN by user id or extension: `{valid}` only, whoever is asked about", auth: true, creates: false, body: JSON;
        post "/v1/orgs/{org}/members/import" => members::import, "import members from CSV, all or nothing", auth: true, creates: true, body: CSV;
        get "/v1/orgs/{org}/invitations" => members::org_invitations, "the organization's invitations not yet accepted, with their expiry", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/invitations/{invitation}/resend" => members::resend_invitation, "renew an invitation: a new token for 30 days, the old one dead", auth: true, creates: false, body: None;
        delete "/v1/orgs/{org}/invitations/{invitation}" => members::revoke_invitation, "withdraw an invitation and its pending membership", auth: true, creates: false, body: None;
        post "/v1/invitations/accept" => members::accept, "accept an invitation by its token: anonymously for a new identity (answers its first API token), signed in as the invitee for an existing one", auth: false, creates: false, body: JSON;
        get "/v1/invitations" => members::my_invitations, "the invitations waiting for the caller's account", auth: true, creates: false, body: None;
        post "/v1/invitations/{invitation}/accept" => members::accept_by_id, "accept an invitation addressed to the caller's account", auth: true, creates: false, body: None;
        post "/v1/invitations/{invitation}/decline" => members::decline, "decline an invitation addressed to the caller's account", auth: true, creates: false, body: None;
        post "/v1/sessions" => sessions::sign_in, "sign in as a portal user with e-mail and password: a session token that ends by itself after 12 hours", auth: false, creates: false, body: JSON;
        put "/v1/me/password" => sessions::change_password, "change the caller's password, given the current one; the caller's other sessions end", auth: true, creates: false, body: JSON;
        get "/v1/tokens" => members::list_tokens, "list the caller's tokens", auth: true, creates: false, body: None;
        post "/v1/tokens" => members::create_token, "create a token for the caller", auth: true, creates: true, body: JSON;
        delete "/v1/tokens/{token}" => members::revoke_token, "revoke one of the caller's tokens", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/teams" => resources::create::<TEAM>, "create a team", auth: true, creates: true, body: JSON;
        get "/v1/orgs/{org}/teams" => resources::list::<TEAM>, "list teams", auth: true, creates: false, body: None;
        get "/v1/orgs/{org}/teams/{team}" => resources::get::<TEAM>, "read a team", auth: true, creates: false, body: None;
        patch "/v1/orgs/{org}/teams/{team}" => resources::update::<TEAM>, "rename a team or set its members", auth: true, creates: false, body: JSON;
        delete "/v1/orgs/{org}/teams/{team}" => resources::delete::<TEAM>, "delete a team and revoke its shares", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/channels" => resources::create::<CHANNEL>, "create a support channel", auth: true, creates: true, body: JSON;
        get "/v1/orgs/{org}/channels" => resources::list::<CHANNEL>, "list support channels", auth: true, creates: false, body: None;
        get "/v1/orgs/{org}/channels/{channel}" => resources::get::<CHANNEL>, "read a support channel", auth: true, creates: false, body: None;
        patch "/v1/orgs/{org}/channels/{channel}" => resources::update::<CHANNEL>, "rename a support channel", auth: true, creates: false, body: JSON;
        delete "/v1/orgs/{org}/channels/{channel}" => resources::delete::<CHANNEL>, "delete a support channel and revoke its shares", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/links" => links::create, "invite another organization to link", auth: true, creates: true, body: JSON;
        get "/v1/orgs/{org}/links" => links::list, "list incoming and outgoing links", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/links/{link}/accept" => links::accept, "accept an incoming link", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/links/{link}/decline" => links::decline, "decline an incoming link", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/links/{link}/cancel" => links::cancel, "cancel an outgoing pending link", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/links/{link}/resend" => links::resend, "resend a declined link", auth: true, creates: false, body: None;
        delete "/v1/orgs/{org}/links/{link}" => links::unlink, "unlink an active link (revokes its shares)", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/shares" => links::share, "share a team or channel over an active link", auth: true, creates: true, body: JSON;
        get "/v1/orgs/{org}/shares" => links::list_shares, "list sent or received shares", auth: true, creates: false, body: None;
        delete "/v1/orgs/{org}/shares/{share}" => links::revoke_share, "revoke a share", auth: true, creates: false, body: None;
        get "/v1/orgs/{org}/received/{share}" => links::received, "a team or channel shared with this organization: its name, and a team's members' names and roles", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/remote-support" => remote_support::request, "request remote support access", auth: true, creates: true, body: JSON;
        get "/v1/orgs/{org}/remote-support" => remote_support::list, "list remote support requests", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/remote-support/{request}/approve" => remote_support::approve, "approve a pending request", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/remote-support/{request}/deny" => remote_support::deny, "deny a pending request", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/remote-support/{request}/revoke" => remote_support::revoke, "revoke a grant (customer)", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/remote-support/{request}/end" => remote_support::end, "end a grant (provider)", auth: true, creates: false, body: None;
        get "/v1/orgs/{org}/audit" => orgs::audit, "the organization's audit log", auth: true, creates: false, body: None;
        get "/v1/orgs/{org}/audit/export" => orgs::audit_export, "the whole audit log as JSON lines, filtered by time and action (operator)", auth: true, creates: false, body: None;
        get "/v1/orgs/{org}/events" => orgs::events, "the organization's event outbox", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/webhooks" => webhooks::create, "add a webhook endpoint (https, public address; event_types filter); answers its signing secret once", auth: true, creates: true, body: JSON;
        get "/v1/orgs/{org}/webhooks" => webhooks::list, "the organization's webhook endpoints with their delivery state", auth: true, creates: false, body: None;
        get "/v1/orgs/{org}/webhooks/{webhook}" => webhooks::get, "one webhook endpoint", auth: true, creates: false, body: None;
        delete "/v1/orgs/{org}/webhooks/{webhook}" => webhooks::delete, "remove a webhook endpoint and its delivery log", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/webhooks/{webhook}/enable" => webhooks::enable, "enable a disabled endpoint: delivery resumes where it stopped", auth: true, creates: false, body: None;
        get "/v1/orgs/{org}/webhooks/{webhook}/deliveries" => webhooks::deliveries, "the endpoint's newest delivery attempts (limit, at most 100)", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/webhooks/{webhook}/redeliver" => webhooks::redeliver, "send one event of the outbox to the endpoint again, now", auth: true, creates: false, body: JSON;
        get "/v1/orgs/{org}/mail-templates" => mail::list, "a service provider's e-mail templates, each kind its own or the default, with the values it may use", auth: true, creates: false, body: None;
        put "/v1/orgs/{org}/mail-templates/{kind}" => mail::put, "replace one kind's template (MiniJinja; checked against the kind's values, with the line of an error)", auth: true, creates: false, body: JSON;
        delete "/v1/orgs/{org}/mail-templates/{kind}" => mail::delete, "go back to the default template for one kind", auth: true, creates: false, body: None;
        get "/v1/policies" => policies::list, "every policy binding the caller may see, with reload status", auth: true, creates: false, body: None;
        put "/v1/platform/policies/{hook}" => policies::put::<PLATFORM>, "a new platform policy version (Rhai, or JSON with fixtures)", auth: true, creates: true, body: POLICY;
        get "/v1/platform/policies/{hook}/versions" => policies::versions::<PLATFORM>, "platform policy versions", auth: true, creates: false, body: None;
        post "/v1/platform/policies/{hook}/rollback" => policies::rollback::<PLATFORM>, "re-activate a platform policy version", auth: true, creates: false, body: JSON;
        delete "/v1/platform/policies/{hook}" => policies::unbind::<PLATFORM>, "refused: the platform layer always has a policy", auth: true, creates: false, body: None;
        put "/v1/orgs/{org}/policies/{hook}" => policies::put::<ORG>, "a new policy version for the organization's own layer", auth: true, creates: true, body: POLICY;
        get "/v1/orgs/{org}/policies/{hook}/versions" => policies::versions::<ORG>, "the organization layer's versions", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/policies/{hook}/rollback" => policies::rollback::<ORG>, "re-activate an organization policy version", auth: true, creates: false, body: JSON;
        delete "/v1/orgs/{org}/policies/{hook}" => policies::unbind::<ORG>, "unbind the organization's policy", auth: true, creates: false, body: None;
        put "/v1/orgs/{org}/customer-policies/{hook}" => policies::put::<CUSTOMERS>, "a new policy version for all of a provider's customers", auth: true, creates: true, body: POLICY;
        get "/v1/orgs/{org}/customer-policies/{hook}/versions" => policies::versions::<CUSTOMERS>, "the provider layer's versions", auth: true, creates: false, body: None;
        post "/v1/orgs/{org}/customer-policies/{hook}/rollback" => policies::rollback::<CUSTOMERS>, "re-activate a provider policy version", auth: true, creates: false, body: JSON;
        delete "/v1/orgs/{org}/customer-policies/{hook}" => policies::unbind::<CUSTOMERS>, "unbind the provider's customer policy", auth: true, creates: false, body: None;
        get "/v1/orgs/{org}/decisions" => decisions::list, "the organization's decision log (filters: hook, verdict, since, until)", auth: true, creates: false, body: None;
        get "/v1/policy-schemas/{hook}" => policies::schema, "the JSON Schema of a hook's policy input (what fixtures and dry runs are checked against)", auth: false, creates: false, body: None;
        post "/v1/decisions/evaluate" => decisions::evaluate, "dry run: one decision's full trace, optionally with a candidate policy", auth: true, creates: false, body: JSON;
        post "/v1/orgs/{org}/policies/{hook}/preview" => decisions::preview, "replay recorded decisions with a candidate organization policy", auth: true, creates: false, body: JSON;
        post "/v1/orgs/{org}/policies/{hook}/diff" => decisions::diff, "explore the inputs on which a candidate organization policy would decide differently", auth: true, creates: false, body: JSON;
        post "/v1/plugins" => plugins::upload, "upload a Wasm plugin component for an organization (`?org=`; validated, named by SHA-256, within its quotas)", auth: true, creates: true, body: WASM;
        get "/v1/plugins" => plugins::list, "an organization's uploads (`?org=`), or the operator's", auth: true, creates: false, body: None;
        get "/v1/plugins/{sha256}" => plugins::get, "one plugin: hooks, size, upload time, uploader", auth: true, creates: false, body: None;
        delete "/v1/plugins/{sha256}" => plugins::delete, "give up an organization's upload (`?org=`); unbound, unowned components are collected", auth: true, creates: false, body: None;
        get "/v1/platform/backup" => ops::backup, "a consistent copy of the whole database (operator)", auth: true, creates: false, body: None;
        post "/v1/platform/operator-token" => members::rotate_operator_token, "a new operator token (shown once); every other operator token is retired", auth: true, creates: true, body: None;
        get "/healthz" => ops::healthz, "liveness", auth: false, creates: false, body: None;
        get "/readyz" => ops::readyz, "readiness: storage and policies usable", auth: false, creates: false, body: None;
        get "/metrics" => ops::metrics, "Prometheus metrics", auth: false, creates: false, body: None;
        get "/openapi.json" => openapi::openapi, "this document", auth: false, creates: false, body: None;
    ]
}
