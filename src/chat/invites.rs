//! A group's invite links: owners and admins make them (optionally with a
//! use limit and an expiry), see them with their use counts and revoke
//! them; anyone logged in who holds a working code joins with it — also a
//! private group. A code is 128 random bits; an unknown, expired, used-up
//! or revoked one is "not found", like a group that does not exist.

use super::groups::no_such_group;
use super::protocol::ServerFrame;
use super::relay::Who;
use super::roles::GroupAction;
use super::{Action, Chat, Refusal};
use crate::store::{Group, Invite, InviteUse, Role, User};
use crate::util;

/// Longest validity of an invite link (a year).
pub const MAX_EXPIRES_IN_S: i64 = 365 * 24 * 3600;
/// Most uses an invite link may be given.
pub const MAX_USES: i64 = 100_000;

/// A fresh invite code: 128 random bits, 32 lowercase hex digits.
pub fn new_code() -> String {
    let mut b = [0u8; 16];
    util::random_bytes(&mut b);
    util::hex(&b)
}

/// Whether `code` has the shape of the codes we make.
pub fn is_code(code: &str) -> bool {
    code.len() == 32 && code.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An invite's limits as asked for: uses (≥ 1) and seconds of validity
/// (≥ 60), each optional.
pub fn limits(
    max_uses: Option<i64>,
    expires_in_s: Option<i64>,
) -> Result<(Option<i64>, Option<i64>), Refusal> {
    if max_uses.is_some_and(|n| !(1..=MAX_USES).contains(&n)) {
        return Err(Refusal::bad_request(
            "max_uses must be 1 to 100000, or null.",
        ));
    }
    if expires_in_s.is_some_and(|s| !(60..=MAX_EXPIRES_IN_S).contains(&s)) {
        return Err(Refusal::bad_request(
            "expires_in_s must be 60 to 31536000 seconds, or null.",
        ));
    }
    Ok((max_uses, expires_in_s.map(|s| util::now_ms() + s * 1000)))
}

fn no_such_invite() -> Refusal {
    Refusal::not_found(
        "This invite link is not valid: it may have expired, been used up or been revoked.",
    )
}

impl Chat {
    /// An owner or admin makes an invite link to a group.
    pub fn create_invite(
        &self,
        user: &User,
        id: i64,
        max_uses: Option<i64>,
        expires_in_s: Option<i64>,
    ) -> Result<Invite, Refusal> {
        let (group, _) = self.moderated_group(user, id, GroupAction::ManageInvites)?;
        let (max_uses, expires_at) = limits(max_uses, expires_in_s)?;
        self.take(user.id, Action::NewInvite)?;
        Ok(self.store.create_invite(
            group.id,
            &new_code(),
            user.id,
            expires_at,
            max_uses,
            util::now_ms(),
        )?)
    }

    /// A group's live invite links (owner and admins).
    pub fn invites(&self, user: &User, id: i64) -> Result<Vec<Invite>, Refusal> {
        let (group, _) = self.moderated_group(user, id, GroupAction::ManageInvites)?;
        let now = util::now_ms();
        Ok(self
            .store
            .list_invites(group.id)?
            .into_iter()
            .filter(|i| i.expires_at.is_none_or(|t| t > now))
            .collect())
    }

    /// Revokes one of a group's invite links.
    pub fn revoke_invite(&self, user: &User, id: i64, code: &str) -> Result<(), Refusal> {
        let (group, _) = self.moderated_group(user, id, GroupAction::ManageInvites)?;
        if !is_code(code) || !self.store.revoke_invite(group.id, code, util::now_ms())? {
            return Err(no_such_invite());
        }
        Ok(())
    }

    /// The group a working code invites to (for the invite page).
    pub fn invited_group(&self, code: &str) -> Result<Group, Refusal> {
        if !is_code(code) {
            return Err(no_such_invite());
        }
        let id = self
            .store
            .usable_invite(code, util::now_ms())?
            .ok_or_else(no_such_invite)?;
        self.store.group(id)?.ok_or_else(no_such_invite)
    }

    /// `user` joins with a code (a member already: nothing changes, no use
    /// is counted). Everyone joining this way is a plain member.
    pub fn accept_invite(&self, user: &User, code: &str) -> Result<(Group, Option<Role>), Refusal> {
        if !is_code(code) {
            return Err(no_such_invite());
        }
        self.take(user.id, Action::JoinOrLeave)?;
        let used = {
            let _change = self.hub.membership_change();
            let used = self.store.use_invite(code, user.id, util::now_ms())?;
            if let InviteUse::Joined {
                group_id,
                added: true,
            } = used
            {
                self.hub.member_joined(group_id, user.id);
            }
            used
        };
        let InviteUse::Joined { group_id, added } = used else {
            return Err(no_such_invite());
        };
        let seen = self.fresh(user, group_id)?;
        if added {
            self.system_line(
                &seen.group,
                user,
                &format!("{} joined with an invite link", user.username),
            )?;
            let note = ServerFrame::Added {
                group: super::protocol::GroupView::new(&seen.group, seen.role),
            };
            self.hub.notify(&Who::one(user.id), &note.encode());
        }
        let group = self.store.group(seen.group.id)?.ok_or_else(no_such_group)?;
        Ok((group, seen.role))
    }
}
