//! The console's two cookies: the session (a sign-in token) and the sign-in form's own
//! anti-forgery value. Both `HttpOnly` (no script reads them) and `SameSite=Strict` (no other
//! site's page sends them), scoped to `/console`, and `Secure` when the request came over TLS.

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HeaderValue};

pub const SESSION: &str = "tenantry_session";
pub const SIGN_IN_FORM: &str = "tenantry_sign_in";

/// The value of cookie `name`, if the request sent it.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the request reached us over TLS (directly, or through a proxy that says so).
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// A `Set-Cookie` value: `value` for `max_age_secs` (0 clears it).
pub fn set(name: &str, value: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let line = format!(
        "{name}={value}; Path=/console; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
    );
    // Names are ours and values are hex or token characters: always a valid header.
    HeaderValue::from_str(&line).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_among_others_and_set_with_its_guards() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; tenantry_session=tnt_x; b=2"),
        );
        assert_eq!(read(&headers, SESSION), Some("tnt_x"));
        assert_eq!(read(&headers, "c"), None);
        let line = set(SESSION, "tnt_x", 60, true);
        assert_eq!(
            line.to_str().unwrap(),
            "tenantry_session=tnt_x; Path=/console; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
    }
}
