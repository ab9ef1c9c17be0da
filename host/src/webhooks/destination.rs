//! Where a webhook may point: an absolute `https` URL (or `http` where the operator allows it)
//! whose host resolves only to public addresses, so that an organization cannot make the
//! server call into its own network (SSRF): loopback, private, link-local, carrier-grade NAT,
//! unique-local, multicast and documentation ranges are refused, unless the operator allows
//! private addresses (`[webhooks] allow_private_addresses`, for a receiver on the same
//! network, and the tests).
//!
//! The check is made when the endpoint is created and again at every connection (the delivery
//! client resolves names through [`PublicResolver`]), so a name that later resolves to a
//! private address (DNS rebinding) is refused then too. Redirects are not followed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

/// The longest URL taken.
pub const MAX_URL_BYTES: usize = 2_000;
/// How long a name may take to resolve (a hostile name server could stall a lookup thread).
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The URL as events show it: scheme, host, port and path, never the query (which may hold a
/// receiver's own token) or credentials.
pub fn shown(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut url) => {
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => String::new(),
    }
}

/// What the operator allows beyond public `https` endpoints.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allowed {
    pub private_addresses: bool,
    pub http: bool,
}

/// The URL, if it is one a webhook may have; otherwise why not.
pub fn check_url(text: &str, allowed: Allowed) -> Result<Url, String> {
    if text.len() > MAX_URL_BYTES {
        return Err(format!("at most {MAX_URL_BYTES} bytes"));
    }
    let url = Url::parse(text).map_err(|e| format!("not an absolute URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allowed.http => {}
        "http" => {
            return Err("must be https (the operator has not allowed plain http)".into());
        }
        other => return Err(format!("`{other}` is not https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; the signature authenticates the sender".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    match url.host() {
        None => Err("has no host".into()),
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), allowed).map(|()| url),
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), allowed).map(|()| url),
        Some(url::Host::Domain(_)) => Ok(url),
    }
}

/// Resolves the URL's host and checks every address it resolves to.
pub async fn check_resolves(url: &Url, allowed: Allowed) -> Result<(), String> {
    let Some(url::Host::Domain(name)) = url.host() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> =
        tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, port)))
            .await
            .map_err(|_| {
                format!(
                    "`{name}` did not resolve within {} s",
                    LOOKUP_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| format!("`{name}` does not resolve: {e}"))?
            .collect();
    if addresses.is_empty() {
        return Err(format!("`{name}` does not resolve"));
    }
    for address in addresses {
        check_ip(address.ip(), allowed).map_err(|e| format!("`{name}` resolves to {e}"))?;
    }
    Ok(())
}

fn check_ip(ip: IpAddr, allowed: Allowed) -> Result<(), String> {
    if allowed.private_addresses || is_public(ip) {
        Ok(())
    } else {
        Err(format!(
            "{ip}, which is not a public address (the operator has not allowed private ones)"
        ))
    }
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            let v4_at = |hi: u16, lo: u16| {
                let ([a, b], [c, d]) = (hi.to_be_bytes(), lo.to_be_bytes());
                Ipv4Addr::new(a, b, c, d)
            };
            // Addresses that carry an IPv4 address: judged by it.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..6] == [0; 6] {
                // NAT64 (64:ff9b::/96) and IPv4-compatible (::/96, `::1` and `::` included)
                return !v6.is_loopback()
                    && !v6.is_unspecified()
                    && is_public_v4(v4_at(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                // 6to4 (2002::/16)
                return is_public_v4(v4_at(s[1], s[2]));
            }
            !(v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local NAT64 (64:ff9b:1::/48)
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240)
}

/// The delivery client's resolver: a name is connected to only at its public addresses.
#[derive(Debug, Clone, Copy)]
pub struct PublicResolver {
    pub allowed: Allowed,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.allowed;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name.as_str(), 0)))
                    .await
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??
                    .filter(|a| allowed.private_addresses || is_public(a.ip()))
                    .collect();
            if found.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> = format!(
                    "`{}` resolves to no public address (the operator has not allowed private ones)",
                    name.as_str()
                )
                .into();
                return Err(refused);
            }
            let addresses: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addresses)
        })
    }
}

/// A client that delivers webhooks: names resolved through [`PublicResolver`], no redirects,
/// no proxy from the environment, a timeout per attempt.
pub fn client(allowed: Allowed, timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(PublicResolver { allowed }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
        .user_agent(concat!("tenantry-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        let strict = Allowed::default();
        for bad in [
            "http://example.com/hook",
            "ftp://example.com/hook",
            "https://user:pw@example.com/hook",
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://172.16.0.1/hook",
            "https://192.168.1.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/hook",
            "https://0.0.0.0/hook",
            "https://[::1]/hook",
            "https://[fd00::1]/hook",
            "https://[fe80::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://[64:ff9b::a00:1]/hook",
            "https://[::a00:1]/hook",
            "https://[2002:a00:1::1]/hook",
            "https://[fec0::1]/hook",
            "https://[64:ff9b:1::1]/hook",
            "not a url",
        ] {
            assert!(check_url(bad, strict).is_err(), "{bad} was taken");
        }
        for good in [
            "https://example.com/hook",
            "https://93.184.216.34/hook",
            "https://[2606:4700::1111]/x",
            "https://[2002:5db8:d822::1]/x",
        ] {
            assert!(check_url(good, strict).is_ok(), "{good} was refused");
        }
        let open = Allowed {
            private_addresses: true,
            http: true,
        };
        assert!(check_url("http://127.0.0.1:9000/hook", open).is_ok());
        assert!(check_url(&format!("https://e.com/{}", "x".repeat(2_000)), open).is_err());
    }
}
