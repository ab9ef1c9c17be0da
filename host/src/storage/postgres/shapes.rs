//! The statements behind each table shape of [`crate::storage::tables`], for the PostgreSQL
//! backend: what [`crate::storage::View`] and [`crate::storage::Tx`] run there.
//!
//! Each redb table is one SQL table of the same name and shape (`schema.rs`): ids (`u128`) are
//! `uuid` (compared byte by byte, i.e. in the same order as the `u128`), text keys are `text
//! COLLATE "C"` (byte order, as redb orders `&str`), record bodies are the codec's bytes. So
//! every range, page and prefix search means the same on both backends, which the contract
//! tests in `storage/records` check on each. Table names come from the constants in
//! `tables.rs`, never from input.

use tokio_postgres::Row;
use uuid::Uuid;

use super::session::{Session, own};
use crate::storage::StorageError;

/// A pair record's key and its body.
pub type PairRow = ((u128, u128), Vec<u8>);

fn id(value: u128) -> Uuid {
    Uuid::from_u128(value)
}

/// A text key as a deferred write's parameter. PostgreSQL's text cannot hold NUL, and a
/// deferred write's error would surface in a later job's statement and fail the whole batch
/// ([`Session::begin_job`]), so such a key fails its own write here, at once.
fn text_key(key: &str) -> Result<super::session::Owned, StorageError> {
    if key.contains('\0') {
        return Err(StorageError::Internal(
            "a key holds a NUL character, which PostgreSQL cannot store".into(),
        ));
    }
    Ok(own(key.to_owned()))
}

fn int(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn uuid_at(row: &Row, column: usize) -> Result<u128, StorageError> {
    Ok(row.try_get::<_, Uuid>(column)?.as_u128())
}

fn bytes_at(row: &Row, column: usize) -> Result<Vec<u8>, StorageError> {
    Ok(row.try_get::<_, Vec<u8>>(column)?)
}

/// The smallest string above every string that starts with `prefix`: a prefix search is the
/// key range `[prefix, end)`. U+10FFFF is the largest scalar value, so only a key with that
/// (non-)character right after the prefix falls outside, which no tenantry key has.
fn prefix_end(prefix: &str) -> String {
    let mut end = String::with_capacity(prefix.len() + 4);
    end.push_str(prefix);
    end.push(char::MAX);
    end
}

impl Session {
    // ---- records: id -> body

    pub fn record(&self, table: &str, key: u128) -> Result<Option<Vec<u8>>, StorageError> {
        let sql = format!(r#"SELECT body FROM "{table}" WHERE id = $1"#);
        self.row(&sql, &[&id(key)])?
            .map(|row| bytes_at(&row, 0))
            .transpose()
    }

    /// The bodies of the records with these ids, in the order of `keys`; a missing one is
    /// left out.
    pub fn records_in(&self, table: &str, keys: &[u128]) -> Result<Vec<Vec<u8>>, StorageError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|key| id(*key)).collect();
        let sql = format!(
            r#"SELECT t.body FROM unnest($1::uuid[]) WITH ORDINALITY AS asked(id, n)
               JOIN "{table}" t ON t.id = asked.id ORDER BY asked.n"#
        );
        self.rows(&sql, &[&ids])?
            .iter()
            .map(|row| bytes_at(row, 0))
            .collect()
    }

    /// Records with ids from `start`, in id order, at most `limit`.
    pub fn scan(
        &self,
        table: &str,
        start: u128,
        limit: usize,
    ) -> Result<Vec<(u128, Vec<u8>)>, StorageError> {
        let sql = format!(r#"SELECT id, body FROM "{table}" WHERE id >= $1 ORDER BY id LIMIT $2"#);
        self.rows(&sql, &[&id(start), &int(limit)])?
            .iter()
            .map(|row| Ok((uuid_at(row, 0)?, bytes_at(row, 1)?)))
            .collect()
    }

    pub fn count(&self, table: &str) -> Result<u64, StorageError> {
        let sql = format!(r#"SELECT count(*) FROM "{table}""#);
        let row = self.row(&sql, &[])?;
        Ok(row
            .map_or(Ok(0), |row| row.try_get::<_, i64>(0))?
            .unsigned_abs())
    }

    pub fn put(&self, table: &str, key: u128, body: &[u8]) -> Result<(), StorageError> {
        let sql = format!(
            r#"INSERT INTO "{table}" (id, body) VALUES ($1, $2)
               ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body"#
        );
        self.write(&sql, vec![own(id(key)), own(body.to_vec())])?;
        Ok(())
    }

    /// Many records in one statement (one round trip, whatever their number).
    pub fn put_many(&self, table: &str, rows: &[(u128, Vec<u8>)]) -> Result<(), StorageError> {
        if rows.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = rows.iter().map(|(key, _)| id(*key)).collect();
        let bodies: Vec<Vec<u8>> = rows.iter().map(|(_, body)| body.clone()).collect();
        let sql = format!(
            r#"INSERT INTO "{table}" (id, body) SELECT * FROM unnest($1::uuid[], $2::bytea[])
               ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body"#
        );
        self.write(&sql, vec![own(ids), own(bodies)])?;
        Ok(())
    }

    pub fn delete(&self, table: &str, key: u128) -> Result<(), StorageError> {
        let sql = format!(r#"DELETE FROM "{table}" WHERE id = $1"#);
        self.write(&sql, vec![own(id(key))])?;
        Ok(())
    }

    /// Removes many records in one statement.
    pub fn delete_many(&self, table: &str, keys: &[u128]) -> Result<(), StorageError> {
        if keys.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = keys.iter().map(|key| id(*key)).collect();
        let sql = format!(r#"DELETE FROM "{table}" WHERE id = ANY($1::uuid[])"#);
        self.write(&sql, vec![own(ids)])?;
        Ok(())
    }

    // ---- pair records: (parent, id) -> body

    pub fn pair(
        &self,
        table: &str,
        parent: u128,
        key: u128,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let sql = format!(r#"SELECT body FROM "{table}" WHERE parent = $1 AND id = $2"#);
        self.row(&sql, &[&id(parent), &id(key)])?
            .map(|row| bytes_at(&row, 0))
            .transpose()
    }

    /// Records under `parent` with ids from `start`, oldest or newest first, at most `limit`.
    pub fn pairs(
        &self,
        table: &str,
        parent: u128,
        start: u128,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<(u128, Vec<u8>)>, StorageError> {
        let order = if newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            r#"SELECT id, body FROM "{table}" WHERE parent = $1 AND id >= $2
               ORDER BY id {order} LIMIT $3"#
        );
        self.rows(&sql, &[&id(parent), &id(start), &int(limit)])?
            .iter()
            .map(|row| Ok((uuid_at(row, 0)?, bytes_at(row, 1)?)))
            .collect()
    }

    /// Every pair from `(parent, key)` on, in key order, at most `limit`, with its body.
    pub fn pairs_from(
        &self,
        table: &str,
        from: (u128, u128),
        limit: usize,
    ) -> Result<Vec<PairRow>, StorageError> {
        let sql = format!(
            r#"SELECT parent, id, body FROM "{table}" WHERE (parent, id) >= ($1, $2)
               ORDER BY parent, id LIMIT $3"#
        );
        self.rows(&sql, &[&id(from.0), &id(from.1), &int(limit)])?
            .iter()
            .map(|row| Ok(((uuid_at(row, 0)?, uuid_at(row, 1)?), bytes_at(row, 2)?)))
            .collect()
    }

    pub fn count_pairs(&self, table: &str, parent: u128) -> Result<usize, StorageError> {
        let sql = format!(r#"SELECT count(*) FROM "{table}" WHERE parent = $1"#);
        let row = self.row(&sql, &[&id(parent)])?;
        let n = row.map_or(Ok(0), |row| row.try_get::<_, i64>(0))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub fn put_pair(
        &self,
        table: &str,
        parent: u128,
        key: u128,
        body: &[u8],
    ) -> Result<(), StorageError> {
        let sql = format!(
            r#"INSERT INTO "{table}" (parent, id, body) VALUES ($1, $2, $3)
               ON CONFLICT (parent, id) DO UPDATE SET body = EXCLUDED.body"#
        );
        self.write(
            &sql,
            vec![own(id(parent)), own(id(key)), own(body.to_vec())],
        )?;
        Ok(())
    }

    /// Many pair records in one statement.
    pub fn put_pairs(&self, table: &str, rows: &[PairRow]) -> Result<(), StorageError> {
        if rows.is_empty() {
            return Ok(());
        }
        let parents: Vec<Uuid> = rows.iter().map(|((parent, _), _)| id(*parent)).collect();
        let ids: Vec<Uuid> = rows.iter().map(|((_, key), _)| id(*key)).collect();
        let bodies: Vec<Vec<u8>> = rows.iter().map(|(_, body)| body.clone()).collect();
        let sql = format!(
            r#"INSERT INTO "{table}" (parent, id, body)
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bytea[])
               ON CONFLICT (parent, id) DO UPDATE SET body = EXCLUDED.body"#
        );
        self.write(&sql, vec![own(parents), own(ids), own(bodies)])?;
        Ok(())
    }

    /// Removes many pair records in one statement.
    pub fn delete_pairs(&self, table: &str, keys: &[(u128, u128)]) -> Result<(), StorageError> {
        if keys.is_empty() {
            return Ok(());
        }
        let parents: Vec<Uuid> = keys.iter().map(|(parent, _)| id(*parent)).collect();
        let ids: Vec<Uuid> = keys.iter().map(|(_, key)| id(*key)).collect();
        let sql = format!(
            r#"DELETE FROM "{table}" WHERE (parent, id) IN
               (SELECT * FROM unnest($1::uuid[], $2::uuid[]))"#
        );
        self.write(&sql, vec![own(parents), own(ids)])?;
        Ok(())
    }

    pub fn delete_pair(&self, table: &str, parent: u128, key: u128) -> Result<(), StorageError> {
        let sql = format!(r#"DELETE FROM "{table}" WHERE parent = $1 AND id = $2"#);
        self.write(&sql, vec![own(id(parent)), own(id(key))])?;
        Ok(())
    }

    // ---- children: parent -> {id}

    pub fn children(&self, table: &str, parent: u128) -> Result<Vec<u128>, StorageError> {
        let sql = format!(r#"SELECT id FROM "{table}" WHERE parent = $1 ORDER BY id"#);
        self.rows(&sql, &[&id(parent)])?
            .iter()
            .map(|row| uuid_at(row, 0))
            .collect()
    }

    /// `(parent, id)` entries with parents up to `until` after `after`, in order, at most
    /// `limit`.
    pub fn due(
        &self,
        table: &str,
        until: u128,
        after: Option<(u128, u128)>,
        limit: usize,
    ) -> Result<Vec<(u128, u128)>, StorageError> {
        let rows = match after {
            Some((parent, child)) => {
                let sql = format!(
                    r#"SELECT parent, id FROM "{table}" WHERE parent <= $1 AND (parent, id) > ($2, $3)
                       ORDER BY parent, id LIMIT $4"#
                );
                self.rows(&sql, &[&id(until), &id(parent), &id(child), &int(limit)])?
            }
            None => {
                let sql = format!(
                    r#"SELECT parent, id FROM "{table}" WHERE parent <= $1
                       ORDER BY parent, id LIMIT $2"#
                );
                self.rows(&sql, &[&id(until), &int(limit)])?
            }
        };
        rows.iter()
            .map(|row| Ok((uuid_at(row, 0)?, uuid_at(row, 1)?)))
            .collect()
    }

    pub fn add_child(&self, table: &str, parent: u128, child: u128) -> Result<(), StorageError> {
        let sql =
            format!(r#"INSERT INTO "{table}" (parent, id) VALUES ($1, $2) ON CONFLICT DO NOTHING"#);
        self.write(&sql, vec![own(id(parent)), own(id(child))])?;
        Ok(())
    }

    pub fn remove_child(&self, table: &str, parent: u128, child: u128) -> Result<(), StorageError> {
        let sql = format!(r#"DELETE FROM "{table}" WHERE parent = $1 AND id = $2"#);
        self.write(&sql, vec![own(id(parent)), own(id(child))])?;
        Ok(())
    }

    pub fn remove_children(&self, table: &str, parent: u128) -> Result<(), StorageError> {
        let sql = format!(r#"DELETE FROM "{table}" WHERE parent = $1"#);
        self.write(&sql, vec![own(id(parent))])?;
        Ok(())
    }

    // ---- unique: key -> id

    pub fn unique(&self, table: &str, key: &str) -> Result<Option<u128>, StorageError> {
        let sql = format!(r#"SELECT id FROM "{table}" WHERE key = $1"#);
        self.row(&sql, &[&key])?
            .map(|row| uuid_at(&row, 0))
            .transpose()
    }

    pub fn set_unique(&self, table: &str, key: &str, value: u128) -> Result<(), StorageError> {
        let sql = format!(
            r#"INSERT INTO "{table}" (key, id) VALUES ($1, $2)
               ON CONFLICT (key) DO UPDATE SET id = EXCLUDED.id"#
        );
        self.write(&sql, vec![text_key(key)?, own(id(value))])?;
        Ok(())
    }

    /// A key that must be new: a taken one is refused by the primary key when the write is
    /// sent.
    pub fn insert_unique(&self, table: &str, key: &str, value: u128) -> Result<(), StorageError> {
        let sql = format!(r#"INSERT INTO "{table}" (key, id) VALUES ($1, $2)"#);
        self.write(&sql, vec![text_key(key)?, own(id(value))])?;
        Ok(())
    }

    /// Removes a key of a unique table, or of a keyed or blob table (same key column).
    pub fn remove_key(&self, table: &str, key: &str) -> Result<(), StorageError> {
        let sql = format!(r#"DELETE FROM "{table}" WHERE key = $1"#);
        self.write(&sql, vec![text_key(key)?])?;
        Ok(())
    }

    /// Entries of a unique table with keys after `after`, in key order, at most `limit`.
    pub fn unique_after(
        &self,
        table: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, u128)>, StorageError> {
        let rows = match after {
            Some(after) => {
                let sql = format!(
                    r#"SELECT key, id FROM "{table}" WHERE key > $1 ORDER BY key LIMIT $2"#
                );
                self.rows(&sql, &[&after, &int(limit)])?
            }
            None => {
                let sql = format!(r#"SELECT key, id FROM "{table}" ORDER BY key LIMIT $1"#);
                self.rows(&sql, &[&int(limit)])?
            }
        };
        rows.iter()
            .map(|row| Ok((row.try_get::<_, String>(0)?, uuid_at(row, 1)?)))
            .collect()
    }

    // ---- terms: key -> {id}

    pub fn exact(&self, table: &str, key: &str) -> Result<Vec<u128>, StorageError> {
        let sql = format!(r#"SELECT id FROM "{table}" WHERE key = $1 ORDER BY id"#);
        self.rows(&sql, &[&key])?
            .iter()
            .map(|row| uuid_at(row, 0))
            .collect()
    }

    /// `(key, id)` under keys starting with `prefix`, strictly after `after`, at most `limit`.
    pub fn terms_after(
        &self,
        table: &str,
        prefix: &str,
        after: Option<(&str, u128)>,
        limit: usize,
    ) -> Result<Vec<(String, u128)>, StorageError> {
        let end = prefix_end(prefix);
        let rows = match after {
            Some((key, after_id)) => {
                let sql = format!(
                    r#"SELECT key, id FROM "{table}" WHERE key >= $1 AND key < $2 AND (key, id) > ($3, $4)
                       ORDER BY key, id LIMIT $5"#
                );
                self.rows(&sql, &[&prefix, &end, &key, &id(after_id), &int(limit)])?
            }
            None => {
                let sql = format!(
                    r#"SELECT key, id FROM "{table}" WHERE key >= $1 AND key < $2
                       ORDER BY key, id LIMIT $3"#
                );
                self.rows(&sql, &[&prefix, &end, &int(limit)])?
            }
        };
        rows.iter()
            .map(|row| Ok((row.try_get::<_, String>(0)?, uuid_at(row, 1)?)))
            .collect()
    }

    pub fn add_term(&self, table: &str, key: &str, value: u128) -> Result<(), StorageError> {
        let sql =
            format!(r#"INSERT INTO "{table}" (key, id) VALUES ($1, $2) ON CONFLICT DO NOTHING"#);
        self.write(&sql, vec![text_key(key)?, own(id(value))])?;
        Ok(())
    }

    pub fn remove_term(&self, table: &str, key: &str, value: u128) -> Result<(), StorageError> {
        let sql = format!(r#"DELETE FROM "{table}" WHERE key = $1 AND id = $2"#);
        self.write(&sql, vec![text_key(key)?, own(id(value))])?;
        Ok(())
    }

    // ---- keyed records and blobs (and meta): key -> body

    pub fn keyed(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let sql = format!(r#"SELECT body FROM "{table}" WHERE key = $1"#);
        self.row(&sql, &[&key])?
            .map(|row| bytes_at(&row, 0))
            .transpose()
    }

    pub fn keyed_prefixed(
        &self,
        table: &str,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let sql =
            format!(r#"SELECT key, body FROM "{table}" WHERE key >= $1 AND key < $2 ORDER BY key"#);
        self.rows(&sql, &[&prefix, &prefix_end(prefix)])?
            .iter()
            .map(|row| Ok((row.try_get::<_, String>(0)?, bytes_at(row, 1)?)))
            .collect()
    }

    /// Entries of a keyed table with keys after `after`, in key order, at most `limit`.
    pub fn keyed_after(
        &self,
        table: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let rows = match after {
            Some(after) => {
                let sql = format!(
                    r#"SELECT key, body FROM "{table}" WHERE key > $1 ORDER BY key LIMIT $2"#
                );
                self.rows(&sql, &[&after, &int(limit)])?
            }
            None => {
                let sql = format!(r#"SELECT key, body FROM "{table}" ORDER BY key LIMIT $1"#);
                self.rows(&sql, &[&int(limit)])?
            }
        };
        rows.iter()
            .map(|row| Ok((row.try_get::<_, String>(0)?, bytes_at(row, 1)?)))
            .collect()
    }

    pub fn put_keyed(&self, table: &str, key: &str, body: &[u8]) -> Result<(), StorageError> {
        let sql = format!(
            r#"INSERT INTO "{table}" (key, body) VALUES ($1, $2)
               ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body"#
        );
        self.write(&sql, vec![text_key(key)?, own(body.to_vec())])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_holds_exactly_the_keys_that_start_with_it() {
        let end = prefix_end("ab");
        for key in ["ab", "ab\u{1f}x", "abz", "ab\u{10FFFE}"] {
            assert!(key >= "ab" && key < end.as_str(), "{key:?}");
        }
        for key in ["aa", "a", "ac", "b"] {
            assert!(!(key >= "ab" && key < end.as_str()), "{key:?}");
        }
    }
}
