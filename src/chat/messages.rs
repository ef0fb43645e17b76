//! Messages: posting from a socket (validated, rate-limited, stored, then
//! acked and fanned out in the room's order, with the sender's uploads
//! attached), history pages, edits and deletions (with their files).

use super::relay::Who;
use std::sync::Arc;

use super::hub::{self, Room};
use super::protocol::{Draft, MessageView, ServerFrame};
use super::roles::{self, GroupAction};
use super::{Action, Chat, Refusal, body};
use crate::store::{Body, Extras, Group, Message, NotStored, Role, User};
use crate::util;
use crate::ws::peer::Peer;

/// Most history messages per page.
pub const MAX_PAGE: usize = 100;

/// A message a socket sent, decoded.
#[derive(Debug, Clone, Copy)]
pub struct Post<'a> {
    pub draft: &'a Draft,
    pub client_id: Option<&'a str>,
    pub reply_to: Option<i64>,
    pub mentions: Option<&'a [String]>,
    /// The sender's uploads to attach.
    pub attachments: Option<&'a [i64]>,
}

fn no_such_message() -> Refusal {
    Refusal::not_found("No such message.")
}

impl Chat {
    /// Stores a message from `peer` in `room`; the sender gets an `ack` (or
    /// an `error` naming its `client_id`), the room the message, and members
    /// with no socket on the room a `/ws` notice.
    pub fn post(&self, room: &Room, peer: &Arc<Peer>, post: &Post<'_>) {
        if let Err(r) = self.store_post(room, peer, post) {
            peer.send(&ServerFrame::refused(&r, post.client_id));
        }
    }

    fn store_post(&self, room: &Room, peer: &Arc<Peer>, post: &Post<'_>) -> Result<(), Refusal> {
        let (user, group) = (peer.who.user_id, room.group.id);
        let client_id = post.client_id;
        let attachments = Chat::attachment_ids(post.attachments)?;
        let body = body::from_post(room.group.e2e, post.draft, !attachments.is_empty())?;
        self.signed_by_author(user, post.draft)?;
        // A resend of a message we already stored (its ack was lost): ack again.
        if let Some((cid, id)) = client_id.and_then(|c| Some((c, self.recent.get(user, group, c)?)))
        {
            peer.send(&ServerFrame::Ack { client_id: cid, id }.encode());
            return Ok(());
        }
        self.take(user, Action::Write)?;
        let content = match &body {
            Body::Content(c) => Some(c.as_str()),
            Body::Envelope(_) => None,
        };
        let mentions = self.mentioned(&room.group, user, content, post.mentions)?;
        let extras = Extras {
            reply_to: post.reply_to,
            mentions: &mentions,
            attachments,
            client_id,
        };
        let stored_id = {
            let _order = room.sequence();
            let stored = self.store.insert_message(
                group,
                user,
                &peer.who.username,
                &body,
                &extras,
                util::now_ms(),
            )?;
            let msg = match stored {
                Ok(msg) => msg,
                Err(NotStored::NotMember) => {
                    // The membership ended before this message: never
                    // stored. Closing the socket is cleanup, not the guard.
                    let why = Refusal::forbidden("You are not a member of this group.");
                    peer.send(&ServerFrame::refused(&why, client_id));
                    peer.close(hub::NOT_A_MEMBER, "not a member");
                    return Ok(());
                }
                Err(NotStored::Closed) => {
                    return Err(Refusal::forbidden(
                        "This conversation is closed: the other account was deleted.",
                    ));
                }
                Err(NotStored::BadReply) => {
                    return Err(Refusal::bad_request(
                        "reply_to must be a message of this conversation.",
                    ));
                }
                Err(NotStored::BadAttachment) => {
                    return Err(Refusal::bad_request(
                        "attachments must be your own new uploads to this conversation.",
                    ));
                }
                Err(NotStored::Resent(id)) => {
                    // Stored before (its ack was lost, here or on another
                    // instance): the same id again, nothing new to send.
                    if let Some(cid) = client_id {
                        self.recent.insert(user, group, cid, id);
                        peer.send(&ServerFrame::Ack { client_id: cid, id }.encode());
                    }
                    return Ok(());
                }
            };
            crate::metrics::inc(&crate::metrics::MESSAGES_STORED);
            if let Some(cid) = client_id {
                self.recent.insert(user, group, cid, msg.id);
                peer.send(
                    &ServerFrame::Ack {
                        client_id: cid,
                        id: msg.id,
                    }
                    .encode(),
                );
            }
            room.fan_out(&ServerFrame::Message(MessageView::new(&msg)).encode());
            msg.id
        };
        // Members with no socket on this room hear of it on `/ws`: `dm` for
        // direct messages, `activity` (for unread counts) in groups, and
        // `mention` besides for those it mentions.
        let away = room.members_away(user);
        if !away.is_empty() {
            let (group_id, from) = (group, peer.who.username.as_str());
            let note = if room.group.is_dm {
                ServerFrame::Dm { group_id, from }
            } else {
                ServerFrame::Activity { group_id, from }
            };
            self.hub
                .notify(&Who::Only(away.iter().copied().collect()), &note.encode());
            let called: Vec<i64> = mentions
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| away.contains(id))
                .collect();
            if !called.is_empty() {
                let note = ServerFrame::Mention {
                    group_id,
                    message_id: stored_id,
                    from,
                };
                self.hub.notify(&Who::Only(called), &note.encode());
            }
        }
        Ok(())
    }

    /// A page of a group's history, newest first, below `before`.
    pub fn history(
        &self,
        user: &User,
        group_id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<Message>, bool), Refusal> {
        self.member_group(user, group_id)?;
        Ok(self
            .store
            .history(group_id, before, limit.clamp(1, MAX_PAGE))?)
    }

    /// The message `id` in a group `user` belongs to, with the group and
    /// their role there (404 for anyone else: a message of a group you
    /// cannot see does not exist for you).
    pub(super) fn message_in_my_group(
        &self,
        user: &User,
        id: i64,
    ) -> Result<(Message, Group, Role), Refusal> {
        let m = self.store.message(id)?.ok_or_else(no_such_message)?;
        let (g, role) = self
            .member_group(user, m.group_id)
            .map_err(|_| no_such_message())?;
        Ok((m, g, role))
    }

    /// An envelope's signer must be one of its author's devices that can
    /// sign (the browser checks the signature itself).
    fn signed_by_author(&self, author: i64, draft: &Draft) -> Result<(), Refusal> {
        match body::signer(draft) {
            Some(fp) if !self.may_sign(author, fp)? => Err(Refusal::bad_request(
                "the envelope's signer is not one of your devices with a signing key",
            )),
            _ => Ok(()),
        }
    }

    /// The message `id` if `user` wrote it (and still belongs to its
    /// group), with its group.
    fn own_message(&self, user: &User, id: i64) -> Result<(Message, Group), Refusal> {
        let (m, g, _) = self.message_in_my_group(user, id)?;
        if m.author_id != user.id || m.system {
            return Err(Refusal::forbidden("Only the author can change a message."));
        }
        Ok((m, g))
    }

    /// Replaces the body of `user`'s message; the room gets `edited`.
    pub fn edit(&self, user: &User, id: i64, draft: &Draft) -> Result<Message, Refusal> {
        let (_, g) = self.own_message(user, id)?;
        let body = body::from_draft(g.e2e, draft)?;
        self.signed_by_author(user.id, draft)?;
        self.take(user.id, Action::Write)?;
        let edited = self.hub.change(g.id, || {
            let edited = self.store.edit_message(id, &body, util::now_ms());
            let frame = edited
                .as_ref()
                .ok()
                .and_then(Option::as_ref)
                .map(|m| ServerFrame::Edited(MessageView::new(m)).encode());
            (edited, frame)
        });
        edited?.ok_or_else(no_such_message)
    }

    /// Deletes a message: its author's own, or anyone's by the group's
    /// owner and admins (the room's `deleted` then says `by` whom).
    pub fn delete(&self, user: &User, id: i64) -> Result<(), Refusal> {
        let (m, g, role) = self.message_in_my_group(user, id)?;
        let own = m.author_id == user.id && !m.system;
        if !own && (g.is_dm || !roles::allowed(role, GroupAction::DeleteAnyMessage)) {
            return Err(Refusal::forbidden(roles::refusal_text(
                GroupAction::DeleteAnyMessage,
            )));
        }
        let by = (!own).then_some(user.username.as_str());
        self.hub.change(g.id, || {
            let deleted = self.store.delete_message(id, util::now_ms(), by);
            let frame =
                matches!(deleted, Ok(true)).then(|| ServerFrame::Deleted { id, by }.encode());
            (deleted, frame)
        })?;
        Ok(())
    }
}
