//! Looks for bearer and invitation tokens where none may be: the server's log and the database
//! file (which keeps only their SHA-256).

/// How many tokens (`tnt_` or `inv_` and 64 hex digits, or the harness's operator token)
/// appear in `bytes`.
pub fn count_tokens(bytes: &[u8]) -> usize {
    let operator = tenantry_e2e::OPERATOR_TOKEN.as_bytes();
    let generated = |rest: &[u8]| {
        (rest.starts_with(b"tnt_") || rest.starts_with(b"inv_"))
            && rest.len() >= 68
            && rest[4..68].iter().all(u8::is_ascii_hexdigit)
    };
    (0..bytes.len())
        .filter(|&at| {
            let rest = &bytes[at..];
            rest.starts_with(operator) || generated(rest)
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tokens_and_nothing_else() {
        let token = format!("tnt_{}", "ab".repeat(32));
        let text = format!(
            "ok tnt_short inv_ {token} x {}",
            tenantry_e2e::OPERATOR_TOKEN
        );
        assert_eq!(count_tokens(text.as_bytes()), 2);
        assert_eq!(count_tokens(b"sha256 deadbeef"), 0);
    }
}
