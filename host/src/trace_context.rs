//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent` a request
//! brings (or a new one when it brings none, or a malformed one) names its trace in the logs,
//! in the decision log and in the answer's own `traceparent`, so a decision can be found from a
//! caller's trace and the other way round.

// The trace of the request being served, for code that runs on its task.
tokio::task_local! {
    static TRACE_ID: String;
}

/// A parsed `traceparent`: version 00, a trace id and parent id that are hex and not all zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits: the caller's span.
    pub parent_id: String,
    /// 2 hex digits (`01`: sampled).
    pub flags: String,
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl TraceParent {
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let valid = version == "00"
            && parts.next().is_none()
            && is_hex(trace, 32)
            && trace.bytes().any(|b| b != b'0')
            && is_hex(parent, 16)
            && parent.bytes().any(|b| b != b'0')
            && is_hex(flags, 2);
        valid.then(|| Self {
            trace_id: trace.to_owned(),
            parent_id: parent.to_owned(),
            flags: flags.to_owned(),
        })
    }

    /// A new trace, as when a request brings none.
    pub fn new() -> Self {
        Self {
            trace_id: random_hex::<16>(),
            parent_id: random_hex::<8>(),
            flags: "00".to_owned(),
        }
    }

    /// The same trace, with `span` as the parent: what this server passes on.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id.clone(),
            parent_id: random_hex::<8>(),
            flags: self.flags.clone(),
        }
    }

    pub fn header(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.parent_id, self.flags)
    }
}

impl Default for TraceParent {
    fn default() -> Self {
        Self::new()
    }
}

/// `N` random bytes as hex, never all zero. From the thread's generator, not a system call:
/// trace ids must be unique, not secret.
fn random_hex<const N: usize>() -> String {
    let mut bytes: [u8; N] = rand::random();
    if bytes.iter().all(|b| *b == 0) {
        bytes[N - 1] = 1;
    }
    hex::encode(bytes)
}

/// Runs `work` as part of the trace `trace_id`.
pub async fn within<F: std::future::Future>(trace_id: String, work: F) -> F::Output {
    TRACE_ID.scope(trace_id, work).await
}

/// Runs `work`, synchronously, as part of `trace_id` (or of none): for work a request hands to
/// code that may run it on another task, such as a read grouped with other requests' reads.
pub fn carried<T>(trace_id: Option<String>, work: impl FnOnce() -> T) -> T {
    match trace_id {
        Some(trace_id) => TRACE_ID.sync_scope(trace_id, work),
        None => work(),
    }
}

/// The trace of the request this task serves, if it serves one.
pub fn current() -> Option<String> {
    TRACE_ID.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_specifications_example_and_refuses_malformed_ones() {
        let parsed =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(parsed.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.flags, "01");
        for bad in [
            "",
            "garbage",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        let new = TraceParent::new();
        assert_eq!(TraceParent::parse(&new.header()), Some(new.clone()));
        assert_eq!(new.child().trace_id, new.trace_id);
    }
}
