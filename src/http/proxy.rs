//! `--trust-proxy CIDR…`: requests from these peers may say who the client
//! is (`X-Forwarded-For`) and whether it used HTTPS (`X-Forwarded-Proto`).
//! From any other peer those headers are ignored.

use std::net::IpAddr;

use super::Request;

/// A set of trusted networks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

/// An entry of `--trust-proxy` that is not a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadNetwork {
    NotAnAddress(String),
    BadPrefix(String),
}

impl std::fmt::Display for BadNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadNetwork::NotAnAddress(item) => write!(f, "not an IP network: {item}"),
            BadNetwork::BadPrefix(item) => write!(f, "bad prefix length in {item}"),
        }
    }
}

impl TrustedProxies {
    /// Adds `a.b.c.d/n`, `::1/128` or a bare address (comma-separated list).
    pub fn add(&mut self, list: &str) -> Result<(), BadNetwork> {
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| BadNetwork::NotAnAddress(item.to_string()))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|&b| b <= max)
                    .ok_or_else(|| BadNetwork::BadPrefix(item.to_string()))?,
            };
            self.0.push((ip, bits));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0
            .iter()
            .any(|&(net, bits)| in_net(ip, canonical(net), bits))
    }

    /// Rewrites the request's client address and scheme from the proxy
    /// headers when the direct peer is trusted. The client is the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub fn apply(&self, req: &mut Request) {
        if self.is_empty() || !self.contains(req.peer) {
            return;
        }
        let forwarded: Vec<IpAddr> = req
            .headers
            .iter()
            .filter(|(n, _)| n == "x-forwarded-for")
            .flat_map(|(_, v)| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        if let Some(client) = forwarded.iter().rev().find(|ip| !self.contains(**ip)) {
            req.peer = *client;
        } else if let Some(first) = forwarded.first() {
            req.peer = *first;
        } else {
            // No usable X-Forwarded-For: the client could be anyone.
            req.client_known = false;
        }
        match req.header("x-forwarded-proto").map(str::trim) {
            Some(p) if p.eq_ignore_ascii_case("https") => req.secure = true,
            Some(p) if p.eq_ignore_ascii_case("http") => req.secure = false,
            _ => {}
        }
    }
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(peer: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/".into(),
            segments: vec![],
            query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: vec![],
            streamed: None,
            minor_version: 1,
            peer: peer.parse().unwrap(),
            secure: false,
            client_known: true,
            tls_info: None,
        }
    }

    #[test]
    fn networks() {
        let mut t = TrustedProxies::default();
        t.add("10.0.0.0/8, ::1").unwrap();
        assert!(t.contains("10.1.2.3".parse().unwrap()));
        assert!(!t.contains("11.0.0.1".parse().unwrap()));
        assert!(t.contains("::1".parse().unwrap()));
        assert!(t.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(t.add("10.0.0.0/33").is_err());
        assert!(t.add("nope").is_err());
    }

    #[test]
    fn headers_count_only_from_trusted_peers() {
        let mut t = TrustedProxies::default();
        t.add("127.0.0.1").unwrap();
        let mut r = req(
            "127.0.0.1",
            &[
                ("x-forwarded-for", "203.0.113.9, 127.0.0.1"),
                ("x-forwarded-proto", "https"),
            ],
        );
        t.apply(&mut r);
        assert_eq!(r.peer.to_string(), "203.0.113.9");
        assert!(r.secure);
        // A client cannot spoof by prepending: the right-most untrusted wins.
        let mut r = req("127.0.0.1", &[("x-forwarded-for", "1.2.3.4, 198.51.100.7")]);
        t.apply(&mut r);
        assert_eq!(r.peer.to_string(), "198.51.100.7");
        let mut r = req(
            "192.0.2.1",
            &[
                ("x-forwarded-for", "1.2.3.4"),
                ("x-forwarded-proto", "https"),
            ],
        );
        t.apply(&mut r);
        assert_eq!(r.peer.to_string(), "192.0.2.1");
        assert!(!r.secure);
        assert!(r.client_known);
    }

    #[test]
    fn a_trusted_proxy_that_names_no_client_leaves_the_client_unknown() {
        let mut t = TrustedProxies::default();
        t.add("127.0.0.1").unwrap();
        for headers in [&[][..], &[("x-forwarded-for", "not an address")][..]] {
            let mut r = req("127.0.0.1", headers);
            t.apply(&mut r);
            assert!(!r.client_known, "{headers:?}");
        }
        let mut r = req("127.0.0.1", &[("x-forwarded-for", "127.0.0.1")]);
        t.apply(&mut r);
        assert!(r.client_known && r.peer.is_loopback());
    }
}
