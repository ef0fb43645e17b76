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
/// `?v=` (then the content can be cached forever).
pub fn serve(path: &str, versioned: bool) -> Option<Response> {
    let body = get(path)?;
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Some(Response::new(200, content_type(path), body).with_header("Cache-Control", cache))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_are_served() {
        let r = serve("css/app.css", true).unwrap();
        assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
        assert!(r.header("cache-control").unwrap().contains("immutable"));
        assert!(serve("css/app.css", false).unwrap().header("cache-control") == Some("no-cache"));
        assert!(serve("../Cargo.toml", true).is_none());
        assert!(serve("nope.css", true).is_none());
    }
}
