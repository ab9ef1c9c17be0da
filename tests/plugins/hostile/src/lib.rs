//! A plugin that misbehaves on purpose; its binding's config (a JSON string) picks how:
//! `loop`, `memory`, `recursion`, `huge-output`, `trap`, `log-flood`, `count`, `echo`, or
//! anything else to behave.
//!
//! `count` behaves like a plugin that embeds a language runtime: each call spends about as
//! much as the host's threshold for reusing instances, and the answer says how many calls
//! this instance has answered, so that a test sees which instance ran.
//!
//! `echo` allows with what it was given (action, request time, organization's name, resource)
//! as its reason, so that a test compares it with what the decision log keeps.

use serde::Deserialize;
use tenantry_sdk::{AuthorizeInput, Hook, Policy, Verdict, allow, log};

#[derive(Debug, Default)]
pub enum Mode {
    Loop,
    Memory,
    Recursion,
    HugeOutput,
    Trap,
    LogFlood,
    Count,
    Echo,
    #[default]
    Behave,
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match String::deserialize(d)?.as_str() {
            "loop" => Self::Loop,
            "memory" => Self::Memory,
            "recursion" => Self::Recursion,
            "huge-output" => Self::HugeOutput,
            "trap" => Self::Trap,
            "log-flood" => Self::LogFlood,
            "count" => Self::Count,
            "echo" => Self::Echo,
            _ => Self::Behave,
        })
    }
}

pub struct Hostile;

fn recurse(n: u64, sink: &mut [u64; 64]) -> u64 {
    sink[(n % 64) as usize] = n;
    if n == u64::MAX {
        n
    } else {
        recurse(n + 1, sink) + sink[0]
    }
}

impl Policy for Hostile {
    type Config = Mode;
    const HOOKS: &'static [Hook] = &[Hook::Authorize];

    fn authorize(input: &AuthorizeInput, mode: &Mode) -> Verdict {
        match mode {
            Mode::Loop => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            Mode::Memory => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    // Reserve without touching: memory grows, fuel barely moves.
                    let mut chunk = Vec::with_capacity(1 << 20);
                    chunk.push(1u8);
                    hoard.push(chunk);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::Recursion => {
                let mut sink = [0u64; 64];
                allow(format!("{}", recurse(0, &mut sink)))
            }
            Mode::HugeOutput => allow("x".repeat(1 << 20)),
            Mode::Trap => panic!("hostile plugin traps on purpose"),
            Mode::LogFlood => {
                for n in 0..100 {
                    log::warn(format!("line {n} {}", "x".repeat(2_000)));
                }
                allow("logged a lot")
            }
            Mode::Count => {
                static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let mut x: u64 = 0;
                for n in 0..100_000_u64 {
                    x = std::hint::black_box(x.wrapping_add(n));
                }
                std::hint::black_box(x);
                let calls = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                allow(format!("call {calls} of this instance"))
            }
            Mode::Echo => allow(format!(
                "{} {} {} {}",
                input.action,
                input.now,
                input.org.as_ref().map_or("", |org| org.name.as_str()),
                input.resource
            )),
            Mode::Behave => allow("behaving"),
        }
    }
}

tenantry_sdk::plugin!(Hostile);
