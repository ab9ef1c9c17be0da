//! `tenantry plugin new NAME [--lang rust|js]`: a plugin crate (or npm package) that builds,
//! passes its own tests and checks without edits, and needs nothing from a tenantry checkout:
//! the SDK this binary was built with is written beside it (`NAME/sdk/`), with the contract's
//! WIT. Both plugins do the same (members may not create teams the config forbids), so one
//! `upload.json` with the same fixtures serves either.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

use super::output::OK;

/// The SDK's files, as this binary was built with them.
const SDK_FILES: &[(&str, &str)] = &[
    ("sdk/src/lib.rs", include_str!("../../../sdk/src/lib.rs")),
    ("sdk/src/log.rs", include_str!("../../../sdk/src/log.rs")),
    (
        "sdk/src/examples.rs",
        include_str!("../../../sdk/src/examples.rs"),
    ),
    (
        "sdk/wit/policy.wit",
        include_str!("../../../sdk/wit/policy.wit"),
    ),
];

/// The JavaScript SDK's files (`sdk/js`), as this binary was built with them; its tests stay
/// behind.
const JS_SDK_FILES: &[(&str, &str)] = &[
    (
        "sdk/package.json",
        include_str!("../../../sdk/js/package.json"),
    ),
    ("sdk/index.js", include_str!("../../../sdk/js/index.js")),
    ("sdk/index.d.ts", include_str!("../../../sdk/js/index.d.ts")),
    ("sdk/build.js", include_str!("../../../sdk/js/build.js")),
    ("sdk/testing.js", include_str!("../../../sdk/js/testing.js")),
    (
        "sdk/register.js",
        include_str!("../../../sdk/js/register.js"),
    ),
    ("sdk/loader.js", include_str!("../../../sdk/js/loader.js")),
    (
        "sdk/log-native.js",
        include_str!("../../../sdk/js/log-native.js"),
    ),
    (
        "sdk/scripts/prepare.js",
        include_str!("../../../sdk/js/scripts/prepare.js"),
    ),
    (
        "sdk/wit/policy.wit",
        include_str!("../../../sdk/wit/policy.wit"),
    ),
];

const SDK_MANIFEST: &str = r#"[package]
name = "tenantry-sdk"
description = "Guest-side SDK for tenantry policy plugins (written by `tenantry plugin new`)"
version = "0.2.0"
edition = "2024"
license = "Apache-2.0"
publish = false

[dependencies]
serde = { version = "1", features = ["derive"] }
serde_json = "1"
wit-bindgen = { version = "0.61", default-features = false, features = ["macros", "realloc"] }
"#;

/// How a plugin is linked: the example plugins' own settings (a 64 KiB stack, which makes
/// every call cheaper to reset).
const BUILD_CONFIG: &str = include_str!("../../../plugins/.cargo/config.toml");

fn manifest(crate_name: &str) -> String {
    format!(
        r#"[package]
name = "{crate_name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"
tenantry-sdk = {{ path = "sdk" }}

# Its own workspace: built on its own, wherever it lives.
[workspace]
members = ["."]

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
"#
    )
}

const LIB: &str = r##"//! An `authorize` policy plugin: members may not create teams whose name the config forbids;
//! everything else is left to the other layers.
//!
//! Config: `{"forbidden": ["lobby", "all-hands"]}` (names compared without case).

use serde::Deserialize;
use tenantry_sdk::{AuthorizeInput, Hook, Policy, Verdict, abstain, deny, log};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    forbidden: Vec<String>,
}

/// The part of `team.create`'s resource this plugin reads.
#[derive(Deserialize)]
struct Team {
    name: String,
}

pub struct Plugin;

impl Policy for Plugin {
    type Config = Config;
    const HOOKS: &'static [Hook] = &[Hook::Authorize];

    fn authorize(input: &AuthorizeInput, config: &Config) -> Verdict {
        if input.action != "team.create" {
            return abstain();
        }
        let Ok(team) = serde_json::from_str::<Team>(&input.resource) else {
            return abstain();
        };
        if config.forbidden.iter().any(|f| f.eq_ignore_ascii_case(&team.name)) {
            log::info(format!("`{}` is on the forbidden list", team.name));
            return deny(format!("teams may not be named `{}`", team.name));
        }
        abstain()
    }
}

tenantry_sdk::plugin!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    fn create_team(name: &str) -> AuthorizeInput {
        AuthorizeInput {
            resource: format!(r#"{{"name":"{name}"}}"#),
            ..AuthorizeInput::example("team.create")
        }
    }

    fn config() -> Config {
        tenantry_sdk::parse_config(r#"{"forbidden": ["Lobby"]}"#).unwrap()
    }

    #[test]
    fn a_forbidden_name_is_denied_and_logged() {
        assert_eq!(
            Plugin::authorize(&create_team("lobby"), &config()),
            deny("teams may not be named `lobby`")
        );
        assert_eq!(log::take(), ["info: `lobby` is on the forbidden list"]);
    }

    #[test]
    fn other_names_and_actions_are_left_to_the_other_layers() {
        assert_eq!(Plugin::authorize(&create_team("Support"), &config()), abstain());
        assert_eq!(
            Plugin::authorize(&AuthorizeInput::example("org.read"), &config()),
            abstain()
        );
    }

    #[test]
    fn an_unknown_config_field_is_refused_when_bound() {
        assert!(tenantry_sdk::parse_config::<Config>(r#"{"forbiden": []}"#).is_err());
    }
}
"##;

fn readme(name: &str, file: &str) -> String {
    format!(
        r#"# {name}

A tenantry policy plugin (`tenantry plugin new`). `sdk/` is the tenantry-sdk it builds with.

```sh
cargo test                                             # natively: no wasm needed
rustup target add wasm32-unknown-unknown               # once
cargo build --release --target wasm32-unknown-unknown
tenantry plugin componentize target/wasm32-unknown-unknown/release/{file}.wasm {name}.wasm
tenantry plugin check {name}.wasm                      # name, contract, hooks, memory, limits
tenantry policy test upload.json --hook authorize      # the fixtures in upload.json
tenantry plugin run {name}.wasm --hook authorize --input input.json --config '{{"forbidden": ["lobby"]}}'
tenantry policy schema authorize --example > input.json   # an input to start from
tenantry plugin upload {name}.wasm --org ORG            # then bind it: see `tenantry plugin bind --help`
```

Build from this directory: `.cargo/config.toml` links a 64 KiB stack instead of Rust's 1 MiB,
and the host scans a plugin's whole memory after every call.
"#
    )
}

/// The upload file: the component, its config, and fixtures whose inputs fit the contract.
fn upload(name: &str) -> anyhow::Result<String> {
    use crate::policy::input::AuthorizeInput;
    let create = |team: &str| {
        serde_json::to_value(AuthorizeInput::example(
            "team.create",
            serde_json::json!({"name": team}),
        ))
    };
    let body = serde_json::json!({
        "plugin": format!("{name}.wasm"),
        "config": {"forbidden": ["lobby"]},
        "fixtures": [
            {"name": "the lobby is forbidden", "input": create("Lobby")?, "expect": "deny",
             "reason_contains": "may not be named"},
            {"name": "support is left to the other layers", "input": create("Support")?,
             "expect": "abstain"},
        ],
    });
    Ok(serde_json::to_string_pretty(&body)? + "\n")
}

/// A Rust plugin crate's files.
fn rust_files(name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let file = name.replace('-', "_");
    let mut files: Vec<(String, String)> = vec![
        ("Cargo.toml".into(), manifest(name)),
        ("src/lib.rs".into(), LIB.into()),
        ("README.md".into(), readme(name, &file)),
        ("upload.json".into(), upload(name)?),
        (".gitignore".into(), "/target\n*.wasm\n".into()),
        (".cargo/config.toml".into(), BUILD_CONFIG.into()),
        ("sdk/Cargo.toml".into(), SDK_MANIFEST.into()),
    ];
    files.extend(
        SDK_FILES
            .iter()
            .map(|(path, text)| ((*path).to_owned(), (*text).to_owned())),
    );
    Ok(files)
}

/// A JavaScript plugin package's files.
fn js_files(name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut files: Vec<(String, String)> = vec![
        ("package.json".into(), js_manifest(name)),
        ("plugin.js".into(), JS_PLUGIN.replace("NAME", name)),
        ("plugin.test.js".into(), JS_TEST.into()),
        ("README.md".into(), js_readme(name)),
        ("upload.json".into(), upload(name)?),
        (
            ".gitignore".into(),
            "node_modules/\nsdk/types/\n*.wasm\n".into(),
        ),
    ];
    files.extend(
        JS_SDK_FILES
            .iter()
            .map(|(path, text)| ((*path).to_owned(), (*text).to_owned())),
    );
    Ok(files)
}

fn js_manifest(name: &str) -> String {
    format!(
        r#"{{
  "name": "{name}",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": {{
    "prepare": "node sdk/scripts/prepare.js",
    "test": "node --import @tenantry/policy/register --test plugin.test.js",
    "build": "tenantry-policy-build plugin.js -o {name}.wasm"
  }},
  "dependencies": {{
    "@tenantry/policy": "file:sdk"
  }}
}}
"#
    )
}

const JS_PLUGIN: &str = r#"// An `authorize` policy plugin: members may not create teams whose name the config forbids;
// everything else is left to the other layers.
//
// Config: `{"forbidden": ["lobby", "all-hands"]}` (names compared without case).
import { abstain, definePlugin, deny, log } from "@tenantry/policy";

export const hooks = definePlugin({
  name: "NAME",
  version: "0.1.0",
  checkConfig(config) {
    const unknown = Object.keys(config).filter((k) => k !== "forbidden");
    if (unknown.length > 0) return `unknown field(s): ${unknown.join(", ")}`;
    const { forbidden = [] } = config;
    if (!Array.isArray(forbidden) || !forbidden.every((f) => typeof f === "string")) {
      return "`forbidden` is a list of team names";
    }
  },
  authorize(input, config) {
    if (input.action !== "team.create") return abstain();
    let team;
    try {
      team = JSON.parse(input.resource);
    } catch {
      return abstain();
    }
    const name = typeof team?.name === "string" ? team.name : undefined;
    const forbidden = config.forbidden ?? [];
    if (name !== undefined && forbidden.some((f) => f.toLowerCase() === name.toLowerCase())) {
      log.info(`\`${name}\` is on the forbidden list`);
      return deny(`teams may not be named \`${name}\``);
    }
    return abstain();
  },
});
"#;

const JS_TEST: &str = r#"import assert from "node:assert/strict";
import { test } from "node:test";

import { abstain, deny } from "@tenantry/policy";
import { clearLogs, examples, logs } from "@tenantry/policy/testing";
import { hooks } from "./plugin.js";

const config = JSON.stringify({ forbidden: ["Lobby"] });
const createTeam = (name) => examples.authorize("team.create", { resource: JSON.stringify({ name }) });

test("a forbidden name is denied and logged", () => {
  clearLogs();
  assert.deepEqual(hooks.authorize(createTeam("lobby"), config), deny("teams may not be named `lobby`"));
  assert.deepEqual(logs(), [{ level: "info", message: "`lobby` is on the forbidden list" }]);
});

test("other names and actions are left to the other layers", () => {
  assert.deepEqual(hooks.authorize(createTeam("Support"), config), abstain());
  assert.deepEqual(hooks.authorize(examples.authorize("org.read"), config), abstain());
});

test("an unknown config field is refused when bound", () => {
  assert.throws(() => hooks.checkConfig('{"forbiden": []}'), /unknown field/);
});
"#;

fn js_readme(name: &str) -> String {
    format!(
        r#"# {name}

A tenantry policy plugin in JavaScript (`tenantry plugin new --lang js`). `sdk/` is the
@tenantry/policy package it builds with; `npm install` fetches componentize-js from the npm
registry and generates the contract's TypeScript types into `sdk/types/`.

```sh
npm install
npm test                                               # natively, under node
npm run build                                          # {name}.wasm: imports nothing but the contract
tenantry plugin check {name}.wasm                      # name, contract, hooks, limits
tenantry policy test upload.json --hook authorize      # the fixtures in upload.json
tenantry policy schema authorize --example > input.json   # an input to start from
tenantry plugin run {name}.wasm --hook authorize --input input.json --config '{{"forbidden": ["lobby"]}}'
tenantry plugin upload {name}.wasm --org ORG            # then bind it: see `tenantry plugin bind --help`
```

Inputs come as componentize-js gives WIT records: fields in camelCase
(`input.actor.providerRole`), closed sets by their WIT names (`"service-provider"`), absent
options as `undefined`; `input.resource` of `authorize` is JSON text.
"#
    )
}

/// Writes the plugin crate `name` into `dir/name`.
pub fn new(dir: &Path, name: &str, lang: &str, out: &mut dyn Write) -> anyhow::Result<i32> {
    if !matches!(lang, "rust" | "js") {
        bail!("`--lang {lang}`: the languages are `rust` and `js`");
    }
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!("`{name}`: a plugin name is 1 to 64 of a-z, 0-9 and `-`, starting with a letter");
    }
    let root = dir.join(name);
    if root.exists() {
        bail!("`{}` exists already", root.display());
    }
    let files = if lang == "js" {
        js_files(name)?
    } else {
        rust_files(name)?
    };
    for (path, text) in &files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    writeln!(
        out,
        "wrote {} ({} files); next: cd {name} && {} (README.md has the rest)",
        root.display(),
        files.len(),
        if lang == "js" {
            "npm install && npm test"
        } else {
            "cargo test"
        }
    )?;
    Ok(OK)
}
