//! The rule against server-side request forgery: which addresses the proxy may fetch from
//! when a URL comes from someone else (a registry source, a registry's server entry).
//!
//! Loopback, private (RFC 1918), carrier-grade NAT, link-local (with the cloud metadata
//! address 169.254.169.254), unique-local, unspecified, multicast and broadcast addresses
//! are not on the public internet; a URL that leads there is refused unless the user allows
//! private fetches (`allow_private_registry_fetch`). Resolving names is I/O and happens in
//! the adapter; this module says what the resolved addresses mean.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a URL may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("{0:?} is not an http:// or https:// URL")]
    NotHttp(String),
    #[error("{0:?} must use https://")]
    NotHttps(String),
    #[error(
        "{url:?} leads to {ip}, a private or loopback address; registries and remote servers must be on the public internet (set allow_private_registry_fetch to true to allow this, for a trusted local registry only)"
    )]
    Private { url: String, ip: IpAddr },
}

fn v4_non_routable(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        // 0.0.0.0/8 "this network", 100.64.0.0/10 carrier-grade NAT.
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

fn v6_non_routable(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_non_routable(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique-local, fe80::/10 link-local.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// Whether `ip` is off the public internet.
pub fn is_non_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_non_routable(v4),
        IpAddr::V6(v6) => v6_non_routable(v6),
    }
}

/// The scheme of `url`, lower-case.
pub fn scheme_of(url: &str) -> Option<String> {
    url.split_once("://").map(|(s, _)| s.to_ascii_lowercase())
}

/// The host of an http(s) URL, without user info, port or IPv6 brackets.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split_once(']').map(|(h, _)| h)?
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The address of a URL whose host is written as an IP address.
pub fn literal_ip(url: &str) -> Option<IpAddr> {
    host_of(url)?.parse().ok()
}

/// Checks what can be checked without resolving: an http(s) URL (https when
/// `https_only`) whose host, if it is an address, is public (unless `allow_private`).
pub fn check_url(url: &str, https_only: bool, allow_private: bool) -> Result<(), UrlRefusal> {
    match scheme_of(url).as_deref() {
        Some("https") => {}
        Some("http") if !https_only => {}
        Some("http") => return Err(UrlRefusal::NotHttps(url.to_owned())),
        _ => return Err(UrlRefusal::NotHttp(url.to_owned())),
    }
    if host_of(url).is_none() {
        return Err(UrlRefusal::NotHttp(url.to_owned()));
    }
    if let Some(ip) = literal_ip(url)
        && !allow_private
        && is_non_routable(ip)
    {
        return Err(UrlRefusal::Private {
            url: url.to_owned(),
            ip,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_special_ranges_are_off_the_internet() {
        for s in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_non_routable(ip(s)), "{s} should be refused");
        }
        for s in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "1.1.1.1",
            "2606:4700::1111",
        ] {
            assert!(!is_non_routable(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn hosts_are_found_behind_user_info_ports_and_brackets() {
        assert_eq!(
            host_of("https://user:pw@Example.COM:8443/x?y").as_deref(),
            Some("example.com")
        );
        assert_eq!(host_of("http://[::1]:80/").as_deref(), Some("::1"));
        assert_eq!(literal_ip("http://[::1]:80/"), Some(ip("::1")));
        assert_eq!(host_of("no-scheme"), None);
    }

    #[test]
    fn literal_private_addresses_are_refused_unless_allowed() {
        assert!(matches!(
            check_url("https://169.254.169.254/latest/meta-data", true, false),
            Err(UrlRefusal::Private { .. })
        ));
        assert!(check_url("https://169.254.169.254/", true, true).is_ok());
        assert!(matches!(
            check_url("http://registry.example.com", true, false),
            Err(UrlRefusal::NotHttps(_))
        ));
        assert!(check_url("http://registry.example.com", false, false).is_ok());
        assert!(matches!(
            check_url("file:///etc/passwd", false, false),
            Err(UrlRefusal::NotHttp(_))
        ));
    }
}
