//! Static assets embedded at build time (see `build.rs`), served with their
//! content type; versioned URLs (`?v=`) are cached for a year.

use super::Response;

static ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The embedded file at `path` (relative to `static/`).
pub fn get(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

/// The content type for a file name.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The response for `GET /static/{path}`; `versioned` when the URL carries
/// `?v=` (then the content can be cached forever). Unversioned URLs (such
/// as modules imported by other modules) revalidate with the `etag`, which
/// is the asset version: `if_none_match` equal to it is a `304`.
pub fn serve(
    path: &str,
    versioned: bool,
    etag: &str,
    if_none_match: Option<&str>,
) -> Option<Response> {
    let body = get(path)?;
    let etag = format!("\"{etag}\"");
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        let mut r = Response::new(304, content_type(path), &b""[..]);
        r.headers.push(("ETag", etag));
        return Some(r.with_header("Cache-Control", cache));
    }
    Some(
        Response::new(200, content_type(path), body)
            .with_header("Cache-Control", cache)
            .with_header("ETag", etag),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_are_served() {
        let r = serve("css/app.css", true, "v1", None).unwrap();
        assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
        assert!(r.header("cache-control").unwrap().contains("immutable"));
        let plain = serve("css/app.css", false, "v1", None).unwrap();
        assert_eq!(plain.header("cache-control"), Some("no-cache"));
        assert_eq!(plain.header("etag"), Some("\"v1\""));
        assert_eq!(
            serve("css/app.css", false, "v1", Some("\"v1\""))
                .unwrap()
                .status,
            304
        );
        assert_eq!(
            serve("css/app.css", false, "v2", Some("\"v1\""))
                .unwrap()
                .status,
            200
        );
        assert!(serve("../Cargo.toml", true, "v1", None).is_none());
        assert!(serve("nope.css", true, "v1", None).is_none());
    }
}
