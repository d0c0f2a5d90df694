//! Which receivers a webhook may be sent to: the one place that decides whether a URL and an
//! address are allowed, asked when an endpoint is registered, before each attempt, and by the
//! resolver for every address a receiver's name resolves to (so a name that later resolves to a
//! private address — DNS rebinding — still reaches nothing private).
//!
//! Refused unless the operator allows private receivers (`AFTERCLASS_WEBHOOK_ALLOW_PRIVATE`):
//! IPv4 `0.0.0.0/8` (unspecified), `10/8`, `172.16/12`, `192.168/16` (private), `127/8`
//! (loopback), `169.254/16` (link-local, which holds the cloud metadata address
//! `169.254.169.254`), `100.64/10` (CGNAT), multicast, `240/4` and broadcast; IPv6 `::`, `::1`,
//! `fc00::/7`, `fe80::/10`, `fec0::/10`, multicast, and any IPv6 form that carries one of the IPv4
//! addresses above (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4
//! `2002::/16`); and the names `localhost` and `*.localhost`. Whatever the setting, a URL must be
//! `http` or `https`, name a host, and carry no user name or password.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The longest receiver URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Whether a receiver may be at `ip`.
pub fn ip_allowed(ip: IpAddr, allow_private: bool) -> bool {
    allow_private || is_public(ip)
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let refused = a == 0 // "this network", with the unspecified address
        || ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || ip.is_multicast()
        || a >= 240; // reserved, and the broadcast address
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() {
        return false;
    }
    let first = segments[0];
    // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local (deprecated).
    if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 || (first & 0xffc0) == 0xfec0 {
        return false;
    }
    // IPv4 addresses carried in IPv6 forms are judged as themselves.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let low_v4 = Ipv4Addr::new(
        (segments[6] >> 8) as u8,
        (segments[6] & 0xff) as u8,
        (segments[7] >> 8) as u8,
        (segments[7] & 0xff) as u8,
    );
    // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96).
    if segments[..6].iter().all(|s| *s == 0) || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(low_v4);
    }
    // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if first == 0x2002 {
        let v4 = Ipv4Addr::new(
            (segments[1] >> 8) as u8,
            (segments[1] & 0xff) as u8,
            (segments[2] >> 8) as u8,
            (segments[2] & 0xff) as u8,
        );
        return is_public_v4(v4);
    }
    true
}

/// Checks a receiver URL as written: its scheme, host, and — when the host is an address or a
/// `localhost` name — whether it may be reached. A name is checked again for every address it
/// resolves to, at each attempt ([`CheckedResolver`]). Gives the parsed URL or why it is refused.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, String> {
    let text = text.trim();
    if text.len() > MAX_URL_LEN {
        return Err(format!("the URL must be at most {MAX_URL_LEN} characters"));
    }
    let url = Url::parse(text).map_err(|e| format!("not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the URL must start with https:// or http:// (not {}:)", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry a user name or password".into());
    }
    let refused = || {
        "the URL names a private, loopback, link-local or otherwise internal address, which webhooks may not reach"
            .to_owned()
    };
    // The URL parser has already written any numeric IPv4 form (`2130706433`, `0x7f.1`) as a
    // dotted quad, and IPv6 in brackets.
    let host = url.host_str().unwrap_or_default();
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: Ipv6Addr = v6.parse().map_err(|_| "the URL must name a host".to_owned())?;
        if !ip_allowed(IpAddr::V6(ip), allow_private) {
            return Err(refused());
        }
    } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
        if !ip_allowed(IpAddr::V4(ip), allow_private) {
            return Err(refused());
        }
    } else {
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return Err("the URL must name a host".into());
        }
        if !allow_private && (name == "localhost" || name.ends_with(".localhost")) {
            return Err(refused());
        }
    }
    Ok(url)
}

/// Resolves receivers' names and keeps only the addresses [`ip_allowed`] allows, so that the
/// connection is made only to those; a name with none left fails to resolve.
#[derive(Debug, Clone, Copy)]
pub struct CheckedResolver {
    pub allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<_> = resolved.filter(|addr| ip_allowed(addr.ip(), allow_private)).collect();
            if allowed.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    format!("{host} resolves to no address webhooks may reach").into();
                return Err(err);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_in_every_form() {
        for text in [
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "ff02::1",
        ] {
            assert!(!ip_allowed(ip(text), false), "{text} must be refused");
            assert!(ip_allowed(ip(text), true), "{text} is allowed when private receivers are");
        }
        for text in ["93.184.215.14", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(ip_allowed(ip(text), false), "{text} is public");
        }
    }

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        assert!(check_url("https://hooks.example.edu/afterclass", false).is_ok());
        assert!(check_url("http://93.184.215.14:8080/in", false).is_ok());
        for bad in [
            "ftp://hooks.example.edu/",
            "file:///etc/passwd",
            "https://user:pw@hooks.example.edu/",
            "hooks.example.edu/in",
            "http://127.0.0.1:9000/",
            "http://[::1]/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://localhost:8080/",
            "http://api.localhost./",
            "http://10.0.0.5/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad} must be refused");
        }
        assert!(check_url("http://127.0.0.1:9000/", true).is_ok());
        assert!(check_url("http://localhost:9000/", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/", true).is_err());
        assert!(check_url(&format!("https://a.example/{}", "x".repeat(MAX_URL_LEN)), false).is_err());
    }

    #[tokio::test]
    async fn the_resolver_drops_addresses_it_may_not_reach() {
        let name: Name = "localhost".parse().unwrap();
        assert!(CheckedResolver { allow_private: false }.resolve(name).await.is_err());
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<_> = CheckedResolver { allow_private: true }.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty(), "{addrs:?}");
    }
}
