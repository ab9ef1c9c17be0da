//! Bulk import of members from CSV: every row is checked first, every bad row is reported,
//! and either all rows are added in one transaction or none is.
//!
//! Columns (header required, any order): `name`, `email`, `role`, `portal_access`
//! (`true`/`false`, default `true`), `pin` (4-8 digits or `auto`), `extension` (1-15 digits,
//! unique in the organization), `teams` (names of the organization's teams, separated by `;`).
//! With `auto_pins`, every member without a `pin` gets a generated one, portal users too.
//!
//! Hashing PINs is the slow part of a large file; a caller that asks for
//! `application/x-ndjson` gets the progress as it goes ([`ImportProgress`]) and the report last.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::json;

use super::App;
use super::actor::Actor;
use super::journal::audit;
use super::members::{add_member_hashed, check_member_cap, prepare_pin, validate_member};
use crate::domain::ids::{OrgId, ResourceId, UserId};
use crate::domain::member::{Role, extension_problem};
use crate::domain::org::Org;
use crate::domain::resource::ResourceKind;
use crate::domain::secret::Secret;
use crate::error::{Error, Result, RowError};
use crate::storage::View;

/// The most rows one import takes.
pub const MAX_ROWS: usize = 50_000;
const COLUMNS: [&str; 7] = [
    "name",
    "email",
    "role",
    "portal_access",
    "pin",
    "extension",
    "teams",
];

/// The sample file of `GET /v1/orgs/{org}/members/import/sample.csv`.
pub const SAMPLE: &str = "name,email,role,portal_access,pin,extension,teams\n\
Ada Lovelace,ada@example.com,admin,true,,101,Support;Sales\n\
Front desk,,member,false,auto,100,\n\
Grace Hopper,grace@example.com,member,,,,Support\n";

/// How far an import has come: sent while PINs are hashed, for large files.
#[derive(Debug, Clone, Serialize)]
pub struct ImportProgress {
    pub rows: usize,
    pub rows_done: usize,
}
const INVALID_IMPORT: &str = "import is invalid";

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ImportedMember {
    pub row: usize,
    pub user_id: UserId,
    pub name: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_token: Option<String>,
    /// The invitation went to the member's address instead.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub invitation_mailed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    pub imported: usize,
    pub members: Vec<ImportedMember>,
}

#[derive(Clone)]
struct Row {
    line: usize,
    member: super::members::NewMember,
    teams: Vec<String>,
    pin: Option<Secret>,
    pin_hash: Option<String>,
}

fn row_error(rows: &mut Vec<RowError>, row: usize, column: &str, reason: impl Into<String>) {
    rows.push(RowError {
        row,
        column: column.to_owned(),
        reason: reason.into(),
    });
}

/// Parses and validates the whole file; all errors or all rows.
fn parse(csv_text: &[u8], auto_pins: bool) -> Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(csv_text);
    let mut errors = Vec::new();
    let headers = reader
        .headers()
        .map_err(|e| Error::BadRequest(format!("the CSV header cannot be read: {e}")))?
        .clone();
    let mut index = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if !COLUMNS.contains(&h) {
            row_error(
                &mut errors,
                1,
                h,
                format!("unknown column; allowed: {}", COLUMNS.join(", ")),
            );
        }
        index.insert(h.to_owned(), i);
    }
    for required in ["name", "role"] {
        if !index.contains_key(required) {
            row_error(&mut errors, 1, required, "column is missing");
        }
    }
    if !errors.is_empty() {
        return Err(Error::InvalidRows {
            title: INVALID_IMPORT.into(),
            rows: errors,
        });
    }
    let mut rows = Vec::new();
    let mut emails = HashSet::new();
    let mut extensions = HashSet::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        if n >= MAX_ROWS {
            row_error(
                &mut errors,
                line,
                "",
                format!("an import takes at most {MAX_ROWS} rows"),
            );
            break;
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                row_error(&mut errors, line, "", format!("malformed row: {e}"));
                continue;
            }
        };
        let get = |col: &str| {
            index
                .get(col)
                .and_then(|&i| record.get(i))
                .filter(|v| !v.is_empty())
        };
        let portal = match get("portal_access") {
            None => true,
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                row_error(
                    &mut errors,
                    line,
                    "portal_access",
                    format!("`{other}` is not `true` or `false`"),
                );
                continue;
            }
        };
        let pin = match get("pin") {
            None if auto_pins => Some("auto"),
            other => other,
        };
        let extension = get("extension").map(str::to_owned);
        if let Some(problem) = extension.as_deref().and_then(extension_problem) {
            row_error(&mut errors, line, "extension", problem);
            continue;
        }
        let teams: Vec<String> = get("teams")
            .map(|t| {
                t.split(';')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        match validate_member(get("name"), get("email"), get("role"), portal, pin) {
            Ok(mut member) => {
                if let Some(email) = &member.email
                    && !emails.insert(email.to_lowercase())
                {
                    row_error(
                        &mut errors,
                        line,
                        "email",
                        format!("`{email}` appears more than once in this file"),
                    );
                    continue;
                }
                if let Some(ext) = &extension
                    && !extensions.insert(ext.clone())
                {
                    row_error(
                        &mut errors,
                        line,
                        "extension",
                        format!("`{ext}` appears more than once in this file"),
                    );
                    continue;
                }
                member.extension = extension;
                rows.push(Row {
                    line,
                    member,
                    teams,
                    pin: None,
                    pin_hash: None,
                });
            }
            Err(fields) => {
                for f in fields {
                    row_error(&mut errors, line, &f.field, f.reason);
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::InvalidRows {
            title: INVALID_IMPORT.into(),
            rows: errors,
        });
    }
    if rows.is_empty() {
        return Err(Error::InvalidRows {
            title: INVALID_IMPORT.into(),
            rows: vec![RowError {
                row: 2,
                column: String::new(),
                reason: "the file has no rows".into(),
            }],
        });
    }
    Ok(rows)
}

/// Progress is told every this many rows.
const PROGRESS_EVERY: usize = 500;

/// The organization's teams by name.
fn teams_by_name(view: &View<'_>, org: OrgId) -> Result<HashMap<String, ResourceId>> {
    let mut teams = HashMap::new();
    for id in view.resources_of(org, ResourceKind::Team)? {
        if let Some(team) = view.resource(ResourceKind::Team, id)? {
            teams.insert(team.name, team.id);
        }
    }
    Ok(teams)
}

/// The import's question to the `authorize` hook for one role of the file.
fn invite_resource(role: Role) -> serde_json::Value {
    json!({"role": role.as_str(), "portal_access": true, "bulk": true})
}

/// Hashes the rows' PINs, telling `progress` how far it got.
fn hash_pins(
    mut rows: Vec<Row>,
    progress: Option<tokio::sync::mpsc::UnboundedSender<ImportProgress>>,
) -> Result<Vec<Row>> {
    let total = rows.len();
    let tell = |rows_done| {
        if let Some(p) = &progress {
            let _ = p.send(ImportProgress {
                rows: total,
                rows_done,
            });
        }
    };
    tell(0);
    for (n, row) in rows.iter_mut().enumerate() {
        let (pin, hash) = prepare_pin(&row.member.pin)?;
        row.pin = pin;
        row.pin_hash = hash;
        if (n + 1) % PROGRESS_EVERY == 0 {
            tell(n + 1);
        }
    }
    tell(total);
    Ok(rows)
}

impl App {
    /// Whether `actor` may import members into `org` at all (inviting plain members), asked
    /// before the file is read: parsing and PIN hashing are work a refused caller never buys.
    /// Each role the file holds is authorized again when it is written.
    pub fn may_import(&self, actor: Actor, org: crate::domain::ids::OrgId) -> Result<()> {
        self.store.read(|view| {
            self.access(
                view,
                actor,
                org,
                "member.invite",
                invite_resource(Role::Member),
            )
            .map(|_| ())
        })
    }

    /// Imports a file (module docs); `progress`, if given, hears how far the PIN hashing got.
    pub async fn import_members(
        &self,
        actor: Actor,
        org: crate::domain::ids::OrgId,
        csv_text: Vec<u8>,
        auto_pins: bool,
        progress: Option<tokio::sync::mpsc::UnboundedSender<ImportProgress>>,
    ) -> Result<ImportReport> {
        self.may_import(actor, org)?;
        let rows = tokio::task::spawn_blocking(move || parse(&csv_text, auto_pins))
            .await
            .map_err(|e| Error::Policy(format!("import worker failed: {e}")))??;
        // PIN hashing is slow on purpose: only for rows that fit the plan, and on the tenant
        // job pool (low priority, one job per organization and per principal), so one
        // tenant's import of thousands of PINs does not take the cores from the others.
        self.store.read(|view| {
            check_member_cap(view, &super::access::load_org(view, org)?, rows.len())
        })?;
        let rows = self
            .policy_jobs
            .run(&org.to_string(), &actor.principal(), move || {
                hash_pins(rows, progress)
            })
            .await??;
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let roles: HashSet<Role> = rows.iter().map(|r| r.member.role).collect();
            let mut access = None;
            for role in roles {
                access =
                    Some(app.access(&view, actor, org, "member.invite", invite_resource(role))?);
            }
            // INVARIANT: `parse` refuses a file without rows, so some role was authorized.
            let Some(access) = access else {
                return Err(Error::BadRequest("the file has no rows".into()));
            };
            let target: &Org = &access.org;
            check_member_cap(&view, target, rows.len())?;
            let teams = teams_by_name(&view, target.id)?;
            let mut members = Vec::with_capacity(rows.len());
            let mut errors = Vec::new();
            for mut row in rows {
                let line = row.line;
                for name in &row.teams {
                    match teams.get(name) {
                        Some(id) => row.member.team_ids.push(*id),
                        None => row_error(
                            &mut errors,
                            line,
                            "teams",
                            format!("no team of this organization is named `{name}`"),
                        ),
                    }
                }
                if let Some(ext) = &row.member.extension
                    && view.member_by_extension(target.id, ext)?.is_some()
                {
                    row_error(
                        &mut errors,
                        line,
                        "extension",
                        format!("extension `{ext}` is already another member's"),
                    );
                    continue;
                }
                let added = add_member_hashed(tx, target, row.member, row.pin, row.pin_hash, now)
                    .and_then(|mut added| {
                        added.mail_invitation(tx, &app.postbox(), target, now)?;
                        Ok(added)
                    });
                match added {
                    Ok(added) => members.push(ImportedMember {
                        row: line,
                        user_id: added.user.id,
                        name: added.user.name,
                        role: added.membership.role,
                        invitation_token: added.invitation_token.map(|t| t.expose().to_owned()),
                        invitation_mailed: added.invitation_mailed,
                        pin: added.pin.map(|p| p.expose().to_owned()),
                    }),
                    Err(Error::Conflict(reason)) => row_error(&mut errors, line, "email", reason),
                    Err(other) => return Err(other),
                }
            }
            if !errors.is_empty() {
                return Err(Error::InvalidRows {
                    title: INVALID_IMPORT.into(),
                    rows: errors,
                });
            }
            audit(
                tx,
                &access,
                "member.import",
                Some(format!("{} members", members.len())),
                now,
            )?;
            Ok(ImportReport {
                imported: members.len(),
                members,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    mod any_file {
        use proptest::prelude::*;

        use super::super::*;

        fn cell() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(String::new()),
                Just("member".to_owned()),
                Just("admin".to_owned()),
                Just("owner".to_owned()),
                Just("a@b.example".to_owned()),
                Just("1234".to_owned()),
                Just("\"quoted, with comma\"".to_owned()),
                ".{0,12}",
            ]
        }

        proptest! {
            /// Arbitrary bytes: an answer, never a panic.
            #[test]
            fn any_bytes_parse_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                let _ = parse(&bytes, true);
            }

            /// Near-valid files: either every row is taken, or every reported row exists.
            #[test]
            fn near_valid_files_take_all_rows_or_name_real_ones(
                header in prop::sample::subsequence(COLUMNS.to_vec(), 0..=COLUMNS.len()),
                rows in prop::collection::vec(prop::collection::vec(cell(), 0..6), 0..20),
            ) {
                let mut text = header.join(",");
                for row in &rows {
                    text.push('\n');
                    text.push_str(&row.join(","));
                }
                match parse(text.as_bytes(), true) {
                    Ok(taken) => prop_assert!(taken.len() <= rows.len()),
                    Err(Error::InvalidRows { rows: bad, .. }) => {
                        prop_assert!(!bad.is_empty());
                        // Rows are named by line (line 1 is the header, "no rows" is line 2);
                        // a cell may itself hold a line break.
                        let lines = text.split(['\n', '\r']).count();
                        prop_assert!(bad.iter().all(|e| e.row <= lines.max(1) + 1));
                    }
                    Err(Error::BadRequest(_) | Error::Invalid { .. } | Error::TooLarge(_)) => {}
                    Err(other) => prop_assert!(false, "unexpected {other:?}"),
                }
            }
        }
    }

    use super::super::members::PinRequest;
    use super::*;

    fn rows(err: Error) -> Vec<(usize, String)> {
        match err {
            Error::InvalidRows { rows, .. } => {
                rows.into_iter().map(|r| (r.row, r.column)).collect()
            }
            other => panic!("expected row errors, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_row_is_reported() {
        let csv = "name,email,role,portal_access,pin\n\
                   Ann,ann@x.example,member,,\n\
                   ,bob@x.example,member,,\n\
                   Cid,not-an-email,admin,,\n\
                   Dee,,member,false,12\n\
                   Eve,ann@x.example,member,,\n\
                   Fay,,owner,false,\n";
        let got = rows(parse(csv.as_bytes(), false).err().unwrap());
        assert_eq!(
            got,
            vec![
                (3, "name".into()),
                (4, "email".into()),
                (5, "pin".into()),
                (6, "email".into()),
                (7, "role".into())
            ]
        );
    }

    #[test]
    fn unknown_and_missing_columns() {
        let got = rows(parse(b"nom,email\nx,y@z.example\n", false).err().unwrap());
        assert_eq!(
            got,
            vec![(1, "nom".into()), (1, "name".into()), (1, "role".into())]
        );
    }

    #[test]
    fn auto_pins_for_users_without_portal() {
        let parsed = parse(b"name,role,portal_access\nKiosk,member,false\n", true).unwrap();
        assert_eq!(parsed[0].member.pin, PinRequest::Auto);
    }
}
