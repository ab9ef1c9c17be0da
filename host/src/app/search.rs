//! Searching organizations (`GET /v1/orgs?q=`): by UUID or tenant id (exact), and by a
//! case-insensitive prefix of the name, the customer reference or the external contract.
//!
//! Results come in four streams, one after the other: the exact matches, then the name, the
//! customer-reference and the contract matches, each in (term, id) order, an organization
//! showing once, in the first stream it matches. A page continues where the last one stopped:
//! its cursor names the stream and the (term, id) reached, so paging never skips or repeats a
//! match however many there are.
//!
//! Each caller searches only where it can see: the operator the global indexes; anyone else
//! the organizations it belongs to and, through an index by provider, the customers of the
//! providers it belongs to. A page looks at no more than [`SCAN_LIMIT`] candidates; when it
//! stops there it answers with what it found and a cursor to go on. Cursors are sealed with
//! the server key and bound to the caller and the query ([`Cursors`]).

use serde_json::Value;

use super::access;
use super::actor::Actor;
use super::server_key::ServerKey;
use super::{App, Page};
use crate::domain::ids::OrgId;
use crate::domain::org::Org;
use crate::error::{Error, Result};
use crate::storage::View;
use crate::storage::records::orgs::{Field, Terms};

/// The most candidates one page of a search looks at.
pub const SCAN_LIMIT: usize = 10_000;
/// Candidates read from one source at a time.
const CHUNK: usize = 256;

/// Where a search stopped: the stream (0: exact matches, then the fields) and the last
/// (term, id) of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    stream: usize,
    term: String,
    id: u128,
}

impl Cursor {
    fn plain(&self) -> String {
        format!(
            "{}.{}.{}",
            self.stream,
            hex::encode(&self.term),
            uuid::Uuid::from_u128(self.id)
        )
    }

    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '.');
        let (Some(stream), Some(term), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        Some(Self {
            stream: stream.parse().ok()?,
            term: String::from_utf8(hex::decode(term).ok()?).ok()?,
            id: uuid::Uuid::parse_str(id).ok()?.as_u128(),
        })
    }
}

/// Cursors go out sealed, bound to the caller and the query: a page may stop at a candidate
/// the caller cannot see, whose term the cursor must not show, and a forged cursor must not
/// start a search anywhere the caller chooses.
struct Cursors<'a> {
    key: &'a ServerKey,
    context: Vec<u8>,
}

impl Cursors<'_> {
    fn seal(&self, cursor: &Cursor) -> Option<String> {
        self.key
            .seal(&self.context, cursor.plain().as_bytes())
            .ok()
            .map(hex::encode)
    }

    fn open(&self, text: &str) -> Result<Cursor> {
        hex::decode(text)
            .ok()
            .and_then(|sealed| self.key.open(&self.context, &sealed))
            .and_then(|plain| Cursor::parse(std::str::from_utf8(&plain).ok()?))
            .ok_or_else(|| {
                Error::BadRequest(
                    "`cursor` is not one this server gave out for this search and caller".into(),
                )
            })
    }
}

/// Where a caller may find organizations.
struct Scopes {
    global: bool,
    providers: Vec<OrgId>,
    own: Vec<Org>,
}

fn scopes(view: &View<'_>, actor: Actor) -> Result<Scopes> {
    let Some(user) = actor.user_id else {
        return Ok(Scopes {
            global: true,
            providers: Vec::new(),
            own: Vec::new(),
        });
    };
    let mut providers = Vec::new();
    let mut own = Vec::new();
    for org in view.orgs_of(user)? {
        // A pending invitation shows nothing: only active memberships open a scope.
        if access::active_role(view, org, user)?.is_none() {
            continue;
        }
        if let Some(org) = view.org(org)? {
            providers.push(org.id);
            own.push(org);
        }
    }
    Ok(Scopes {
        global: false,
        providers,
        own,
    })
}

/// The next candidates of one field's stream after `after`, merged from every scope.
fn next_candidates(
    view: &View<'_>,
    scopes: &Scopes,
    field: Field,
    prefix: &str,
    after: Option<(&str, u128)>,
) -> Result<Vec<(String, u128)>> {
    let mut found = Vec::new();
    if scopes.global {
        found = view.org_terms_after(Terms::Global, field, prefix, after, CHUNK)?;
    }
    for &provider in &scopes.providers {
        found.extend(view.org_terms_after(
            Terms::CustomersOf(provider),
            field,
            prefix,
            after,
            CHUNK,
        )?);
    }
    for org in &scopes.own {
        if let Some(term) = field.term(org).filter(|t| t.starts_with(prefix)) {
            let key = (term, org.id.key());
            if after.is_none_or(|(t, id)| (key.0.as_str(), key.1) > (t, id)) {
                found.push(key);
            }
        }
    }
    found.sort();
    found.dedup();
    // Every source gave its first CHUNK: past that, a source may hold smaller ones unread.
    found.truncate(CHUNK);
    Ok(found)
}

/// Whether `org` shows in an earlier stream than `stream` (so not again in this one).
fn shown_earlier(org: &Org, q: &str, prefix: &str, stream: usize) -> bool {
    let exact = org.id.to_string() == q || org.tenant_id == q;
    exact
        || Field::ALL
            .iter()
            .take(stream.saturating_sub(1))
            .any(|f| f.term(org).is_some_and(|t| t.starts_with(prefix)))
}

impl App {
    /// Organizations the caller may see matching `q` (module docs).
    pub fn search(
        &self,
        actor: Actor,
        q: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Org>> {
        let now = self.clock.now();
        let prefix = q.to_lowercase();
        let cursors = Cursors {
            key: &self.server_key,
            context: format!("search-cursor\0{}\0{q}", actor.principal()).into_bytes(),
        };
        let start = cursor.map(|c| cursors.open(c)).transpose()?;
        self.store.read(|view| {
            let scopes = scopes(view, actor)?;
            let visible = |id: u128| -> Option<Org> {
                let access = access::load(view, actor, OrgId::from_key(id), now).ok()?;
                self.authorize(&access, "org.read", Value::Null).ok()?;
                Some(access.org)
            };
            let mut items: Vec<(Cursor, Org)> = Vec::new();
            let mut scanned = 0;
            let first = start.as_ref().map_or(0, |c| c.stream);
            for stream in first..=Field::ALL.len() {
                let mut after = start
                    .as_ref()
                    .filter(|c| c.stream == stream)
                    .map(|c| (c.term.clone(), c.id));
                loop {
                    let batch = if stream == 0 {
                        exact_matches(view, q, after.as_ref().map(|(_, id)| *id))?
                    } else {
                        let field = Field::ALL[stream - 1];
                        next_candidates(
                            view,
                            &scopes,
                            field,
                            &prefix,
                            after.as_ref().map(|(t, id)| (t.as_str(), *id)),
                        )?
                    };
                    let Some(last) = batch.last().cloned() else {
                        break;
                    };
                    for (term, id) in batch {
                        scanned += 1;
                        let position = Cursor {
                            stream,
                            term: term.clone(),
                            id,
                        };
                        if let Some(org) = visible(id)
                            && (stream == 0 || !shown_earlier(&org, q, &prefix, stream))
                        {
                            items.push((position.clone(), org));
                            if items.len() > limit {
                                return Ok(page_of(items, limit, &cursors));
                            }
                        }
                        if scanned >= SCAN_LIMIT {
                            let mut page = page_of(items, limit, &cursors);
                            page.next_cursor = cursors.seal(&position);
                            return Ok(page);
                        }
                    }
                    if stream == 0 {
                        break;
                    }
                    after = Some(last);
                }
            }
            Ok(page_of(items, limit, &cursors))
        })
    }
}

/// Exact matches by UUID and tenant id, in id order, after `after`.
fn exact_matches(view: &View<'_>, q: &str, after: Option<u128>) -> Result<Vec<(String, u128)>> {
    let mut ids = Vec::new();
    if let Ok(uuid) = uuid::Uuid::parse_str(q) {
        ids.push(uuid.as_u128());
    }
    if let Some(id) = view.org_by_tenant(q)? {
        ids.push(id.key());
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids
        .into_iter()
        .filter(|id| after.is_none_or(|a| *id > a))
        .map(|id| (String::new(), id))
        .collect())
}

/// A page of at most `limit`, with the cursor of its last item when more were found.
fn page_of(mut items: Vec<(Cursor, Org)>, limit: usize, cursors: &Cursors<'_>) -> Page<Org> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = more
        .then(|| items.last().and_then(|(c, _)| cursors.seal(c)))
        .flatten();
    Page {
        items: items.into_iter().map(|(_, o)| o).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_opens_only_for_its_caller_and_query() {
        let key = ServerKey::ephemeral().unwrap();
        let cursors = |context: &str| Cursors {
            key: &key,
            context: context.as_bytes().to_vec(),
        };
        let cursor = Cursor {
            stream: 2,
            term: "acme. gmbh".into(),
            id: 42,
        };
        let sealed = cursors("ann\0acme").seal(&cursor).unwrap();
        assert!(
            !sealed.contains(&hex::encode("acme. gmbh")),
            "the term is not readable"
        );
        assert_eq!(cursors("ann\0acme").open(&sealed).unwrap(), cursor);
        assert!(cursors("bob\0acme").open(&sealed).is_err());
        assert!(cursors("ann\0acm").open(&sealed).is_err());
        assert!(
            cursors("ann\0acme").open(&cursor.plain()).is_err(),
            "no forged cursor"
        );
        assert!(cursors("ann\0acme").open("nonsense").is_err());
    }
}
