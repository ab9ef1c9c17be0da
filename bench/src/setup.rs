//! What the in-process measurements start from: an `App` (no HTTP) on a fresh data directory
//! with its own copy of the shipped platform policies.

use std::path::Path;

use tenantry::{App, Settings};

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
