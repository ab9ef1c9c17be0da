//! Rules every piece of free text a client sends shares.

/// Why `text` cannot be stored as a name, an address or a reference: it holds a control
/// character. NUL, escapes and line breaks have no place there; they mislead whoever reads a
/// log, a CSV export or a console, and PostgreSQL's text cannot hold NUL at all (so the two
/// backends would disagree about what is valid).
pub fn control_problem(text: &str) -> Option<String> {
    text.chars().find(|c| c.is_control()).map(|c| {
        format!(
            "must not contain control characters (found U+{:04X})",
            u32::from(c)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_character_is_named_by_its_code_point() {
        assert_eq!(control_problem("Acme Inc."), None);
        assert_eq!(control_problem("Zoë & Søn"), None);
        assert_eq!(
            control_problem("a\0b").as_deref(),
            Some("must not contain control characters (found U+0000)")
        );
        assert!(control_problem("line\nbreak").is_some());
        assert!(control_problem("\u{1b}[31mred").is_some());
    }
}
