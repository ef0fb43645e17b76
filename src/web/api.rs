//! JSON API handlers under `/api`: each reads its session (401) and, for a
//! state change, its `X-CSRF-Token` (403), decodes the JSON fields, asks the
//! chat, and renders what comes back with the protocol's objects.

use serde::Serialize;
use serde_json::Value;

use super::session::{reader, writer};
use super::{Web, WebError};
use crate::chat::Refusal;
use crate::chat::protocol::{
    DmEntry, DmList, DmOpened, Draft, GroupList, GroupView, KeyEntry, KeyList, KeyRegistered, Me,
    MessagePage, MessageView, OnlineList,
};
use crate::http::router::parse_id;
use crate::http::{Request, Response};

type Result<T> = std::result::Result<T, WebError>;

fn bad(message: &'static str) -> WebError {
    Refusal::bad_request(message).into()
}

fn json_object(req: &Request) -> Result<serde_json::Map<String, Value>> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(obj)) => Ok(obj),
        _ => Err(bad("The body must be a JSON object.")),
    }
}

fn ok(status: u16, body: &impl Serialize) -> Result<Response> {
    Ok(Response::json(status, body))
}

/// `GET /api/me`
pub fn me(web: &Web, req: &Request) -> Result<Response> {
    let s = reader(web, req)?;
    let me = Me {
        id: s.user.id,
        username: &s.user.username,
    };
    ok(200, &me)
}

/// `GET /api/groups`
pub fn groups(web: &Web, req: &Request) -> Result<Response> {
    let s = reader(web, req)?;
    let list = web.chat.list_groups(&s.user)?;
    let groups = list.iter().map(|(g, m)| GroupView::new(g, *m)).collect();
    ok(200, &GroupList { groups })
}

/// `POST /api/groups` `{"name", "e2e"}`
pub fn create_group(web: &Web, req: &Request) -> Result<Response> {
    let s = writer(web, req)?;
    let v = json_object(req)?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("name must be a string."))?;
    let e2e = match v.get("e2e") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("e2e must be true or false.")),
    };
    let g = web.chat.create_group(&s.user, name, e2e)?;
    ok(201, &GroupView::new(&g, true))
}

/// `POST /api/groups/{id}/join`
pub fn join(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = writer(web, req)?;
    let g = web.chat.join(&s.user, id)?;
    ok(200, &GroupView::new(&g, true))
}

/// `POST /api/groups/{id}/leave`
pub fn leave(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = writer(web, req)?;
    web.chat.leave(&s.user, id)?;
    Ok(Response::no_content())
}

/// `GET /api/groups/{id}/messages?before=ID&limit=N`
pub fn messages(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = reader(web, req)?;
    let before = match req.query_param("before") {
        None => None,
        Some(b) => Some(parse_id(&b).ok_or_else(|| bad("before must be a message id."))?),
    };
    let limit = match req.query_param("limit") {
        None => 50,
        Some(l) => match l.parse::<usize>() {
            Ok(n @ 1..=100) => n,
            _ => return Err(bad("limit must be 1 to 100.")),
        },
    };
    let (msgs, has_more) = web.chat.history(&s.user, id, before, limit)?;
    let messages = msgs.iter().map(MessageView::new).collect();
    ok(200, &MessagePage { messages, has_more })
}

/// `GET /api/online`
pub fn online(web: &Web, req: &Request) -> Result<Response> {
    reader(web, req)?;
    let users = web.chat.hub.online();
    ok(200, &OnlineList { users: &users })
}

/// `GET /api/groups/{id}/online`
pub fn group_online(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = reader(web, req)?;
    let users = web.chat.group_online(&s.user, id)?;
    ok(200, &OnlineList { users: &users })
}

/// `POST /api/dm` `{"username"}`
pub fn open_dm(web: &Web, req: &Request) -> Result<Response> {
    let s = writer(web, req)?;
    let v = json_object(req)?;
    let name = v
        .get("username")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("username must be a string."))?;
    let g = web.chat.open_dm(&s.user, name)?;
    ok(200, &DmOpened { group_id: g.id })
}

/// `GET /api/dms`
pub fn dms(web: &Web, req: &Request) -> Result<Response> {
    let s = reader(web, req)?;
    let list = web.chat.dms(&s.user)?;
    let dms = list
        .iter()
        .map(|(group_id, username, closed)| DmEntry {
            group_id: *group_id,
            username,
            closed: *closed,
        })
        .collect();
    ok(200, &DmList { dms })
}

/// `PATCH /api/messages/{id}` `{"content"}` (or `{"envelope"}` in E2E groups)
pub fn edit_message(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = writer(web, req)?;
    let draft = Draft::from_json(&req.body)?;
    let m = web.chat.edit(&s.user, id, &draft)?;
    ok(200, &MessageView::new(&m))
}

/// `DELETE /api/messages/{id}`
pub fn delete_message(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = writer(web, req)?;
    web.chat.delete(&s.user, id)?;
    Ok(Response::no_content())
}

/// `PUT /api/keys` `{"public_key": "<base64 SPKI>"}`
pub fn put_key(web: &Web, req: &Request) -> Result<Response> {
    let s = writer(web, req)?;
    let v = json_object(req)?;
    let key = v
        .get("public_key")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(crate::auth::keys::BAD_KEY))?;
    let fingerprint = web.chat.register_key(&s.user, key)?;
    ok(
        200,
        &KeyRegistered {
            fingerprint: &fingerprint,
        },
    )
}

/// `GET /api/groups/{id}/keys`
pub fn group_keys(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = reader(web, req)?;
    let found = web.chat.group_keys(&s.user, id)?;
    let keys = found
        .iter()
        .map(|(username, k)| KeyEntry {
            username,
            fingerprint: &k.fingerprint,
            public_key: &k.public_key,
        })
        .collect();
    ok(200, &KeyList { keys })
}
