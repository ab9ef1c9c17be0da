//! Builds the example plugins (`plugins/`) and the hostile test plugin (`tests/plugins/`) from
//! source, once per test process, into their own target directory: as `wasm32-wasip2`
//! components, and (examples only) as capability-free components made from
//! `wasm32-unknown-unknown` modules by `tenantry::policy::wasm::componentize`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const WASIP2: &str = "wasm32-wasip2";
const BARE: &str = "wasm32-unknown-unknown";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The cargo that runs the tests (so a nested build uses the same toolchain).
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Beside the workspace's own build output: `$CARGO_TARGET_DIR/plugins` when the build keeps
/// its output elsewhere (a CI cache), else `target/plugins`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
        .join("plugins")
}

/// rustup does not add a target listed in rust-toolchain.toml to a toolchain that is already
/// installed, so add it here when it is missing (a few seconds, once).
pub fn ensure_target(target: &str) -> anyhow::Result<()> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(repo())
        .output()?;
    if String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|l| l.trim() == target)
    {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", target])
        .current_dir(repo())
        .status()?;
    anyhow::ensure!(status.success(), "rustup target add {target} failed");
    Ok(())
}

/// Builds the workspace of `manifest` from its own directory, so that its `.cargo/config.toml`
/// applies (the example plugins' stack size).
fn build(manifest: &str, target: &str) -> anyhow::Result<()> {
    ensure_target(target)?;
    let manifest = repo().join(manifest);
    let output = Command::new(cargo())
        .args(["build", "--release", "--target", target, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir())
        .current_dir(manifest.parent().unwrap_or(&repo()))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "building {} for {target} failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn built() -> &'static Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        build("plugins/Cargo.toml", WASIP2)
            .and_then(|()| build("tests/plugins/Cargo.toml", WASIP2))
            .and_then(|()| build("plugins/Cargo.toml", BARE))
            .map_err(|e| format!("{e:#}"))
    })
}

fn read(target: &str, name: &str) -> Vec<u8> {
    if let Err(e) = built() {
        panic!("plugins did not build: {e}");
    }
    let path = target_dir()
        .join(target)
        .join("release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("plugin {}: {e}", path.display()))
}

/// The `wasm32-wasip2` component of plugin `name` (crate name, e.g. `region_fence`).
pub fn plugin(name: &str) -> Vec<u8> {
    read(WASIP2, name)
}

/// The capability-free component of example plugin `name`.
pub fn bare_plugin(name: &str) -> Vec<u8> {
    tenantry::policy::wasm::componentize(&read(BARE, name)).unwrap_or_else(|e| panic!("{e}"))
}

/// A distinct but equally valid component: `component` with a custom section holding `n`
/// appended. The same code under another SHA-256, which a server compiles, stores and loads
/// as a plugin of its own.
pub fn variant(component: &[u8], n: usize) -> Vec<u8> {
    fn leb128(mut value: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"variant";
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(&n.to_le_bytes());
    let mut out = component.to_vec();
    out.push(0); // a custom section
    leb128(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

/// The `wasm32-unknown-unknown` core module of example plugin `name`, before componentizing.
pub fn core_module(name: &str) -> Vec<u8> {
    read(BARE, name)
}

/// Whether `node` and `npm` are installed: the JavaScript plugins need them to build (CI has
/// them). Without them the JavaScript tests say so on stderr and pass.
pub fn node_present() -> bool {
    ["node", "npm"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn run(dir: &Path, program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(program).args(args).current_dir(dir).output()?;
    anyhow::ensure!(
        output.status.success(),
        "`{program} {}` in {} failed:\n{}{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The component of JavaScript example plugin `dir` (`plugins/{dir}/plugin.js`), built with
/// `sdk/js` (componentize-js, installed by `npm ci` from the registry on first use); `None`
/// when node is not installed. Built once per change of its sources, SDK or contract.
pub fn js_plugin(dir: &str) -> Option<Vec<u8>> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if !node_present() {
        eprintln!(
            "skipped: node and npm are not installed, so JavaScript plugin `{dir}` is not built"
        );
        return None;
    }
    let _one_build = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let sdk = repo().join("sdk/js");
    let source = repo().join("plugins").join(dir).join("plugin.js");
    let inputs: Vec<u8> = [
        source.clone(),
        sdk.join("index.js"),
        sdk.join("build.js"),
        sdk.join("package-lock.json"),
        repo().join("sdk/wit/policy.wit"),
    ]
    .iter()
    .flat_map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
    .collect();
    let out = target_dir().join("js").join(format!(
        "{dir}-{}.wasm",
        &tenantry::policy::wasm::sha256_hex(&inputs)[..16]
    ));
    if let Ok(bytes) = std::fs::read(&out) {
        return Some(bytes);
    }
    let built = (|| -> anyhow::Result<()> {
        if !sdk.join("node_modules/.package-lock.json").exists() {
            run(&sdk, "npm", &["ci", "--no-audit", "--no-fund"])?;
        }
        std::fs::create_dir_all(out.parent().unwrap_or(Path::new(".")))?;
        let (source, out) = (source.to_string_lossy(), out.to_string_lossy());
        run(&sdk, "node", &["build.js", &source, "-o", &out])
    })();
    if let Err(e) = built {
        panic!("JavaScript plugin `{dir}` did not build: {e:#}");
    }
    Some(std::fs::read(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display())))
}
