//! The client address of a request: the socket peer, or behind a trusted reverse proxy the address the
//! proxy saw. Used for login throttling and the audit log.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The client address, as text. When the socket `peer` is one of the `trusted` proxies, the client is the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries left of it were written
/// by the client and prove nothing); a malformed entry there, or none, leaves the peer. From any other peer
/// `X-Forwarded-For` is ignored.
pub(crate) fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> String {
    let Some(peer) = peer.map(|ip| ip.to_canonical()) else {
        return "unknown".to_string();
    };
    let is_trusted = |ip: IpAddr| trusted.iter().any(|proxy| proxy.to_canonical() == ip);
    if !is_trusted(peer) {
        return peer.to_string();
    }
    // Header lines in order, each a comma-separated list; the last entry was added by the nearest proxy.
    let lines: Vec<_> = headers.get_all("x-forwarded-for").iter().collect();
    for line in lines.into_iter().rev() {
        let Ok(line) = line.to_str() else {
            return peer.to_string();
        };
        for entry in line.rsplit(',') {
            match forwarded_ip(entry) {
                Some(ip) if is_trusted(ip) => continue,
                Some(ip) => return ip.to_string(),
                None => return peer.to_string(),
            }
        }
    }
    peer.to_string()
}

/// An `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:80`, `[::1]:80`) or brackets.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            client_address(Some(ip("198.51.100.7")), &headers, &[]),
            "198.51.100.7"
        );
        assert_eq!(
            client_address(Some(ip("198.51.100.7")), &headers, &[ip("10.0.0.1")]),
            "198.51.100.7"
        );
        assert_eq!(client_address(None, &headers, &[ip("10.0.0.1")]), "unknown");
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        let peer = Some(ip("10.0.0.1"));
        // The client wrote a fake first entry; the proxy appended the address it saw.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9"]);
        assert_eq!(client_address(peer, &headers, &trusted), "203.0.113.9");
        // Two trusted proxies in a chain, over two header lines.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(client_address(peer, &headers, &trusted), "203.0.113.9");
        // Ports, brackets and IPv4-mapped IPv6.
        let headers = forwarded(&["[2001:db8::1]:4711"]);
        assert_eq!(client_address(peer, &headers, &trusted), "2001:db8::1");
        let headers = forwarded(&["203.0.113.9:4711"]);
        assert_eq!(client_address(peer, &headers, &trusted), "203.0.113.9");
        assert_eq!(
            client_address(
                Some(ip("::ffff:10.0.0.1")),
                &forwarded(&["::ffff:203.0.113.9"]),
                &trusted
            ),
            "203.0.113.9"
        );
    }

    #[test]
    fn without_a_usable_entry_the_proxy_is_the_client() {
        let trusted = [ip("10.0.0.1")];
        let peer = Some(ip("10.0.0.1"));
        assert_eq!(
            client_address(peer, &HeaderMap::new(), &trusted),
            "10.0.0.1"
        );
        assert_eq!(
            client_address(peer, &forwarded(&["10.0.0.1"]), &trusted),
            "10.0.0.1"
        );
        // A malformed entry stops the walk: nothing left of it can be believed.
        let headers = forwarded(&["203.0.113.9, garbage"]);
        assert_eq!(client_address(peer, &headers, &trusted), "10.0.0.1");
        let headers = forwarded(&["203.0.113.9, "]);
        assert_eq!(client_address(peer, &headers, &trusted), "10.0.0.1");
    }
}
