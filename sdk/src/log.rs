//! Lines for the plugin's author. They appear in the decision's trace (dry runs, previews,
//! `tenantry plugin run`) and in the decision log; at most 20 lines of 1,000 bytes are kept
//! per call, so log what explains a decision, not everything.
//!
//! Natively (unit tests) the lines are kept in a per-thread buffer that [`take`] returns.

pub use crate::bindings::tenantry::policy::log::LogLevel as Level;

/// Writes one line at `level`.
pub fn write(level: Level, message: impl AsRef<str>) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::tenantry::policy::log::write(level, message.as_ref());
    #[cfg(not(target_arch = "wasm32"))]
    NATIVE.with(|lines| {
        lines
            .borrow_mut()
            .push(format!("{}: {}", name(level), message.as_ref()));
    });
}

pub fn debug(message: impl AsRef<str>) {
    write(Level::Debug, message);
}

pub fn info(message: impl AsRef<str>) {
    write(Level::Info, message);
}

pub fn warn(message: impl AsRef<str>) {
    write(Level::Warn, message);
}

pub fn error(message: impl AsRef<str>) {
    write(Level::Error, message);
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static NATIVE: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(not(target_arch = "wasm32"))]
fn name(level: Level) -> &'static str {
    match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

/// The lines this thread logged since the last call (native builds: for tests), as the host
/// shows them (`level: message`).
#[cfg(not(target_arch = "wasm32"))]
pub fn take() -> Vec<String> {
    NATIVE.with(|lines| std::mem::take(&mut *lines.borrow_mut()))
}
