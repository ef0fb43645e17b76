//! The wire protocol, in one place: every frame the server sends on a
//! WebSocket, every frame a client may send, the objects (group, message,
//! online user) that frames and the JSON API share, and the JSON API's
//! bodies. (The API's error body belongs to `http::response`.) Encoding and
//! decoding go through serde here and nowhere else; the hub, the socket
//! handlers and the HTTP API all build their JSON from these types.
//! `../shared/PROTOCOL.md` is the contract these types spell out.

use std::net::IpAddr;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::refusal::Refusal;
use crate::store::{
    Body, Group, Invite, Message, Reactions, ReadState, ReplyRef, Role, StoredFile,
};
use crate::ws::frame::{self, Frame};

/// Longest `client_id` echoed back in acks.
pub const MAX_CLIENT_ID: usize = 128;
/// Most members one message may mention.
pub const MAX_MENTIONS: usize = 50;
/// Attachments in one `message` frame.
pub const MAX_ATTACHMENTS: usize = super::files::MAX_ATTACHMENTS;

/// The group object (`GET /api/groups`, `hello`, `new_group`, …), as the
/// user with `role` sees it.
#[derive(Debug, Clone, Serialize)]
pub struct GroupView<'a> {
    pub id: i64,
    pub name: &'a str,
    pub e2e: bool,
    pub member: bool,
    pub created_at: i64,
    /// `group` or `dm` (an addition to PROTOCOL's object).
    pub kind: &'static str,
    pub private: bool,
    /// The viewer's role; null when not a member.
    pub role: Option<&'static str>,
    pub member_count: i64,
    /// The viewer's read position (members only; absent in frames shared
    /// by a whole room).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadView>,
}

/// Where a member is in a conversation: `last_read_id`, `unread` (messages
/// by others after it) and `mentions` (those that mention them; an
/// addition to PROTOCOL's fields), both counted up to 1000.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReadView {
    pub last_read_id: i64,
    pub unread: i64,
    pub mentions: i64,
}

impl From<ReadState> for ReadView {
    fn from(r: ReadState) -> ReadView {
        ReadView {
            last_read_id: r.last_read_id,
            unread: r.unread,
            mentions: r.mentions,
        }
    }
}

impl<'a> GroupView<'a> {
    pub fn new(g: &'a Group, role: Option<Role>) -> GroupView<'a> {
        GroupView {
            id: g.id,
            name: &g.name,
            e2e: g.e2e,
            member: role.is_some(),
            created_at: g.created_at,
            kind: if g.is_dm { "dm" } else { "group" },
            private: g.private,
            role: role.map(Role::as_str),
            member_count: g.member_count,
            read: None,
        }
    }

    /// The view with the viewer's read position.
    pub fn with_read(self, read: Option<ReadState>) -> GroupView<'a> {
        GroupView {
            read: read.map(ReadView::from),
            ..self
        }
    }
}

impl<'a> GroupView<'a> {
    /// The copy a group's own room gets (every socket there is a member's;
    /// each member's `/ws` copy carries their own role).
    pub fn for_room(g: &'a Group) -> GroupView<'a> {
        GroupView {
            member: true,
            ..GroupView::new(g, None)
        }
    }
}

/// One member (`GET /api/groups/{id}/members`).
#[derive(Debug, Clone, Serialize)]
pub struct MemberView<'a> {
    pub username: &'a str,
    pub role: &'static str,
    pub joined_at: i64,
}

/// `GET /api/groups/{id}/members`
#[derive(Debug, Clone, Serialize)]
pub struct MemberList<'a> {
    pub members: Vec<MemberView<'a>>,
}

/// An invite link (`POST`/`GET /api/groups/{id}/invites`,
/// `POST /api/admin/invites`).
#[derive(Debug, Clone, Serialize)]
pub struct InviteView<'a> {
    pub code: &'a str,
    pub url: String,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub created_at: i64,
}

impl<'a> InviteView<'a> {
    /// `url` is the invite's path: `/invite/{code}` for a group's,
    /// `/register?invite={code}` for the server's.
    pub fn new(i: &'a Invite, url: String) -> InviteView<'a> {
        InviteView {
            code: &i.code,
            url,
            expires_at: i.expires_at,
            max_uses: i.max_uses,
            uses: i.uses,
            created_at: i.created_at,
        }
    }
}

/// `GET /api/groups/{id}/invites`, `GET /api/admin/invites`
#[derive(Debug, Clone, Serialize)]
pub struct InviteList<'a> {
    pub invites: Vec<InviteView<'a>>,
}

/// The message object: `content` in plaintext groups, `envelope` (exactly
/// as the sender sent it) in E2E groups.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView<'a> {
    pub id: i64,
    pub group_id: i64,
    pub author: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope: Option<&'a RawValue>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    /// A line moderators' actions left, not a member's message (the
    /// `author` is who acted).
    #[serde(skip_serializing_if = "is_false")]
    pub system: bool,
    /// The message this one answers.
    pub reply_to: Option<ReplyView<'a>>,
    pub reactions: ReactionMap<'a>,
    /// Members this message mentions (in E2E groups, as the sender listed
    /// them).
    pub mentions: &'a [String],
    /// Files attached, in upload order.
    pub attachments: Vec<FileView<'a>>,
}

/// The file object: `POST /api/groups/{id}/files` answers it and message
/// objects carry it in `attachments`. `width`/`height` are an image's
/// pixel size (null for other files).
#[derive(Debug, Clone, Serialize)]
pub struct FileView<'a> {
    pub id: i64,
    pub name: &'a str,
    pub size: u64,
    pub content_type: &'a str,
    pub url: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl<'a> FileView<'a> {
    pub fn new(f: &'a StoredFile) -> FileView<'a> {
        FileView {
            id: f.id,
            name: &f.name,
            size: f.size,
            content_type: &f.content_type,
            url: format!("/files/{}/{}", f.id, crate::text::percent_encode(&f.name)),
            width: f.width,
            height: f.height,
        }
    }
}

/// `reply_to` in a message object: the answered message's id, author and
/// first 100 characters (null in E2E groups and once it was deleted).
#[derive(Debug, Clone, Serialize)]
pub struct ReplyView<'a> {
    pub id: i64,
    pub author: &'a str,
    pub excerpt: Option<&'a str>,
}

impl<'a> From<&'a ReplyRef> for ReplyView<'a> {
    fn from(r: &'a ReplyRef) -> ReplyView<'a> {
        ReplyView {
            id: r.id,
            author: &r.author,
            excerpt: r.excerpt.as_deref(),
        }
    }
}

/// `{"<emoji>": ["username", ...]}`, emoji in the order first used.
#[derive(Debug, Clone, Copy)]
pub struct ReactionMap<'a>(pub &'a Reactions);

impl Serialize for ReactionMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (emoji, who) in self.0 {
            map.serialize_entry(emoji, who)?;
        }
        map.end()
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl<'a> MessageView<'a> {
    pub fn new(m: &'a Message) -> MessageView<'a> {
        let (content, envelope) = match &m.body {
            Body::Content(c) => (Some(c.as_str()), None),
            // Stored envelopes were validated JSON when they arrived; one
            // that no longer parses is shown as null rather than failing.
            Body::Envelope(e) => (None, Some(raw_json(e))),
        };
        MessageView {
            id: m.id,
            group_id: m.group_id,
            author: &m.author,
            content,
            envelope,
            created_at: m.created_at,
            edited_at: m.edited_at,
            system: m.system,
            reply_to: m.reply_to.as_ref().map(ReplyView::from),
            reactions: ReactionMap(&m.reactions),
            mentions: &m.mentions,
            attachments: m.attachments.iter().map(FileView::new).collect(),
        }
    }
}

fn raw_json(text: &str) -> &RawValue {
    serde_json::from_str::<&RawValue>(text).unwrap_or(RawValue::NULL)
}

/// One user in an online list: who, and from which addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnlineUser {
    pub username: String,
    pub ips: Vec<IpAddr>,
}

impl OnlineUser {
    /// This entry as JSON, to keep and send in many lists without encoding
    /// it again.
    pub fn encoded(&self) -> Box<RawValue> {
        serde_json::value::to_raw_value(self).unwrap_or_else(|_| RawValue::NULL.to_owned())
    }
}

/// `you` in `hello`.
#[derive(Debug, Clone, Serialize)]
pub struct You<'a> {
    pub id: i64,
    pub username: &'a str,
}

/// Every frame the server sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// First frame on `/ws/chat/{id}`.
    Hello {
        group: GroupView<'a>,
        you: You<'a>,
        /// Entries as [`OnlineUser::encoded`] made them (a large room's
        /// list is thousands long, and every arrival gets one).
        online: &'a [&'a RawValue],
    },
    /// A new message, after it was stored.
    Message(MessageView<'a>),
    /// A message's new body.
    Edited(MessageView<'a>),
    /// A message was deleted (`by` a moderator, when not by its author).
    Deleted {
        id: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<&'a str>,
    },
    /// To the sender: its `client_id` was stored as `id`.
    Ack {
        client_id: &'a str,
        id: i64,
    },
    /// The group's online users.
    Presence {
        users: &'a [OnlineUser],
    },
    /// What changed in a large room's online list (see `presence::DELTA_ABOVE`):
    /// users who arrived or whose addresses changed, with all their
    /// addresses now, and users who left.
    PresenceDelta {
        joined: &'a [OnlineUser],
        left: &'a [&'a str],
    },
    /// "alice joined" / "alice left" (live only), or a stored line such as
    /// "alice added bob" (with the message `id` it is stored under).
    System {
        text: &'a str,
        created_at: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<i64>,
    },
    /// The group was renamed (to the room and every `/ws` that sees it).
    GroupUpdated {
        group: GroupView<'a>,
    },
    /// `/ws`: the group is gone.
    GroupDeleted {
        group_id: i64,
    },
    /// `/ws`: you were added to a group.
    Added {
        group: GroupView<'a>,
    },
    /// `/ws`: you were removed from a group.
    Removed {
        group_id: i64,
    },
    Typing {
        username: &'a str,
    },
    /// A refused frame; the socket stays open.
    Error {
        code: &'static str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// `/ws`: a group was created.
    NewGroup {
        group: GroupView<'a>,
    },
    /// `/ws`: everyone online (first, and on each change while at most
    /// `presence::DELTA_ABOVE` users are online); entries as
    /// [`OnlineUser::encoded`] made them.
    Online {
        users: &'a [&'a RawValue],
    },
    /// `/ws`: what changed in the online list, above `DELTA_ABOVE` users
    /// (as `PresenceDelta` for a room).
    OnlineDelta {
        joined: &'a [OnlineUser],
        left: &'a [&'a str],
    },
    /// `/ws`: a DM was opened with you, or written in while you were away.
    Dm {
        group_id: i64,
        from: &'a str,
    },
    /// `/ws`: someone wrote in a group of yours that you have not open.
    Activity {
        group_id: i64,
        from: &'a str,
    },
    /// A message's reactions changed (to its room).
    Reactions {
        id: i64,
        reactions: ReactionMap<'a>,
    },
    /// `/ws`: a message mentions you in a group you have not open.
    Mention {
        group_id: i64,
        message_id: i64,
        from: &'a str,
    },
    /// A user's device keys changed (a device added or removed): to each
    /// E2E room they are in and its members' `/ws`.
    KeysChanged {
        username: &'a str,
    },
    /// To every socket of a user: they read a conversation up to here
    /// (on one device; the others follow).
    Read {
        group_id: i64,
        last_read_id: i64,
        /// The counts after the move (an addition to PROTOCOL's fields).
        unread: i64,
        mentions: i64,
    },
}

impl ServerFrame<'_> {
    /// The frame encoded once, to be shared by every recipient.
    pub fn encode(&self) -> Frame {
        match serde_json::to_vec(self) {
            Ok(json) => frame::text(&json),
            Err(e) => {
                // Only a broken Serialize impl can get here.
                crate::error!("encoding a frame failed: {e}");
                frame::text(br#"{"type":"error","code":"internal","message":"encoding failed"}"#)
            }
        }
    }

    /// The `error` frame for a refusal, repeating the refused message's
    /// `client_id` when it had one.
    pub fn refused(r: &'_ Refusal, client_id: Option<&'_ str>) -> Frame {
        ServerFrame::Error {
            code: r.code(),
            message: &r.message(),
            client_id,
            retry_after_ms: r.retry_after().map(|d| d.as_millis().max(1) as u64),
        }
        .encode()
    }
}

/// `GET /api/me`
#[derive(Debug, Clone, Serialize)]
pub struct Me<'a> {
    pub id: i64,
    pub username: &'a str,
    /// A server admin.
    pub admin: bool,
}

/// `GET /api/groups`
#[derive(Debug, Clone, Serialize)]
pub struct GroupList<'a> {
    pub groups: Vec<GroupView<'a>>,
}

/// `GET /api/groups/{id}/messages`
#[derive(Debug, Clone, Serialize)]
pub struct MessagePage<'a> {
    pub messages: Vec<MessageView<'a>>,
    pub has_more: bool,
}

/// `GET /api/online`, `GET /api/groups/{id}/online`
#[derive(Debug, Clone, Serialize)]
pub struct OnlineList<'a> {
    pub users: &'a [OnlineUser],
}

/// `POST /api/dm`
#[derive(Debug, Clone, Serialize)]
pub struct DmOpened {
    pub group_id: i64,
}

/// One entry of `GET /api/dms`.
#[derive(Debug, Clone, Serialize)]
pub struct DmEntry<'a> {
    pub group_id: i64,
    /// The other person; in a group DM, everyone else's names joined with
    /// ", " (what the conversation is called).
    pub username: &'a str,
    /// Everyone else in the conversation, by name.
    pub usernames: &'a [String],
    /// The other account of a two-person DM was deleted: readable, no new
    /// messages.
    pub closed: bool,
    /// End-to-end encrypted.
    pub e2e: bool,
    #[serde(flatten)]
    pub read: ReadView,
}

/// `GET /api/search`
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults<'a> {
    pub results: Vec<MessageView<'a>>,
    pub has_more: bool,
}

/// `PUT`/`DELETE /api/messages/{id}/reactions/{emoji}`
#[derive(Debug, Clone, Serialize)]
pub struct ReactionsChanged<'a> {
    pub id: i64,
    pub reactions: ReactionMap<'a>,
}

/// `PUT /api/groups/{id}/read`
#[derive(Debug, Clone, Serialize)]
pub struct ReadChanged {
    pub group_id: i64,
    #[serde(flatten)]
    pub read: ReadView,
}

/// `GET /api/dms`
#[derive(Debug, Clone, Serialize)]
pub struct DmList<'a> {
    pub dms: Vec<DmEntry<'a>>,
}

/// One entry of `GET /api/groups/{id}/keys`.
#[derive(Debug, Clone, Serialize)]
pub struct KeyEntry<'a> {
    pub username: &'a str,
    pub fingerprint: &'a str,
    pub public_key: &'a str,
    /// ECDSA P-256 (base64 SPKI); null for a device that never sent one.
    pub signing_key: Option<&'a str>,
}

/// One entry of `GET /api/keys`: one of your devices.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceEntry<'a> {
    pub fingerprint: &'a str,
    pub signing_key: Option<&'a str>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// `GET /api/keys`
#[derive(Debug, Clone, Serialize)]
pub struct DeviceList<'a> {
    pub devices: Vec<DeviceEntry<'a>>,
}

/// `GET /api/groups/{id}/keys`
#[derive(Debug, Clone, Serialize)]
pub struct KeyList<'a> {
    pub keys: Vec<KeyEntry<'a>>,
}

/// `PUT /api/keys`
#[derive(Debug, Clone, Serialize)]
pub struct KeyRegistered<'a> {
    pub fingerprint: &'a str,
}

/// What a message or an edit carries before validation (see `body`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft {
    pub content: Option<Value>,
    pub envelope: Option<Value>,
}

impl Draft {
    fn from_object(obj: &mut Map<String, Value>) -> Draft {
        let mut take = |k: &str| obj.remove(k).filter(|v| !v.is_null());
        Draft {
            content: take("content"),
            envelope: take("envelope"),
        }
    }

    /// The body of `PATCH /api/messages/{id}`: `{"content"}` or `{"envelope"}`.
    pub fn from_json(body: &[u8]) -> Result<Draft, Refusal> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(mut obj)) => Ok(Draft::from_object(&mut obj)),
            _ => Err(Refusal::bad_request("The body must be a JSON object.")),
        }
    }
}

/// Every frame a client may send on `/ws/chat/{id}`.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    /// `{"type":"message","content"|"envelope",..,"client_id"?,
    /// "reply_to"?, "mentions"?}`
    Message {
        draft: Draft,
        client_id: Option<String>,
        reply_to: Option<i64>,
        /// Names the sender says it mentions (needed in E2E groups, whose
        /// content the server cannot read).
        mentions: Option<Vec<String>>,
        /// Ids of the sender's uploads to attach.
        attachments: Option<Vec<i64>>,
    },
    /// `{"type":"typing"}`
    Typing,
}

impl ClientFrame {
    /// Decodes one text frame.
    pub fn decode(text: &str) -> Result<ClientFrame, Refusal> {
        let fail = Refusal::bad_request;
        let mut obj = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) => obj,
            _ => return Err(fail("frames must be JSON objects")),
        };
        match obj.get("type").and_then(Value::as_str) {
            Some("message") => {
                let client_id = match obj.remove("client_id") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if s.len() <= MAX_CLIENT_ID => Some(s),
                    Some(_) => {
                        return Err(fail("client_id must be a string of at most 128 bytes"));
                    }
                };
                let reply_to = match obj.remove("reply_to") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(
                        v.as_i64()
                            .filter(|id| *id > 0)
                            .ok_or_else(|| fail("reply_to must be a message id"))?,
                    ),
                };
                let mentions = match obj.remove("mentions") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(names)) if names.len() <= MAX_MENTIONS => Some(
                        names
                            .into_iter()
                            .map(|n| match n {
                                Value::String(s) => Ok(s),
                                _ => Err(fail("mentions must be usernames")),
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    Some(_) => {
                        return Err(fail("mentions must be a list of at most 50 usernames"));
                    }
                };
                let attachments = match obj.remove("attachments") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(ids)) if ids.len() <= MAX_ATTACHMENTS => Some(
                        ids.into_iter()
                            .map(|v| {
                                v.as_i64()
                                    .filter(|id| *id > 0)
                                    .ok_or_else(|| fail("attachments must be file ids"))
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    Some(_) => {
                        return Err(fail("attachments must be a list of at most 10 file ids"));
                    }
                };
                Ok(ClientFrame::Message {
                    draft: Draft::from_object(&mut obj),
                    client_id,
                    reply_to,
                    mentions,
                    attachments,
                })
            }
            Some("typing") => Ok(ClientFrame::Typing),
            Some(_) => Err(fail("unknown frame type")),
            None => Err(fail("frames need a string \"type\"")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(f: &Frame) -> Value {
        // Server frames are unmasked text frames; skip the 2–10 byte header.
        let start = match f[1] & 0x7f {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        serde_json::from_slice(&f[start..]).unwrap()
    }

    #[test]
    fn frames_carry_their_type_and_the_objects_fields() {
        let g = Group {
            id: 3,
            name: "Rust".into(),
            is_dm: false,
            e2e: false,
            created_at: 5,
            closed_at: None,
            private: false,
            member_count: 1,
        };
        let alice = OnlineUser {
            username: "alice".into(),
            ips: vec![[127, 0, 0, 1].into()],
        }
        .encoded();
        let online = [&*alice];
        let hello = ServerFrame::Hello {
            group: GroupView::new(&g, Some(Role::Owner)),
            you: You {
                id: 1,
                username: "alice",
            },
            online: &online,
        };
        assert_eq!(
            json(&hello.encode()),
            serde_json::json!({"type": "hello",
                "group": {"id": 3, "name": "Rust", "e2e": false, "member": true, "created_at": 5, "kind": "group",
                    "private": false, "role": "owner", "member_count": 1},
                "you": {"id": 1, "username": "alice"},
                "online": [{"username": "alice", "ips": ["127.0.0.1"]}]})
        );
        let m = Message {
            id: 9,
            group_id: 3,
            author_id: 1,
            author: "alice".into(),
            body: Body::Envelope(r#"{"iv":"AA","ciphertext":"BB","keys":{"f":"CC"}}"#.into()),
            created_at: 7,
            edited_at: None,
            system: false,
            reply_to: Some(ReplyRef {
                id: 4,
                author: "bob".into(),
                excerpt: None,
            }),
            mentions: vec!["bob".into()],
            reactions: vec![
                ("👍".into(), vec!["bob".into(), "alice".into()]),
                ("🎉".into(), vec!["carol".into()]),
            ],
            attachments: vec![StoredFile {
                id: 2,
                group_id: 3,
                uploader_id: 1,
                message_id: Some(9),
                name: "a b.png".into(),
                content_type: "image/png".into(),
                size: 120,
                sha256: "00".repeat(32),
                width: Some(4),
                height: Some(3),
                inline: true,
                created_at: 6,
            }],
        };
        let encoded = ServerFrame::Message(MessageView::new(&m)).encode();
        assert_eq!(
            json(&encoded),
            serde_json::json!({"type": "message", "id": 9, "group_id": 3, "author": "alice",
                "envelope": {"iv": "AA", "ciphertext": "BB", "keys": {"f": "CC"}},
                "created_at": 7, "edited_at": null,
                "reply_to": {"id": 4, "author": "bob", "excerpt": null},
                "reactions": {"👍": ["bob", "alice"], "🎉": ["carol"]},
                "mentions": ["bob"],
                "attachments": [{"id": 2, "name": "a b.png", "size": 120, "content_type": "image/png",
                    "url": "/files/2/a%20b.png", "width": 4, "height": 3}]})
        );
        // Reactions keep the order they were first used in.
        let text = String::from_utf8_lossy(&encoded);
        assert!(text.find("👍") < text.find("🎉"));
        let read = ReadState {
            last_read_id: 8,
            unread: 2,
            mentions: 1,
        };
        let view = GroupView::new(&g, Some(Role::Member)).with_read(Some(read));
        let v = serde_json::to_value(&view).unwrap();
        assert_eq!(
            (v["last_read_id"].as_i64(), v["unread"].as_i64()),
            (Some(8), Some(2))
        );
        let shared = serde_json::to_value(GroupView::for_room(&g)).unwrap();
        assert!(shared.get("unread").is_none());
        let refusal = Refusal::rate_limited(std::time::Duration::from_millis(250), "slow down");
        assert_eq!(
            json(&ServerFrame::refused(&refusal, Some("c1"))),
            serde_json::json!({"type": "error", "code": "rate_limited", "message": "slow down",
                "client_id": "c1", "retry_after_ms": 250})
        );
    }

    #[test]
    fn client_frames_decode_or_say_why_not() {
        assert_eq!(
            ClientFrame::decode(r#"{"type":"typing"}"#),
            Ok(ClientFrame::Typing)
        );
        assert_eq!(
            ClientFrame::decode(
                r#"{"type":"message","content":"hi","client_id":"a","envelope":null}"#
            ),
            Ok(ClientFrame::Message {
                draft: Draft {
                    content: Some(Value::from("hi")),
                    envelope: None
                },
                client_id: Some("a".into()),
                reply_to: None,
                mentions: None,
                attachments: None,
            })
        );
        assert_eq!(
            ClientFrame::decode(
                r#"{"type":"message","content":"hi","reply_to":4,"mentions":["bob"],"attachments":[5,6]}"#
            ),
            Ok(ClientFrame::Message {
                draft: Draft {
                    content: Some(Value::from("hi")),
                    envelope: None
                },
                client_id: None,
                reply_to: Some(4),
                mentions: Some(vec!["bob".into()]),
                attachments: Some(vec![5, 6]),
            })
        );
        for bad in [
            "nope",
            "[]",
            r#"{"type":5}"#,
            r#"{"type":"shout"}"#,
            r#"{"type":"message","client_id":7}"#,
            r#"{"type":"message","reply_to":"4"}"#,
            r#"{"type":"message","reply_to":-1}"#,
            r#"{"type":"message","reply_to":1.5}"#,
            r#"{"type":"message","mentions":"bob"}"#,
            r#"{"type":"message","mentions":[1]}"#,
            r#"{"type":"message","attachments":[0]}"#,
            r#"{"type":"message","attachments":["1"]}"#,
            r#"{"type":"message","attachments":[1,2,3,4,5,6,7,8,9,10,11]}"#,
            r#"{"type":"message","attachments":7}"#,
        ] {
            let e = ClientFrame::decode(bad).unwrap_err();
            assert_eq!(e.code(), "bad_request", "{bad}");
        }
        let long = format!(r#"{{"type":"message","client_id":"{}"}}"#, "x".repeat(129));
        assert!(ClientFrame::decode(&long).is_err());
    }
}
