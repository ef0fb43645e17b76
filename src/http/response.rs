//! Responses and their serialisation. Every response gets the security
//! headers and an explicit cache policy.

use std::borrow::Cow;
use std::fs::File;
use std::sync::Arc;

/// The Content-Security-Policy sent with every response: no inline script or
/// style, no framing, connections to our own origin only. `blob:` images are
/// the decrypted attachments of end-to-end encrypted groups (the page makes
/// them itself from bytes it fetched from its own origin).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Cow<'static, [u8]>,
    /// Close the connection after sending.
    pub close: bool,
    /// A body sent from a file, in chunks, instead of `body`.
    pub file: Option<FileBody>,
}

/// `len` bytes of a file from `offset`, sent after the head.
#[derive(Debug, Clone)]
pub struct FileBody {
    pub file: Arc<File>,
    pub offset: u64,
    pub len: u64,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Cow<'static, [u8]>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: body.into(),
            close: false,
            file: None,
        }
    }

    pub fn html(status: u16, body: String) -> Self {
        Self::new(status, "text/html; charset=utf-8", body.into_bytes())
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self::new(
            status,
            "text/plain; charset=utf-8",
            body.as_bytes().to_vec(),
        )
    }

    /// A JSON body. Serializing our own types cannot fail; if one ever
    /// did, the answer is a 500 rather than a panic.
    pub fn json(status: u16, value: &impl serde::Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status, "application/json", body),
            Err(_) => Self::new(
                500,
                "application/json",
                br#"{"error":"internal","message":"Internal server error."}"#.to_vec(),
            ),
        }
    }

    /// The JSON error shape of PROTOCOL: `{"error", "message"}`.
    pub fn error_json(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            &serde_json::json!({ "error": code, "message": message }),
        )
    }

    pub fn no_content() -> Self {
        Response {
            status: 204,
            headers: Vec::new(),
            body: Cow::Borrowed(b""),
            close: false,
            file: None,
        }
    }

    /// `303 See Other` to `location`.
    pub fn redirect(location: &str) -> Self {
        let mut r = Self::text(303, "");
        r.headers.push(("Location", location.to_string()));
        r
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The status line, headers and (unless `head_only`) body as bytes; a
    /// `file` body is not included (the connection sends it after).
    pub fn serialize(&self, secure: bool, keep_alive: bool, head_only: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        let mut line = |s: &str| {
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        line(&format!("HTTP/1.1 {} {}", self.status, reason(self.status)));
        for (name, value) in &self.headers {
            line(&format!("{name}: {value}"));
        }
        if self.header("cache-control").is_none() {
            line("Cache-Control: no-store");
        }
        if self.header("content-security-policy").is_none() {
            line(&format!("Content-Security-Policy: {CSP}"));
        }
        line("X-Content-Type-Options: nosniff");
        line("X-Frame-Options: DENY");
        line("Referrer-Policy: same-origin");
        line("Cross-Origin-Opener-Policy: same-origin");
        if secure {
            line("Strict-Transport-Security: max-age=31536000");
        }
        if self.status != 204 && self.status != 304 && self.status >= 200 {
            let len = match &self.file {
                Some(f) => f.len,
                None => self.body.len() as u64,
            };
            line(&format!("Content-Length: {len}"));
        }
        if !keep_alive || self.close {
            line("Connection: close");
        }
        line("");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        303 => "See Other",
        304 => "Not Modified",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        206 => "Partial Content",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_security_headers() {
        let r = Response::html(200, "<p>hi</p>".into());
        let s = String::from_utf8(r.serialize(true, true, false)).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(s.contains("Content-Length: 9\r\n"));
        assert!(s.contains("Cache-Control: no-store\r\n"));
        assert!(s.contains("frame-ancestors 'none'"));
        assert!(s.contains("X-Content-Type-Options: nosniff\r\n"));
        assert!(s.contains("Strict-Transport-Security"));
        assert!(s.ends_with("\r\n\r\n<p>hi</p>"));
        let s = String::from_utf8(r.serialize(false, false, true)).unwrap();
        assert!(!s.contains("Strict-Transport-Security"));
        assert!(s.contains("Connection: close\r\n"));
        assert!(s.ends_with("\r\n\r\n"));
    }

    #[test]
    fn blob_urls_are_images_only() {
        // Decrypted E2E attachments are shown from blob: URLs; nothing
        // else may load from one (above all, no script).
        let directives: Vec<&str> = CSP.split(';').map(str::trim).collect();
        assert!(directives.contains(&"img-src 'self' data: blob:"));
        for d in directives.iter().filter(|d| !d.starts_with("img-src")) {
            assert!(!d.contains("blob:"), "{d}");
        }
    }
}
