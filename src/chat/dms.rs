//! Direct conversations: one private room per pair of people, created on
//! first use and reused after; a DM with an account that was deleted stays
//! readable and takes no new messages; disabled accounts cannot be found.

use super::protocol::ServerFrame;
use super::{Action, Chat, Refusal};
use crate::store::{Group, User};
use crate::util;

impl Chat {
    /// The DM room of `user` and the user named `other` (created once,
    /// reused after); the other user hears of a new one on `/ws`.
    pub fn open_dm(&self, user: &User, other: &str) -> Result<Group, Refusal> {
        let (other, _) = self
            .store
            .user_by_name(other)?
            .ok_or_else(|| Refusal::not_found("No such user."))?;
        if other.id == user.id {
            return Err(Refusal::bad_request(
                "You cannot open a conversation with yourself.",
            ));
        }
        if self.store.dm_between(user.id, other.id)?.is_none() {
            self.take(user.id, Action::NewDm)?;
        }
        let (g, created) = self.store.open_dm(user.id, other.id, util::now_ms())?;
        if created {
            let note = ServerFrame::Dm {
                group_id: g.id,
                from: &user.username,
            };
            self.hub.notify(|uid| uid == other.id, &note.encode());
        }
        Ok(g)
    }

    /// `user`'s DM rooms, oldest first: the room, the other member's name
    /// (or what the room is called once their account is gone), and
    /// whether it is closed.
    pub fn dms(&self, user: &User) -> Result<Vec<(i64, String, bool)>, Refusal> {
        let mut list = Vec::new();
        for dm in self.store.list_dms(user.id)? {
            let name = match dm.other {
                Some(id) => self.store.user(id)?.map(|u| u.username),
                None => None,
            };
            list.push((dm.group_id, name.unwrap_or(dm.name), dm.closed));
        }
        Ok(list)
    }
}
