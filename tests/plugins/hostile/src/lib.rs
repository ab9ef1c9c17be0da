//! A plugin that misbehaves on purpose; its binding's config picks how:
//! `loop`, `memory`, `recursion`, `huge-output`, `trap`, or anything else to behave.

use tenantry_sdk::{AuthorizeInput, Hook, Policy, Verdict, allow};

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
    const HOOKS: &'static [Hook] = &[Hook::Authorize];

    fn authorize(_input: &AuthorizeInput, config: &str) -> Verdict {
        match config.trim_matches('"') {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    // Reserve without touching: memory grows, fuel barely moves.
                    let mut chunk = Vec::with_capacity(1 << 20);
                    chunk.push(1u8);
                    hoard.push(chunk);
                    std::hint::black_box(&hoard);
                }
            }
            "recursion" => {
                let mut sink = [0u64; 64];
                allow(format!("{}", recurse(0, &mut sink)))
            }
            "huge-output" => allow("x".repeat(1 << 20)),
            "trap" => panic!("hostile plugin traps on purpose"),
            _ => allow("behaving"),
        }
    }
}

tenantry_sdk::plugin!(Hostile);
