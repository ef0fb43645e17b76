//! JSON API handlers under `/api`: each reads its session (401) and, for a
//! state change, its `X-CSRF-Token` (403), decodes the JSON fields, asks the
//! chat, and renders what comes back with the protocol's objects.

use serde::Serialize;
use serde_json::Value;

use super::session::{reader, writer};
use super::{Web, WebError};
use crate::auth::{Operator, Registration};
use crate::chat::Refusal;
use crate::chat::invites;
use crate::chat::protocol::{
    DeviceEntry, DeviceList, DmEntry, DmList, DmOpened, Draft, GroupList, GroupView, InviteList,
    InviteView, KeyEntry, KeyList, KeyRegistered, Me, MemberList, MemberView, MessagePage,
    MessageView, OnlineList,
};
use crate::http::router::{AdminOp, parse_id};
use crate::http::{Request, Response};
use crate::store::{Invite, Member, Role};

type Result<T> = std::result::Result<T, WebError>;

pub(super) fn bad(message: &'static str) -> WebError {
    Refusal::bad_request(message).into()
}

pub(super) fn json_object(req: &Request) -> Result<serde_json::Map<String, Value>> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(obj)) => Ok(obj),
        _ => Err(bad("The body must be a JSON object.")),
    }
}

pub(super) fn ok(status: u16, body: &impl Serialize) -> Result<Response> {
    Ok(Response::json(status, body))
}

/// `GET /api/me`
pub fn me(web: &Web, req: &Request) -> Result<Response> {
    let s = reader(web, req)?;
    let me = Me {
        id: s.user.id,
        username: &s.user.username,
        admin: s.user.admin,
    };
    ok(200, &me)
}

/// `GET /api/groups`
pub fn groups(web: &Web, req: &Request) -> Result<Response> {
    let s = reader(web, req)?;
    let list = web.chat.list_groups(&s.user)?;
    let groups = list
        .iter()
        .map(|(seen, read)| GroupView::new(&seen.group, seen.role).with_read(*read))
        .collect();
    ok(200, &GroupList { groups })
}

/// The group object for `user` (with their read position, as a member).
fn seen_view<'a>(
    web: &Web,
    user: &crate::store::User,
    g: &'a crate::store::Group,
    role: Option<Role>,
) -> Result<GroupView<'a>> {
    let read = match role {
        Some(_) => Some(web.chat.read_state(user, g.id)?),
        None => None,
    };
    Ok(GroupView::new(g, role).with_read(read))
}

/// `POST /api/groups` `{"name", "e2e"}`
pub fn create_group(web: &Web, req: &Request) -> Result<Response> {
    let s = writer(web, req)?;
    let v = json_object(req)?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("name must be a string."))?;
    let e2e = flag(&v, "e2e")?;
    let private = flag(&v, "private")?;
    let g = web.chat.create_group(&s.user, name, e2e, private)?;
    ok(201, &seen_view(web, &s.user, &g, Some(Role::Owner))?)
}

/// An optional boolean field (absent or null: false).
fn flag(v: &serde_json::Map<String, Value>, name: &'static str) -> Result<bool> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Refusal::bad_request(format!("{name} must be true or false.")).into()),
    }
}

/// An optional positive integer field (absent or null: none).
fn count(v: &serde_json::Map<String, Value>, name: &'static str) -> Result<Option<i64>> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n.as_i64().map(Some).ok_or_else(|| {
            Refusal::bad_request(format!("{name} must be a whole number or null.")).into()
        }),
    }
}

fn string<'a>(v: &'a serde_json::Map<String, Value>, name: &'static str) -> Result<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Refusal::bad_request(format!("{name} must be a string.")).into())
}

/// `POST /api/groups/{id}/join`
pub fn join(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = writer(web, req)?;
    let seen = web.chat.join(&s.user, id)?;
    ok(200, &seen_view(web, &s.user, &seen.group, seen.role)?)
}

/// `GET /api/groups/{id}/members`
pub fn members(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = reader(web, req)?;
    let list = web.chat.members(&s.user, id)?;
    let members = list.iter().map(|(name, m)| member_view(name, m)).collect();
    ok(200, &MemberList { members })
}

fn member_view<'a>(username: &'a str, m: &Member) -> MemberView<'a> {
    MemberView {
        username,
        role: m.role.as_str(),
        joined_at: m.joined_at,
    }
}

/// `POST /api/groups/{id}/members` `{"username"}`
pub fn add_member(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = writer(web, req)?;
    let v = json_object(req)?;
    let (name, m) = web.chat.add_member(&s.user, id, string(&v, "username")?)?;
    ok(200, &member_view(&name, &m))
}

/// `DELETE /api/groups/{id}/members/{username}`
pub fn remove_member(web: &Web, req: &Request, id: i64, name: &str) -> Result<Response> {
    let s = writer(web, req)?;
    web.chat.remove_member(&s.user, id, name)?;
    Ok(Response::no_content())
}

/// `PATCH /api/groups/{id}/members/{username}` `{"role"}`
pub fn set_role(web: &Web, req: &Request, id: i64, name: &str) -> Result<Response> {
    let s = writer(web, req)?;
    let v = json_object(req)?;
    let role = Role::parse(string(&v, "role")?)
        .ok_or_else(|| bad("role must be owner, admin or member."))?;
    let (name, m) = web.chat.set_role(&s.user, id, name, role)?;
    ok(200, &member_view(&name, &m))
}

/// `PATCH /api/groups/{id}` `{"name"}`
pub fn rename_group(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = writer(web, req)?;
    let v = json_object(req)?;
    let seen = web.chat.rename(&s.user, id, string(&v, "name")?)?;
    ok(200, &seen_view(web, &s.user, &seen.group, seen.role)?)
}

/// `DELETE /api/groups/{id}`
pub fn delete_group(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = writer(web, req)?;
    web.chat.delete_group(&s.user, id)?;
    Ok(Response::no_content())
}

fn group_invite(i: &Invite) -> InviteView<'_> {
    InviteView::new(i, format!("/invite/{}", i.code))
}

/// `POST /api/groups/{id}/invites` `{"max_uses", "expires_in_s"}`
pub fn create_invite(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = writer(web, req)?;
    let v = json_object(req)?;
    let invite = web.chat.create_invite(
        &s.user,
        id,
        count(&v, "max_uses")?,
        count(&v, "expires_in_s")?,
    )?;
    ok(201, &group_invite(&invite))
}

/// `GET /api/groups/{id}/invites`
pub fn invites(web: &Web, req: &Request, id: i64) -> Result<Response> {
    let s = reader(web, req)?;
    let list = web.chat.invites(&s.user, id)?;
    let invites = list.iter().map(group_invite).collect();
    ok(200, &InviteList { invites })
}

/// `DELETE /api/groups/{id}/invites/{code}`
pub fn revoke_invite(web: &Web, req: &Request, id: i64, code: &str) -> Result<Response> {
    let s = writer(web, req)?;
    web.chat.revoke_invite(&s.user, id, code)?;
    Ok(Response::no_content())
}

/// `POST /api/invites/{code}`
pub fn accept_invite(web: &Web, req: &Request, code: &str) -> Result<Response> {
    let s = writer(web, req)?;
    let (group, role) = web.chat.accept_invite(&s.user, code)?;
    ok(200, &seen_view(web, &s.user, &group, role)?)
}

/// The session of a server admin's state-changing request.
fn admin_writer(web: &Web, req: &Request) -> Result<crate::auth::Session> {
    let s = writer(web, req)?;
    if !s.user.admin {
        return Err(crate::auth::AccountError::NotAdmin.into());
    }
    Ok(s)
}

/// `POST /api/admin/users/{username}/disable|enable|promote|demote|reset-link`
pub fn admin_user(web: &Web, req: &Request, name: &str, op: AdminOp) -> Result<Response> {
    let s = admin_writer(web, req)?;
    let by = Operator::Admin(&s.user);
    let accounts = &web.accounts;
    match op {
        AdminOp::Disable => accounts.set_disabled(by, name, true).map(drop)?,
        AdminOp::Enable => accounts.set_disabled(by, name, false).map(drop)?,
        AdminOp::Promote => accounts.set_admin(by, name, true).map(drop)?,
        AdminOp::Demote => accounts.set_admin(by, name, false).map(drop)?,
        AdminOp::ResetLink => {
            let link = accounts.reset_link(by, name)?;
            let body = serde_json::json!({ "url": link.path(), "expires_at": link.expires_at });
            return ok(201, &body);
        }
    }
    Ok(Response::no_content())
}

fn server_invite(i: &Invite) -> InviteView<'_> {
    InviteView::new(i, format!("/register?invite={}", i.code))
}

/// `POST /api/admin/invites` `{"max_uses", "expires_in_s"}`
pub fn create_server_invite(web: &Web, req: &Request) -> Result<Response> {
    let s = admin_writer(web, req)?;
    let v = json_object(req)?;
    let (max_uses, expires_at) =
        invites::limits(count(&v, "max_uses")?, count(&v, "expires_in_s")?)?;
    let code = invites::new_code();
    let invite =
        web.accounts
            .create_server_invite(Operator::Admin(&s.user), &code, max_uses, expires_at)?;
    ok(201, &server_invite(&invite))
}

/// `GET /api/admin/invites`
pub fn server_invites(web: &Web, req: &Request) -> Result<Response> {
    let s = reader(web, req)?;
    let list = web.accounts.server_invites(Operator::Admin(&s.user))?;
    let invites = list.iter().map(server_invite).collect();
    ok(200, &InviteList { invites })
}

/// `DELETE /api/admin/invites/{code}`
pub fn revoke_server_invite(web: &Web, req: &Request, code: &str) -> Result<Response> {
    let s = admin_writer(web, req)?;
    if !web
        .accounts
        .revoke_server_invite(Operator::Admin(&s.user), code)?
    {
        return Err(Refusal::not_found("No such invite.").into());
    }
    Ok(Response::no_content())
}

/// `PUT /api/admin/registration` `{"mode": "open" | "invite" | "closed"}`
pub fn set_registration(web: &Web, req: &Request) -> Result<Response> {
    admin_writer(web, req)?;
    let v = json_object(req)?;
    let mode = Registration::parse(string(&v, "mode")?)
        .ok_or_else(|| bad("mode must be open, invite or closed."))?;
    web.accounts.set_registration(mode)?;
    ok(200, &serde_json::json!({ "mode": mode.as_str() }))
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

/// `POST /api/dm` `{"username"}` or `{"usernames": [...]}` (one to nine
/// others), with `"e2e": true` for the end-to-end encrypted one
pub fn open_dm(web: &Web, req: &Request) -> Result<Response> {
    let s = writer(web, req)?;
    let v = json_object(req)?;
    let names: Vec<&str> = match (v.get("username"), v.get("usernames")) {
        (Some(Value::String(name)), None) => vec![name.as_str()],
        (None, Some(Value::Array(list))) => {
            list.iter()
                .map(Value::as_str)
                .collect::<Option<_>>()
                .ok_or_else(|| bad("usernames must be a list of usernames."))?
        }
        _ => return Err(bad("Send username (a string) or usernames (a list).")),
    };
    let e2e = match v.get("e2e") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("e2e must be true or false.")),
    };
    let g = web.chat.open_dm(&s.user, &names, e2e)?;
    ok(200, &DmOpened { group_id: g.id })
}

/// `GET /api/dms`
pub fn dms(web: &Web, req: &Request) -> Result<Response> {
    let s = reader(web, req)?;
    let list = web.chat.dms(&s.user)?;
    let dms = list
        .iter()
        .map(|dm| DmEntry {
            group_id: dm.group_id,
            username: &dm.name,
            usernames: &dm.others,
            closed: dm.closed,
            e2e: dm.e2e,
            read: dm.read.into(),
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

/// `PUT /api/keys` `{"public_key": "<base64 SPKI>", "signing_key"?: "<base64 SPKI>"}`
pub fn put_key(web: &Web, req: &Request) -> Result<Response> {
    let s = writer(web, req)?;
    let v = json_object(req)?;
    let key = v
        .get("public_key")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(crate::auth::keys::BAD_KEY))?;
    let signing_key = match v.get("signing_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err(bad(crate::auth::keys::BAD_SIGNING_KEY)),
    };
    let fingerprint = web.chat.register_key(&s.user, key, signing_key)?;
    ok(
        200,
        &KeyRegistered {
            fingerprint: &fingerprint,
        },
    )
}

/// `GET /api/keys`: your devices.
pub fn devices(web: &Web, req: &Request) -> Result<Response> {
    let s = reader(web, req)?;
    let found = web.chat.devices(&s.user)?;
    let devices = found
        .iter()
        .map(|k| DeviceEntry {
            fingerprint: &k.fingerprint,
            signing_key: k.signing_key.as_deref(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        })
        .collect();
    ok(200, &DeviceList { devices })
}

/// `DELETE /api/keys/{fingerprint}`: removes one of your devices.
pub fn remove_device(web: &Web, req: &Request, fingerprint: &str) -> Result<Response> {
    let s = writer(web, req)?;
    web.chat.remove_device(&s.user, fingerprint)?;
    Ok(Response::no_content())
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
            signing_key: k.signing_key.as_deref(),
        })
        .collect();
    ok(200, &KeyList { keys })
}
