//! Access that holds for the life of a socket. Open sockets follow the
//! store's event log: a session that ends — here, in an admin command
//! beside the server, or by expiring — closes its sockets with 4401; a
//! membership that ends closes the user's sockets on that group with 4403
//! and updates the room. Applying an event re-reads the store, so the same
//! code serves this process's changes and everyone else's, and applying
//! one twice does nothing new.
//!
//! Closing is the cleanup, not the protection: a message is stored only if
//! its author is a member at that moment (`store::insert_message`), and a
//! socket hears nothing until its session and membership were checked
//! after it joined the room (`hub::enter`).

use std::time::{Duration, Instant};

use super::Chat;
use super::relay::{self, Heard};
use crate::store::Event;
use crate::util;

/// How often the store is asked for events committed by other processes
/// (this process's own wake the follower at once).
pub const POLL: Duration = Duration::from_millis(250);
/// How often sockets are checked for an expired session.
const SWEEP: Duration = Duration::from_secs(1);
/// How often old events are pruned.
const PRUNE: Duration = Duration::from_secs(600);

/// Failed reads of the event log, reported once a minute (four a second
/// while PostgreSQL is away would flood the log).
static LOG_UNREAD: crate::log::Tally = crate::log::Tally::new();

impl Chat {
    /// Applies events from the log.
    pub fn apply(&self, events: &[Event]) {
        for event in events {
            match *event {
                Event::SessionsEnded { user_id } => self.recheck_sessions(user_id),
                Event::MemberLeft { group_id, user_id } => {
                    let _change = self.hub.membership_change();
                    self.hub.kick(group_id, user_id);
                }
                Event::MemberJoined { group_id, user_id } => {
                    let _change = self.hub.membership_change();
                    self.hub.member_joined(group_id, user_id);
                }
            }
        }
    }

    /// Follows the other instances on the same PostgreSQL database until
    /// `stop` (returns at once on SQLite): their frames and presence reach
    /// the sockets here, their event-log rows wake the follower at once.
    pub fn follow_instances(&self, stop: impl Fn() -> bool) {
        relay::listen(
            &self.store,
            self.hub.relay(),
            stop,
            |rows, again| {
                self.hub.resync_remote(rows);
                if again {
                    self.missed("the subscription was lost");
                }
            },
            |heard| match heard {
                Heard::Events => self.store.wake_followers(),
                Heard::Gap => self.missed("a publication did not arrive"),
                other => self.hub.hear(other),
            },
        );
    }

    /// Frames from other instances were missed: the room sockets here
    /// reconnect (1012) and their clients catch up from the store.
    fn missed(&self, why: &str) {
        let n = self.hub.restart_rooms();
        crate::info!("relay: {why}; {n} room socket(s) asked to reconnect and catch up");
        self.store.wake_followers();
    }

    /// Says this instance is alive until `stop` (PostgreSQL mode), sweeping
    /// instances that went silent.
    pub fn beat_instances(&self, stop: impl Fn() -> bool) {
        if let Some(relay) = self.hub.relay() {
            relay::beat(&self.store, relay, stop, |heard| self.hub.hear(heard));
        }
    }

    /// Closes every socket of `user_id` whose session is no longer live.
    pub fn recheck_sessions(&self, user_id: i64) {
        match self.store.live_sessions(user_id, util::now_ms()) {
            Ok(live) => {
                let n = self.hub.end_sessions(user_id, |s| live.contains(s));
                if n > 0 {
                    crate::info!("closed {n} socket(s) of user id={user_id}: session ended");
                }
            }
            Err(e) => crate::error!("checking sessions: {e}"),
        }
    }

    /// Whether a session (by token hash) is live now.
    pub fn session_live(&self, token_hash: &str) -> bool {
        matches!(
            self.store.session_user(token_hash, util::now_ms()),
            Ok(Some(_))
        )
    }

    /// Follows the event log (and sweeps expired sessions) until `stop`.
    pub fn follow(&self, stop: impl Fn() -> bool) {
        let mut cursor = loop {
            match self.store.event_cursor() {
                Ok(c) => break c,
                Err(e) => {
                    crate::error!("reading the event log: {e}");
                    if stop() {
                        return;
                    }
                    std::thread::sleep(POLL);
                }
            }
        };
        let (mut swept, mut pruned) = (Instant::now(), Instant::now());
        while !stop() {
            self.store.wait_for_events(&cursor, POLL);
            match self.store.events_since(&mut cursor) {
                Ok(events) => self.apply(&events),
                Err(e) => {
                    if let Some(n) = LOG_UNREAD.count() {
                        crate::warn!("reading the event log failed {n} time(s): {e}");
                    }
                }
            }
            if swept.elapsed() >= SWEEP {
                swept = Instant::now();
                let n = self.hub.close_expired(util::now_ms());
                if n > 0 {
                    crate::info!("closed {n} socket(s): session expired");
                }
            }
            if pruned.elapsed() >= PRUNE {
                pruned = Instant::now();
                if let Err(e) = self.store.prune_events(util::now_ms()) {
                    crate::warn!("pruning the event log: {e}");
                }
            }
        }
    }
}
