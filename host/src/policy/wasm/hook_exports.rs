//! The hook functions of a plugin on the current contract, found once per plugin and
//! type-checked once per hook, so that a call on a fresh instance does neither.
//!
//! bindgen's `PluginPre::instantiate` looks every export up and checks its type against the
//! contract on every instantiation: under callgrind that was 17,000 of the 113,000
//! instructions a capability-free Wasm decision cost (BENCHMARKS.md, "Decision latency"). A
//! component's export types are fixed when it is compiled, so one check per hook per loaded
//! plugin says the same as one per call.

use std::sync::atomic::{AtomicU8, Ordering};

use wasmtime::Store;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Instance, Lower, TypedFunc,
};

use super::contract::{PACKAGE, Record, wit};
use super::sandbox::Sandbox;

/// The interface a plugin exports its hooks in: `tenantry:policy/hooks@0.2.0`.
fn hooks_interface() -> String {
    let (package, version) = PACKAGE.split_once('@').unwrap_or((PACKAGE, ""));
    format!("{package}/hooks@{version}")
}

/// Where one component's hook functions are, and which have had their type checked.
pub struct HookExports {
    authorize: ComponentExportIndex,
    link: ComponentExportIndex,
    share: ComponentExportIndex,
    remote_support: ComponentExportIndex,
    /// One bit per hook function whose type was checked against the contract.
    checked: AtomicU8,
}

impl HookExports {
    /// The hook functions of `component`; an error names the one missing.
    pub fn new(component: &Component) -> Result<Self, String> {
        let hooks = hooks_interface();
        let interface = component
            .get_export_index(None, &hooks)
            .ok_or_else(|| format!("the component does not export `{hooks}`"))?;
        let function = |name: &str| {
            component
                .get_export_index(Some(&interface), name)
                .ok_or_else(|| format!("`{hooks}` has no function `{name}`"))
        };
        Ok(Self {
            authorize: function("authorize")?,
            link: function("link")?,
            share: function("share")?,
            remote_support: function("remote-support")?,
            checked: AtomicU8::new(0),
        })
    }

    /// Calls the hook `record` is the input of on `instance`, an instance of the component
    /// these exports were found in.
    pub fn call(
        &self,
        store: &mut Store<Sandbox>,
        instance: &Instance,
        record: &Record,
        config: &str,
    ) -> wasmtime::Result<wit::Verdict> {
        match record {
            Record::Authorize(r) => self.call_one(store, instance, &self.authorize, 1, (r, config)),
            Record::Link(r) => self.call_one(store, instance, &self.link, 2, (r, config)),
            Record::Share(r) => self.call_one(store, instance, &self.share, 4, (r, config)),
            Record::RemoteSupport(r) => {
                self.call_one(store, instance, &self.remote_support, 8, (r, config))
            }
        }
    }

    fn call_one<Params>(
        &self,
        store: &mut Store<Sandbox>,
        instance: &Instance,
        index: &ComponentExportIndex,
        bit: u8,
        params: Params,
    ) -> wasmtime::Result<wit::Verdict>
    where
        Params: ComponentNamedList + Lower,
    {
        let func = instance
            .get_func(&mut *store, index)
            .ok_or_else(|| wasmtime::format_err!("the hook is not a function of this instance"))?;
        let typed = if self.checked.load(Ordering::Relaxed) & bit == 0 {
            let typed = func.typed::<Params, (wit::Verdict,)>(&*store)?;
            self.checked.fetch_or(bit, Ordering::Relaxed);
            typed
        } else {
            // SAFETY: `func` is the export at `index` of an instance of the component `index`
            // was found in (the caller's contract), and that export's type was checked against
            // exactly these parameter and result types by an earlier call (its bit is set only
            // after `typed` succeeded). A component's export types cannot change after it is
            // compiled, so every instance's export at `index` has the type that was checked.
            // Each instance travels with the exports of its own component (`Instance::Current`),
            // and an index of another `Component` would find nothing anyway: `get_func` compares
            // the component's id and would have answered `None` above.
            #[allow(unsafe_code)]
            unsafe {
                TypedFunc::<Params, (wit::Verdict,)>::new_unchecked(func)
            }
        };
        let (verdict,) = typed.call(&mut *store, params)?;
        Ok(verdict)
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::component::Linker;
    use wasmtime::{Config, Engine};

    use super::*;

    /// A component whose hooks carry the contract's names but take and return a `u32`.
    const WRONG_TYPES: &str = r#"
        (component
          (core module $m (func (export "f") (param i32) (result i32) local.get 0))
          (core instance $i (instantiate $m))
          (func $f (param "x" u32) (result u32) (canon lift (core func $i "f")))
          (instance $hooks
            (export "authorize" (func $f))
            (export "link" (func $f))
            (export "share" (func $f))
            (export "remote-support" (func $f)))
          (export "tenantry:policy/hooks@0.2.0" (instance $hooks)))
    "#;

    fn engine() -> Engine {
        Engine::new(Config::new().wasm_component_model(true)).unwrap()
    }

    /// A fresh store and an instance of `component` in it.
    fn instance_of(engine: &Engine, component: &Component) -> (Store<Sandbox>, Instance) {
        let mut store = Store::new(engine, Sandbox::new(1 << 20, 100));
        let instance = Linker::new(engine)
            .instantiate(&mut store, component)
            .unwrap();
        (store, instance)
    }

    fn ask() -> Record {
        Record::Authorize(wit::AuthorizeInput {
            action: "org.read".into(),
            actor: wit::Actor {
                id: Some("u".into()),
                operator: false,
                relation: wit::Relation::Member,
                role: None,
                provider_role: None,
                grant: None,
            },
            org: None,
            resource: "{}".into(),
            now: "2026-12-06T00:00:00Z".into(),
        })
    }

    /// The unchecked call is reached only through a check that passed: a hook of another type
    /// fails its first call and every later one, and is never marked checked.
    #[test]
    fn a_hook_of_another_type_than_the_contract_fails_every_call() {
        let engine = engine();
        let component = Component::new(&engine, wat::parse_str(WRONG_TYPES).unwrap()).unwrap();
        let hooks = HookExports::new(&component).unwrap();
        let (mut store, instance) = instance_of(&engine, &component);
        for call in 0..2 {
            let error = hooks
                .call(&mut store, &instance, &ask(), "{}")
                .expect_err("a u32 hook is not the contract's authorize");
            assert!(
                format!("{error:#}").contains("type"),
                "call {call}: {error:#}"
            );
        }
        assert_eq!(hooks.checked.load(Ordering::Relaxed), 0);
    }

    /// The unchecked path's second guard: an index found in one component finds nothing in an
    /// instance of another, even one compiled from the same bytes and with its hooks marked
    /// checked.
    #[test]
    fn a_hook_index_of_another_component_finds_nothing() {
        let engine = engine();
        let bytes = wat::parse_str(WRONG_TYPES).unwrap();
        let (first, second) = (
            Component::new(&engine, &bytes).unwrap(),
            Component::new(&engine, &bytes).unwrap(),
        );
        let hooks = HookExports::new(&first).unwrap();
        hooks.checked.store(0xF, Ordering::Relaxed);
        let (mut store, instance) = instance_of(&engine, &second);
        let error = hooks
            .call(&mut store, &instance, &ask(), "{}")
            .expect_err("another component's index");
        assert!(
            format!("{error:#}").contains("not a function of this instance"),
            "{error:#}"
        );
    }

    #[test]
    fn a_component_without_the_hooks_interface_is_named() {
        let engine = engine();
        let component = Component::new(&engine, wat::parse_str("(component)").unwrap()).unwrap();
        let error = HookExports::new(&component).err().unwrap();
        assert_eq!(
            error,
            "the component does not export `tenantry:policy/hooks@0.2.0`"
        );
    }
}
