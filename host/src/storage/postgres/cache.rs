//! Records this server read from PostgreSQL, kept until the database says their table changed.
//!
//! Without it an authorized read is a dozen round trips (the token, the membership, the
//! organization, its provider, the policy bindings...), each crossing to the database and back,
//! and the backend answers a tenth of what the embedded store does. With it a read closure
//! asks the database one question, "which tables changed since the clock I know?", in the same
//! round trip that opens its snapshot, and takes what did not change from memory.
//!
//! **Every server sees every acknowledged write.** Each write batch advances a clock row in
//! `tenantry_changes` and stamps every table it wrote with the new clock, in its own
//! transaction ([`changes_statement`]); a batch holds the write lock, so clocks follow commit
//! order. A read's snapshot includes the clock of the last commit it sees and the tables
//! changed after the clock this cache knows; those tables are dropped before anything is looked
//! up. So a write acknowledged by any server before a read began is in the read's snapshot, and
//! nothing older than it can come out of the cache.
//!
//! **A read never mixes times.** An entry of a table is used, and a read's result stored, only
//! when the table has not changed after the reader's snapshot (`changed <= clock`): a reader
//! that began before a commit the cache already knows of still sees its own snapshot, for the
//! tables that commit wrote, from the database.
//!
//! **Bounded.** Entries live in two generations per table; when the young ones together pass
//! half of the budget, they become the old ones and the old ones are dropped. An entry found
//! among the old ones moves back to the young. What a server keeps is therefore at most the
//! budget (`storage_cache_mib`), and the working set stays in it.
//!
//! Only point lookups are kept (a record by id, a pair, a unique key, a keyed record, the
//! children of a parent, the ids under a term): ranges, pages and counts go to the database.
//! Writes made to the tables by anything but tenantry (a `psql` session) do not stamp them: a
//! server that keeps those records does not see the change until it restarts (the README says
//! so to operators).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What a point lookup is keyed by.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Id(u128),
    Pair(u128, u128),
    Text(String),
}

/// What a point lookup answered.
#[derive(Clone)]
pub enum Found {
    Body(Option<Vec<u8>>),
    Id(Option<u128>),
    Ids(Vec<u128>),
}

impl Found {
    fn bytes(&self) -> usize {
        match self {
            Found::Body(body) => body.as_ref().map_or(0, Vec::len),
            Found::Id(_) => 16,
            Found::Ids(ids) => ids.len() * 16,
        }
    }
}

/// Bookkeeping per entry beyond its key and answer (hash slots, the key's own size).
const ENTRY_OVERHEAD: usize = 96;

/// What a write batch wrote: per table, the keys whose point lookups it changed.
pub type Written = HashMap<String, HashSet<Key>>;

/// The row of `tenantry_changes` that holds the clock of the last commit.
pub const CLOCK_ROW: &str = "";

/// The clock of a snapshot: the last commit it sees.
#[derive(Debug, Clone, Copy)]
pub struct Seen(pub i64);

pub struct Cache {
    budget: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Every change up to this clock has been applied.
    clock: i64,
    tables: HashMap<String, Table>,
    /// Bytes held by the young generation of every table.
    young_bytes: usize,
}

#[derive(Default)]
struct Table {
    /// The clock of the last commit that wrote the table.
    changed: i64,
    young: HashMap<Key, Found>,
    old: HashMap<Key, Found>,
}

fn size(key: &Key, found: &Found) -> usize {
    let key = match key {
        Key::Text(text) => text.len(),
        Key::Id(_) | Key::Pair(..) => 0,
    };
    ENTRY_OVERHEAD + key + found.bytes()
}

impl State {
    /// Puts an entry among the young of `table`, first turning the young into the old when it
    /// would pass half of `budget`. An entry bigger than that is not kept.
    fn admit(&mut self, budget: usize, table: &str, key: Key, found: Found) {
        let added = size(&key, &found);
        if added > budget / 2 {
            return;
        }
        if self.young_bytes + added > budget / 2 {
            for table in self.tables.values_mut() {
                table.old = std::mem::take(&mut table.young);
            }
            self.young_bytes = 0;
        }
        let Some(entry) = self.tables.get_mut(table) else {
            return;
        };
        entry.old.remove(&key);
        let replaced = entry.young.get(&key).map(|f| size(&key, f));
        entry.young.insert(key, found);
        self.young_bytes = self.young_bytes + added - replaced.unwrap_or(0);
    }
}

impl Cache {
    /// A cache of at most `budget` bytes; 0 keeps nothing.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The clock from which a reader asks what changed.
    pub fn clock(&self) -> i64 {
        self.lock().clock
    }

    /// Applies what a snapshot says changed after [`Cache::clock`]: `(table, clock)` rows of
    /// `tenantry_changes`, the snapshot's own clock among them under [`CLOCK_ROW`].
    pub fn catch_up(&self, rows: &[(String, i64)]) -> Seen {
        let clock = rows
            .iter()
            .find(|(name, _)| name == CLOCK_ROW)
            .map_or(0, |(_, clock)| *clock);
        let mut state = self.lock();
        for (name, changed) in rows.iter().filter(|(name, _)| name != CLOCK_ROW) {
            let state = &mut *state;
            // Every read catches up: the table's name is copied only the first time it is seen.
            let table = match state.tables.get_mut(name) {
                Some(table) => table,
                None => state.tables.entry(name.clone()).or_default(),
            };
            if *changed > table.changed {
                table.changed = *changed;
                state.young_bytes -= table.young.iter().map(|(k, f)| size(k, f)).sum::<usize>();
                table.young = HashMap::new();
                table.old = HashMap::new();
            }
        }
        state.clock = state.clock.max(clock);
        Seen(clock)
    }

    /// What the database answered for `key` of `table`, if a reader at `seen` may use it.
    pub fn get(&self, seen: Seen, table: &str, key: &Key) -> Option<Found> {
        if self.budget == 0 {
            return None;
        }
        let mut state = self.lock();
        let entry = state.tables.get(table)?;
        if entry.changed > seen.0 {
            return None;
        }
        if let Some(found) = entry.young.get(key) {
            return Some(found.clone());
        }
        let found = entry.old.get(key)?.clone();
        state.admit(self.budget, table, key.clone(), found.clone());
        Some(found)
    }

    /// Keeps what the database answered to a reader at `seen`, unless the table changed since.
    pub fn put(&self, seen: Seen, table: &str, key: Key, found: Found) {
        if self.budget == 0 {
            return;
        }
        let mut state = self.lock();
        let state = &mut *state;
        if seen.0 > state.clock {
            // A snapshot newer than every catch-up: cannot happen, as every reader catches up
            // first; kept out rather than trusted.
            return;
        }
        let entry = match state.tables.get_mut(table) {
            Some(entry) => entry,
            // A table never written since the database was created: changed at clock 0.
            None => state.tables.entry(table.to_owned()).or_default(),
        };
        if entry.changed > seen.0 {
            return;
        }
        state.admit(self.budget, table, key, found);
    }

    /// After this server's own batch committed at the clock after `seen` (which it read under
    /// the write lock, so no other commit came between): drops only the keys the batch wrote
    /// and moves the clock on, so what the batch did not touch stays kept. Other servers, which
    /// know only the stamped tables, drop those tables whole.
    pub fn committed(&self, seen: Seen, written: &Written) {
        let mut state = self.lock();
        if state.clock != seen.0 {
            // Not caught up to the batch's start: the stamps will drop the tables whole.
            return;
        }
        let next = seen.0 + 1;
        let state = &mut *state;
        for (name, keys) in written {
            let table = state.tables.entry(name.clone()).or_default();
            for key in keys {
                if let Some(found) = table.young.remove(key) {
                    state.young_bytes -= size(key, &found);
                }
                table.old.remove(key);
            }
            table.changed = next;
        }
        state.clock = next;
    }

    /// Bytes held, at most the budget (both generations).
    #[cfg(test)]
    fn held(&self) -> usize {
        let state = self.lock();
        state
            .tables
            .values()
            .flat_map(|t| t.young.iter().chain(t.old.iter()))
            .map(|(k, f)| size(k, f))
            .sum()
    }
}

/// The statement that stamps the tables a batch wrote with the clock after `clock`, for the
/// batch's own transaction. Table names are tenantry's constants, never input; they are still
/// quoted as SQL strings.
pub fn changes_statement(clock: i64, written: &Written) -> String {
    let next = clock + 1;
    let mut values = format!("('{CLOCK_ROW}', {next})");
    for name in written.keys() {
        values.push_str(&format!(", ('{}', {next})", name.replace('\'', "''")));
    }
    format!(
        "INSERT INTO tenantry_changes (name, changed) VALUES {values} \
         ON CONFLICT (name) DO UPDATE SET changed = EXCLUDED.changed"
    )
}

/// The query that opens a snapshot's view of the cache: the clock, and the tables changed
/// after the clock the cache knows (`$1`).
pub const CATCH_UP: &str =
    "SELECT name, changed FROM tenantry_changes WHERE changed > $1 OR name = ''";

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(clock: i64, changed: &[(&str, i64)]) -> Vec<(String, i64)> {
        let mut rows = vec![(CLOCK_ROW.to_owned(), clock)];
        rows.extend(changed.iter().map(|(n, c)| ((*n).to_owned(), *c)));
        rows
    }

    fn body(text: &str) -> Found {
        Found::Body(Some(text.as_bytes().to_vec()))
    }

    fn text(found: Option<Found>) -> Option<String> {
        match found {
            Some(Found::Body(Some(b))) => Some(String::from_utf8(b).unwrap()),
            _ => None,
        }
    }

    #[test]
    fn a_table_written_after_what_was_kept_is_read_again() {
        let cache = Cache::new(1 << 20);
        let seen = cache.catch_up(&rows(3, &[("orgs", 2)]));
        cache.put(seen, "orgs", Key::Id(1), body("acme"));
        cache.put(seen, "teams", Key::Id(9), body("ops"));
        assert_eq!(text(cache.get(seen, "orgs", &Key::Id(1))).unwrap(), "acme");
        // Another server renamed the organization at clock 4.
        let later = cache.catch_up(&rows(4, &[("orgs", 4)]));
        assert!(cache.get(later, "orgs", &Key::Id(1)).is_none());
        assert_eq!(
            text(cache.get(later, "teams", &Key::Id(9))).unwrap(),
            "ops",
            "a table nobody wrote keeps its entries"
        );
    }

    #[test]
    fn a_reader_older_than_a_change_neither_uses_nor_keeps_that_table() {
        let cache = Cache::new(1 << 20);
        let old = cache.catch_up(&rows(3, &[]));
        let new = cache.catch_up(&rows(4, &[("orgs", 4)]));
        cache.put(new, "orgs", Key::Id(1), body("renamed"));
        assert!(
            cache.get(old, "orgs", &Key::Id(1)).is_none(),
            "the old snapshot must not see the newer name"
        );
        cache.put(old, "orgs", Key::Id(1), body("old name"));
        assert_eq!(
            text(cache.get(new, "orgs", &Key::Id(1))).unwrap(),
            "renamed"
        );
        // The old reader still shares what did not change.
        cache.put(new, "members", Key::Pair(1, 2), body("owner"));
        assert_eq!(
            text(cache.get(old, "members", &Key::Pair(1, 2))).unwrap(),
            "owner"
        );
    }

    #[test]
    fn what_is_kept_stays_within_the_budget_and_keeps_what_is_used() {
        let budget = 64 * 1024;
        let cache = Cache::new(budget);
        let seen = cache.catch_up(&rows(1, &[]));
        let hot = Key::Id(u128::MAX);
        cache.put(seen, "orgs", hot.clone(), body("hot"));
        for id in 0..10_000u128 {
            cache.put(seen, "orgs", Key::Id(id), body(&"x".repeat(200)));
            assert!(cache.get(seen, "orgs", &hot).is_some(), "evicted at {id}");
            assert!(cache.held() <= budget, "{} bytes at {id}", cache.held());
        }
        // At the edge: an entry of exactly half the budget is kept, one byte more is not.
        let half = budget / 2 - ENTRY_OVERHEAD;
        cache.put(seen, "orgs", Key::Id(1), body(&"y".repeat(half)));
        assert!(
            cache.get(seen, "orgs", &Key::Id(1)).is_some(),
            "half the budget"
        );
        cache.put(seen, "orgs", Key::Id(2), body(&"y".repeat(half + 1)));
        assert!(
            cache.get(seen, "orgs", &Key::Id(2)).is_none(),
            "past half the budget"
        );
        assert!(cache.held() <= budget);
    }

    #[test]
    fn a_servers_own_commit_drops_only_the_keys_it_wrote() {
        let cache = Cache::new(1 << 20);
        let before = cache.catch_up(&rows(7, &[]));
        cache.put(before, "orgs", Key::Id(1), body("acme"));
        cache.put(before, "orgs", Key::Id(2), body("globex"));
        let written: Written = [("orgs".to_owned(), [Key::Id(1)].into())].into();
        cache.committed(before, &written);
        let after = cache.catch_up(&rows(8, &[("orgs", 8)]));
        assert!(
            cache.get(after, "orgs", &Key::Id(1)).is_none(),
            "written: read again"
        );
        assert_eq!(
            text(cache.get(after, "orgs", &Key::Id(2))).unwrap(),
            "globex",
            "untouched by the commit: still kept"
        );
        assert!(
            cache.get(before, "orgs", &Key::Id(2)).is_none(),
            "a reader from before the commit does not use a table it changed"
        );
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        let cache = Cache::new(0);
        let seen = cache.catch_up(&rows(1, &[]));
        cache.put(seen, "orgs", Key::Id(1), body("acme"));
        assert!(cache.get(seen, "orgs", &Key::Id(1)).is_none());
    }

    #[test]
    fn the_stamp_names_every_written_table_and_the_clock() {
        let written: Written = [("orgs".to_owned(), [Key::Id(1)].into())].into();
        let sql = changes_statement(41, &written);
        assert!(
            sql.contains("('', 42)") && sql.contains("('orgs', 42)"),
            "{sql}"
        );
    }
}
