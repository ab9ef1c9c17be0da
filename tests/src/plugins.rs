//! Builds the example plugins (`plugins/`) and the hostile test plugin (`tests/plugins/`) from
//! source, once per test process, into their own target directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TARGET: &str = "wasm32-wasip2";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// rustup does not add a target listed in rust-toolchain.toml to a toolchain that is already
/// installed, so add it here when it is missing (a few seconds, once).
fn ensure_target() -> anyhow::Result<()> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(repo())
        .output()?;
    if String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .current_dir(repo())
        .status()?;
    anyhow::ensure!(status.success(), "rustup target add {TARGET} failed");
    Ok(())
}

fn build(manifest: &Path, target_dir: &Path) -> anyhow::Result<()> {
    let output = Command::new(cargo())
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(repo())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "building {} failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn built() -> &'static Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target_dir = repo().join("target").join("plugins");
        let result = ensure_target()
            .and_then(|()| build(&repo().join("plugins/Cargo.toml"), &target_dir))
            .and_then(|()| build(&repo().join("tests/plugins/Cargo.toml"), &target_dir));
        result
            .map(|()| target_dir.join(TARGET).join("release"))
            .map_err(|e| format!("{e:#}"))
    })
}

/// The component bytes of plugin `name` (crate name, e.g. `region_fence`).
pub fn plugin(name: &str) -> Vec<u8> {
    let dir = built()
        .as_ref()
        .unwrap_or_else(|e| panic!("plugins did not build: {e}"));
    std::fs::read(dir.join(format!("{name}.wasm"))).unwrap_or_else(|e| panic!("plugin {name}: {e}"))
}
