//! `tenantry init [DIR]`: writes what a server built from this binary runs on, to edit: the
//! platform policies with their fixtures and input schemas, and a `tenantry.toml` with every
//! setting at its default. Nothing existing is overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::policy::Hook;
use crate::policy::stock::stock;

/// Every file `init` writes under `dir`, with its content.
fn files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let policies = dir.join("policies");
    let mut files = vec![(dir.join("tenantry.toml"), Settings::commented_file())];
    for hook in Hook::ALL {
        let name = hook.name();
        let stock = stock(hook);
        let schema = serde_json::to_string_pretty(&crate::policy::input::schema(hook))? + "\n";
        files.push((
            policies.join(format!("{name}.rhai")),
            stock.source.to_owned(),
        ));
        files.push((
            policies.join("tests").join(format!("{name}.json")),
            stock.fixtures.to_owned(),
        ));
        files.push((policies.join("schema").join(format!("{name}.json")), schema));
    }
    Ok(files)
}

/// Writes the files, or none of them when any already exists; returns the exit code.
pub fn init(dir: &Path, out: &mut impl Write) -> anyhow::Result<i32> {
    let files = files(dir)?;
    let existing: Vec<String> = files
        .iter()
        .filter(|(path, _)| path.exists())
        .map(|(path, _)| path.display().to_string())
        .collect();
    if !existing.is_empty() {
        anyhow::bail!(
            "nothing written: these files exist and would be overwritten: {}",
            existing.join(", ")
        );
    }
    for (path, content) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("cannot create `{}`: {e}", parent.display()))?;
        }
        // create_new: a file made meanwhile by someone else is not overwritten either.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, content.as_bytes()))
            .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", path.display()))?;
        writeln!(out, "wrote {}", path.display())?;
    }
    writeln!(
        out,
        "run: tenantry serve --config {} --policies {}",
        dir.join("tenantry.toml").display(),
        dir.join("policies").display()
    )?;
    Ok(0)
}
