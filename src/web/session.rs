//! Who is asking: the session behind a request's cookie, and the checks
//! every state-changing request passes (Origin, CSRF).

use crate::auth::{csrf, session};
use crate::db::users::{self, User};
use crate::http::{Request, cookies};
use crate::util;

use super::App;

/// A logged-in request's user and session token.
pub struct Session {
    pub user: User,
    pub token: String,
}

impl Session {
    /// The CSRF token that forms and JSON requests of this session carry.
    pub fn csrf_token(&self) -> String {
        csrf::for_session(&self.token)
    }
}

/// The cookie's value, if the request has one.
pub fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .find_map(|(_, v)| cookies::get(v, name))
}

/// The request's session, if its cookie names a live one.
pub fn current(app: &App, req: &Request) -> Option<Session> {
    let token = cookie(req, session::COOKIE)?;
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let user = users::session_user(&app.users_db, &session::token_hash(token), util::now_ms())
        .ok()
        .flatten()?;
    Some(Session {
        user,
        token: token.to_string(),
    })
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
