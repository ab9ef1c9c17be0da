//! Fields as columns, for SQL tools.
//!
//! A record's body is the codec's bytes (a version byte and JSON), which the host reads and
//! writes whole, on both backends alike. For SQL, `tenantry_record(body)` reads it as `jsonb`,
//! and a view per record kind, `{table}_fields`, shows the fields an operator queries by hand
//! (an organization's `tenant_id`, `status`, provider; a member's role; a link's sides and
//! status) as columns, computed when read. Generated (stored) columns would be parsed out of
//! the body on every write instead: one owner column on the teams, with its index, took 12% of
//! the durable writes per second on this machine (BENCHMARKS.md), so none is stored.

use super::session::Session;
use crate::storage::StorageError;
use crate::storage::tables;
use redb::TableHandle;

/// `(table, fields)`: the views' columns, each a field of the body ([`REFERENCES`] as `uuid`,
/// the rest as text, timestamps in RFC 3339).
const VIEWS: &[(&str, &[&str])] = &[
    (
        "orgs",
        &[
            "tenant_id",
            "name",
            "account_type",
            "status",
            "managed_by",
            "service_provider_id",
            "plan_id",
            "region",
            "country",
            "customer_reference",
            "external_contract",
            "created_at",
        ],
    ),
    ("users", &["name", "email", "portal_access", "created_at"]),
    ("memberships", &["role", "status", "created_at"]),
    ("teams", &["name", "created_at"]),
    ("channels", &["name", "channel_kind", "created_at"]),
    (
        "links",
        &["from_org", "to_org", "status", "created_at", "expires_at"],
    ),
    (
        "remote_support",
        &[
            "org_id",
            "provider_id",
            "requester_id",
            "status",
            "minutes_granted",
            "created_at",
        ],
    ),
    (
        "invitations",
        &["org_id", "user_id", "created_at", "expires_at", "used_at"],
    ),
    ("webhooks", &["org_id", "url"]),
];

/// The fields of [`VIEWS`] that name a record, shown as `uuid`.
const REFERENCES: &[&str] = &[
    "service_provider_id",
    "plan_id",
    "org_id",
    "provider_id",
    "requester_id",
    "from_org",
    "to_org",
    "user_id",
];

fn is_reference(field: &str) -> bool {
    REFERENCES.contains(&field)
}

/// Schema version 3 to 4: the function that reads a body as JSON, and the views.
pub fn add_columns(session: &Session) -> Result<(), StorageError> {
    // IMMUTABLE, so an index on an expression over it is allowed: `convert_from` is only
    // STABLE because it depends on the database's encoding, which never changes.
    session.simple(
        r#"CREATE OR REPLACE FUNCTION tenantry_record(body bytea) RETURNS jsonb
           LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
               SELECT CASE WHEN substring(body FROM 1 FOR 1) = '\x01'::bytea
                           THEN convert_from(substring(body FROM 2), 'UTF8')::jsonb END
           $$"#,
    )?;
    for (table, fields) in VIEWS {
        let key = if *table == tables::MEMBERSHIPS.name() {
            "parent AS org_id, id AS user_id"
        } else {
            "id"
        };
        let columns: Vec<String> = fields
            .iter()
            .map(|field| {
                let cast = if is_reference(field) { "::uuid" } else { "" };
                format!("(record ->> '{field}'){cast} AS {field}")
            })
            .collect();
        session.simple(&format!(
            r#"CREATE OR REPLACE VIEW "{table}_fields" AS
                   SELECT {key}, {columns}
                   FROM (SELECT *, tenantry_record(body) AS record FROM "{table}") r"#,
            columns = columns.join(", ")
        ))?;
    }
    Ok(())
}

/// Schema version 5 to 6: version 4's view of the invitations named fields an invitation does
/// not have (its e-mail and role are the user's and the membership's); a view's columns can
/// only be replaced by dropping it.
pub fn correct_invitation_view(session: &Session) -> Result<(), StorageError> {
    session.simple(r#"DROP VIEW IF EXISTS "invitations_fields""#)?;
    add_columns(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_is_of_a_table_and_names_each_field_once() {
        let all: Vec<&str> = tables::ALL_RECORDS
            .iter()
            .map(|t| t.name())
            .chain(tables::ALL_PAIR_RECORDS.iter().map(|t| t.name()))
            .collect();
        for (table, fields) in VIEWS {
            assert!(all.contains(table), "{table}");
            let mut sorted = fields.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), fields.len(), "{table}");
        }
    }
}
