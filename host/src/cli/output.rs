//! How commands answer: text for people, `--format json` for scripts, and one set of exit
//! codes: 0 ok (or allow), 1 an error, 2 a deny or a failed test.

use std::io::Write;

use serde::Serialize;

pub const OK: i32 = 0;
pub const ERROR: i32 = 1;
pub const DENIED: i32 = 2;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Writes `value` as pretty JSON and a newline.
pub fn json(out: &mut dyn Write, value: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}
