//! Policy diff: where do two versions of a policy answer differently?
//!
//! Preview replays the past; this explores the possible. Inputs are generated from the hook's
//! input contract ([`super::input::schema`]): every leaf of the example input gets a domain
//! from its schema (each enum case, both booleans, `null` where allowed, integers around the
//! limits the input carries and the numbers the policies mention, the strings the policies
//! mention), then
//! 1. breadth first, every single change of one leaf from the example, and every single
//!    change from each input that answered unlike all before it (so a rule behind three
//!    conditions is reached one condition at a time), then
//! 2. seeded random combinations of changes with the cases left,
//!
//! are evaluated by both versions. Each input on which they differ is shrunk (its changes put
//! back one by one while the difference stays), so what is reported is a smallest set of
//! changes from the example that shows the difference; one per (old verdict, new verdict,
//! changed fields).

use std::collections::{BTreeSet, HashSet, VecDeque};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Hook;
use super::budget::CpuBudget;
use super::compiled::CompiledPolicy;
use super::engine::PolicyEngine;
use super::input::{PolicyInput, schema};
use super::verdict::Answer;

/// A path into an input, e.g. `["actor", "role"]`.
type Path = Vec<String>;

/// One leaf of the input and the values tried there.
#[derive(Debug, Clone)]
struct Domain {
    path: Path,
    values: Vec<Value>,
}

/// What a diff tried.
#[derive(Debug, Clone, Copy)]
pub struct DiffOptions {
    /// Inputs evaluated at most (shrinking aside).
    pub cases: usize,
    pub seed: u64,
    /// Differences reported at most.
    pub max_differences: usize,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self {
            cases: 200_000,
            seed: 1,
            max_differences: 20,
        }
    }
}

/// One input on which the versions differ, as changes from the example.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Difference {
    /// `path: value` for each leaf that differs from the example input.
    pub changes: Map<String, Value>,
    pub input: Value,
    pub old: Outcome,
    pub new: Outcome,
}

/// What one version answered (or the error it failed with, which its layer treats as deny).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
pub struct Outcome {
    pub verdict: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
}

impl From<Answer> for Outcome {
    fn from(a: Answer) -> Self {
        Self {
            verdict: a.verdict.name().to_owned(),
            reason: a.reason,
            minutes: a.minutes,
        }
    }
}

impl Outcome {
    fn of(result: Result<Answer, super::rhai_policy::PolicyFault>) -> Self {
        match result {
            Ok(a) => a.into(),
            Err(fault) => Self {
                verdict: "error".into(),
                reason: Some(fault.to_string()),
                minutes: None,
            },
        }
    }

    /// Whether two outcomes decide differently (reasons aside).
    fn differs(&self, other: &Self) -> bool {
        self.verdict != other.verdict || self.minutes != other.minutes
    }
}

/// The report of a diff.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DiffReport {
    pub hook: Hook,
    /// Inputs evaluated by both versions.
    pub evaluated: usize,
    /// False when the CPU budget ran out first.
    pub complete: bool,
    /// The example every difference is told against.
    pub example: Value,
    pub differences: Vec<Difference>,
}

/// Strings and numbers a policy mentions: what its comparisons are likely made against.
#[derive(Debug, Default, Clone)]
pub struct Literals {
    pub strings: BTreeSet<String>,
    pub numbers: BTreeSet<i64>,
}

impl Literals {
    /// From a Rhai source: its string and number literals.
    pub fn of_source(source: &str) -> Self {
        let mut literals = Self::default();
        literals.scan_source(source);
        literals
    }

    /// From a plugin: the short printable strings in its component's data (when at hand)
    /// and its config's literals.
    pub fn of_plugin(component: Option<&[u8]>, config: &str) -> Self {
        let mut literals = Self::default();
        if let Some(bytes) = component {
            literals.scan_component(bytes);
        }
        literals.scan_source(config);
        literals
    }

    fn scan_source(&mut self, source: &str) {
        let mut chars = source.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                let mut text = String::new();
                let mut escaped = false;
                for (_, c) in chars.by_ref() {
                    match (escaped, c) {
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => {
                            escaped = false;
                            text.push(c);
                        }
                    }
                }
                // Values look like identifiers (roles, actions, regions, tags); texts with
                // spaces are reasons and messages, not what inputs are compared against.
                if !text.is_empty() && text.len() <= 64 && !text.contains(char::is_whitespace) {
                    self.strings.insert(text);
                }
            } else if c.is_ascii_digit()
                && !source[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|p| p.is_alphanumeric() || p == '_')
            {
                let digits: String = std::iter::once(c)
                    .chain(std::iter::from_fn(|| {
                        chars.next_if(|(_, d)| d.is_ascii_digit()).map(|(_, d)| d)
                    }))
                    .collect();
                if let Ok(n) = digits.parse::<i64>() {
                    self.numbers.insert(n);
                }
            }
        }
    }

    /// Printable runs in the component: identifiers and short words a compiled plugin keeps
    /// as constants (roles, actions, regions, tags).
    fn scan_component(&mut self, bytes: &[u8]) {
        let mut run = Vec::new();
        for &b in bytes.iter().chain(std::iter::once(&0)) {
            if b.is_ascii_graphic() && !matches!(b, b'"' | b'\\') {
                run.push(b);
                continue;
            }
            if (2..=32).contains(&run.len()) {
                let text = String::from_utf8_lossy(&run).to_string();
                let word = text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-#".contains(c));
                if word && text.chars().any(|c| c.is_ascii_lowercase()) {
                    self.strings.insert(text);
                }
            }
            run.clear();
        }
        // A compiled plugin holds many words; keep the ones most like values.
        if self.strings.len() > 200 {
            let keep: BTreeSet<String> = self
                .strings
                .iter()
                .filter(|s| s.len() <= 24 && !s.contains("::"))
                .take(200)
                .cloned()
                .collect();
            self.strings = keep;
        }
    }

    /// Both policies' literals together.
    pub fn extend(&mut self, other: Literals) {
        self.strings.extend(other.strings);
        self.numbers.extend(other.numbers);
    }
}

/// Resolves `$ref`s against the root schema's `$defs`.
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        Some(name) => resolve(root, &root["$defs"][name]),
        None => node,
    }
}

/// The values a schema node's cases, when it is a closed set.
fn cases(node: &Value) -> Option<Vec<Value>> {
    if let Some(e) = node["enum"].as_array() {
        return Some(e.clone());
    }
    let one_of = node["oneOf"].as_array()?;
    Some(
        one_of
            .iter()
            .flat_map(|c| match c["enum"].as_array() {
                Some(e) => e.clone(),
                None => vec![c["const"].clone()],
            })
            .collect(),
    )
}

/// The domains of every leaf of `example` under `node`.
fn domains(
    root: &Value,
    node: &Value,
    example: &Value,
    path: &mut Path,
    literals: &Literals,
    out: &mut Vec<Domain>,
) {
    let node = resolve(root, node);
    let mut values: Vec<Value> = Vec::new();
    let mut nullable = false;
    let mut inner = node;
    if let Some(any) = node["anyOf"].as_array() {
        nullable = any.iter().any(|a| a["type"] == "null");
        if let Some(other) = any.iter().find(|a| a["type"] != "null") {
            inner = resolve(root, other);
        }
    }
    let types: Vec<&str> = match &inner["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    nullable |= types.contains(&"null");
    if let Some(closed) = cases(inner) {
        values = closed;
    } else if inner["properties"].is_object() && example.is_object() {
        // A record: its leaves, and (when it may be null) null for the whole.
        if let Some(props) = inner["properties"].as_object() {
            for (key, child) in props {
                path.push(key.clone());
                domains(root, child, &example[key], path, literals, out);
                path.pop();
            }
        }
        if nullable {
            out.push(Domain {
                path: path.clone(),
                values: vec![Value::Null],
            });
        }
        return;
    } else if types.contains(&"boolean") {
        values = vec![json!(true), json!(false)];
    } else if types.contains(&"integer") {
        values = integers(example, literals);
    } else if types.contains(&"object") {
        values = free_objects(example, literals);
    } else if types.contains(&"array") {
        values = vec![json!([])];
        values.extend(literals.strings.iter().take(20).map(|s| json!([s])));
    } else if types.contains(&"string") {
        values = strings(inner, example, literals);
    }
    if nullable {
        values.push(Value::Null);
    }
    values.retain(|v| v != example);
    if !values.is_empty() {
        out.push(Domain {
            path: path.clone(),
            values,
        });
    }
}

fn integers(example: &Value, literals: &Literals) -> Vec<Value> {
    let mut set: BTreeSet<i64> = [0, 1, 2, 5, 10, 30, 60, 480, 10_080].into();
    if let Some(n) = example.as_i64() {
        set.extend([n - 1, n + 1]);
    }
    for n in &literals.numbers {
        set.extend([n - 1, *n, n + 1]);
    }
    set.into_iter()
        .filter(|n| (0..=u32::MAX as i64).contains(n))
        .map(|n| json!(n))
        .collect()
}

fn strings(node: &Value, example: &Value, literals: &Literals) -> Vec<Value> {
    if node["format"] == "date-time" {
        // Weekday business hours (the example), night, a weekend, summer time.
        return [
            "2026-11-23T03:00:00Z",
            "2026-11-28T10:00:00Z",
            "2026-07-06T07:30:00Z",
            "2026-11-23T17:30:00Z",
        ]
        .iter()
        .map(|t| json!(t))
        .collect();
    }
    let mut values: Vec<Value> = literals
        .strings
        .iter()
        .take(MAX_STRINGS)
        .map(|s| json!(s))
        .collect();
    if example.as_str().is_some_and(|s| !s.is_empty()) {
        values.push(json!(""));
    }
    values
}

/// `resource` of `authorize`: free JSON; the shapes the actions use, with the literals.
fn free_objects(example: &Value, literals: &Literals) -> Vec<Value> {
    let mut values = vec![json!({})];
    let keys = ["role", "name", "portal_access", "scope", "minutes", "kind"];
    for key in keys {
        if let Some(v) = example.get(key) {
            values.push(json!({ key: v }));
        }
    }
    for role in ["owner", "admin", "member"] {
        values.push(json!({"role": role, "portal_access": true}));
    }
    values.push(json!({"role": "member", "portal_access": false}));
    for s in literals.strings.iter().take(20) {
        values.push(json!({"name": s}));
    }
    values
}

fn set_at(value: &mut Value, path: &[String], leaf: Value) {
    match path.split_first() {
        None => *value = leaf,
        Some((head, rest)) => {
            if !value.is_object() {
                *value = json!({});
            }
            set_at(&mut value[head.as_str()], rest, leaf);
        }
    }
}

/// `example` with `changes` applied.
fn build(example: &Value, changes: &[(Path, Value)]) -> Value {
    let mut input = example.clone();
    for (path, value) in changes {
        set_at(&mut input, path, value.clone());
    }
    input
}

fn get_at<'a>(value: &'a Value, path: &[String]) -> &'a Value {
    path.iter().fold(value, |v, key| &v[key.as_str()])
}

/// A string leaf's values at most (a policy's identifier-like literals).
const MAX_STRINGS: usize = 300;

/// Inputs kept as bases for further changes, at most.
const MAX_CORPUS: usize = 2_000;

/// A tiny deterministic generator (SplitMix64): the same seed explores the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

/// Compares `old` and `new` as `hook`'s policy on generated inputs (module docs), within
/// `budget`.
pub fn diff(
    engine: &PolicyEngine,
    hook: Hook,
    old: &CompiledPolicy,
    new: &CompiledPolicy,
    literals: Literals,
    options: DiffOptions,
    budget: &CpuBudget,
) -> DiffReport {
    let run = |policy: &CompiledPolicy, input: &Value| Outcome::of(engine.evaluate(policy, input));
    diff_by(
        hook,
        &|input| run(old, input),
        &|input| run(new, input),
        literals,
        options,
        budget,
    )
}

/// [`diff`] of any two deciders: two policies, or a tenant's whole decision (every layer)
/// with and without a candidate in its layer.
pub fn diff_by(
    hook: Hook,
    old: &dyn Fn(&Value) -> Outcome,
    new: &dyn Fn(&Value) -> Outcome,
    literals: Literals,
    options: DiffOptions,
    budget: &CpuBudget,
) -> DiffReport {
    let example = PolicyInput::example(hook).to_value();
    let root = schema(hook);
    let mut all = Vec::new();
    domains(&root, &root, &example, &mut Vec::new(), &literals, &mut all);
    let mut report = DiffReport {
        hook,
        evaluated: 0,
        complete: true,
        example: example.clone(),
        differences: Vec::new(),
    };
    let mut seen: HashSet<(String, String, Vec<String>)> = HashSet::new();
    let answers = |input: &Value| (old(input), new(input));
    // Evaluates one input, reports it (shrunk) when the versions differ; its answers, or
    // `None` once the budget is spent.
    let mut record =
        |changes: Vec<(Path, Value)>, report: &mut DiffReport| -> Option<(Outcome, Outcome)> {
            if budget.exceeded() {
                report.complete = false;
                return None;
            }
            let input = build(&example, &changes);
            report.evaluated += 1;
            let answered = answers(&input);
            if !answered.0.differs(&answered.1) {
                return Some(answered);
            }
            // Shrink: put changes back while the difference stays.
            let mut kept = changes;
            let mut i = 0;
            while i < kept.len() && kept.len() > 1 && !budget.exceeded() {
                let mut fewer = kept.clone();
                fewer.remove(i);
                report.evaluated += 1;
                let (x, y) = answers(&build(&example, &fewer));
                if x.differs(&y) {
                    kept = fewer;
                } else {
                    i += 1;
                }
            }
            let input = build(&example, &kept);
            let (old, new) = answers(&input);
            let paths: Vec<String> = kept.iter().map(|(p, _)| p.join(".")).collect();
            if old.differs(&new)
                && report.differences.len() < options.max_differences
                && seen.insert((old.verdict.clone(), new.verdict.clone(), paths))
            {
                report.differences.push(Difference {
                    changes: kept
                        .iter()
                        .map(|(p, _)| {
                            let key = if p.is_empty() {
                                ".".to_owned()
                            } else {
                                p.join(".")
                            };
                            (key, get_at(&input, p).clone())
                        })
                        .collect(),
                    input,
                    old,
                    new,
                });
            }
            Some(answered)
        };
    // Breadth first from the example: every single change of every input that answered
    // differently from all before it (a new (old, new) outcome, reasons included). A rule
    // reached only through several conditions is found one condition at a time: the input
    // that passes the first joins the corpus, and its single changes try the next.
    let mut corpus: VecDeque<Vec<(Path, Value)>> = VecDeque::from([Vec::new()]);
    let mut signatures: HashSet<(Outcome, Outcome)> = HashSet::new();
    let mut kept = 1;
    let mut left = options.cases;
    while let Some(base) = corpus.pop_front() {
        let singles = all.iter().filter(|d| {
            !base
                .iter()
                .any(|(p, _)| p.starts_with(&d.path) || d.path.starts_with(p))
        });
        let candidates = std::iter::once(base.clone())
            .filter(|b| b.is_empty())
            .chain(singles.flat_map(|d| {
                d.values.iter().map(|v| {
                    let mut changes = base.clone();
                    changes.push((d.path.clone(), v.clone()));
                    changes.sort_by(|a, b| a.0.cmp(&b.0));
                    changes
                })
            }));
        for changes in candidates {
            if left == 0 {
                return report;
            }
            left -= 1;
            let Some(signature) = record(changes.clone(), &mut report) else {
                return report;
            };
            if signatures.insert(signature) && !changes.is_empty() && kept < MAX_CORPUS {
                kept += 1;
                corpus.push_back(changes);
            }
        }
    }
    // Every input with a new outcome was expanded: random combinations with what is left.
    let mut rng = Rng(options.seed);
    if all.is_empty() {
        return report;
    }
    for _ in 0..left {
        let mut changes = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let domain = &all[rng.below(all.len())];
            let value = domain.values[rng.below(domain.values.len())].clone();
            // A whole record set to null hides its leaves: one change per branch.
            changes.retain(|(p, _): &(Path, Value)| {
                !(p.starts_with(&domain.path) || domain.path.starts_with(p))
            });
            changes.push((domain.path.clone(), value));
        }
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        if record(changes, &mut report).is_none() {
            return report;
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::rhai_policy::RhaiLimits;
    use crate::policy::wasm::WasmLimits;

    fn rhai(engine: &PolicyEngine, source: &str) -> CompiledPolicy {
        engine
            .runtime()
            .compile(Hook::Link, "test", source)
            .unwrap()
    }

    #[test]
    fn a_tightened_limit_shows_as_the_one_change_that_crosses_it() {
        let engine = PolicyEngine::new(RhaiLimits::default(), WasmLimits::default());
        let old_source = "fn link(input) { if input.from_active_links >= 10 { return deny(\"full\"); } allow(\"ok\") }";
        let new_source = "fn link(input) { if input.from_active_links >= 5 { return deny(\"full\"); } allow(\"ok\") }";
        let (old, new) = (rhai(&engine, old_source), rhai(&engine, new_source));
        let mut literals = Literals::of_source(old_source);
        literals.extend(Literals::of_source(new_source));
        let report = diff(
            &engine,
            Hook::Link,
            &old,
            &new,
            literals,
            DiffOptions {
                cases: 5_000,
                ..DiffOptions::default()
            },
            &CpuBudget::start(Duration::from_secs(10)),
        );
        assert!(report.complete);
        assert!(!report.differences.is_empty());
        for d in &report.differences {
            assert_eq!(d.changes.len(), 1, "shrunk to one change: {:?}", d.changes);
            let n = d.changes["from_active_links"].as_u64().unwrap();
            assert!((5..10).contains(&n), "{n}");
            assert_eq!(
                (d.old.verdict.as_str(), d.new.verdict.as_str()),
                ("allow", "deny")
            );
        }
    }

    #[test]
    fn a_rule_behind_three_conditions_is_found_one_condition_at_a_time() {
        let engine = PolicyEngine::new(RhaiLimits::default(), WasmLimits::default());
        let old_source = r#"fn authorize(input) {
            if input.actor.role == () && input.actor.provider_role == () { return deny("not a member"); }
            if input.actor.role == () {
                if input.action == "org.delete" { return allow("providers delete"); }
                return deny("providers only delete");
            }
            allow("members do")
        }"#;
        let new_source = r#"fn authorize(input) {
            if input.actor.role == () && input.actor.provider_role == () { return deny("not a member"); }
            if input.actor.role == () { return deny("providers only delete"); }
            allow("members do")
        }"#;
        let compile = |source| {
            engine
                .runtime()
                .compile(Hook::Authorize, "t", source)
                .unwrap()
        };
        let mut literals = Literals::of_source(old_source);
        literals.extend(Literals::of_source(new_source));
        let report = diff(
            &engine,
            Hook::Authorize,
            &compile(old_source),
            &compile(new_source),
            literals,
            DiffOptions {
                cases: 5_000,
                ..DiffOptions::default()
            },
            &CpuBudget::start(Duration::from_secs(10)),
        );
        let found = report
            .differences
            .iter()
            .find(|d| d.changes.get("action") == Some(&json!("org.delete")))
            .unwrap_or_else(|| panic!("{:#?}", report.differences));
        assert_eq!(found.changes["actor.role"], Value::Null, "{found:?}");
        assert!(
            found.changes["actor.provider_role"].is_string(),
            "{found:?}"
        );
        assert_eq!(found.changes.len(), 3, "{found:?}");
        assert_eq!(
            (found.old.verdict.as_str(), found.new.verdict.as_str()),
            ("allow", "deny")
        );
    }

    #[test]
    fn the_same_policy_twice_differs_nowhere() {
        let engine = PolicyEngine::new(RhaiLimits::default(), WasmLimits::default());
        let source = "fn link(input) { if input.from.region != input.to.region { return deny(\"x\"); } allow(\"y\") }";
        let report = diff(
            &engine,
            Hook::Link,
            &rhai(&engine, source),
            &rhai(&engine, source),
            Literals::default(),
            DiffOptions {
                cases: 5_000,
                ..DiffOptions::default()
            },
            &CpuBudget::start(Duration::from_secs(10)),
        );
        assert!(report.differences.is_empty());
        assert!(report.evaluated > 1_000, "{}", report.evaluated);
    }
}
