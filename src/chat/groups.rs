//! Groups and direct conversations: naming, creating, joining and leaving,
//! and who may see what. Group data is for members only (403; 404 for a
//! group that does not exist). Membership changes go to the database (with
//! their event) and then to the live room, under the hub's membership lock.

use super::protocol::{GroupView, OnlineUser, ServerFrame};
use super::{Action, Chat, Refusal};
use crate::store::{Group, User};
use crate::text;
use crate::util;

/// Longest group name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 64;

/// A group name as stored: NFC-normalized and trimmed, 1–64 characters,
/// with no control characters and none of the invisible characters that
/// reorder or hide text (bidi controls, zero-width characters), so that a
/// name shows what it is. (Names that merely look alike are refused by the
/// store's unique look-alike key.)
pub fn valid_name(name: &str) -> Result<String, Refusal> {
    let name = text::nfc(name.trim());
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_CHARS {
        return Err(Refusal::bad_request(
            "Group names are 1 to 64 characters long.",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Refusal::bad_request(
            "Group names cannot contain control characters.",
        ));
    }
    if name.chars().any(text::is_invisible_control) {
        return Err(Refusal::bad_request(
            "Group names cannot contain invisible characters (bidi controls or zero-width characters).",
        ));
    }
    Ok(name)
}

fn no_such_group() -> Refusal {
    Refusal::not_found("No such group.")
}

impl Chat {
    /// Every group that is not a DM, with whether `user` is a member.
    pub fn list_groups(&self, user: &User) -> Result<Vec<(Group, bool)>, Refusal> {
        Ok(self.store.list_groups(user.id)?)
    }

    /// A group or DM by id.
    pub fn group(&self, id: i64) -> Result<Group, Refusal> {
        self.store.group(id)?.ok_or_else(no_such_group)
    }

    /// A group `user_id` belongs to.
    pub fn member_group(&self, user_id: i64, id: i64) -> Result<Group, Refusal> {
        let g = self.group(id)?;
        if !self.store.is_member(id, user_id)? {
            return Err(Refusal::forbidden("You are not a member of this group."));
        }
        Ok(g)
    }

    /// Creates a group with `user` as its first member and announces it on
    /// every `/ws`.
    pub fn create_group(&self, user: &User, name: &str, e2e: bool) -> Result<Group, Refusal> {
        let name = valid_name(name)?;
        self.take(user.id, Action::NewGroup)?;
        let g = self
            .store
            .create_group(&name, e2e, user.id, util::now_ms())?
            .ok_or_else(|| {
                Refusal::conflict(
                    "name_taken",
                    "A group with that name (or one that looks like it) already exists.",
                )
            })?;
        let announce = |member| {
            ServerFrame::NewGroup {
                group: GroupView::new(&g, member),
            }
            .encode()
        };
        self.hub.notify(|uid| uid != user.id, &announce(false));
        self.hub.notify(|uid| uid == user.id, &announce(true));
        Ok(g)
    }

    /// Adds `user` to a group (idempotent; DMs cannot be joined).
    pub fn join(&self, user: &User, id: i64) -> Result<Group, Refusal> {
        let g = self.group(id)?;
        if g.is_dm {
            return Err(no_such_group());
        }
        self.take(user.id, Action::JoinOrLeave)?;
        let _change = self.hub.membership_change();
        self.store.join(id, user.id, util::now_ms())?;
        self.hub.member_joined(id, user.id);
        Ok(g)
    }

    /// Removes `user` from a group; their sockets on it close with 4403.
    pub fn leave(&self, user: &User, id: i64) -> Result<(), Refusal> {
        let g = self.group(id)?;
        if g.is_dm {
            return Err(Refusal::bad_request("Direct conversations cannot be left."));
        }
        self.take(user.id, Action::JoinOrLeave)?;
        let _change = self.hub.membership_change();
        self.store.leave(id, user.id, util::now_ms())?;
        self.hub.kick(id, user.id);
        Ok(())
    }

    /// Who has a socket open on a group of `user`'s.
    pub fn group_online(&self, user: &User, id: i64) -> Result<Vec<OnlineUser>, Refusal> {
        self.member_group(user.id, id)?;
        Ok(self.hub.room_presence(id))
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names() {
        assert_eq!(valid_name("  Rust  ").unwrap(), "Rust");
        assert!(valid_name("").is_err());
        assert!(valid_name("   ").is_err());
        assert!(valid_name(&"x".repeat(65)).is_err());
        assert!(valid_name(&"é".repeat(64)).is_ok());
        assert!(valid_name("a\u{7}b").is_err());
        assert_eq!(
            valid_name("cafe\u{301}").unwrap(),
            "caf\u{e9}",
            "stored as NFC"
        );
        for bad in [
            "ad\u{202E}nim",
            "a\u{200B}b",
            "\u{2066}x\u{2069}",
            "x\u{FEFF}",
        ] {
            assert_eq!(
                valid_name(bad).unwrap_err().code(),
                "bad_request",
                "{bad:?}"
            );
        }
    }
}
