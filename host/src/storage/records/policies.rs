//! Policy versions (immutable once written), listed under their binding key, and the
//! bindings: which version each (layer, owner, hook) runs.

use crate::domain::ids::PolicyVersionId;
use crate::policy::version::{Binding, BindingKey, PolicyVersion};
use crate::storage::{StorageError, Tx, View, tables};

impl Tx<'_> {
    /// Stores a new version, listed under its binding key.
    pub fn insert_policy_version(&self, version: &PolicyVersion) -> Result<(), StorageError> {
        self.put(tables::POLICY_VERSIONS, version.id.key(), version)?;
        self.add_term(
            tables::BINDING_VERSIONS,
            &version.key.text(),
            version.id.key(),
        )
    }

    pub fn delete_policy_version(&self, version: &PolicyVersion) -> Result<(), StorageError> {
        self.delete(tables::POLICY_VERSIONS, version.id.key())?;
        self.remove_term(
            tables::BINDING_VERSIONS,
            &version.key.text(),
            version.id.key(),
        )
    }

    /// Makes `binding` the active version of `key`.
    pub fn put_binding(&self, key: &BindingKey, binding: &Binding) -> Result<(), StorageError> {
        self.put_keyed(tables::POLICY_BINDINGS, &key.text(), binding)
    }

    pub fn delete_binding(&self, key: &BindingKey) -> Result<(), StorageError> {
        self.delete_keyed(tables::POLICY_BINDINGS, &key.text())
    }
}

impl View<'_> {
    pub fn policy_version(
        &self,
        id: PolicyVersionId,
    ) -> Result<Option<PolicyVersion>, StorageError> {
        self.record(tables::POLICY_VERSIONS, id.key())
    }

    /// Every version kept for `key`, in no particular order.
    pub fn policy_versions_of(&self, key: &BindingKey) -> Result<Vec<PolicyVersion>, StorageError> {
        let mut out = Vec::new();
        for id in self.exact(tables::BINDING_VERSIONS, &key.text())? {
            if let Some(version) = self.record(tables::POLICY_VERSIONS, id)? {
                out.push(version);
            }
        }
        Ok(out)
    }

    pub fn binding(&self, key: &BindingKey) -> Result<Option<Binding>, StorageError> {
        self.keyed(tables::POLICY_BINDINGS, &key.text())
    }

    /// The bindings whose key text starts with `prefix` ([`BindingKey::owner_prefix`]; empty
    /// for all), with their key text, in key order.
    pub fn bindings_under(&self, prefix: &str) -> Result<Vec<(String, Binding)>, StorageError> {
        self.keyed_prefixed(tables::POLICY_BINDINGS, prefix)
    }
}
