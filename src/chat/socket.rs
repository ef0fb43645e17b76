//! A WebSocket's life in the chat, after its handshake was accepted:
//! `/ws/chat/{id}` enters its room (hello, then the replay of what the
//! client missed, before any live frame), hands each client frame to the
//! message rules, and leaves the room when it closes; `/ws` listens for
//! notifications and sends nothing of its own.

use std::net::IpAddr;
use std::sync::Arc;

use super::hub::Room;
use super::protocol::{ClientFrame, GroupView, MessageView, ServerFrame, You};
use super::{Chat, Refusal};
use crate::net::transport::Conn;
use crate::store::{Group, User};
use crate::ws::peer::{self, Identity, Peer, Wire};
use crate::ws::reader::{self, Incoming};

/// Most messages replayed to a reconnecting socket.
pub const REPLAY_MAX: usize = 500;

/// A socket the handshake let in, and what it is for.
pub struct Admission {
    pub user: User,
    pub target: Target,
}

pub enum Target {
    /// One group's room, replaying messages after `after` first.
    Room {
        group: Group,
        room: Arc<Room>,
        after: Option<i64>,
    },
    /// `/ws` notifications.
    Notify,
}

impl Chat {
    /// Lets `user` into `group`'s room (a member: the caller checked).
    pub fn admit_room(
        &self,
        user: User,
        group: Group,
        after: Option<i64>,
    ) -> Result<Admission, Refusal> {
        // The room keeps its member list up to date once it exists.
        let room = self
            .hub
            .open_room(&group, || self.store.members(group.id))?;
        Ok(Admission {
            user,
            target: Target::Room { group, room, after },
        })
    }

    /// Runs an upgraded socket until it closes (on the connection's thread).
    pub fn serve(&self, conn: &Conn, ip: IpAddr, leftover: Vec<u8>, admission: Admission) {
        let Admission { user, target } = admission;
        let who = Identity {
            user_id: user.id,
            username: user.username.clone(),
            ip,
        };
        let _ = conn.sock.set_write_timeout(Some(peer::WRITE_TIMEOUT));
        let wire: Arc<dyn Wire> = Arc::clone(&conn.sock) as Arc<dyn Wire>;
        let peer = Peer::new(self.hub.new_peer_id(), who, wire, conn.tls.clone());
        match target {
            Target::Room { group, room, after } => {
                self.hub.enter(&room, &peer, |p, online| {
                    let hello = ServerFrame::Hello {
                        group: GroupView::new(&group, true),
                        you: You {
                            id: user.id,
                            username: &user.username,
                        },
                        online,
                    };
                    p.send(&hello.encode());
                    if let Some(after) = after {
                        self.replay(p, group.id, after);
                    }
                });
                reader::run(&peer, &conn.sock, leftover, |frame| {
                    self.on_room_frame(&room, &peer, frame)
                });
                self.hub.exit(&room, &peer);
            }
            Target::Notify => {
                self.hub.listen(&peer);
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
    /// `REPLAY_MAX`).
    fn replay(&self, peer: &Arc<Peer>, group_id: i64, after: i64) {
        match self.store.messages_after(group_id, after, REPLAY_MAX) {
            Ok(msgs) => {
                for m in &msgs {
                    peer.send(&ServerFrame::Message(MessageView::new(m)).encode());
                }
            }
            Err(e) => crate::error!("replay: {e}"),
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
            Ok(ClientFrame::Message { draft, client_id }) => {
                self.post(room, peer, &draft, client_id.as_deref())
            }
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
    for p in room
        .peers()
        .iter()
        .filter(|p| p.who.user_id != peer.who.user_id)
    {
        p.send(&f);
    }
}
