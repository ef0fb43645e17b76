//! Real-time chat and its rules: groups and DMs (`groups`), messages
//! (`messages`), the live sockets (`socket`, `hub`, `fanout`, `presence`),
//! what may be posted (`body`), rate limits and resends (`recent`), every wire
//! frame (`protocol`) and every refusal (`refusal`). The JSON API and the
//! sockets both call in here; the chat decides, they render.

pub mod body;
pub mod fanout;
pub mod groups;
pub mod hub;
pub mod keys;
pub mod messages;
pub mod presence;
pub mod protocol;
pub mod recent;
pub mod refusal;
pub mod socket;

use std::sync::Arc;

use crate::store::Store;

pub use refusal::Refusal;

/// The chat's tunables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Messages (and other writes) per second per user, sustained; 0 = off.
    pub msg_rate: f64,
    /// Bucket size for `msg_rate`.
    pub msg_burst: f64,
}

/// The chat's shared state.
pub struct Chat {
    pub hub: hub::Hub,
    pub store: Arc<Store>,
    /// Messages (and other writes) per user.
    writes: crate::limits::Limiter<i64>,
    /// Recently stored `client_id`s, so a resend after a lost ack is
    /// acknowledged again instead of stored twice.
    recent: recent::RecentIds,
}

impl Chat {
    pub fn new(store: Arc<Store>, settings: Settings) -> Chat {
        Chat {
            hub: hub::Hub::default(),
            store,
            writes: crate::limits::Limiter::new(settings.msg_rate, settings.msg_burst),
            recent: recent::RecentIds::default(),
        }
    }

    /// Takes one write token of `user_id` (messages, edits, group
    /// creations, key registrations).
    pub fn take_write(&self, user_id: i64) -> Result<(), Refusal> {
        self.writes
            .take(user_id)
            .map_err(|wait| Refusal::rate_limited(wait, "You are sending messages too fast."))
    }
}
