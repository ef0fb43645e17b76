//! The hub: live rooms (a group's open sockets), the `/ws` listeners, and
//! global presence. Map locks are held only to look up or copy; socket
//! sends happen on snapshots (`Arc<Vec<…>>`) outside them. Each room has a
//! sequencing lock held across "store, then fan out" so that every socket
//! of this instance sees a room's frames in one order, and live order is id
//! order. Across instances (PostgreSQL mode, `relay.rs`) frames from two
//! instances may interleave differently on each: clients place messages by
//! id, and two edits of one message made at the same moment through two
//! instances may show either until the next reload.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use super::fanout::{Fanout, Peers};
use super::presence::{Change, DELTA_ABOVE, Delta, Presence};
use super::protocol::{OnlineUser, ServerFrame};
use super::relay::{Among, Heard, Relay, Who};
use crate::store::{Group, PresenceRow};
use crate::sync::lock;
use crate::ws::frame::Frame;
use crate::ws::peer::{Identity, Peer};

/// A group's open sockets.
pub struct Room {
    pub group: Group,
    /// The group's members (kept up to date by join and leave).
    members: Mutex<HashSet<i64>>,
    seq: Mutex<()>,
    inner: Mutex<RoomInner>,
    typing: Mutex<HashMap<i64, Instant>>,
    fanout: Arc<Fanout>,
    /// Other instances' sockets hear this room's frames through it.
    relay: Option<Arc<Relay>>,
}

#[derive(Default)]
struct RoomInner {
    peers: Peers,
    present: Presence,
}

/// Close code: the socket's session ended (logout, password change,
/// revocation, expiry, account deleted or disabled).
pub const SESSION_ENDED: u16 = 4401;
/// Close code: the socket's user is no longer a member of its group.
pub const NOT_A_MEMBER: u16 = 4403;

/// Typing notices per user and room are relayed at most this often.
const TYPING_EVERY: Duration = Duration::from_secs(2);

impl Room {
    /// Holds the room's order: frames sent while holding it reach every
    /// socket in the same order.
    pub fn sequence(&self) -> MutexGuard<'_, ()> {
        lock(&self.seq)
    }

    pub fn peers(&self) -> Peers {
        Arc::clone(&lock(&self.inner).peers)
    }

    /// Sends a frame to every socket now in the room (call while
    /// sequenced), here and on the other instances; delivery happens on
    /// the room's flusher.
    pub fn fan_out(&self, frame: &Frame) {
        self.fan_out_here(frame);
        if let Some(relay) = &self.relay {
            relay.room(self.group.id, Among::All, frame);
        }
    }

    /// Sends a frame to some of the room's sockets (all but a typist's, or
    /// one user's), here and on the other instances, at once: it is not
    /// queued behind the room's backlog.
    pub fn send_among(&self, among: Among, frame: &Frame) {
        self.send_here(among, frame);
        if let Some(relay) = &self.relay {
            relay.room(self.group.id, among, frame);
        }
    }

    fn send_here(&self, among: Among, frame: &Frame) {
        for p in self
            .peers()
            .iter()
            .filter(|p| among.includes(p.who.user_id))
        {
            p.send(frame);
        }
    }

    /// `fan_out` to this instance's sockets only: for what every instance
    /// works out for itself (presence, "joined") and what came from another.
    fn fan_out_here(&self, frame: &Frame) {
        self.fanout.push(self.peers(), frame.clone());
    }

    /// Tells the room what the arrival or departure of `who`'s sockets
    /// changed (call while sequenced): the whole presence list in rooms of
    /// up to `DELTA_ABOVE` online users (one still waiting is replaced),
    /// a delta of those users' entries in larger ones.
    fn fan_out_presence<'a>(&self, who: impl IntoIterator<Item = &'a Identity>) {
        let inner = lock(&self.inner);
        let peers = Arc::clone(&inner.peers);
        if inner.present.user_count() > DELTA_ABOVE {
            let mut delta = Delta::default();
            for w in who {
                delta.merge(inner.present.delta_for(w));
            }
            drop(inner);
            self.fanout.push_delta(peers, delta, Delta::encode);
        } else {
            let users = inner.present.list();
            drop(inner);
            let frame = ServerFrame::Presence { users: &users }.encode();
            self.fanout.push_presence(peers, frame);
        }
    }

    pub fn has_user(&self, user_id: i64) -> bool {
        lock(&self.inner).present.has_user(user_id)
    }

    /// Whether arrivals and departures get a system line ("alice joined"):
    /// in rooms that get whole presence lists. A large room's would drown
    /// its conversation, and cost every member a frame per arrival that
    /// cannot merge with the next (a storm of 1,000 arrivals in a room of
    /// 3,000: 4 M sends; the presence delta came 13.8 s late, measured).
    fn announces(&self) -> bool {
        lock(&self.inner).present.user_count() <= DELTA_ABOVE
    }

    /// Who has a socket open on the room.
    pub fn presence(&self) -> Vec<OnlineUser> {
        lock(&self.inner).present.list()
    }

    /// `f` of the room's online list as JSON entries (no copies: a large
    /// room's is thousands long).
    fn with_online<R>(&self, f: impl FnOnce(&[&RawValue]) -> R) -> R {
        f(&lock(&self.inner).present.encoded())
    }

    /// Members other than `user_id` with no socket open on the room.
    pub fn members_away(&self, user_id: i64) -> HashSet<i64> {
        let members = lock(&self.members);
        let inner = lock(&self.inner);
        members
            .iter()
            .copied()
            .filter(|&u| u != user_id && !inner.present.has_user(u))
            .collect()
    }

    /// Whether `user_id` may relay a typing notice now.
    pub fn typing_allowed(&self, user_id: i64) -> bool {
        let now = Instant::now();
        let mut t = lock(&self.typing);
        t.retain(|_, at| now.duration_since(*at) < TYPING_EVERY);
        if t.contains_key(&user_id) {
            return false;
        }
        t.insert(user_id, now);
        true
    }

    /// Counts a socket another instance has (it has no peer here).
    fn add_remote(&self, who: &Identity) -> Change {
        lock(&self.inner).present.add(who)
    }

    fn remove_remote(&self, who: &Identity) -> Change {
        lock(&self.inner).present.remove(who)
    }

    /// What a remote socket's arrival or departure changed, told here as a
    /// local one's would be (call while sequenced).
    fn announce_remote(&self, who: &Identity, change: Change, arrived: bool) {
        if change.user && self.announces() {
            let verb = if arrived { "joined" } else { "left" };
            self.fan_out_here(&system(&format!("{} {verb}", who.username)));
        }
        if change.list {
            self.fan_out_presence([who]);
        }
    }

    fn add(&self, peer: Arc<Peer>) -> Change {
        let mut inner = lock(&self.inner);
        let mut next = Vec::with_capacity(inner.peers.len() + 1);
        next.extend(inner.peers.iter().cloned());
        let change = inner.present.add(&peer.who);
        next.push(peer);
        inner.peers = Arc::new(next);
        change
    }

    /// Removes the sockets for which `keep` is false; returns them and
    /// what their departure changed.
    fn remove(&self, keep: impl Fn(&Peer) -> bool) -> (Vec<Arc<Peer>>, Change) {
        let mut inner = lock(&self.inner);
        let (kept, gone): (Vec<_>, Vec<_>) = inner.peers.iter().cloned().partition(|p| keep(p));
        let mut change = Change::default();
        if !gone.is_empty() {
            inner.peers = Arc::new(kept);
            for p in &gone {
                let c = inner.present.remove(&p.who);
                change.user |= c.user;
                change.list |= c.list;
            }
        }
        (gone, change)
    }
}

fn system(text: &str) -> Frame {
    ServerFrame::System {
        text,
        created_at: crate::util::now_ms(),
        id: None,
    }
    .encode()
}

#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    rooms: Mutex<HashMap<i64, Arc<Room>>>,
    /// Held across a membership change (database, then room) and across
    /// loading a new room's member list, so that no room starts from a list
    /// that misses a join or leave made while it was being read, and a join
    /// and a leave reach the room in the order they were stored. Unlike the
    /// other hub locks it is held over database work, deliberately: only
    /// join, leave and a room's first socket take it; messages, presence
    /// and notifications never wait for it.
    membership: Mutex<()>,
    listeners: Mutex<Peers>,
    /// Every open socket, rooms and listeners alike (taken before
    /// `listeners` when both are).
    online: Mutex<Presence>,
    /// The listeners' queue for changes of `online`: a waiting list is
    /// replaced by a newer one and deltas merge, as in a room — every
    /// browser has a `/ws` socket, so a list per arrival would cost each of
    /// them O(server) bytes per arrival.
    online_out: Arc<Fanout>,
    /// Set in PostgreSQL mode: the other instances hear through it.
    relay: OnceLock<Arc<Relay>>,
    /// Other instances' sockets: (instance, room or 0, user, address) →
    /// (name, sockets).
    remote: Mutex<HashMap<RemoteKey, (String, i64)>>,
    /// Held across applying one remote change (the relay's listener and the
    /// heartbeat's sweeps both apply them), so they apply one at a time.
    remote_order: Mutex<()>,
}

/// Where another instance's sockets are counted.
type RemoteKey = (String, i64, i64, IpAddr);

/// A socket another instance has, as presence counts it.
fn remote_identity(user_id: i64, username: &str, ip: IpAddr) -> Identity {
    Identity {
        user_id,
        username: username.to_string(),
        ip,
        session: Arc::from(""),
        expires_at: i64::MAX,
    }
}

impl Hub {
    /// Publishes this hub's frames and presence to other instances from
    /// now on (before the first socket opens).
    pub fn set_relay(&self, relay: Arc<Relay>) {
        let _ = self.relay.set(relay);
    }

    /// The relay, in PostgreSQL mode.
    pub fn relay(&self) -> Option<&Relay> {
        self.relay.get().map(|r| &**r)
    }

    /// Applies what another instance published.
    pub fn hear(&self, heard: Heard) {
        match heard {
            Heard::Room {
                group_id,
                among,
                frame,
            } => {
                if let Some(room) = self.existing_room(group_id) {
                    let _order = room.sequence();
                    match among {
                        Among::All => room.fan_out_here(&frame),
                        _ => room.send_here(among, &frame),
                    }
                }
            }
            Heard::Notify { who, frame } => self.notify_here(&who, &frame),
            Heard::Presence {
                instance,
                group_id,
                user_id,
                ip,
                sockets,
                username,
            } => self.remote_count((instance, group_id, user_id, ip), &username, sockets),
            Heard::Swept(instance) => {
                let gone: Vec<(RemoteKey, String)> = lock(&self.remote)
                    .iter()
                    .filter(|(k, _)| k.0 == instance)
                    .map(|(k, (name, _))| (k.clone(), name.clone()))
                    .collect();
                for (key, name) in gone {
                    self.remote_count(key, &name, 0);
                }
            }
            // The chat's to handle (`live.rs`).
            Heard::Events | Heard::Gap => {}
        }
    }

    /// Makes the other instances' sockets those of `rows` (when listening
    /// starts, and again after the connection to PostgreSQL was lost).
    pub fn resync_remote(&self, rows: Vec<PresenceRow>) {
        let mut wanted: HashMap<RemoteKey, (String, i64)> = HashMap::new();
        for r in rows {
            if let Ok(ip) = r.ip.parse() {
                wanted.insert(
                    (r.instance, r.group_id, r.user_id, ip),
                    (r.username, r.sockets),
                );
            }
        }
        let stale: Vec<(RemoteKey, String)> = lock(&self.remote)
            .iter()
            .filter(|(k, _)| !wanted.contains_key(*k))
            .map(|(k, (name, _))| (k.clone(), name.clone()))
            .collect();
        for (key, name) in stale {
            self.remote_count(key, &name, 0);
        }
        for (key, (name, n)) in wanted {
            self.remote_count(key, &name, n);
        }
    }

    /// Records that another instance has `sockets` of a user and address
    /// in a room (0: server-wide), and tells local sockets what changed
    /// when the user came or went there.
    fn remote_count(&self, key: RemoteKey, username: &str, sockets: i64) {
        let (group_id, user_id, ip) = (key.1, key.2, key.3);
        // The room is looked up with `remote` held (see `open_room`), and
        // changes apply one at a time, in the order they were heard.
        let _order = lock(&self.remote_order);
        let (was, room) = {
            let mut remote = lock(&self.remote);
            let was = remote.get(&key).is_some_and(|(_, n)| *n > 0);
            if sockets > 0 {
                remote.insert(key, (username.to_string(), sockets));
            } else {
                remote.remove(&key);
            }
            (
                was,
                (group_id != 0)
                    .then(|| self.existing_room(group_id))
                    .flatten(),
            )
        };
        let now = sockets > 0;
        if was == now {
            return;
        }
        let who = remote_identity(user_id, username, ip);
        if group_id == 0 {
            let mut online = lock(&self.online);
            let change = if now {
                online.add(&who)
            } else {
                online.remove(&who)
            };
            if change.list {
                self.fan_out_online(&online, &who);
            }
        } else if let Some(room) = room {
            let _order = room.sequence();
            let change = if now {
                room.add_remote(&who)
            } else {
                room.remove_remote(&who)
            };
            room.announce_remote(&who, change, now);
        }
    }

    /// Closes this instance's room sockets with 1012 (after frames from
    /// other instances may have been missed: the clients reconnect and
    /// catch up from the store).
    pub fn restart_rooms(&self) -> usize {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        let mut n = 0;
        for room in rooms {
            for p in room.peers().iter() {
                p.close(1012, "server restarting; reconnect");
                n += 1;
            }
        }
        n
    }

    pub fn new_peer_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The live room of a group, created on first use with the members
    /// `load` reads. Rooms stay for the life of the process (one per group
    /// ever opened; an empty one holds no sockets and costs a few hundred
    /// bytes).
    pub fn open_room<E>(
        &self,
        group: &Group,
        load: impl FnOnce() -> Result<Vec<i64>, E>,
    ) -> Result<Arc<Room>, E> {
        if let Some(room) = self.existing_room(group.id) {
            return Ok(room);
        }
        let _members = lock(&self.membership);
        if let Some(room) = self.existing_room(group.id) {
            return Ok(room);
        }
        let room = Arc::new(Room {
            group: group.clone(),
            members: Mutex::new(load()?.into_iter().collect()),
            seq: Mutex::new(()),
            inner: Mutex::new(RoomInner::default()),
            typing: Mutex::new(HashMap::new()),
            fanout: Arc::default(),
            relay: self.relay.get().cloned(),
        });
        // Other instances' sockets already in it; `remote` held until the
        // room is listed, so a change of it lands either in this copy or,
        // later, in the room (see `remote_count`).
        let remote = lock(&self.remote);
        for ((_, g, user_id, ip), (name, _)) in remote.iter() {
            if *g == group.id {
                room.add_remote(&remote_identity(*user_id, name, *ip));
            }
        }
        lock(&self.rooms).insert(group.id, Arc::clone(&room));
        drop(remote);
        Ok(room)
    }

    /// Hold while changing who belongs to a group: store the change, then
    /// call `member_joined` or `kick`.
    pub fn membership_change(&self) -> MutexGuard<'_, ()> {
        lock(&self.membership)
    }

    pub fn existing_room(&self, group_id: i64) -> Option<Arc<Room>> {
        lock(&self.rooms).get(&group_id).cloned()
    }

    /// Adds a socket to a room. Its hello (built by `hello` from the room's
    /// online list as it is with the socket in it) is sent, then `then`
    /// runs (the replay), both under the room's order, so they come before
    /// any live frame; then the room hears "joined" (for a user's first
    /// socket, in rooms small enough to announce it) and presence.
    ///
    /// `admit` is asked after the socket is in the room and before it hears
    /// anything: a membership or session that ended before the question
    /// is seen by it, and one that ends after finds the socket in the room
    /// (to be closed there). Refused, the socket leaves unannounced and the
    /// caller closes it.
    pub fn enter(
        &self,
        room: &Room,
        peer: &Arc<Peer>,
        admit: impl FnOnce() -> bool,
        hello: impl FnOnce(&[&RawValue]) -> Frame,
        then: impl FnOnce(&Arc<Peer>),
    ) -> bool {
        {
            let _order = room.sequence();
            let change = room.add(Arc::clone(peer));
            if !admit() {
                let id = peer.id;
                room.remove(|p| p.id != id);
                return false;
            }
            if let Some(relay) = self.relay.get() {
                relay.opened(room.group.id, &peer.who);
            }
            peer.send(&room.with_online(hello));
            then(peer);
            if change.user && room.announces() {
                room.fan_out_here(&system(&format!("{} joined", peer.who.username)));
            }
            if change.list {
                room.fan_out_presence([&peer.who]);
            }
            // Under the room's order, as its `untrack` in `depart`: a kick
            // landing right after cannot untrack it first.
            self.track(&peer.who);
        }
        true
    }

    /// Removes a socket from its room (idempotent).
    pub fn exit(&self, room: &Room, peer: &Peer) {
        let id = peer.id;
        self.depart(room, |p| p.id != id, None);
    }

    /// Records a new member of a group whose room is open.
    pub fn member_joined(&self, group_id: i64, user_id: i64) {
        if let Some(room) = self.existing_room(group_id) {
            lock(&room.members).insert(user_id);
        }
    }

    /// Closes a user's sockets in a group (they left it).
    pub fn kick(&self, group_id: i64, user_id: i64) {
        if let Some(room) = self.existing_room(group_id) {
            lock(&room.members).remove(&user_id);
            let why = (NOT_A_MEMBER, "not a member");
            self.depart(&room, |p| p.who.user_id != user_id, Some(why));
        }
    }

    /// Forgets a deleted group's room, closing its sockets with 4403.
    pub fn drop_room(&self, group_id: i64) {
        if let Some(room) = lock(&self.rooms).remove(&group_id) {
            self.depart(&room, |_| false, Some((NOT_A_MEMBER, "group deleted")));
        }
    }

    /// Closes (4401) every socket of `user_id` whose session `live` says
    /// has ended; returns how many.
    pub fn end_sessions(&self, user_id: i64, live: impl Fn(&str) -> bool) -> usize {
        self.close_where(|p| p.who.user_id == user_id && !live(&p.who.session))
    }

    /// Closes (4401) every socket whose session expired by `now` (Unix ms).
    pub fn close_expired(&self, now: i64) -> usize {
        self.close_where(|p| p.who.expires_at <= now)
    }

    fn close_where(&self, pick: impl Fn(&Peer) -> bool) -> usize {
        let mut n = 0;
        for p in self
            .all_peers()
            .iter()
            .filter(|p| !p.is_closing() && pick(p))
        {
            p.close(SESSION_ENDED, "session ended");
            n += 1;
        }
        n
    }

    fn depart(&self, room: &Room, keep: impl Fn(&Peer) -> bool, close: Option<(u16, &str)>) {
        let gone = {
            let _order = room.sequence();
            let (gone, change) = room.remove(keep);
            if change.user && room.announces() {
                let mut left: Vec<&str> = gone
                    .iter()
                    .filter(|p| !room.has_user(p.who.user_id))
                    .map(|p| p.who.username.as_str())
                    .collect();
                left.dedup();
                for name in left {
                    room.fan_out_here(&system(&format!("{name} left")));
                }
            }
            if change.list {
                room.fan_out_presence(gone.iter().map(|p| &p.who));
            }
            for p in &gone {
                if let Some(relay) = self.relay.get() {
                    relay.closed(room.group.id, &p.who);
                }
                self.untrack(&p.who);
            }
            gone
        };
        for p in gone {
            if let Some((code, why)) = close {
                p.close(code, why);
            }
        }
    }

    /// Makes a change to a group's stored messages and sends the frame it
    /// yields to the group's sockets, both under the room's order: two
    /// changes racing (an edit from each of two tabs) reach every socket in
    /// the order they were stored, so the last one shown is the one kept.
    pub fn change<T>(&self, group_id: i64, store: impl FnOnce() -> (T, Option<Frame>)) -> T {
        let room = self.existing_room(group_id);
        let _order = room.as_ref().map(|r| r.sequence());
        let (result, frame) = store();
        if let Some(frame) = frame {
            self.to_room(group_id, room.as_deref(), Among::All, &frame);
        }
        result
    }

    /// Sends `frame` to some of a group's sockets: here, when the room is
    /// open here (call holding its order), and on every other instance
    /// whether it is open here or not — a change made through the API
    /// often lands on an instance where nobody has the room open.
    pub fn to_room(&self, group_id: i64, room: Option<&Room>, among: Among, frame: &Frame) {
        match room {
            Some(room) if among == Among::All => room.fan_out(frame),
            Some(room) => room.send_among(among, frame),
            None => {
                if let Some(relay) = self.relay.get() {
                    relay.room(group_id, among, frame);
                }
            }
        }
    }

    /// Presence of a group's room (empty when nobody is there).
    pub fn room_presence(&self, group_id: i64) -> Vec<OnlineUser> {
        self.existing_room(group_id)
            .map_or_else(Vec::new, |r| r.presence())
    }

    /// Adds a `/ws` listener and makes sure it has the current online list.
    pub fn listen(&self, peer: &Arc<Peer>) {
        // Listed and sent the whole list with `online` held: a change made
        // meanwhile cannot queue for this socket before its first frame.
        let mut online = lock(&self.online);
        {
            let mut l = lock(&self.listeners);
            let mut next = Vec::with_capacity(l.len() + 1);
            next.extend(l.iter().cloned());
            next.push(Arc::clone(peer));
            *l = Arc::new(next);
        }
        let change = online.add(&peer.who);
        if let Some(relay) = self.relay.get() {
            relay.opened(0, &peer.who);
        }
        peer.send(
            &ServerFrame::Online {
                users: &online.encoded(),
            }
            .encode(),
        );
        if change.list {
            self.fan_out_online(&online, &peer.who);
        }
    }

    pub fn unlisten(&self, peer: &Peer) {
        let removed = {
            let mut l = lock(&self.listeners);
            let before = l.len();
            let next: Vec<_> = l.iter().filter(|p| p.id != peer.id).cloned().collect();
            let removed = next.len() != before;
            *l = Arc::new(next);
            removed
        };
        if removed {
            self.untrack(&peer.who);
        }
    }

    /// Sends `frame` to the `/ws` listeners of the users `to` names, here
    /// and on the other instances.
    pub fn notify(&self, to: &Who, frame: &Frame) {
        self.notify_here(to, frame);
        if let Some(relay) = self.relay.get() {
            relay.notify(to, frame);
        }
    }

    fn notify_here(&self, to: &Who, frame: &Frame) {
        let listeners = Arc::clone(&lock(&self.listeners));
        // A set for long lists: everyone away from a large room, against
        // every listener, would be a quadratic walk.
        let (ids, only) = match to {
            Who::Only(ids) => (ids, true),
            Who::Except(ids) => (ids, false),
        };
        let set: HashSet<i64> = ids.iter().copied().collect();
        for p in listeners
            .iter()
            .filter(|p| set.contains(&p.who.user_id) == only)
        {
            p.send(frame);
        }
    }

    /// Everyone with an open socket.
    pub fn online(&self) -> Vec<OnlineUser> {
        lock(&self.online).list()
    }

    /// Records an open socket; tells listeners when the online list changed.
    fn track(&self, who: &Identity) {
        let mut online = lock(&self.online);
        if let Some(relay) = self.relay.get() {
            relay.opened(0, who);
        }
        if online.add(who).list {
            self.fan_out_online(&online, who);
        }
    }

    fn untrack(&self, who: &Identity) {
        let mut online = lock(&self.online);
        if let Some(relay) = self.relay.get() {
            relay.closed(0, who);
        }
        if online.remove(who).list {
            self.fan_out_online(&online, who);
        }
    }

    /// Queues what `who`'s change did to the online list for every `/ws`
    /// socket (called with `online` locked, so changes queue in the order
    /// they were made): the whole list while at most `DELTA_ABOVE` users
    /// are online, an `online_delta` above — as in a room. Nothing is
    /// built when no socket listens.
    fn fan_out_online(&self, online: &Presence, who: &Identity) {
        let listeners = Arc::clone(&lock(&self.listeners));
        if listeners.is_empty() {
            return;
        }
        if online.user_count() > DELTA_ABOVE {
            self.online_out
                .push_delta(listeners, online.delta_for(who), Delta::encode_online);
        } else {
            let frame = ServerFrame::Online {
                users: &online.encoded(),
            }
            .encode();
            self.online_out.push_presence(listeners, frame);
        }
    }

    /// Rooms with at least one open socket.
    pub fn active_rooms(&self) -> usize {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        rooms.iter().filter(|r| !r.peers().is_empty()).count()
    }

    /// Every open socket (for pings and shutdown).
    pub fn all_peers(&self) -> Vec<Arc<Peer>> {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        let mut all: Vec<Arc<Peer>> = Vec::new();
        for r in rooms {
            all.extend(r.peers().iter().cloned());
        }
        all.extend(lock(&self.listeners).iter().cloned());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::peer::tests::{MemWire, peer};
    use serde_json::Value;

    fn group(id: i64) -> Group {
        Group {
            id,
            name: format!("g{id}"),
            is_dm: false,
            e2e: false,
            created_at: 0,
            closed_at: None,
            private: false,
            member_count: 2,
        }
    }

    /// The (opcode, JSON or close code) of every frame a wire received.
    fn frames(wire: &MemWire) -> Vec<(u8, Value)> {
        let bytes = wire.state().bytes.clone();
        let mut out = Vec::new();
        let mut rest = &bytes[..];
        while rest.len() >= 2 {
            let (op, len7) = (rest[0] & 0x0f, usize::from(rest[1] & 0x7f));
            let (len, head) = match len7 {
                126 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
                127 => (
                    u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (n, 2),
            };
            let payload = &rest[head..head + len];
            let v = match op {
                1 => serde_json::from_slice(payload).unwrap(),
                _ => Value::from(u16::from_be_bytes([payload[0], payload[1]])),
            };
            out.push((op, v));
            rest = &rest[head + len..];
        }
        out
    }

    /// Waits (bounded) until what a wire received satisfies `done`; the
    /// room's flusher delivers on its own thread.
    fn wait_until(wire: &MemWire, done: impl Fn(&[(u8, Value)]) -> bool) -> Vec<(u8, Value)> {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let f = frames(wire);
            if done(&f) || Instant::now() > until {
                return f;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn names(users: &Value) -> Vec<&str> {
        users
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect()
    }

    /// The last presence list among `frames`.
    /// A hello that only counts who it lists.
    fn greet(greeted: &mut Vec<usize>, online: &[&RawValue]) -> Frame {
        greeted.push(online.len());
        Frame::default()
    }

    fn no_hello(_: &[&RawValue]) -> Frame {
        Frame::default()
    }

    fn last_presence(frames: &[(u8, Value)]) -> Vec<&str> {
        frames
            .iter()
            .rev()
            .find(|(_, v)| v["type"] == "presence")
            .map_or_else(Vec::new, |(_, v)| names(&v["users"]))
    }

    fn system_texts(frames: &[(u8, Value)]) -> Vec<&str> {
        frames
            .iter()
            .filter(|(_, v)| v["type"] == "system")
            .map(|(_, v)| v["text"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn a_users_first_socket_is_announced_and_everyone_gets_the_new_list() {
        let hub = Hub::default();
        let room = hub
            .open_room(&group(1), || Ok::<_, ()>(vec![1, 2]))
            .unwrap();
        let (wa, wb) = (MemWire::with_room(1 << 20), MemWire::with_room(1 << 20));
        let (a, b) = (peer(1, 1, "alice", &wa), peer(2, 2, "bob", &wb));
        let mut greeted = Vec::new();
        hub.enter(
            &room,
            &a,
            || true,
            |online| greet(&mut greeted, online),
            |_| {},
        );
        hub.enter(
            &room,
            &b,
            || true,
            |online| greet(&mut greeted, online),
            |_| {},
        );
        assert_eq!(
            greeted,
            vec![1, 2],
            "each hello lists who is there, itself included"
        );
        let seen = wait_until(&wa, |f| last_presence(f) == ["alice", "bob"]);
        assert_eq!(last_presence(&seen), ["alice", "bob"]);
        assert_eq!(system_texts(&seen), ["alice joined", "bob joined"]);
        // A second socket of bob's from the same address changes no list.
        let wb2 = MemWire::with_room(1 << 20);
        hub.enter(&room, &peer(3, 2, "bob", &wb2), || true, no_hello, |_| {});
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(frames(&wa).len(), seen.len(), "nothing new for alice");
    }

    #[test]
    fn kicking_a_user_closes_their_sockets_and_tells_the_others_they_left() {
        let hub = Hub::default();
        let room = hub
            .open_room(&group(1), || Ok::<_, ()>(vec![1, 2]))
            .unwrap();
        let (wa, wb) = (MemWire::with_room(1 << 20), MemWire::with_room(1 << 20));
        hub.enter(&room, &peer(1, 1, "alice", &wa), || true, no_hello, |_| {});
        hub.enter(&room, &peer(2, 2, "bob", &wb), || true, no_hello, |_| {});
        wait_until(&wa, |f| last_presence(f) == ["alice", "bob"]);
        hub.kick(1, 2);
        let bob = wait_until(&wb, |f| f.iter().any(|(op, _)| *op == 8));
        assert_eq!(
            bob.last().unwrap(),
            &(8, Value::from(i64::from(NOT_A_MEMBER))),
            "bob's socket closes"
        );
        let alice = wait_until(&wa, |f| last_presence(f) == ["alice"]);
        assert_eq!(system_texts(&alice).last(), Some(&"bob left"));
        assert_eq!(last_presence(&alice), ["alice"]);
        assert!(room.members_away(1).is_empty(), "bob is no member any more");
        assert!(!room.has_user(2));
    }

    #[test]
    fn members_away_are_the_members_with_no_socket_on_the_room() {
        let hub = Hub::default();
        let room = hub
            .open_room(&group(1), || Ok::<_, ()>(vec![1, 2, 3]))
            .unwrap();
        let w = MemWire::with_room(1 << 20);
        hub.enter(&room, &peer(1, 1, "alice", &w), || true, no_hello, |_| {});
        let away = room.members_away(1);
        assert_eq!(away, HashSet::from([2, 3]));
        hub.member_joined(1, 4);
        assert_eq!(room.members_away(1), HashSet::from([2, 3, 4]));
    }

    #[test]
    fn notify_reaches_only_the_listeners_it_picks_and_online_changes_reach_all() {
        let hub = Hub::default();
        let (wa, wb) = (MemWire::with_room(1 << 20), MemWire::with_room(1 << 20));
        let (a, b) = (peer(1, 1, "alice", &wa), peer(2, 2, "bob", &wb));
        hub.listen(&a);
        hub.listen(&b);
        let note = ServerFrame::Dm {
            group_id: 9,
            from: "alice",
        }
        .encode();
        hub.notify(&Who::one(2), &note);
        let to_bob = frames(&wb);
        let to_alice = frames(&wa);
        assert!(to_bob.iter().any(|(_, v)| v["type"] == "dm"));
        assert!(!to_alice.iter().any(|(_, v)| v["type"] == "dm"));
        // Changes of the online list come through the listeners' queue.
        fn last_online(f: &[(u8, Value)]) -> Option<Vec<&str>> {
            f.iter()
                .rev()
                .find(|(_, v)| v["type"] == "online")
                .map(|(_, v)| names(&v["users"]))
        }
        let seen = wait_until(&wa, |f| last_online(f) == Some(vec!["alice", "bob"]));
        assert_eq!(last_online(&seen), Some(vec!["alice", "bob"]));
        hub.unlisten(&b);
        let seen = wait_until(&wa, |f| last_online(f) == Some(vec!["alice"]));
        assert_eq!(last_online(&seen), Some(vec!["alice"]));
    }
}
