//! The platform policies and their fixtures, built into the binary: what `serve` runs on when
//! there is no policy directory, and what `tenantry init` writes out to edit. The files under
//! `policies/` are their source, so the two cannot drift.

use super::Hook;

pub struct StockPolicy {
    pub hook: Hook,
    /// `{hook}.rhai`
    pub source: &'static str,
    /// `tests/{hook}.json`
    pub fixtures: &'static str,
}

static STOCK: [StockPolicy; 4] = [
    StockPolicy {
        hook: Hook::Authorize,
        source: include_str!("../../../policies/authorize.rhai"),
        fixtures: include_str!("../../../policies/tests/authorize.json"),
    },
    StockPolicy {
        hook: Hook::Link,
        source: include_str!("../../../policies/link.rhai"),
        fixtures: include_str!("../../../policies/tests/link.json"),
    },
    StockPolicy {
        hook: Hook::Share,
        source: include_str!("../../../policies/share.rhai"),
        fixtures: include_str!("../../../policies/tests/share.json"),
    },
    StockPolicy {
        hook: Hook::RemoteSupport,
        source: include_str!("../../../policies/remote_support.rhai"),
        fixtures: include_str!("../../../policies/tests/remote_support.json"),
    },
];

/// The built-in policy for `hook`.
pub fn stock(hook: Hook) -> &'static StockPolicy {
    match hook {
        Hook::Authorize => &STOCK[0],
        Hook::Link => &STOCK[1],
        Hook::Share => &STOCK[2],
        Hook::RemoteSupport => &STOCK[3],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hook_has_its_own_stock_policy() {
        for hook in Hook::ALL {
            assert_eq!(stock(hook).hook, hook);
        }
        assert_eq!(STOCK.len(), Hook::ALL.len());
    }
}
