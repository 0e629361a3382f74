//! Where a webhook may be delivered. A customer names the URL, so without a rule it could
//! make our workers call anything they can reach: loopback, the private network, the
//! cloud's metadata service. Outside development only public unicast addresses are allowed,
//! checked on the URL and again on every address its host resolves to (at creation and at
//! each delivery, so a DNS answer that changes cannot slip one in); redirects are never
//! followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most a URL may hold.
pub const MAX_URL: usize = 2000;

/// Why a URL is refused as a webhook target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("url: an http(s) URL of at most 2,000 characters, with a host and no credentials")]
    Malformed,
    #[error("url: {0} is not a public address (loopback, private, link-local or metadata addresses are refused)")]
    Private(IpAddr),
    #[error("url: the host does not resolve")]
    Unresolved,
}

/// The URL's parts a delivery needs, checked for shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

pub fn parse(url: &str) -> Result<Target, Refused> {
    let parsed = url::Url::parse(url).map_err(|_| Refused::Malformed)?;
    let ok = url.len() <= MAX_URL
        && matches!(parsed.scheme(), "http" | "https")
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && !url.chars().any(char::is_control);
    let host = parsed.host_str().filter(|h| ok && !h.is_empty()).ok_or(Refused::Malformed)?;
    let port = parsed.port_or_known_default().ok_or(Refused::Malformed)?;
    Ok(Target { host: host.trim_start_matches('[').trim_end_matches(']').to_owned(), port })
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local() // 169.254/16, the cloud metadata service included
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0xdb8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 to anything
}

/// Checks every resolved address; `allow_private` skips the check (development, tests).
pub fn check_addresses(addrs: &[std::net::SocketAddr], allow_private: bool) -> Result<(), Refused> {
    if addrs.is_empty() {
        return Err(Refused::Unresolved);
    }
    match addrs.iter().find(|a| !is_public(a.ip())) {
        Some(bad) if !allow_private => Err(Refused::Private(bad.ip())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_are_targets() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(bad.parse().expect("ip")), "{bad}");
        }
        for good in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(good.parse().expect("ip")), "{good}");
        }
    }

    #[test]
    fn urls_must_be_plain_http_with_a_host() {
        assert_eq!(parse("https://hooks.example.com/x").map(|t| t.port), Ok(443));
        assert_eq!(parse("http://[::1]:8080/").map(|t| t.host), Ok("::1".into()));
        for bad in ["ftp://x.example", "https://user:pw@x.example/", "http://", "not a url", "file:///etc/passwd"] {
            assert_eq!(parse(bad), Err(Refused::Malformed), "{bad}");
        }
        let addr: std::net::SocketAddr = "10.0.0.1:443".parse().expect("addr");
        assert!(matches!(check_addresses(&[addr], false), Err(Refused::Private(_))));
        assert_eq!(check_addresses(&[addr], true), Ok(()));
        assert_eq!(check_addresses(&[], true), Err(Refused::Unresolved));
    }
}
