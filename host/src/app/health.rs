//! What is degraded while the server serves: `/readyz` lists it and `tenantry_degraded`
//! counts it. Nothing here names a tenant: the route is unauthenticated.

use serde::Serialize;

use super::App;

/// One degraded part.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Degraded {
    /// `platform_policy`, `quarantined_policies` or `storage`.
    pub part: &'static str,
    /// The hook whose platform file does not load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<&'static str>,
    /// How many tenant policy versions are skipped for some organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    pub detail: String,
}

impl App {
    /// Every degraded part now; also sets `tenantry_degraded` to match.
    pub fn degraded(&self) -> Vec<Degraded> {
        let mut degraded = Vec::new();
        let failing = self.platform_files.failing();
        crate::metrics::set_degraded("platform_policy", failing.len());
        for (hook, _) in failing {
            degraded.push(Degraded {
                part: "platform_policy",
                hook: Some(hook.name()),
                count: None,
                detail: "the file's current content does not load; its previous version is \
                         serving (the operator sees why in GET /v1/policies)"
                    .into(),
            });
        }
        let quarantined = self.policies.quarantined();
        crate::metrics::set_degraded("quarantined_policies", quarantined);
        if quarantined > 0 {
            degraded.push(Degraded {
                part: "quarantined_policies",
                hook: None,
                count: Some(quarantined),
                detail: "tenant policies skipped (answering deny) for some organizations after \
                         failing in a row, until their cool-off ends"
                    .into(),
            });
        }
        let storage = self.store.is_failing();
        crate::metrics::set_degraded("storage", usize::from(storage));
        if storage {
            degraded.push(Degraded {
                part: "storage",
                hook: None,
                count: None,
                detail: "the last writes did not reach the disk (full or failing); writes are \
                         refused until one does, reads are served"
                    .into(),
            });
        }
        degraded
    }
}
