//! Real-time chat and its rules: groups and DMs (`groups`), messages
//! (`messages`), files (`files`, `sniff`), the live sockets (`socket`, `hub`, `fanout`, `presence`),
//! what may be posted (`body`), rate limits and resends (`recent`), every wire
//! frame (`protocol`) and every refusal (`refusal`). The JSON API and the
//! sockets both call in here; the chat decides, they render.

pub mod body;
pub mod dms;
pub mod fanout;
pub mod files;
pub mod groups;
pub mod hub;
pub mod invites;
pub mod keys;
pub mod live;
pub mod mentions;
pub mod messages;
pub mod presence;
pub mod protocol;
pub mod reactions;
pub mod read;
pub mod recent;
pub mod refusal;
pub mod relay;
pub mod roles;
pub mod search;
pub mod sniff;
pub mod socket;

use std::sync::Arc;
use std::time::Duration;

use crate::limits::Limiter;
use crate::store::Store;

pub use refusal::Refusal;

/// The chat's tunables. Every rate is per user; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Messages, edits and key registrations per second, sustained.
    pub msg_rate: f64,
    /// Bucket size for `msg_rate`.
    pub msg_burst: f64,
    /// WebSocket opens per minute, after a burst of `SOCKET_BURST`.
    pub socket_rate: f64,
    /// New direct conversations per minute, after a burst of `DM_BURST`.
    pub dm_rate: f64,
    /// New groups per minute, after a burst of `GROUP_BURST`.
    pub group_rate: f64,
    /// Joins and leaves per minute, after a burst of `JOIN_BURST`.
    pub join_rate: f64,
    /// Full-text search is on (`--no-search` turns it off).
    pub search: bool,
    /// Largest upload, in bytes (`--max-upload`).
    pub max_upload: u64,
    /// Bytes of files each user may keep (`--max-storage-per-user`).
    pub storage_per_user: u64,
}

/// Bursts of the per-user limits: more than a person clicking around does
/// in a minute, far less than a script does in a second.
pub const SOCKET_BURST: f64 = 30.0;
pub const DM_BURST: f64 = 20.0;
pub const GROUP_BURST: f64 = 10.0;
pub const JOIN_BURST: f64 = 30.0;
/// Invite links a user may make: 20, then 10 a minute.
const INVITE_BURST: f64 = 20.0;
const INVITE_RATE: f64 = 10.0;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            msg_rate: 5.0,
            msg_burst: 20.0,
            socket_rate: 30.0,
            dm_rate: 10.0,
            group_rate: 5.0,
            join_rate: 30.0,
            search: true,
            max_upload: files::MAX_UPLOAD,
            storage_per_user: files::MAX_STORAGE,
        }
    }
}

/// Token buckets per user, one per kind of action.
struct Limits {
    writes: Limiter<i64>,
    sockets: Limiter<i64>,
    dms: Limiter<i64>,
    groups: Limiter<i64>,
    joins: Limiter<i64>,
    invites: Limiter<i64>,
}

/// The kinds of action `Chat::take` limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A message, edit or key registration.
    Write,
    /// Opening a WebSocket.
    OpenSocket,
    /// Starting a new direct conversation.
    NewDm,
    /// Creating a group.
    NewGroup,
    /// Joining or leaving a group (also with an invite, or adding someone).
    JoinOrLeave,
    /// Making an invite link.
    NewInvite,
}

impl Action {
    /// Its bucket's name where buckets are shared (PostgreSQL mode): kept
    /// in the database, so never renamed.
    fn name(self) -> &'static str {
        match self {
            Action::Write => "write",
            Action::OpenSocket => "socket",
            Action::NewDm => "dm",
            Action::NewGroup => "group",
            Action::JoinOrLeave => "join",
            Action::NewInvite => "invite",
        }
    }
}

/// The chat's shared state.
pub struct Chat {
    pub hub: hub::Hub,
    pub store: Arc<Store>,
    limits: Limits,
    /// Recently stored `client_id`s, so a resend after a lost ack is
    /// acknowledged again instead of stored twice.
    recent: recent::RecentIds,
    /// Full-text search is on.
    pub search_on: bool,
    /// Upload limits.
    files: FileLimits,
}

/// Upload limits, in bytes.
#[derive(Debug, Clone, Copy)]
struct FileLimits {
    max_upload: u64,
    quota: u64,
}

impl Chat {
    pub fn new(store: Arc<Store>, s: Settings) -> Chat {
        let per_minute = |rate: f64, burst| Limiter::new(rate / 60.0, burst);
        let hub = hub::Hub::default();
        if let Some(relay) = relay::Relay::start(&store) {
            hub.set_relay(relay);
        }
        Chat {
            hub,
            store,
            limits: Limits {
                writes: Limiter::new(s.msg_rate, s.msg_burst),
                sockets: per_minute(s.socket_rate, SOCKET_BURST),
                dms: per_minute(s.dm_rate, DM_BURST),
                groups: per_minute(s.group_rate, GROUP_BURST),
                joins: per_minute(s.join_rate, JOIN_BURST),
                invites: per_minute(INVITE_RATE, INVITE_BURST),
            },
            recent: recent::RecentIds::default(),
            search_on: s.search,
            files: FileLimits {
                max_upload: s.max_upload,
                quota: s.storage_per_user,
            },
        }
    }

    /// The largest upload accepted, in bytes.
    pub fn max_upload(&self) -> u64 {
        self.files.max_upload
    }

    /// Takes one token of `user_id`'s bucket for `action`.
    pub fn take(&self, user_id: i64, action: Action) -> Result<(), Refusal> {
        let (bucket, why) = match action {
            Action::Write => (&self.limits.writes, "You are sending messages too fast."),
            Action::OpenSocket => (
                &self.limits.sockets,
                "Too many connections opened; wait a moment.",
            ),
            Action::NewDm => (
                &self.limits.dms,
                "Too many new conversations; wait a moment.",
            ),
            Action::NewGroup => (&self.limits.groups, "Too many new groups; wait a moment."),
            Action::JoinOrLeave => (
                &self.limits.joins,
                "Too many joins and leaves; wait a moment.",
            ),
            Action::NewInvite => (
                &self.limits.invites,
                "Too many invite links; wait a moment.",
            ),
        };
        self.take_from(bucket, action, user_id)
            .map_err(|wait| Refusal::rate_limited(wait, why))
    }

    /// A token of `bucket` for `user_id`: in PostgreSQL mode from the row
    /// every instance shares (the local bucket while the database is away),
    /// else from memory.
    fn take_from(
        &self,
        bucket: &Limiter<i64>,
        action: Action,
        user_id: i64,
    ) -> Result<(), Duration> {
        if !self.store.is_postgres() || bucket.rate() <= 0.0 {
            return bucket.take(user_id);
        }
        match self
            .store
            .take_shared_token(action.name(), user_id, bucket.rate(), bucket.burst())
        {
            Ok(taken) => taken,
            Err(e) => {
                crate::debug!("shared rate limit unavailable ({e}); this instance's counts");
                bucket.take(user_id)
            }
        }
    }
}
