//! A WebSocket's life in the chat, after its handshake was accepted, in
//! two parts — getting in (`enter_socket`, on the HTTP thread) and the rest
//! (`run_socket`, on the socket's own thread): `/ws/chat/{id}` enters its room (checked again once inside: session
//! live, still a member), gets hello and the replay of what the client
//! missed before any live frame, hands each client frame to the message
//! rules, and leaves the room when it closes; `/ws` listens for
//! notifications and sends nothing of its own.

use super::relay::Among;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::value::RawValue;

use super::hub::{self, Room};
use super::messages::Post;
use super::protocol::{ClientFrame, GroupView, MessageView, ReactionMap, ServerFrame, You};
use super::{Action, Chat, Refusal};
use crate::net::transport::Conn;
use crate::store::{Change, Group, Role, User};
use crate::ws::peer::{self, Identity, Peer, Wire};
use crate::ws::reader::{self, Incoming};

/// Most messages replayed to a reconnecting socket.
pub const REPLAY_MAX: usize = 500;

/// A socket the handshake let in, and what it is for.
pub struct Admission {
    pub user: User,
    /// The session it opened with: its token's SHA-256, and its expiry.
    pub session: Arc<str>,
    pub expires_at: i64,
    pub target: Target,
}

pub enum Target {
    /// One group's room (where the user has `role`), replaying what the
    /// client missed first.
    Room {
        group: Group,
        role: Role,
        room: Arc<Room>,
        replay: Option<Replay>,
    },
    /// `/ws` notifications.
    Notify,
}

/// A socket let in (`Chat::enter_socket`), waiting for its reader.
pub struct Entered {
    peer: Arc<Peer>,
    place: Place,
}

enum Place {
    /// In a room; `entered` is false when the checks inside refused it
    /// (it was closed; its reader only drains the close).
    Room {
        room: Arc<Room>,
        entered: bool,
    },
    Notify,
}

/// What a reconnecting client missed: every message after `after`, and
/// (with `since`, the time of the last frame it had) the edits, deletions
/// and reactions made since then to the messages it already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    pub after: i64,
    pub since: Option<i64>,
}

impl Chat {
    /// Counts a socket open against `user`'s limit.
    pub fn open_socket(&self, user: &User) -> Result<(), Refusal> {
        self.take(user.id, Action::OpenSocket)
    }

    /// The room of a group (a member's: the caller checked), opened if
    /// need be.
    pub fn room(&self, group: &Group) -> Result<Arc<Room>, Refusal> {
        // The room keeps its member list up to date once it exists.
        Ok(self
            .hub
            .open_room(group, || self.store.member_ids(group.id))?)
    }

    /// Lets an upgraded socket in: its room (checked again once inside,
    /// then hello and the replay) or the notification listeners. Call on
    /// the connection's HTTP thread, before `run` on the socket's own: the
    /// database work of getting in then touches that thread's stack, not
    /// the one every idle socket keeps for its life (measured: 16 KiB of
    /// resident stack per idle socket when it ran there).
    pub fn enter_socket(&self, conn: &Conn, ip: IpAddr, admission: Admission) -> Entered {
        let Admission {
            user,
            session,
            expires_at,
            target,
        } = admission;
        let who = Identity {
            user_id: user.id,
            username: user.username.clone(),
            ip,
            session,
            expires_at,
        };
        let _ = conn.sock.set_write_timeout(Some(peer::WRITE_TIMEOUT));
        let wire: Arc<dyn Wire> = Arc::clone(&conn.sock) as Arc<dyn Wire>;
        let peer = Peer::new(self.hub.new_peer_id(), who, wire, conn.tls.clone());
        match target {
            Target::Room {
                group,
                role,
                room,
                replay,
            } => {
                let admit = || {
                    if !self.session_live(&peer.who.session) {
                        peer.close(hub::SESSION_ENDED, "session ended");
                        return false;
                    }
                    if !matches!(self.store.is_member(group.id, user.id), Ok(true)) {
                        peer.close(hub::NOT_A_MEMBER, "not a member");
                        return false;
                    }
                    true
                };
                // Read before entering: a query under the room's order
                // would hold up every other arrival.
                let read = self.store.read_state(user.id, group.id).ok();
                let hello = |online: &[&RawValue]| {
                    ServerFrame::Hello {
                        group: GroupView::new(&group, Some(role)).with_read(read),
                        you: You {
                            id: user.id,
                            username: &user.username,
                        },
                        online,
                    }
                    .encode()
                };
                let then = |p: &Arc<Peer>| {
                    if let Some(replay) = replay {
                        self.replay(p, group.id, replay);
                    }
                };
                let entered = self.hub.enter(&room, &peer, admit, hello, then);
                Entered {
                    peer,
                    place: Place::Room { room, entered },
                }
            }
            Target::Notify => {
                self.hub.listen(&peer);
                // Listed first, checked after: an end of the session from
                // now on finds this socket.
                if !self.session_live(&peer.who.session) {
                    peer.close(hub::SESSION_ENDED, "session ended");
                }
                Entered {
                    peer,
                    place: Place::Notify,
                }
            }
        }
    }

    /// Takes an entered socket out again without running it (no thread
    /// could be had for it): closed with 1013, "try again later".
    pub fn leave_socket(&self, entered: Entered) {
        let Entered { peer, place } = entered;
        peer.close(1013, "server busy");
        match place {
            Place::Room { room, .. } => self.hub.exit(&room, &peer),
            Place::Notify => self.hub.unlisten(&peer),
        }
    }

    /// Runs an entered socket until it closes (on the socket's own thread).
    pub fn run_socket(&self, conn: &Conn, leftover: Vec<u8>, entered: Entered) {
        let Entered { peer, place } = entered;
        match place {
            Place::Room { room, entered } => {
                reader::run(&peer, &conn.sock, leftover, |frame| {
                    if entered {
                        self.on_room_frame(&room, &peer, frame)
                    }
                });
                self.hub.exit(&room, &peer);
            }
            Place::Notify => {
                reader::run(&peer, &conn.sock, leftover, |frame| {
                    let why = match frame {
                        Incoming::Text(_) => "this socket only sends notifications",
                        Incoming::Binary => "frames must be JSON text",
                    };
                    peer.send(&ServerFrame::refused(&Refusal::bad_request(why), None));
                });
                self.hub.unlisten(&peer);
            }
        }
    }

    /// Every stored message after `after`, oldest first (at most
    /// `REPLAY_MAX`), then what changed since `since` among the older ones.
    fn replay(&self, peer: &Arc<Peer>, group_id: i64, replay: Replay) {
        match self
            .store
            .messages_after(group_id, replay.after, REPLAY_MAX)
        {
            Ok(msgs) => {
                for m in &msgs {
                    peer.send(&ServerFrame::Message(MessageView::new(m)).encode());
                }
            }
            Err(e) => crate::error!("replay: {e}"),
        }
        let Some(since) = replay.since else { return };
        match self
            .store
            .changes_since(group_id, replay.after, since, REPLAY_MAX)
        {
            Ok(changes) => {
                for c in &changes {
                    let frame = match c {
                        Change::Edited(m) => ServerFrame::Edited(MessageView::new(m)),
                        Change::Deleted { id, by } => ServerFrame::Deleted {
                            id: *id,
                            by: by.as_deref(),
                        },
                        Change::Reactions { id, reactions } => ServerFrame::Reactions {
                            id: *id,
                            reactions: ReactionMap(reactions),
                        },
                    };
                    peer.send(&frame.encode());
                }
            }
            Err(e) => crate::error!("replay of changes: {e}"),
        }
    }

    fn on_room_frame(&self, room: &Room, peer: &Arc<Peer>, frame: Incoming<'_>) {
        let text = match frame {
            Incoming::Text(t) => t,
            Incoming::Binary => {
                let why = Refusal::bad_request("frames must be JSON text");
                peer.send(&ServerFrame::refused(&why, None));
                return;
            }
        };
        match ClientFrame::decode(text) {
            Ok(ClientFrame::Message {
                draft,
                client_id,
                reply_to,
                mentions,
                attachments,
            }) => self.post(
                room,
                peer,
                &Post {
                    draft: &draft,
                    client_id: client_id.as_deref(),
                    reply_to,
                    mentions: mentions.as_deref(),
                    attachments: attachments.as_deref(),
                },
            ),
            Ok(ClientFrame::Typing) => on_typing(room, peer),
            Err(why) => {
                peer.send(&ServerFrame::refused(&why, None));
            }
        }
    }
}

/// Relays a typing notice to the room's other users (throttled per user).
fn on_typing(room: &Room, peer: &Arc<Peer>) {
    if !room.typing_allowed(peer.who.user_id) {
        return;
    }
    let f = ServerFrame::Typing {
        username: &peer.who.username,
    }
    .encode();
    let _order = room.sequence();
    room.send_among(Among::AllBut(peer.who.user_id), &f);
}
