//! The server side of the WebSocket opening handshake (RFC 6455 §4.2):
//! header checks and the `101 Switching Protocols` answer.

use crate::http::Request;

/// Checks the upgrade headers and returns the `Sec-WebSocket-Accept` value.
pub fn accept_key(req: &Request) -> Result<String, &'static str> {
    let has_token = |name: &str, token: &str| {
        req.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
        return Err("a WebSocket upgrade is required here");
    }
    if req.header("sec-websocket-version") != Some("13") {
        return Err("unsupported WebSocket version (13 required)");
    }
    let key = req.header("sec-websocket-key").unwrap_or("").trim();
    let valid = key.len() == 24
        && key.ends_with("==")
        && key[..22]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !valid {
        return Err("bad Sec-WebSocket-Key");
    }
    Ok(tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// The `101` response head.
pub fn switching_protocols(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/ws".into(),
            segments: vec!["ws".into()],
            query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
            streamed: None,
            minor_version: 1,
            peer: [127, 0, 0, 1].into(),
            secure: false,
            client_known: true,
            tls_info: None,
        }
    }

    #[test]
    fn rfc_example_key() {
        let r = req(&[
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert_eq!(accept_key(&r).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn refusals() {
        assert!(accept_key(&req(&[])).is_err());
        assert!(
            accept_key(&req(&[
                ("upgrade", "websocket"),
                ("connection", "upgrade"),
                ("sec-websocket-version", "8"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ]))
            .is_err()
        );
        assert!(
            accept_key(&req(&[
                ("upgrade", "websocket"),
                ("connection", "upgrade"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "short"),
            ]))
            .is_err()
        );
    }
}
