//! Client frames on a group socket: `message` (validated, rate-limited,
//! stored, then acked and fanned out) and `typing` (throttled relay).
//! Anything else gets an `error` frame and the socket stays open.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::db::chat as store;
use crate::util;
use crate::web::App;
use crate::ws::frame;
use crate::ws::peer::Peer;

use super::error_frame;
use super::hub::Room;

/// Longest `client_id` echoed back in acks.
const MAX_CLIENT_ID: usize = 128;

pub fn on_text(app: &App, room: &Room, peer: &Arc<Peer>, text: &str) {
    let v: Value = match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            peer.send(&error_frame("bad_request", "frames must be JSON objects"));
            return;
        }
    };
    match v.get("type").and_then(Value::as_str) {
        Some("message") => on_message(app, room, peer, &v),
        Some("typing") => on_typing(room, peer),
        Some(_) => {
            peer.send(&error_frame("bad_request", "unknown frame type"));
        }
        None => {
            peer.send(&error_frame("bad_request", "frames need a string \"type\""));
        }
    }
}

fn on_message(app: &App, room: &Room, peer: &Arc<Peer>, v: &Value) {
    let client_id = match v.get("client_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= MAX_CLIENT_ID => Some(s.clone()),
        Some(_) => {
            let msg = "client_id must be a string of at most 128 bytes";
            peer.send(&refusal("bad_request", msg, None));
            return;
        }
    };
    let cid = client_id.as_deref();
    let (user, group) = (peer.who.user_id, room.group.id);
    let body = match super::body::from_request(room.group.e2e, v) {
        Ok(b) => b,
        Err((code, msg)) => {
            peer.send(&refusal(code, msg, cid));
            return;
        }
    };
    // A resend of a message we already stored (its ack was lost): ack again.
    if let Some(id) = cid.and_then(|c| app.chat.recent.get(user, group, c)) {
        peer.send(&frame::text(
            &json!({ "type": "ack", "client_id": cid, "id": id }),
        ));
        return;
    }
    if let Err(wait) = app.chat.messages.take(user) {
        crate::metrics::inc(&crate::metrics::RATE_LIMITED);
        let mut e = refusal_json("rate_limited", "You are sending messages too fast.", cid);
        e["retry_after_ms"] = json!(wait.as_millis().max(1) as u64);
        peer.send(&frame::text(&e));
        return;
    }
    {
        let _order = room.sequence();
        let stored = store::insert_message(
            &app.chat_db,
            group,
            user,
            &peer.who.username,
            &body,
            util::now_ms(),
        );
        let msg = match stored {
            Ok(m) => m,
            Err(e) => {
                crate::error!("storing a message: {e}");
                peer.send(&refusal(
                    "internal",
                    "the message could not be stored; please retry",
                    cid,
                ));
                return;
            }
        };
        crate::metrics::inc(&crate::metrics::MESSAGES_STORED);
        if let Some(cid) = cid {
            app.chat.recent.insert(user, group, cid, msg.id);
            peer.send(&frame::text(
                &json!({ "type": "ack", "client_id": cid, "id": msg.id }),
            ));
        }
        let mut out = msg.to_json();
        out["type"] = json!("message");
        room.fan_out(&frame::text(&out));
    }
    // Members with no socket on this room hear of it on `/ws`: `dm` for
    // direct messages, `activity` (for unread counts) in groups.
    let away = room.members_away(user);
    if !away.is_empty() {
        let note = if room.group.is_dm {
            json!({ "type": "dm", "group_id": group, "from": peer.who.username })
        } else {
            json!({ "type": "activity", "group_id": group, "from": peer.who.username })
        };
        app.chat.hub.notify_users(&away, &frame::text(&note));
    }
}

/// An `error` frame answering a message, carrying its `client_id` (if any)
/// so the client knows which message it refers to.
fn refusal_json(code: &str, message: &str, client_id: Option<&str>) -> Value {
    let mut v = json!({ "type": "error", "code": code, "message": message });
    if let Some(cid) = client_id {
        v["client_id"] = json!(cid);
    }
    v
}

fn refusal(code: &str, message: &str, client_id: Option<&str>) -> frame::Frame {
    frame::text(&refusal_json(code, message, client_id))
}

fn on_typing(room: &Room, peer: &Arc<Peer>) {
    if !room.typing_allowed(peer.who.user_id) {
        return;
    }
    let f = frame::text(&json!({ "type": "typing", "username": peer.who.username }));
    let _order = room.sequence();
    for p in room
        .peers()
        .iter()
        .filter(|p| p.who.user_id != peer.who.user_id)
    {
        p.send(&f);
    }
}
