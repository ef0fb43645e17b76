//! The two WebSocket handshakes: `/ws/chat/{id}` (one group) and `/ws`
//! (notifications). Each checks Origin (403), session (401), the opener's
//! rate of socket opens (429), the group and membership (404 / 403) and
//! the upgrade headers (400), then returns the chat's admission for the
//! connection driver to hand the socket to.

use std::sync::Arc;

use super::{Web, WebError, session};
use crate::auth::{self, Session};
use crate::chat::Refusal;
use crate::chat::socket::{Admission, Replay, Target};
use crate::http::Request;
use crate::http::router::parse_id;
use crate::ws::handshake;

/// An accepted handshake, ready to switch protocols.
pub struct Upgrade {
    /// `Sec-WebSocket-Accept`.
    pub accept: String,
    pub admission: Admission,
}

fn authenticate(web: &Web, req: &Request) -> Result<Session, WebError> {
    if !session::origin_ok(req) {
        return Err(WebError::BadOrigin);
    }
    let s = session::reader(web, req)?;
    web.chat.open_socket(&s.user)?;
    Ok(s)
}

fn accept(req: &Request) -> Result<String, WebError> {
    handshake::accept_key(req).map_err(WebError::BadUpgrade)
}

fn admission(s: Session, target: Target) -> Admission {
    Admission {
        session: Arc::from(auth::session::token_hash(&s.token)),
        expires_at: s.expires_at,
        user: s.user,
        target,
    }
}

/// `GET /ws/chat/{id}[?after=ID[&since=MS]]`
pub fn chat_upgrade(web: &Web, req: &Request, group_id: i64) -> Result<Upgrade, WebError> {
    let s = authenticate(web, req)?;
    let (group, role) = web
        .chat
        .member_group(&s.user, group_id)
        .map_err(|r| match r {
            Refusal::Forbidden(_) => Refusal::forbidden("Join the group first."),
            other => other,
        })?;
    let after = match req.query_param("after") {
        None => None,
        Some(a) if a == "0" => Some(0),
        Some(a) => {
            Some(parse_id(&a).ok_or_else(|| Refusal::bad_request("after must be a message id"))?)
        }
    };
    let since = match req.query_param("since") {
        None => None,
        Some(ms) => Some(
            ms.parse::<i64>()
                .ok()
                .filter(|ms| *ms >= 0)
                .ok_or_else(|| Refusal::bad_request("since must be a time in Unix milliseconds"))?,
        ),
    };
    let accept = accept(req)?;
    let room = web.chat.room(&group)?;
    let target = Target::Room {
        group,
        role,
        room,
        replay: after.map(|after| Replay { after, since }),
    };
    Ok(Upgrade {
        accept,
        admission: admission(s, target),
    })
}

/// `GET /ws`
pub fn notify_upgrade(web: &Web, req: &Request) -> Result<Upgrade, WebError> {
    let s = authenticate(web, req)?;
    let accept = accept(req)?;
    Ok(Upgrade {
        accept,
        admission: admission(s, Target::Notify),
    })
}
