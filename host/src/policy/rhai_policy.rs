//! Rhai policies: one shared, locked-down engine; one compiled AST per policy version.
//!
//! The engine has no module resolver (`no_module`), no `eval`, no stdout (`print`/`debug` and
//! the `log` helper go to tracing, capped), and hard limits on operations, call depth,
//! expression depth, data sizes and variables, plus a wall-clock budget enforced through the
//! progress callback. Any error or limit at evaluation is reported with a stable kind, and the
//! caller turns it into a deny for that layer.

use std::cell::{Cell, RefCell};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Scope};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::compiled::{Code, CompiledPolicy};
use super::hook::Hook;
use super::layer_input::LayerInput;
use super::verdict::{Answer, Verdict};

/// Sandbox limits for every Rhai evaluation. Published in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RhaiLimits {
    /// Operations (Rhai's unit of work) per evaluation.
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Nesting of expressions, at compile time and at run time.
    pub max_expr_depth: usize,
    /// Bytes of one string.
    pub max_string_size: usize,
    /// Items of one array.
    pub max_array_size: usize,
    /// Entries of one object map.
    pub max_map_size: usize,
    /// Variables in scope at once.
    pub max_variables: usize,
    /// Wall-clock budget per evaluation.
    pub wall_clock_ms: u64,
}

impl Default for RhaiLimits {
    fn default() -> Self {
        Self {
            max_operations: 200_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_string_size: 64 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_variables: 256,
            wall_clock_ms: 50,
        }
    }
}

const LOG_CAP: usize = 1024;

/// How many Rhai operations run between two looks at the wall clock.
const CLOCK_EVERY: u64 = 128;

thread_local! {
    /// When the evaluation running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The scope every evaluation on this thread runs in, empty between evaluations: a call
    /// pushes its argument and locals and rewinds them on return, so reusing it saves only its
    /// allocations, never carries a value from one call (one tenant's) to the next.
    static SCOPE: RefCell<Scope<'static>> = RefCell::new(Scope::new());
}

/// Why a policy failed. `kind` is stable and machine-readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyFault {
    pub kind: &'static str,
    pub message: String,
}

impl std::fmt::Display for PolicyFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

pub struct RhaiRuntime {
    engine: Engine,
    wall_clock: Duration,
}

/// A verdict as the map scripts return. The verdict's name is shared, not allocated per call,
/// and so is the reason the script passed.
fn verdict_map(verdict: Verdict, reason: Option<ImmutableString>, minutes: Option<i64>) -> Map {
    static NAMES: LazyLock<[ImmutableString; Verdict::ALL.len()]> =
        LazyLock::new(|| Verdict::ALL.map(|v| v.name().into()));
    let mut map = Map::new();
    map.insert("verdict".into(), NAMES[verdict as usize].clone().into());
    if let Some(reason) = reason {
        map.insert("reason".into(), reason.into());
    }
    if let Some(minutes) = minutes {
        map.insert("minutes".into(), minutes.into());
    }
    map
}

fn capped(text: &str) -> &str {
    match text.char_indices().nth(LOG_CAP) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

impl RhaiRuntime {
    /// The wall-clock budget of one evaluation.
    pub fn wall_clock(&self) -> Duration {
        self.wall_clock
    }

    pub fn new(limits: RhaiLimits) -> Self {
        let mut engine = Engine::new();
        engine
            .set_max_operations(limits.max_operations)
            .set_max_call_levels(limits.max_call_levels)
            .set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth)
            .set_max_string_size(limits.max_string_size)
            .set_max_array_size(limits.max_array_size)
            .set_max_map_size(limits.max_map_size)
            .set_max_variables(limits.max_variables);
        engine.disable_symbol("eval");
        engine.on_print(|text| tracing::info!(target: "policy", "{}", capped(text)));
        engine.on_debug(|text, _, _| tracing::debug!(target: "policy", "{}", capped(text)));
        engine.on_progress(|operations| {
            // Reading the clock on every operation would cost more than most policies; every
            // CLOCK_EVERY operations bounds the overrun to microseconds.
            if operations % CLOCK_EVERY != 0 {
                return None;
            }
            let late = DEADLINE
                .with(Cell::get)
                .is_some_and(|deadline| Instant::now() >= deadline);
            late.then(|| Dynamic::from("wall-clock budget exceeded"))
        });
        engine.register_fn(
            "log",
            |text: &str| tracing::info!(target: "policy", "{}", capped(text)),
        );
        engine.register_fn("allow", |reason: ImmutableString| {
            verdict_map(Verdict::Allow, Some(reason), None)
        });
        engine.register_fn("allow", || verdict_map(Verdict::Allow, None, None));
        engine.register_fn("deny", |reason: ImmutableString| {
            verdict_map(Verdict::Deny, Some(reason), None)
        });
        engine.register_fn("abstain", || verdict_map(Verdict::Abstain, None, None));
        engine.register_fn("grant", |minutes: i64| {
            verdict_map(Verdict::Grant, None, Some(minutes))
        });
        engine.register_fn("grant", |minutes: i64, reason: ImmutableString| {
            verdict_map(Verdict::Grant, Some(reason), Some(minutes))
        });
        engine.register_fn("require_approval", |reason: ImmutableString| {
            verdict_map(Verdict::RequireApproval, Some(reason), None)
        });
        Self {
            engine,
            wall_clock: Duration::from_millis(limits.wall_clock_ms),
        }
    }

    /// Compiles `source` and checks that it defines the hook's function with one parameter.
    pub fn compile(&self, hook: Hook, name: &str, source: &str) -> Result<CompiledPolicy, String> {
        let ast = self.engine.compile(source).map_err(|e| {
            let pos = e.position();
            match (pos.line(), pos.position()) {
                (Some(line), Some(col)) => format!("{name}:{line}:{col}: {}", e.err_type()),
                (Some(line), None) => format!("{name}:{line}: {}", e.err_type()),
                _ => format!("{name}: {}", e.err_type()),
            }
        })?;
        let defines = ast
            .iter_functions()
            .any(|f| f.name == hook.name() && f.params.len() == 1);
        if !defines {
            return Err(format!(
                "{name}: defines no function `{}(input)`",
                hook.name()
            ));
        }
        let sha256 = hex::encode(Sha256::digest(source.as_bytes()));
        Ok(CompiledPolicy::new(
            hook,
            name.to_owned(),
            sha256,
            Code::Rhai(ast),
        ))
    }

    /// Evaluates one Rhai policy on one input.
    pub fn evaluate(
        &self,
        policy: &CompiledPolicy,
        input: &serde_json::Value,
    ) -> Result<Answer, PolicyFault> {
        self.evaluate_shared(policy, &mut LayerInput::new(input, 1))
    }

    /// Evaluates one of a decision's Rhai layers, on its own copy of the decision's input.
    pub fn evaluate_shared(
        &self,
        policy: &CompiledPolicy,
        input: &mut LayerInput<'_>,
    ) -> Result<Answer, PolicyFault> {
        match &policy.code {
            Code::Rhai(ast) => self.evaluate_ast(policy.hook, ast, input.take_for_rhai()),
            Code::Wasm { .. } => Err(PolicyFault {
                kind: "invalid_input",
                message: "not a Rhai policy".into(),
            }),
        }
    }

    fn evaluate_ast(&self, hook: Hook, ast: &AST, input: Dynamic) -> Result<Answer, PolicyFault> {
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        let call = |scope: &mut Scope| {
            scope.clear();
            DEADLINE.with(|d| d.set(Some(Instant::now() + self.wall_clock)));
            let result = self.engine.call_fn_with_options::<Dynamic>(
                options,
                scope,
                ast,
                hook.name(),
                (input,),
            );
            DEADLINE.with(|d| d.set(None));
            scope.clear();
            result
        };
        let result = SCOPE.with(|kept| match kept.try_borrow_mut() {
            Ok(mut scope) => call(&mut scope),
            // Only a call inside a call (none today) finds it taken.
            Err(_) => call(&mut Scope::new()),
        });
        let value = result.map_err(|e| fault(&e))?;
        answer_from(hook, value)
    }
}

/// The JSON input as Rhai values, directly (serde's generic path costs a few µs more per
/// decision). Integers stay integers; numbers beyond `i64` become floats.
pub(super) fn dynamic_of(value: &serde_json::Value) -> Dynamic {
    use serde_json::Value;
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(rhai::ImmutableString::from(s.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(dynamic_of).collect()),
        Value::Object(fields) => {
            // Inserting in the (already sorted) key order beats collecting, which sorts and
            // dedups through a temporary vector.
            let mut map = Map::new();
            for (key, value) in fields {
                map.insert(key.as_str().into(), dynamic_of(value));
            }
            Dynamic::from_map(map)
        }
    }
}

fn fault(error: &EvalAltResult) -> PolicyFault {
    let (kind, message) = match error {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => return fault(inner),
        EvalAltResult::ErrorTooManyOperations(_) => {
            ("operation_limit", "too many operations".to_owned())
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            ("call_depth", "call depth limit reached".to_owned())
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            ("size_limit", format!("{what} over the size limit"))
        }
        EvalAltResult::ErrorTooManyVariables(_) => {
            ("variable_limit", "too many variables".to_owned())
        }
        EvalAltResult::ErrorTerminated(_, _) => {
            ("deadline", "wall-clock budget exceeded".to_owned())
        }
        other => ("runtime_error", other.to_string()),
    };
    PolicyFault { kind, message }
}

fn answer_from(hook: Hook, value: Dynamic) -> Result<Answer, PolicyFault> {
    let invalid = |message: String| PolicyFault {
        kind: "invalid_verdict",
        message,
    };
    let Some(map) = value.try_cast::<Map>() else {
        return Err(invalid("the hook returned a non-verdict; use allow(), deny(), abstain(), grant() or require_approval()".into()));
    };
    let verdict = map
        .get("verdict")
        .and_then(|v| v.clone().into_immutable_string().ok())
        .and_then(|name| Verdict::parse(&name))
        .ok_or_else(|| invalid("the returned map has no valid `verdict`".into()))?;
    if !verdict.valid_for(hook) {
        return Err(invalid(format!(
            "`{}` is not a verdict of hook `{}`",
            verdict.name(),
            hook.name()
        )));
    }
    let reason = map
        .get("reason")
        .and_then(|r| r.clone().into_immutable_string().ok())
        .map(|s| capped(&s).to_owned());
    let minutes = match map.get("minutes").map(|m| m.as_int()) {
        None => None,
        Some(Ok(m)) if (1..=i64::from(u32::MAX)).contains(&m) => u32::try_from(m).ok(),
        Some(_) => return Err(invalid("`minutes` must be a positive integer".into())),
    };
    if verdict == Verdict::Grant && minutes.is_none() {
        return Err(invalid("`grant` needs the minutes granted".into()));
    }
    Ok(Answer {
        verdict,
        reason,
        minutes,
    })
}

#[cfg(test)]
mod tests {
    mod decoding {
        use proptest::prelude::*;

        use super::super::*;
        use crate::test_support::any_json;

        proptest! {
            /// Whatever a script returns (any value an input could carry, passed through the
            /// conversion scripts see), the host keeps only a valid verdict for its hook.
            #[test]
            fn any_returned_value_is_a_valid_verdict_or_invalid(value in any_json(), hook in 0..4usize) {
                let hook = [Hook::Authorize, Hook::Link, Hook::Share, Hook::RemoteSupport][hook];
                match answer_from(hook, dynamic_of(&value)) {
                    Ok(a) => {
                        prop_assert!(a.verdict.valid_for(hook));
                        prop_assert!(a.minutes.is_none_or(|m| m >= 1));
                        prop_assert!(a.verdict != Verdict::Grant || a.minutes.is_some());
                    }
                    Err(fault) => prop_assert_eq!(fault.kind, "invalid_verdict"),
                }
            }
        }
    }

    use serde_json::json;

    use super::*;

    /// Default limits, but a wall clock generous enough that a busy test machine never turns
    /// another limit into a deadline.
    fn run(source: &str) -> Result<Answer, PolicyFault> {
        run_with(
            RhaiLimits {
                wall_clock_ms: 5_000,
                ..RhaiLimits::default()
            },
            source,
        )
    }

    fn run_with(limits: RhaiLimits, source: &str) -> Result<Answer, PolicyFault> {
        let rt = RhaiRuntime::new(limits);
        let policy = rt
            .compile(Hook::Authorize, "t.rhai", source)
            .map_err(|m| PolicyFault {
                kind: "compile",
                message: m,
            })?;
        rt.evaluate(&policy, &json!({"action": "org.read", "n": 3}))
    }

    fn kind(source: &str) -> &'static str {
        run(source).unwrap_err().kind
    }

    #[test]
    fn nothing_left_in_the_threads_scope_reaches_the_next_call() {
        // What a call cut short by a panic (which skips Rhai's own rewind) would leave behind.
        SCOPE.with(|scope| {
            scope.borrow_mut().push("leftover", "tenant a's input");
        });
        let next = r#"fn authorize(input) {
            if is_def_var("leftover") { deny("saw another call's value") } else { allow("fresh") }
        }"#;
        assert_eq!(run(next).unwrap().reason.as_deref(), Some("fresh"));
        SCOPE.with(|scope| assert!(scope.borrow().is_empty()));
        let failing = r#"fn authorize(input) { let secret = "tenant a"; throw secret; }"#;
        assert_eq!(kind(failing), "runtime_error");
        SCOPE.with(|scope| assert!(scope.borrow().is_empty()));
    }

    #[test]
    fn verdict_helpers() {
        let a = run(
            r#"fn authorize(input) { if input.n == 3 { allow("three") } else { deny("no") } }"#,
        )
        .unwrap();
        assert_eq!(a.verdict, Verdict::Allow);
        assert_eq!(a.reason.as_deref(), Some("three"));
        assert_eq!(
            run("fn authorize(input) { abstain() }").unwrap().verdict,
            Verdict::Abstain
        );
    }

    #[test]
    fn a_layer_that_changes_its_input_does_not_change_the_next_layers() {
        let rt = RhaiRuntime::new(RhaiLimits::default());
        let compile = |source| rt.compile(Hook::Authorize, "t.rhai", source).unwrap();
        let meddler = compile(
            r#"fn authorize(input) { input.n = 99; input.actor.role = "owner"; abstain() }"#,
        );
        let reader = compile(
            r#"fn authorize(input) {
                if input.n == 3 && input.actor.role == "member" { allow("as sent") } else { deny("changed") }
            }"#,
        );
        let input = json!({"n": 3, "actor": {"role": "member"}});
        // A trial's input converted afresh, and a live decision's whose `actor` the per-thread
        // table keeps: the meddler's change reaches neither the next layer nor the next decision.
        for _decision in 0..2 {
            for mut argument in [
                LayerInput::new(&input, 3),
                LayerInput::live(&input, None, 3),
            ] {
                assert_eq!(
                    rt.evaluate_shared(&meddler, &mut argument).unwrap().verdict,
                    Verdict::Abstain
                );
                for _ in 0..2 {
                    // The second reader is the last taker: it gets the converted value itself.
                    let answer = rt.evaluate_shared(&reader, &mut argument).unwrap();
                    assert_eq!(answer.reason.as_deref(), Some("as sent"));
                }
            }
        }
    }

    #[test]
    fn inputs_keep_their_json_types() {
        let rt = RhaiRuntime::new(RhaiLimits::default());
        let policy = rt
            .compile(
                Hook::Authorize,
                "t.rhai",
                r#"fn authorize(input) {
                    let ok = input.list[1].x == 2.5 && input.list[0] == 1 && input.none == ()
                        && input.yes == true && input.big > 1.0e19 && input.text == "é";
                    if ok { allow("typed") } else { deny("mistyped") }
                }"#,
            )
            .unwrap();
        let input = json!({"list": [1, {"x": 2.5}], "none": null, "yes": true,
                           "big": u64::MAX, "text": "é"});
        assert_eq!(
            rt.evaluate(&policy, &input).unwrap().verdict,
            Verdict::Allow
        );
    }

    #[test]
    fn sandbox_edges_have_named_errors() {
        assert_eq!(kind("fn authorize(input) { loop {} }"), "operation_limit");
        assert_eq!(
            kind("fn f(n) { f(n + 1) } fn authorize(input) { f(0) }"),
            "call_depth"
        );
        assert_eq!(
            kind(r#"fn authorize(input) { let s = "x"; loop { s += s; } }"#),
            "size_limit"
        );
        assert_eq!(
            kind("fn authorize(input) { let a = []; loop { a.push(1); } }"),
            "size_limit"
        );
        assert_eq!(kind("fn authorize(input) { 42 }"), "invalid_verdict");
        assert_eq!(kind("fn authorize(input) { grant(10) }"), "invalid_verdict");
        assert_eq!(
            kind(r#"fn authorize(input) { eval("allow()") }"#),
            "compile"
        );
        assert_eq!(
            kind(r#"import "x" as y; fn authorize(input) { allow() }"#),
            "compile"
        );
        assert_eq!(
            kind("fn authorize(input) { input.missing.x }"),
            "runtime_error"
        );
        assert_eq!(kind("fn other(input) { allow() }"), "compile");
    }

    #[test]
    fn maps_and_variables_are_bounded() {
        let small = RhaiLimits {
            max_map_size: 100,
            wall_clock_ms: 5_000,
            ..RhaiLimits::default()
        };
        // Rhai checks map sizes when maps merge; growth by index assignment alone is bounded
        // by the operation limit instead.
        let map = "fn authorize(input) { let m = #{}; let i = 0; loop { let n = #{}; n[`k${i}`] = i; m += n; i += 1; } }";
        assert_eq!(run_with(small, map).unwrap_err().kind, "size_limit");
        let lets: String = (0..300).map(|i| format!("let v{i} = {i}; ")).collect();
        let many = format!("fn authorize(input) {{ {lets} allow() }}");
        assert_eq!(run(&many).unwrap_err().kind, "variable_limit");
    }

    #[test]
    fn wall_clock_budget_stops_slow_scripts() {
        let rt = RhaiRuntime::new(RhaiLimits {
            max_operations: 0,
            wall_clock_ms: 20,
            ..RhaiLimits::default()
        });
        let policy = rt
            .compile(Hook::Authorize, "t.rhai", "fn authorize(input) { loop {} }")
            .unwrap();
        assert_eq!(
            rt.evaluate(&policy, &json!({})).unwrap_err().kind,
            "deadline"
        );
    }

    #[test]
    fn compile_errors_name_file_and_line() {
        let rt = RhaiRuntime::new(RhaiLimits::default());
        let err = rt
            .compile(
                Hook::Authorize,
                "authorize.rhai",
                "fn authorize(input) {\n  allow(\n}",
            )
            .err()
            .unwrap();
        assert!(err.starts_with("authorize.rhai:3"), "{err}");
    }
}
