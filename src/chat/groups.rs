//! Groups: who may see them (a private group is, to anyone outside it,
//! exactly a group that does not exist: 404), naming, creating, joining
//! and leaving (the owner's role is handed on), and moderation by role —
//! adding and removing members, roles, renaming, deleting. Each change goes
//! to the database (with its event) and then to the live room, under the
//! hub's membership lock, and leaves a system line in the room.

use super::protocol::{GroupView, OnlineUser, ServerFrame};
use super::relay::{Among, Who};
use super::roles::{self, GroupAction};
use super::{Action, Chat, Refusal};
use crate::store::{Group, Member, ReadState, Role, User};
use crate::text;
use crate::util;

/// Longest group name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 64;

/// A group name as stored: NFC-normalized and trimmed, 1–64 characters,
/// with no control characters and none of the invisible characters that
/// reorder or hide text (bidi controls, zero-width characters), so that a
/// name shows what it is. (Names that merely look alike are refused by the
/// store's look-alike key.)
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

pub fn no_such_group() -> Refusal {
    Refusal::not_found("No such group.")
}

fn name_taken() -> Refusal {
    Refusal::conflict(
        "name_taken",
        "A group with that name (or one that looks like it) already exists.",
    )
}

fn no_such_member() -> Refusal {
    Refusal::not_found("No such member.")
}

/// A group as one user may know it.
pub struct Seen {
    pub group: Group,
    /// The user's role; `None` for a public group they are not in.
    pub role: Option<Role>,
}

impl Chat {
    /// The groups `user` can see, with their role and (where they are a
    /// member) their read position.
    pub fn list_groups(&self, user: &User) -> Result<Vec<(Seen, Option<ReadState>)>, Refusal> {
        let mut out = Vec::new();
        for (group, role) in self.store.list_groups(user.id)? {
            let read = match role {
                Some(_) => Some(self.store.read_state(user.id, group.id)?),
                None => None,
            };
            out.push((Seen { group, role }, read));
        }
        Ok(out)
    }

    /// A group `user` can see: a public one, or a private one (or DM) they
    /// belong to. Anything else is "no such group", answered by the same
    /// single query whether the group exists or not.
    pub fn visible_group(&self, user: &User, id: i64) -> Result<Seen, Refusal> {
        match self.store.group_for(user.id, id)? {
            Some((group, role)) if !group.private || role.is_some() => Ok(Seen { group, role }),
            _ => Err(no_such_group()),
        }
    }

    /// A group `user` belongs to (403 for a public group they are not in).
    pub fn member_group(&self, user: &User, id: i64) -> Result<(Group, Role), Refusal> {
        let seen = self.visible_group(user, id)?;
        match seen.role {
            Some(role) => Ok((seen.group, role)),
            None => Err(Refusal::forbidden("You are not a member of this group.")),
        }
    }

    /// A group in which `user` may do `action` (403 with the reason if
    /// their role does not allow it).
    pub(super) fn moderated_group(
        &self,
        user: &User,
        id: i64,
        action: GroupAction,
    ) -> Result<(Group, Role), Refusal> {
        let (group, role) = self.member_group(user, id)?;
        if group.is_dm {
            return Err(Refusal::forbidden(
                "Direct conversations have no moderators.",
            ));
        }
        if !roles::allowed(role, action) {
            return Err(Refusal::forbidden(roles::refusal_text(action)));
        }
        Ok((group, role))
    }

    /// Creates a group owned by `user` and announces it on every `/ws`
    /// that may see it (a private one: only the owner's).
    pub fn create_group(
        &self,
        user: &User,
        name: &str,
        e2e: bool,
        private: bool,
    ) -> Result<Group, Refusal> {
        let name = valid_name(name)?;
        self.take(user.id, Action::NewGroup)?;
        let g = self
            .store
            .create_group(&name, e2e, private, user.id, util::now_ms())?
            .map_err(|_| name_taken())?;
        let announce = |role| {
            ServerFrame::NewGroup {
                group: GroupView::new(&g, role),
            }
            .encode()
        };
        if !private {
            self.hub
                .notify(&Who::Except(vec![user.id]), &announce(None));
        }
        self.hub
            .notify(&Who::one(user.id), &announce(Some(Role::Owner)));
        Ok(g)
    }

    /// Adds `user` to a public group (idempotent; private groups are joined
    /// only through an invite or by a moderator).
    pub fn join(&self, user: &User, id: i64) -> Result<Seen, Refusal> {
        let seen = self.visible_group(user, id)?;
        if seen.group.is_dm || (seen.group.private && seen.role.is_none()) {
            return Err(no_such_group());
        }
        if seen.role.is_some() {
            return Ok(seen);
        }
        self.take(user.id, Action::JoinOrLeave)?;
        self.enter_group(seen.group.id, user.id)?;
        self.fresh(user, id)
    }

    /// The group again, as `user` now sees it.
    pub fn fresh(&self, user: &User, id: i64) -> Result<Seen, Refusal> {
        self.visible_group(user, id)
    }

    /// Makes `user_id` a member (database, then room).
    pub(super) fn enter_group(&self, group_id: i64, user_id: i64) -> Result<bool, Refusal> {
        let _change = self.hub.membership_change();
        let added = self.store.join(group_id, user_id, util::now_ms())?;
        self.hub.member_joined(group_id, user_id);
        Ok(added)
    }

    /// Removes `user_id` from a group (database, then room: their sockets
    /// on it close with 4403); a private group nobody is left in is deleted.
    fn exit_group(&self, group: &Group, user_id: i64) -> Result<crate::store::Left, Refusal> {
        let left = {
            let _change = self.hub.membership_change();
            let left = self.store.leave(group.id, user_id, util::now_ms())?;
            self.hub.kick(group.id, user_id);
            left
        };
        if left.emptied && group.private {
            self.remove_group(group, &[])?;
        }
        Ok(left)
    }

    /// `user` leaves a group; the owner's role passes to the
    /// longest-standing admin (else member). The last member, when they
    /// are its owner, deletes the group instead of leaving it.
    pub fn leave(&self, user: &User, id: i64) -> Result<(), Refusal> {
        let (group, role) = self.member_group(user, id)?;
        if group.is_dm {
            return Err(Refusal::bad_request("Direct conversations cannot be left."));
        }
        if role == Role::Owner && group.member_count <= 1 {
            return Err(Refusal::conflict(
                "last_owner",
                "You are the group's only member and its owner: delete the group instead of leaving it.",
            ));
        }
        self.take(user.id, Action::JoinOrLeave)?;
        let left = self.exit_group(&group, user.id)?;
        if let Some(next) = left.new_owner {
            let name = self.username(next)?;
            self.system_line(
                &group,
                user,
                &format!("{} left; {name} is now the owner", user.username),
            )?;
        }
        Ok(())
    }

    /// Who has a socket open on a group of `user`'s.
    pub fn group_online(&self, user: &User, id: i64) -> Result<Vec<OnlineUser>, Refusal> {
        self.member_group(user, id)?;
        Ok(self.hub.room_presence(id))
    }

    fn username(&self, user_id: i64) -> Result<String, Refusal> {
        Ok(self
            .store
            .user(user_id)?
            .map_or_else(|| "someone".to_string(), |u| u.username))
    }

    /// The members of a group `user` can see, with their names.
    pub fn members(&self, user: &User, id: i64) -> Result<Vec<(String, Member)>, Refusal> {
        let seen = self.visible_group(user, id)?;
        let mut out = Vec::new();
        for m in self.store.members(seen.group.id)? {
            if let Some(u) = self.store.user(m.user_id)? {
                out.push((u.username, m));
            }
        }
        Ok(out)
    }

    /// Stores a system line in the group and sends it to the room.
    pub(super) fn system_line(
        &self,
        group: &Group,
        actor: &User,
        text: &str,
    ) -> Result<(), Refusal> {
        let stored = self.hub.change(group.id, || {
            let stored =
                self.store
                    .insert_system(group.id, actor.id, &actor.username, text, util::now_ms());
            let frame = stored.as_ref().ok().map(|m| {
                ServerFrame::System {
                    text,
                    created_at: m.created_at,
                    id: Some(m.id),
                }
                .encode()
            });
            (stored, frame)
        });
        stored?;
        Ok(())
    }

    /// An owner or admin adds the user named `name` to a group; they hear
    /// of it on `/ws` (`added`).
    pub fn add_member(
        &self,
        actor: &User,
        id: i64,
        name: &str,
    ) -> Result<(String, Member), Refusal> {
        let (group, _) = self.moderated_group(actor, id, GroupAction::AddMember)?;
        let (target, _) = self
            .store
            .user_by_name(name)?
            .ok_or_else(|| Refusal::not_found("No such user."))?;
        self.take(actor.id, Action::JoinOrLeave)?;
        if self.enter_group(group.id, target.id)? {
            self.system_line(
                &group,
                actor,
                &format!("{} added {}", actor.username, target.username),
            )?;
            let group = self.store.group(group.id)?.ok_or_else(no_such_group)?;
            let note = ServerFrame::Added {
                group: GroupView::new(&group, Some(Role::Member)),
            };
            self.hub.notify(&Who::one(target.id), &note.encode());
        }
        let member = self.membership(group.id, target.id)?;
        Ok((target.username, member))
    }

    /// The membership of `user_id` in a group (404 when there is none).
    fn membership(&self, group_id: i64, user_id: i64) -> Result<Member, Refusal> {
        self.store
            .members(group_id)?
            .into_iter()
            .find(|m| m.user_id == user_id)
            .ok_or_else(no_such_member)
    }

    /// An owner (anyone but themselves) or admin (plain members) removes
    /// the member named `name`: their sockets on the group close with
    /// 4403, and their `/ws` hears `removed`.
    pub fn remove_member(&self, actor: &User, id: i64, name: &str) -> Result<(), Refusal> {
        let (group, _) = self.member_group(actor, id)?;
        let target = self.member_named(&group, name)?;
        if target.0.id == actor.id {
            return Err(Refusal::forbidden("To remove yourself, leave the group."));
        }
        self.moderated_group(actor, id, GroupAction::Remove(target.1))?;
        self.exit_group(&group, target.0.id)?;
        self.system_line(&group, actor, &format!("{} was removed", target.0.username))?;
        let note = ServerFrame::Removed { group_id: group.id };
        self.hub.notify(&Who::one(target.0.id), &note.encode());
        Ok(())
    }

    fn member_named(&self, group: &Group, name: &str) -> Result<(User, Role), Refusal> {
        let (user, _) = self
            .store
            .any_user_by_name(name)?
            .ok_or_else(no_such_member)?;
        let role = self
            .store
            .role_of(group.id, user.id)?
            .ok_or_else(no_such_member)?;
        Ok((user, role))
    }

    /// The owner changes a member's role: `admin` or `member`, or `owner`
    /// to hand the group on (the old owner becomes an admin).
    pub fn set_role(
        &self,
        actor: &User,
        id: i64,
        name: &str,
        role: Role,
    ) -> Result<(String, Member), Refusal> {
        let action = if role == Role::Owner {
            GroupAction::TransferOwnership
        } else {
            GroupAction::SetRole
        };
        let (group, _) = self.moderated_group(actor, id, action)?;
        let (target, current) = self.member_named(&group, name)?;
        if target.id == actor.id {
            return Err(Refusal::conflict(
                "last_owner",
                "You are the owner: hand the group on to someone else first.",
            ));
        }
        if current != role {
            let text = match role {
                Role::Owner => {
                    self.store
                        .transfer_ownership(group.id, actor.id, target.id)?;
                    format!("{} made {} the owner", actor.username, target.username)
                }
                Role::Admin => {
                    self.store.set_role(group.id, target.id, role)?;
                    format!("{} made {} an admin", actor.username, target.username)
                }
                Role::Member => {
                    self.store.set_role(group.id, target.id, role)?;
                    format!("{} made {} a member", actor.username, target.username)
                }
            };
            self.system_line(&group, actor, &text)?;
        }
        let member = self.membership(group.id, target.id)?;
        Ok((target.username, member))
    }

    /// An owner or admin renames a group; the room and every `/ws` that can
    /// see it get `group_updated`.
    pub fn rename(&self, actor: &User, id: i64, name: &str) -> Result<Seen, Refusal> {
        let (group, _) = self.moderated_group(actor, id, GroupAction::Rename)?;
        let name = valid_name(name)?;
        if name != group.name {
            self.store
                .rename_group(group.id, &name, actor.id)?
                .map_err(|_| name_taken())?;
            let renamed = self.store.group(group.id)?.ok_or_else(no_such_group)?;
            self.system_line(
                &renamed,
                actor,
                &format!("{} renamed the group to {name}", actor.username),
            )?;
            self.announce_update(&renamed)?;
        }
        self.fresh(actor, id)
    }

    /// `group_updated` to the room and to every `/ws` that sees the group,
    /// each with its own role in it.
    fn announce_update(&self, group: &Group) -> Result<(), Refusal> {
        let members = self.store.members(group.id)?;
        let with_role = |role| {
            let ids = members.iter().filter(|m| Some(m.role) == role);
            Who::Only(ids.map(|m| m.user_id).collect())
        };
        let frame = |role| {
            ServerFrame::GroupUpdated {
                group: GroupView::new(group, role),
            }
            .encode()
        };
        {
            let room = self.hub.existing_room(group.id);
            let _order = room.as_ref().map(|r| r.sequence());
            let view = GroupView::for_room(group);
            let frame = ServerFrame::GroupUpdated { group: view }.encode();
            self.hub
                .to_room(group.id, room.as_deref(), Among::All, &frame);
        }
        for role in [Some(Role::Owner), Some(Role::Admin), Some(Role::Member)] {
            self.hub.notify(&with_role(role), &frame(role));
        }
        if !group.private {
            let everyone_else = Who::Except(members.iter().map(|m| m.user_id).collect());
            self.hub.notify(&everyone_else, &frame(None));
        }
        Ok(())
    }

    /// The owner deletes a group: its sockets close with 4403, every `/ws`
    /// that could see it gets `group_deleted`, its messages are gone.
    pub fn delete_group(&self, actor: &User, id: i64) -> Result<(), Refusal> {
        let (group, _) = self.moderated_group(actor, id, GroupAction::DeleteGroup)?;
        let members = self.store.member_ids(group.id)?;
        self.remove_group(&group, &members)
    }

    fn remove_group(&self, group: &Group, members: &[i64]) -> Result<(), Refusal> {
        {
            let _change = self.hub.membership_change();
            self.store.delete_group(group.id, util::now_ms())?;
            self.hub.drop_room(group.id);
        }
        let note = ServerFrame::GroupDeleted { group_id: group.id }.encode();
        if group.private {
            self.hub.notify(&Who::Only(members.to_vec()), &note);
        } else {
            self.hub.notify(&Who::everyone(), &note);
        }
        Ok(())
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
