//! The plugin registry: components uploaded once, named by their SHA-256, validated against
//! the WIT world, stored with their compiled artifact so a restart does not recompile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::App;
use super::actor::Actor;
use crate::domain::clock::Timestamp;
use crate::error::{Error, Result};
use crate::policy::Hook;
use crate::policy::wasm::{LoadedPlugin, sha256_hex};
use crate::storage::tables;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginRecord {
    pub sha256: String,
    pub size: usize,
    pub hooks: Vec<Hook>,
    pub uploaded_at: Timestamp,
    /// `operator` or a user id.
    pub uploader: String,
}

/// Plugins loaded in this process, by SHA-256.
#[derive(Clone, Default)]
pub struct PluginCache(Arc<Mutex<HashMap<String, Arc<LoadedPlugin>>>>);

impl PluginCache {
    fn get(&self, sha: &str) -> Option<Arc<LoadedPlugin>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(sha)
            .cloned()
    }

    fn put(&self, plugin: Arc<LoadedPlugin>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(plugin.sha256.clone(), plugin);
    }
}

fn uploader(actor: Actor) -> String {
    actor
        .user_id
        .map_or_else(|| "operator".to_owned(), |u| u.to_string())
}

fn invalid(message: String) -> Error {
    Error::field("plugin is invalid", "body", message)
}

impl App {
    /// Validates and stores a component; uploading the same bytes again answers the same record.
    pub async fn upload_plugin(&self, actor: Actor, bytes: Vec<u8>) -> Result<PluginRecord> {
        self.authorize_global(actor, "plugin.upload", Value::Null)?;
        let sha = sha256_hex(&bytes);
        if let Some(record) = self
            .store
            .read(|view| Ok(view.keyed::<PluginRecord>(tables::PLUGINS, &sha)?))?
        {
            return Ok(record);
        }
        let app = self.clone();
        let (plugin, artifact, bytes) = tokio::task::spawn_blocking(move || {
            let wasm = app.policies.wasm().map_err(Error::Policy)?;
            let (plugin, artifact) = wasm
                .compile(&bytes)
                .map_err(|f| invalid(format!("{}: {}", f.kind, f.message)))?;
            Ok::<_, Error>((plugin, artifact, bytes))
        })
        .await
        .map_err(|e| Error::Policy(format!("plugin compilation failed: {e}")))??;
        let record = PluginRecord {
            sha256: sha.clone(),
            size: bytes.len(),
            hooks: plugin.hooks.clone(),
            uploaded_at: self.clock.now(),
            uploader: uploader(actor),
        };
        let stored = record.clone();
        self.store
            .write(move |tx| {
                tx.put_blob(tables::PLUGIN_BLOBS, &format!("wasm:{sha}"), &bytes)?;
                tx.put_blob(tables::PLUGIN_BLOBS, &format!("artifact:{sha}"), &artifact)?;
                tx.put_keyed(tables::PLUGINS, &sha, &stored)?;
                Ok(())
            })
            .await?;
        self.plugin_cache.put(Arc::new(plugin));
        Ok(record)
    }

    /// A plugin by SHA-256: anyone who knows the hash may see it (it names content, not a
    /// tenant); listing is limited to one's own uploads.
    pub fn get_plugin(&self, actor: Actor, sha: &str) -> Result<PluginRecord> {
        self.authorize_global(actor, "plugin.read", Value::Null)?;
        self.store.read(|view| {
            view.keyed::<PluginRecord>(tables::PLUGINS, sha)?
                .ok_or(Error::NotFound("plugin"))
        })
    }

    pub fn list_plugins(&self, actor: Actor) -> Result<Vec<PluginRecord>> {
        self.authorize_global(actor, "plugin.read", Value::Null)?;
        let me = uploader(actor);
        self.store.read(|view| {
            Ok(view
                .keyed_prefixed::<PluginRecord>(tables::PLUGINS, "")?
                .into_iter()
                .map(|(_, r)| r)
                .filter(|r| actor.is_operator() || r.uploader == me)
                .collect())
        })
    }

    /// The loaded plugin: from memory, else from its cached artifact, else recompiled.
    pub fn load_plugin(&self, sha: &str) -> Result<Arc<LoadedPlugin>> {
        if let Some(p) = self.plugin_cache.get(sha) {
            return Ok(p);
        }
        let (record, artifact, wasm_bytes) = self.store.read(|view| {
            let record = view
                .keyed::<PluginRecord>(tables::PLUGINS, sha)?
                .ok_or(Error::NotFound("plugin"))?;
            Ok((
                record,
                view.blob(tables::PLUGIN_BLOBS, &format!("artifact:{sha}"))?,
                view.blob(tables::PLUGIN_BLOBS, &format!("wasm:{sha}"))?,
            ))
        })?;
        let wasm = self.policies.wasm().map_err(Error::Policy)?;
        let loaded = match artifact.and_then(|a| wasm.load_artifact(&a, sha, record.size)) {
            Some(p) => p,
            None => {
                tracing::info!(
                    plugin = sha,
                    "recompiling a plugin whose artifact this build cannot use"
                );
                let bytes = wasm_bytes.ok_or(Error::NotFound("plugin"))?;
                wasm.compile(&bytes)
                    .map_err(|f| {
                        Error::Policy(format!(
                            "stored plugin `{sha}` no longer loads: {}",
                            f.message
                        ))
                    })?
                    .0
            }
        };
        let loaded = Arc::new(loaded);
        self.plugin_cache.put(Arc::clone(&loaded));
        Ok(loaded)
    }
}
