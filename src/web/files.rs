//! Files over HTTP: `POST /api/groups/{id}/files` takes an upload's body
//! as a stream (checked from its head first: session, CSRF, membership,
//! size and quota — a refusal then costs the client no upload), and
//! `GET /files/{id}/{name}` serves a member's file from disk in chunks with
//! `Range`, `ETag` and private caching. Served files can do no harm in the
//! page's origin: `nosniff`, `Content-Security-Policy: sandbox`, and only
//! images recognised from their bytes are inline; everything else
//! (SVG and HTML included) downloads as an `application/octet-stream`
//! attachment.

use std::io::Read;
use std::sync::Arc;

use super::api::ok;
use super::session::{current, writer};
use super::{Web, WebError};
use crate::chat::files::UploadHead;
use crate::chat::protocol::FileView;
use crate::http::form::percent_decode;
use crate::http::range::{self, Range};
use crate::http::response::FileBody;
use crate::http::{Request, Response};

type Result<T> = std::result::Result<T, WebError>;

/// `X-Filename`, percent-decoded as UTF-8 (lossily: the name is cleaned
/// for display afterwards anyway).
fn filename(req: &Request) -> String {
    let raw = req.header("x-filename").unwrap_or("");
    match percent_decode(raw.as_bytes(), false) {
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        None => raw.to_string(),
    }
}

/// `POST /api/groups/{id}/files`
pub fn upload(web: &Web, req: &Request, group_id: i64, body: &mut dyn Read) -> Result<Response> {
    let s = writer(web, req)?;
    let length = req.streamed.unwrap_or(0);
    web.chat.may_upload(&s.user, group_id, length)?;
    let name = filename(req);
    let head = UploadHead {
        name: &name,
        content_type: req.header("content-type"),
        length,
    };
    let f = web.chat.upload(&s.user, group_id, &head, body)?;
    ok(201, &FileView::new(&f))
}

/// `filename="…"` (ASCII, quotes and backslashes replaced) and
/// `filename*=UTF-8''…` for everyone else.
fn disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        crate::text::percent_encode(name)
    )
}

/// `GET /files/{id}/{name}`: for members of the file's group; everyone
/// else (logged out included) gets the 404 a missing file gets.
pub fn download(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = current(web, req).ok_or(WebError::NotFound)?;
    let (f, file) = web.chat.file(&s.user, id).map_err(|_| WebError::NotFound)?;
    let on_disk = file.metadata().map(|m| m.len()).unwrap_or(0);
    if on_disk != f.size {
        crate::error!("stored file {id} has {on_disk} bytes, not {}", f.size);
        return Err(WebError::NotFound);
    }
    let etag = format!("\"{}\"", &f.sha256[..32]);
    let (content_type, kind) = if f.inline {
        (f.content_type.as_str(), "inline")
    } else {
        ("application/octet-stream", "attachment")
    };
    let headers = |r: Response| {
        r.with_header("ETag", etag.clone())
            .with_header("Cache-Control", "private, no-cache")
            .with_header("Content-Security-Policy", "sandbox")
            .with_header("Accept-Ranges", "bytes")
            .with_header("Content-Disposition", disposition(kind, &f.name))
    };
    let fresh = req
        .header("if-none-match")
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return Ok(headers(Response::new(304, content_type, Vec::new())));
    }
    // A range applies to this version only (`If-Range`).
    let wanted = req
        .header("range")
        .filter(|_| req.header("if-range").is_none_or(|tag| tag.trim() == etag));
    let file = Arc::new(file);
    let (status, offset, len) = match range::parse(wanted, f.size) {
        Range::Whole => (200, 0, f.size),
        Range::Part { start, end } => (206, start, end - start + 1),
        Range::Unsatisfiable => {
            return Ok(headers(Response::text(416, "Range not satisfiable."))
                .with_header("Content-Range", format!("bytes */{}", f.size)));
        }
    };
    let mut resp = headers(Response::new(status, content_type, Vec::new()));
    if status == 206 {
        resp = resp.with_header(
            "Content-Range",
            format!("bytes {offset}-{}/{}", offset + len - 1, f.size),
        );
    }
    resp.file = Some(FileBody { file, offset, len });
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_cannot_break_the_header() {
        assert_eq!(
            disposition("attachment", "a\"b\\c é.txt"),
            "attachment; filename=\"a_b_c _.txt\"; filename*=UTF-8''a%22b%5Cc%20%C3%A9.txt"
        );
    }
}
