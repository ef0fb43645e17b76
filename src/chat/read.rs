//! Read positions across devices: each member's last read message per
//! conversation, stored (never moved back), with the unread and mention
//! counts the server derives from it; a move is pushed to the user's other
//! sockets — their `/ws` (for the sidebar) and their sockets on that
//! conversation — so a second browser shows the same state.

use super::protocol::ServerFrame;
use super::relay::{Among, Who};
use super::{Chat, Refusal};
use crate::store::{ReadState, User};

impl Chat {
    /// `user`'s read position in a group (the caller checked membership).
    pub fn read_state(&self, user: &User, group_id: i64) -> Result<ReadState, Refusal> {
        Ok(self.store.read_state(user.id, group_id)?)
    }

    /// Moves `user`'s read position in a group they belong to forward to
    /// `last_read_id` (at most the newest message); returns the position
    /// after it.
    pub fn mark_read(
        &self,
        user: &User,
        group_id: i64,
        last_read_id: i64,
    ) -> Result<ReadState, Refusal> {
        if last_read_id < 0 {
            return Err(Refusal::bad_request("last_read_id must be a message id."));
        }
        self.member_group(user, group_id)?;
        let (state, moved) = self.store.mark_read(user.id, group_id, last_read_id)?;
        if moved {
            let frame = ServerFrame::Read {
                group_id,
                last_read_id: state.last_read_id,
                unread: state.unread,
                mentions: state.mentions,
            }
            .encode();
            self.hub.notify(&Who::one(user.id), &frame);
            let room = self.hub.existing_room(group_id);
            self.hub
                .to_room(group_id, room.as_deref(), Among::Only(user.id), &frame);
        }
        Ok(state)
    }
}
