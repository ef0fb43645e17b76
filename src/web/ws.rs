//! The two WebSocket endpoints: `/ws/chat/{id}` (one group) and `/ws`
//! (notifications). The handshake checks Origin (403), session (401),
//! membership (403) and the upgrade headers (400); then the connection's
//! thread becomes the socket's reader.

use std::sync::Arc;

use serde_json::json;

use crate::chat;
use crate::chat::hub::Room;
use crate::db::chat::{self as store, Group};
use crate::db::users::User;
use crate::http::{Request, Response};
use crate::net::transport::Conn;
use crate::ws::frame;
use crate::ws::handshake;
use crate::ws::peer::{Identity, Peer};
use crate::ws::reader;

use super::{App, session};

/// Most messages replayed to a reconnecting socket.
const REPLAY_MAX: usize = 500;

/// An accepted handshake, ready to switch protocols.
pub struct Upgrade {
    pub accept: String,
    pub user: User,
    pub target: Target,
}

pub enum Target {
    Chat {
        group: Group,
        room: Arc<Room>,
        after: Option<i64>,
    },
    Notify,
}

fn refuse(status: u16, code: &str, message: &str) -> Response {
    Response::error_json(status, code, message)
}

fn authenticate(app: &App, req: &Request) -> Result<User, Response> {
    if !session::origin_ok(req) {
        return Err(refuse(403, "bad_origin", "Cross-origin WebSocket refused."));
    }
    session::current(app, req)
        .map(|s| s.user)
        .ok_or_else(|| refuse(401, "unauthorized", "Log in first."))
}

fn accept(req: &Request) -> Result<String, Response> {
    handshake::accept_key(req)
        .map_err(|why| refuse(400, "bad_request", why).with_header("Sec-WebSocket-Version", "13"))
}

/// `GET /ws/chat/{id}[?after=ID]`
pub fn chat_upgrade(app: &App, req: &Request, group_id: i64) -> Result<Upgrade, Response> {
    let user = authenticate(app, req)?;
    let db_err = |e: rusqlite::Error| {
        crate::error!("ws handshake: {e}");
        refuse(500, "internal", "Internal server error.")
    };
    let group = store::get_group(&app.chat_db, group_id)
        .map_err(db_err)?
        .ok_or_else(|| refuse(404, "not_found", "No such group."))?;
    if !store::is_member(&app.chat_db, group_id, user.id).map_err(db_err)? {
        return Err(refuse(403, "forbidden", "Join the group first."));
    }
    let after = match req.query_param("after") {
        None => None,
        Some(a) if a == "0" => Some(0),
        Some(a) => Some(
            crate::http::router::parse_id(&a)
                .ok_or_else(|| refuse(400, "bad_request", "after must be a message id"))?,
        ),
    };
    let accept = accept(req)?;
    // The room keeps its member list up to date once it exists.
    let room = app
        .chat
        .hub
        .open_room(&group, || store::members(&app.chat_db, group_id))
        .map_err(db_err)?;
    Ok(Upgrade {
        accept,
        user,
        target: Target::Chat { group, room, after },
    })
}

/// `GET /ws`
pub fn notify_upgrade(app: &App, req: &Request) -> Result<Upgrade, Response> {
    let user = authenticate(app, req)?;
    let accept = accept(req)?;
    Ok(Upgrade {
        accept,
        user,
        target: Target::Notify,
    })
}

/// Runs an upgraded socket until it closes (on the connection's thread).
pub fn run(app: &Arc<App>, conn: &Conn, ip: std::net::IpAddr, leftover: Vec<u8>, up: Upgrade) {
    let hub = &app.chat.hub;
    let who = Identity {
        user_id: up.user.id,
        username: up.user.username.clone(),
        ip,
    };
    let peer = Peer::new(hub.new_peer_id(), who, conn);
    match up.target {
        Target::Chat { group, room, after } => {
            hub.enter(&room, &peer, |p, online| {
                p.send(&frame::text(&json!({
                    "type": "hello",
                    "group": group.to_json(true),
                    "you": { "id": up.user.id, "username": up.user.username },
                    "online": online,
                })));
                if let Some(after) = after {
                    match store::after(&app.chat_db, group.id, after, REPLAY_MAX) {
                        Ok(msgs) => {
                            for m in msgs {
                                let mut v = m.to_json();
                                v["type"] = json!("message");
                                p.send(&frame::text(&v));
                            }
                        }
                        Err(e) => crate::error!("replay: {e}"),
                    }
                }
            });
            reader::run(&peer, leftover, |text| {
                chat::frames::on_text(app, &room, &peer, text)
            });
            hub.exit(&room, &peer);
        }
        Target::Notify => {
            hub.listen(&peer);
            reader::run(&peer, leftover, |_| {
                peer.send(&chat::error_frame(
                    "bad_request",
                    "this socket only sends notifications",
                ));
            });
            hub.unlisten(&peer);
        }
    }
}
