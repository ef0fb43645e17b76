//! Who is asking: the session behind a request's cookie, and the checks
//! every state-changing request passes (Origin, CSRF).

use super::{Web, WebError};
use crate::auth::{Session, csrf, session};
use crate::http::{Request, cookies};

/// The cookie's value, if the request has one.
pub fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .find_map(|(_, v)| cookies::get(v, name))
}

/// The request's session, if its cookie names a live one.
pub fn current(web: &Web, req: &Request) -> Option<Session> {
    web.accounts.session(cookie(req, session::COOKIE)?)
}

/// The session of a read-only API request.
pub fn reader(web: &Web, req: &Request) -> Result<Session, WebError> {
    current(web, req).ok_or(WebError::Unauthorized)
}

/// The session of a state-changing API request, with its CSRF header checked.
pub fn writer(web: &Web, req: &Request) -> Result<Session, WebError> {
    let s = reader(web, req)?;
    if !csrf::matches(&s.csrf_token(), req.header("x-csrf-token")) {
        return Err(WebError::BadCsrf);
    }
    Ok(s)
}

/// Whether the request's `Origin` (when present) is the request's own
/// origin: its scheme and `Host` header.
pub fn origin_ok(req: &Request) -> bool {
    match req.header("origin") {
        None => true,
        Some(origin) => {
            let host = req.header("host").unwrap_or("");
            !host.is_empty() && origin.eq_ignore_ascii_case(&format!("{}://{host}", req.scheme()))
        }
    }
}

/// `Set-Cookie` for a new session token (or, with `None`, one that deletes it).
pub fn session_cookie(token: Option<&str>, secure: bool) -> String {
    match token {
        Some(t) => cookies::set(session::COOKIE, t, session::LIFETIME_MS / 1000, secure),
        None => cookies::set(session::COOKIE, "", 0, secure),
    }
}
