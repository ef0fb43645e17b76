//! Direct conversations: one private room per set of people — two for a
//! DM, up to ten for a group DM — created on first use and reused after,
//! named by who is in it; the end-to-end encrypted conversation with the
//! same people is another room (`e2e`), made and reused the same way. A
//! two-person DM with an account that was deleted
//! stays readable and takes no new messages; a group DM goes on without
//! them. Disabled accounts cannot be found.

use super::protocol::ServerFrame;
use super::relay::Who;
use super::{Action, Chat, Refusal};
use crate::store::{Group, ReadState, User};
use crate::util;

/// Most other people in a group DM (ten in all, with its creator).
pub const MAX_OTHERS: usize = 9;

/// One of a user's direct conversations, as they see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmSeen {
    pub group_id: i64,
    /// What it is called: the other's name, or the others' names joined.
    pub name: String,
    /// Everyone else, by name (sorted).
    pub others: Vec<String>,
    pub closed: bool,
    pub e2e: bool,
    pub read: ReadState,
}

impl Chat {
    /// The direct conversation of `user` and the users named `others` (one
    /// to nine of them), end-to-end encrypted or not, created once and
    /// reused after; the others hear of a new one on `/ws`.
    pub fn open_dm(&self, user: &User, others: &[&str], e2e: bool) -> Result<Group, Refusal> {
        if others.is_empty() || others.len() > MAX_OTHERS {
            return Err(Refusal::bad_request(
                "A conversation has one to nine other people.",
            ));
        }
        let mut people = vec![user.id];
        for name in others {
            let (other, _) = self
                .store
                .user_by_name(name)?
                .ok_or_else(|| Refusal::not_found("No such user."))?;
            if other.id == user.id {
                return Err(Refusal::bad_request(
                    "You cannot open a conversation with yourself.",
                ));
            }
            if people.contains(&other.id) {
                return Err(Refusal::bad_request("Each person is named once."));
            }
            people.push(other.id);
        }
        if self.store.dm_of(&people, e2e)?.is_none() {
            self.take(user.id, Action::NewDm)?;
        }
        let (g, created) = self.store.open_dm(&people, e2e, util::now_ms())?;
        if created {
            let note = ServerFrame::Dm {
                group_id: g.id,
                from: &user.username,
            };
            let others = people.iter().copied().filter(|&u| u != user.id).collect();
            self.hub.notify(&Who::Only(others), &note.encode());
        }
        Ok(g)
    }

    /// `user`'s direct conversations, oldest first.
    pub fn dms(&self, user: &User) -> Result<Vec<DmSeen>, Refusal> {
        let mut list = Vec::new();
        for dm in self.store.list_dms(user.id)? {
            let mut others = Vec::with_capacity(dm.others.len());
            for id in &dm.others {
                if let Some(u) = self.store.user(*id)? {
                    others.push(u.username);
                }
            }
            others.sort();
            let name = if others.is_empty() {
                dm.name
            } else {
                others.join(", ")
            };
            list.push(DmSeen {
                group_id: dm.group_id,
                name,
                others,
                closed: dm.closed,
                e2e: dm.e2e,
                read: self.store.read_state(user.id, dm.group_id)?,
            });
        }
        Ok(list)
    }
}
