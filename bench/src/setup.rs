//! What the in-process measurements start from: an `App` (no HTTP) on a fresh data directory
//! with its own copy of the shipped platform policies.

use std::path::Path;
use std::sync::Arc;

use tenantry::domain::ids::OrgId;
use tenantry::policy::compiled::CompiledPolicy;
use tenantry::policy::version::BindingKey;
use tenantry::policy::{Hook, Layer};
use tenantry::{App, Settings};

use crate::inputs::PORTAL_INVITES_ONLY;

/// An `App` on `dir/data` with a copy of the platform policies in `dir/policies`.
pub async fn app_in(dir: &Path) -> anyhow::Result<App> {
    tenantry_e2e::copy_policies(&dir.join("policies"))?;
    let settings = Settings {
        data_dir: dir.join("data"),
        policies: dir.join("policies"),
        ..Settings::default()
    };
    Ok(App::build(settings).await?.app)
}

/// An organization's own `authorize` policy: invitations through the portal only.
pub fn portal_invites_only(app: &App) -> anyhow::Result<CompiledPolicy> {
    app.policies
        .runtime()
        .compile(Hook::Authorize, "org.rhai", PORTAL_INVITES_ONLY)
        .map_err(anyhow::Error::msg)
}

/// Makes `policy` the `authorize` layer `layer` of `owner`, as binding its first version would.
pub fn bind_authorize(app: &App, layer: Layer, owner: Option<OrgId>, policy: CompiledPolicy) {
    let key = BindingKey {
        layer,
        owner,
        hook: Hook::Authorize,
    };
    app.policies.apply(key, 1, Some(Arc::new(policy)));
}
