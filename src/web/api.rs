//! JSON API handlers under `/api`: every one needs a session (401), every
//! state change a matching `X-CSRF-Token` (403), and group data is for
//! members only (403; 404 for groups that do not exist).

use serde_json::{Value, json};

use crate::chat::body;
use crate::db::chat::{self as store, Group};
use crate::db::users;
use crate::http::{Request, Response};
use crate::util;
use crate::ws::frame;

use super::App;
use super::session::{self, Session};

type Result<T> = std::result::Result<T, Response>;

fn err(status: u16, code: &str, message: &str) -> Response {
    Response::error_json(status, code, message)
}

fn db_err(e: rusqlite::Error) -> Response {
    crate::error!("database: {e}");
    err(500, "internal", "Internal server error.")
}

/// The session of a read-only request.
fn reader(app: &App, req: &Request) -> Result<Session> {
    session::current(app, req).ok_or_else(|| err(401, "unauthorized", "Log in first."))
}

/// The session of a state-changing request, with its CSRF header checked.
fn writer(app: &App, req: &Request) -> Result<Session> {
    let s = reader(app, req)?;
    if !crate::auth::csrf::matches(&s.csrf_token(), req.header("x-csrf-token")) {
        return Err(err(
            403,
            "bad_csrf",
            "Missing or wrong X-CSRF-Token header.",
        ));
    }
    Ok(s)
}

fn json_body(req: &Request) -> Result<Value> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(err(400, "bad_request", "The body must be a JSON object.")),
    }
}

fn rate_limit(app: &App, s: &Session) -> Result<()> {
    app.chat.messages.take(s.user.id).map_err(|wait| {
        crate::metrics::inc(&crate::metrics::RATE_LIMITED);
        let secs = wait.as_secs() + 1;
        err(429, "rate_limited", "Too many requests; slow down.")
            .with_header("Retry-After", secs.to_string())
    })
}

fn group(app: &App, id: i64) -> Result<Group> {
    store::get_group(&app.chat_db, id)
        .map_err(db_err)?
        .ok_or_else(|| err(404, "not_found", "No such group."))
}

/// A group the session's user belongs to.
fn member_group(app: &App, s: &Session, id: i64) -> Result<Group> {
    let g = group(app, id)?;
    if !store::is_member(&app.chat_db, id, s.user.id).map_err(db_err)? {
        return Err(err(403, "forbidden", "You are not a member of this group."));
    }
    Ok(g)
}

fn respond(r: Result<Response>) -> Response {
    r.unwrap_or_else(|e| e)
}

/// `GET /api/me`
pub fn me(app: &App, req: &Request) -> Response {
    respond(reader(app, req).map(|s| {
        Response::json(
            200,
            &json!({ "id": s.user.id, "username": s.user.username }),
        )
    }))
}

/// `GET /api/groups`
pub fn groups(app: &App, req: &Request) -> Response {
    respond((|| {
        let s = reader(app, req)?;
        let list = store::list_groups(&app.chat_db, s.user.id).map_err(db_err)?;
        let groups: Vec<Value> = list.iter().map(|(g, member)| g.to_json(*member)).collect();
        Ok(Response::json(200, &json!({ "groups": groups })))
    })())
}

/// A group name: 1–64 characters after trimming, no control characters.
fn valid_group_name(v: Option<&Value>) -> Result<String> {
    let name = v
        .and_then(Value::as_str)
        .ok_or_else(|| err(400, "bad_request", "name must be a string."))?
        .trim();
    let len = name.chars().count();
    if len == 0 || len > 64 {
        return Err(err(
            400,
            "bad_request",
            "Group names are 1 to 64 characters long.",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(err(
            400,
            "bad_request",
            "Group names cannot contain control characters.",
        ));
    }
    Ok(name.to_string())
}

/// `POST /api/groups`
pub fn create_group(app: &App, req: &Request) -> Response {
    respond((|| {
        let s = writer(app, req)?;
        let v = json_body(req)?;
        let name = valid_group_name(v.get("name"))?;
        let e2e = match v.get("e2e") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(err(400, "bad_request", "e2e must be true or false.")),
        };
        rate_limit(app, &s)?;
        let g = store::create_group(&app.chat_db, &name, e2e, s.user.id, util::now_ms())
            .map_err(db_err)?
            .ok_or_else(|| err(409, "name_taken", "A group with that name already exists."))?;
        let hub = &app.chat.hub;
        hub.notify_where(
            |uid| uid != s.user.id,
            &frame::text(&json!({ "type": "new_group", "group": g.to_json(false) })),
        );
        hub.notify_user(
            s.user.id,
            &frame::text(&json!({ "type": "new_group", "group": g.to_json(true) })),
        );
        Ok(Response::json(201, &g.to_json(true)))
    })())
}

/// `POST /api/groups/{id}/join`
pub fn join(app: &App, req: &Request, id: i64) -> Response {
    respond((|| {
        let s = writer(app, req)?;
        let g = group(app, id)?;
        if g.is_dm {
            return Err(err(404, "not_found", "No such group."));
        }
        let _change = app.chat.hub.membership_change();
        store::join(&app.chat_db, id, s.user.id, util::now_ms()).map_err(db_err)?;
        app.chat.hub.member_joined(id, s.user.id);
        Ok(Response::json(200, &g.to_json(true)))
    })())
}

/// `POST /api/groups/{id}/leave`
pub fn leave(app: &App, req: &Request, id: i64) -> Response {
    respond((|| {
        let s = writer(app, req)?;
        let g = group(app, id)?;
        if g.is_dm {
            return Err(err(
                400,
                "bad_request",
                "Direct conversations cannot be left.",
            ));
        }
        let _change = app.chat.hub.membership_change();
        store::leave(&app.chat_db, id, s.user.id).map_err(db_err)?;
        app.chat.hub.kick(id, s.user.id);
        Ok(Response::no_content())
    })())
}

/// `GET /api/groups/{id}/messages?before=ID&limit=N`
pub fn messages(app: &App, req: &Request, id: i64) -> Response {
    respond((|| {
        let s = reader(app, req)?;
        let before = match req.query_param("before") {
            None => None,
            Some(b) => Some(
                crate::http::router::parse_id(&b)
                    .ok_or_else(|| err(400, "bad_request", "before must be a message id."))?,
            ),
        };
        let limit = match req.query_param("limit") {
            None => 50,
            Some(l) => match l.parse::<usize>() {
                Ok(n @ 1..=100) => n,
                _ => return Err(err(400, "bad_request", "limit must be 1 to 100.")),
            },
        };
        member_group(app, &s, id)?;
        let (msgs, has_more) = store::history(&app.chat_db, id, before, limit).map_err(db_err)?;
        let msgs: Vec<Value> = msgs.iter().map(|m| m.to_json()).collect();
        Ok(Response::json(
            200,
            &json!({ "messages": msgs, "has_more": has_more }),
        ))
    })())
}

/// `GET /api/online`
pub fn online(app: &App, req: &Request) -> Response {
    respond(
        reader(app, req).map(|_| Response::json(200, &json!({ "users": app.chat.hub.online() }))),
    )
}

/// `GET /api/groups/{id}/online`
pub fn group_online(app: &App, req: &Request, id: i64) -> Response {
    respond((|| {
        let s = reader(app, req)?;
        member_group(app, &s, id)?;
        Ok(Response::json(
            200,
            &json!({ "users": app.chat.hub.room_presence(id) }),
        ))
    })())
}

/// `POST /api/dm` `{"username"}`
pub fn open_dm(app: &App, req: &Request) -> Response {
    respond((|| {
        let s = writer(app, req)?;
        let v = json_body(req)?;
        let name = v
            .get("username")
            .and_then(Value::as_str)
            .ok_or_else(|| err(400, "bad_request", "username must be a string."))?;
        let (other, _) = users::find_by_name(&app.users_db, name)
            .map_err(db_err)?
            .ok_or_else(|| err(404, "not_found", "No such user."))?;
        if other.id == s.user.id {
            return Err(err(
                400,
                "bad_request",
                "You cannot open a conversation with yourself.",
            ));
        }
        let (g, created) =
            store::open_dm(&app.chat_db, s.user.id, other.id, util::now_ms()).map_err(db_err)?;
        if created {
            let note = json!({ "type": "dm", "group_id": g.id, "from": s.user.username });
            app.chat.hub.notify_user(other.id, &frame::text(&note));
        }
        Ok(Response::json(200, &json!({ "group_id": g.id })))
    })())
}

/// `GET /api/dms`
pub fn dms(app: &App, req: &Request) -> Response {
    respond((|| {
        let s = reader(app, req)?;
        let mut list = Vec::new();
        for (group_id, other) in store::list_dms(&app.chat_db, s.user.id).map_err(db_err)? {
            if let Some(u) = users::get(&app.users_db, other).map_err(db_err)? {
                list.push(json!({ "group_id": group_id, "username": u.username }));
            }
        }
        Ok(Response::json(200, &json!({ "dms": list })))
    })())
}

/// The message `id` if the session's user wrote it (and still belongs to
/// its group), with its group.
fn own_message(app: &App, s: &Session, id: i64) -> Result<(store::Message, Group)> {
    let m = store::get_message(&app.chat_db, id)
        .map_err(db_err)?
        .ok_or_else(|| err(404, "not_found", "No such message."))?;
    let g =
        member_group(app, s, m.group_id).map_err(|_| err(404, "not_found", "No such message."))?;
    if m.author_id != s.user.id {
        return Err(err(
            403,
            "forbidden",
            "Only the author can change a message.",
        ));
    }
    Ok((m, g))
}

/// `PATCH /api/messages/{id}` `{"content"}` (or `{"envelope"}` in E2E groups)
pub fn edit_message(app: &App, req: &Request, id: i64) -> Response {
    respond((|| {
        let s = writer(app, req)?;
        let v = json_body(req)?;
        let (_, g) = own_message(app, &s, id)?;
        let new_body = body::from_request(g.e2e, &v)
            .map_err(|(code, msg)| err(if code == "too_large" { 413 } else { 400 }, code, msg))?;
        rate_limit(app, &s)?;
        let m = app.chat.hub.change(g.id, || {
            let edited = store::edit_message(&app.chat_db, id, &new_body, util::now_ms());
            let frame = edited.as_ref().ok().and_then(Option::as_ref).map(|m| {
                let mut out = m.to_json();
                out["type"] = json!("edited");
                frame::text(&out)
            });
            (edited, frame)
        });
        let m = m
            .map_err(db_err)?
            .ok_or_else(|| err(404, "not_found", "No such message."))?;
        Ok(Response::json(200, &m.to_json()))
    })())
}

/// `DELETE /api/messages/{id}`
pub fn delete_message(app: &App, req: &Request, id: i64) -> Response {
    respond((|| {
        let s = writer(app, req)?;
        let (_, g) = own_message(app, &s, id)?;
        app.chat
            .hub
            .change(g.id, || {
                let deleted = store::delete_message(&app.chat_db, id, util::now_ms());
                let frame = matches!(deleted, Ok(true))
                    .then(|| frame::text(&json!({ "type": "deleted", "id": id })));
                (deleted, frame)
            })
            .map_err(db_err)?;
        Ok(Response::no_content())
    })())
}

/// The DER `AlgorithmIdentifier` OID of rsaEncryption (1.2.840.113549.1.1.1).
const RSA_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

/// Whether `der` looks like an RSA SubjectPublicKeyInfo of 2048–4096 bits.
fn is_rsa_spki(der: &[u8]) -> bool {
    (280..=560).contains(&der.len())
        && der[0] == 0x30
        && der.windows(RSA_OID.len()).take(16).any(|w| w == RSA_OID)
}

/// `PUT /api/keys` `{"public_key": "<base64 SPKI>"}`
pub fn put_key(app: &App, req: &Request) -> Response {
    respond((|| {
        let s = writer(app, req)?;
        let v = json_body(req)?;
        let bad = || {
            err(
                400,
                "bad_request",
                "public_key must be a base64 RSA-OAEP SubjectPublicKeyInfo (2048-4096 bits).",
            )
        };
        let b64 = v
            .get("public_key")
            .and_then(Value::as_str)
            .ok_or_else(bad)?;
        if b64.len() > 1024 {
            return Err(bad());
        }
        let der = util::base64_decode(b64).ok_or_else(bad)?;
        if !is_rsa_spki(&der) {
            return Err(bad());
        }
        let fingerprint = util::hex(&util::sha256(&der));
        let canonical = b64
            .trim_end_matches('=')
            .replace('-', "+")
            .replace('_', "/");
        let canonical = format!("{canonical}{}", "=".repeat((4 - canonical.len() % 4) % 4));
        rate_limit(app, &s)?;
        users::put_device_key(
            &app.users_db,
            s.user.id,
            &fingerprint,
            &canonical,
            util::now_ms(),
        )
        .map_err(db_err)?;
        Ok(Response::json(200, &json!({ "fingerprint": fingerprint })))
    })())
}

/// `GET /api/groups/{id}/keys`
pub fn group_keys(app: &App, req: &Request, id: i64) -> Response {
    respond((|| {
        let s = reader(app, req)?;
        member_group(app, &s, id)?;
        let mut keys = Vec::new();
        for uid in store::members(&app.chat_db, id).map_err(db_err)? {
            if let Some((username, list)) =
                users::device_keys(&app.users_db, uid).map_err(db_err)?
            {
                for (fingerprint, public_key) in list {
                    keys.push(json!({ "username": username, "fingerprint": fingerprint, "public_key": public_key }));
                }
            }
        }
        Ok(Response::json(200, &json!({ "keys": keys })))
    })())
}
