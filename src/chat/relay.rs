//! Frames and presence between instances that share one PostgreSQL
//! database (`--database`). Every frame a room or the `/ws` listeners get
//! here is also published on the store's bus (`store::pg::bus`), and every
//! instance delivers what the others published to its own sockets: a
//! message, edit, deletion, reaction, typing notice or group change reaches
//! every socket wherever it is connected. Presence travels as counts: "this
//! instance has N sockets of user U from address A in room G" (G = 0: the
//! server-wide online list), kept in the database too, so that a starting
//! instance reads where everyone is and a dead one's sockets can be swept.
//! A remote socket is, to a room here, one more socket of that user and
//! address in its presence: lists, deltas, "joined", who is away for a
//! notification — all the same code as for local sockets.
//!
//! Sessions ending and memberships changing do not travel here: they are
//! rows of the event log, which every instance follows (`live.rs`); the
//! bus only wakes the followers sooner.
//!
//! Wire format (space-separated, the last field takes the rest):
//! `r GROUP FRAME` a room's frame (`t GROUP USER FRAME`: for all but that
//! user's sockets, as a typing notice; `o GROUP USER FRAME`: for that
//! user's only, as their read position); `u IDS FRAME` for the `/ws` sockets of
//! users IDS (comma-separated), `x IDS FRAME` for all but them (`-`: none);
//! `p GROUP USER ADDR COUNT NAME` presence; `swept INSTANCE`; `E` events.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::{BEAT, DEAD_AFTER_MS, PresenceRow, SWEPT, Store};
use crate::sync::lock;
use crate::ws::frame::Frame;
use crate::ws::peer::Identity;

/// Whose `/ws` sockets a notification is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// These users'.
    Only(Vec<i64>),
    /// Everyone's but these users'.
    Except(Vec<i64>),
}

impl Who {
    pub fn one(user_id: i64) -> Who {
        Who::Only(vec![user_id])
    }

    pub fn everyone() -> Who {
        Who::Except(Vec::new())
    }

    fn encode(&self) -> String {
        let (tag, ids) = match self {
            Who::Only(ids) => ("u", ids),
            Who::Except(ids) => ("x", ids),
        };
        let list = if ids.is_empty() {
            "-".to_string()
        } else {
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        };
        format!("{tag} {list}")
    }
}

/// Which of a room's sockets a frame is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Among {
    All,
    /// All but this user's.
    AllBut(i64),
    /// This user's only.
    Only(i64),
}

impl Among {
    pub fn includes(self, user_id: i64) -> bool {
        match self {
            Among::All => true,
            Among::AllBut(u) => u != user_id,
            Among::Only(u) => u == user_id,
        }
    }
}

/// One thing heard from another instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A frame for some of a room's sockets.
    Room {
        group_id: i64,
        among: Among,
        frame: Frame,
    },
    /// A frame for `/ws` sockets.
    Notify { who: Who, frame: Frame },
    /// That instance now has `sockets` of this user and address here.
    Presence {
        instance: String,
        group_id: i64,
        user_id: i64,
        ip: IpAddr,
        sockets: i64,
        username: String,
    },
    /// An instance is gone: its sockets with it.
    Swept(String),
    /// Something another instance published was missed.
    Gap,
    /// The event log has new rows.
    Events,
}

/// The payload of a frame: the JSON text behind its WebSocket header.
fn frame_text(frame: &[u8]) -> Option<&str> {
    let len = *frame.get(1)? & 0x7f;
    let start = match len {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    std::str::from_utf8(frame.get(start..)?).ok()
}

/// Decodes one payload (`from`: the instance that published it); `None`
/// for anything malformed or from a newer program.
pub fn decode(from: &str, payload: &str) -> Option<Heard> {
    let (tag, rest) = payload.split_once(' ').unwrap_or((payload, ""));
    let ids = |list: &str| -> Option<Vec<i64>> {
        if list == "-" {
            return Some(Vec::new());
        }
        list.split(',').map(|i| i.parse().ok()).collect()
    };
    let text = |t: &str| crate::ws::frame::text(t.as_bytes());
    Some(match tag {
        "r" => {
            let (g, frame) = rest.split_once(' ')?;
            Heard::Room {
                group_id: g.parse().ok()?,
                among: Among::All,
                frame: text(frame),
            }
        }
        "t" | "o" => {
            let mut f = rest.splitn(3, ' ');
            let group_id = f.next()?.parse().ok()?;
            let user = f.next()?.parse().ok()?;
            Heard::Room {
                group_id,
                among: if tag == "t" {
                    Among::AllBut(user)
                } else {
                    Among::Only(user)
                },
                frame: text(f.next()?),
            }
        }
        "u" | "x" => {
            let (list, frame) = rest.split_once(' ')?;
            let list = ids(list)?;
            let who = if tag == "u" {
                Who::Only(list)
            } else {
                Who::Except(list)
            };
            Heard::Notify {
                who,
                frame: text(frame),
            }
        }
        "p" => {
            let mut f = rest.splitn(5, ' ');
            Heard::Presence {
                instance: from.to_string(),
                group_id: f.next()?.parse().ok()?,
                user_id: f.next()?.parse().ok()?,
                ip: f.next()?.parse().ok()?,
                sockets: f.next()?.parse().ok()?,
                username: f.next()?.to_string(),
            }
        }
        "E" => Heard::Events,
        _ if payload.starts_with(SWEPT) => Heard::Swept(payload[SWEPT.len()..].to_string()),
        _ => return None,
    })
}

/// (room or 0, user, address): where this instance's sockets are counted.
type Key = (i64, i64, IpAddr);

/// Payloads waiting to be published at most; past it (PostgreSQL away for
/// long) frames are dropped, counted, and presence is published whole
/// again once the database is back.
const QUEUE: usize = 20_000;

/// What goes out, in order, on the publishing thread.
struct Out {
    payload: String,
    presence: Option<PresenceRow>,
    /// The count it publishes, if it is one.
    count: Option<(Key, String, i64)>,
}

/// The publishing side.
pub struct Relay {
    instance: String,
    out: Mutex<SyncSender<Out>>,
    /// Payloads dropped because the queue was full, since the last report.
    dropped: std::sync::atomic::AtomicBool,
    /// The number the next payload goes out with.
    next: std::sync::atomic::AtomicU64,
    /// The others forgot this instance's counts (it was swept).
    forget: std::sync::atomic::AtomicBool,
    /// When the last heartbeat went out (ms since `started`).
    last_beat: std::sync::atomic::AtomicU64,
    started: Instant,
    /// This instance's sockets, counted as they are published.
    local: Mutex<HashMap<Key, (String, i64)>>,
}

impl Relay {
    /// A relay publishing through `store` on a thread of its own; `None`
    /// on SQLite (one instance: nobody to tell).
    pub fn start(store: &Arc<Store>) -> Option<Arc<Relay>> {
        if !store.is_postgres() {
            return None;
        }
        let (tx, rx) = sync_channel(QUEUE);
        let relay = Arc::new(Relay {
            instance: store.instance().to_string(),
            out: Mutex::new(tx),
            dropped: std::sync::atomic::AtomicBool::new(false),
            next: std::sync::atomic::AtomicU64::new(0),
            forget: std::sync::atomic::AtomicBool::new(false),
            last_beat: std::sync::atomic::AtomicU64::new(0),
            started: Instant::now(),
            local: Mutex::new(HashMap::new()),
        });
        let (store, again) = (Arc::clone(store), Arc::clone(&relay));
        let spawned = std::thread::Builder::new()
            .name("relay-out".into())
            .spawn(move || publish_loop(&store, &again, &rx));
        if let Err(e) = spawned {
            crate::error!("cannot start the relay: {e}");
            return None;
        }
        Some(relay)
    }

    fn send(&self, payload: String, presence: Option<PresenceRow>) {
        let count = presence.as_ref().and_then(|row| {
            let ip = row.ip.parse().ok()?;
            Some((
                (row.group_id, row.user_id, ip),
                row.username.clone(),
                row.sockets,
            ))
        });
        // Numbered under the queue's lock, so numbers go out in order; one
        // that never arrives (dropped here, failed there) is a gap to the
        // others. Never waits: a room's order is held while frames are sent.
        let out = lock(&self.out);
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match out.try_send(Out {
            payload: format!("#{n} {payload}"),
            presence,
            count,
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                if let Some(n) = DROPPED.count() {
                    crate::warn!(
                        "relay: {n} frame(s) for other instances dropped: the queue is full"
                    );
                }
            }
            // The thread ends only with the process.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// A frame some of a room's sockets got here.
    pub fn room(&self, group_id: i64, among: Among, frame: &Frame) {
        if let Some(text) = frame_text(frame) {
            let payload = match among {
                Among::All => format!("r {group_id} {text}"),
                Among::AllBut(user) => format!("t {group_id} {user} {text}"),
                Among::Only(user) => format!("o {group_id} {user} {text}"),
            };
            self.send(payload, None);
        }
    }

    /// A frame `/ws` sockets got here.
    pub fn notify(&self, who: &Who, frame: &Frame) {
        if let Some(text) = frame_text(frame) {
            self.send(format!("{} {text}", who.encode()), None);
        }
    }

    /// A socket of `who` opened (`group_id` 0: counted server-wide).
    pub fn opened(&self, group_id: i64, who: &Identity) {
        self.count(group_id, who, 1);
    }

    pub fn closed(&self, group_id: i64, who: &Identity) {
        self.count(group_id, who, -1);
    }

    fn count(&self, group_id: i64, who: &Identity, by: i64) {
        let mut local = lock(&self.local);
        let key = (group_id, who.user_id, who.ip);
        let entry = local
            .entry(key)
            .or_insert_with(|| (who.username.clone(), 0));
        entry.1 = (entry.1 + by).max(0);
        let n = entry.1;
        if n == 0 {
            local.remove(&key);
        }
        // Sent under `local`, so counts go out in the order they were made.
        self.send_count(key, &who.username, n);
    }

    fn send_count(&self, (group_id, user_id, ip): Key, username: &str, sockets: i64) {
        self.send(
            format!("p {group_id} {user_id} {ip} {sockets} {username}"),
            Some(PresenceRow {
                instance: self.instance.clone(),
                group_id,
                user_id,
                username: username.to_string(),
                ip: ip.to_string(),
                sockets,
            }),
        );
    }

    fn beat_sent(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_beat
            .store(ms.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// How long since a heartbeat went out (forever, before the first).
    fn beat_age(&self) -> Duration {
        match self.last_beat.load(std::sync::atomic::Ordering::Relaxed) {
            0 => Duration::MAX,
            at => self
                .started
                .elapsed()
                .saturating_sub(Duration::from_millis(at)),
        }
    }

    /// Publishes every local count again (this instance was swept while
    /// alive: the others forgot all of them). Through the publishing
    /// thread, which first forgets what it had published: should one of
    /// these fail too, its catch-up then sends them all again.
    pub fn republish(&self) {
        self.forget
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let local = lock(&self.local);
        for (key, (name, n)) in local.iter() {
            self.send_count(*key, name, *n);
        }
    }

    /// Publishes the counts that differ from what the others last heard
    /// (`published`): after publishing failed or payloads were dropped.
    fn catch_up(&self, published: &HashMap<Key, (String, i64)>) {
        let local = lock(&self.local);
        for (key, (name, n)) in local.iter() {
            if published.get(key).map(|(_, p)| p) != Some(n) {
                self.send_count(*key, name, *n);
            }
        }
        for (key, (name, _)) in published {
            if !local.contains_key(key) {
                self.send_count(*key, name, 0);
            }
        }
    }
}

/// Reports at most once a minute that publishing fails, or queueing.
static PUBLISH_FAILED: crate::log::Tally = crate::log::Tally::new();
static DROPPED: crate::log::Tally = crate::log::Tally::new();

fn publish_loop(store: &Store, relay: &Relay, rx: &Receiver<Out>) {
    let mut failing = false;
    // The counts the others have heard.
    let mut published: HashMap<Key, (String, i64)> = HashMap::new();
    while let Ok(out) = rx.recv() {
        if relay
            .forget
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            published.clear();
        }
        let dropped = relay
            .dropped
            .swap(false, std::sync::atomic::Ordering::Relaxed);
        match store.publish(&out.payload, out.presence.as_ref()) {
            Ok(()) => {
                if let Some((key, name, n)) = out.count {
                    if n > 0 {
                        published.insert(key, (name, n));
                    } else {
                        published.remove(&key);
                    }
                }
                if failing || dropped {
                    failing = false;
                    crate::info!("relay: publishing again; presence caught up");
                    relay.catch_up(&published);
                }
            }
            Err(e) => {
                failing = true;
                if let Some(n) = PUBLISH_FAILED.count() {
                    crate::warn!("relay: {n} frame(s) not published to other instances: {e}");
                }
            }
        }
    }
}

/// How often an instance says it is alive (and looks for dead ones).
pub const HEARTBEAT: Duration = Duration::from_secs(2);
const _: () = assert!(HEARTBEAT.as_millis() as i64 * 3 < DEAD_AFTER_MS);

/// Listens for the other instances until `stop`, handing what it hears to
/// `apply`; `resync` runs when listening starts (again): what was heard
/// before may be stale, and frames sent meanwhile were missed. Payloads
/// carry their publisher's sequence number: one missing (a publish that
/// failed, a relayed row pruned unread) is `Heard::Gap`. A subscription
/// that stops hearing this instance's own heartbeats is taken for dead
/// and opened again.
pub fn listen(
    store: &Store,
    relay: Option<&Relay>,
    stop: impl Fn() -> bool,
    mut resync: impl FnMut(Vec<PresenceRow>, bool),
    mut apply: impl FnMut(Heard),
) {
    let mut first = true;
    while !stop() {
        let mut sub = match store.subscribe() {
            Ok(Some(sub)) => sub,
            Ok(None) => return,
            Err(e) => {
                crate::warn!("relay: cannot listen to other instances: {e}; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        match store.others_presence() {
            Ok(rows) => resync(rows, !first),
            Err(e) => {
                crate::warn!("relay: cannot read other instances' presence: {e}; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        }
        if !first {
            crate::info!("relay: listening to other instances again");
        }
        first = false;
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut heard_own = Instant::now();
        while !stop() {
            let heard = match sub.next(Duration::from_millis(500)) {
                Ok(heard) => heard,
                Err(e) => {
                    crate::warn!("relay: lost the connection to PostgreSQL: {e}");
                    break;
                }
            };
            for (from, payload) in heard {
                if from == store.instance() {
                    if payload == BEAT {
                        heard_own = Instant::now();
                    }
                    continue;
                }
                let body = match numbered(&payload) {
                    Some((n, body)) => {
                        let last = seen.insert(from.clone(), n);
                        if last.is_some_and(|l| n != l + 1) {
                            apply(Heard::Gap);
                        }
                        body
                    }
                    None => payload.as_str(),
                };
                match decode(&from, body) {
                    Some(Heard::Swept(id)) => {
                        seen.remove(&id);
                        apply(Heard::Swept(id));
                    }
                    Some(h) => apply(h),
                    None => {}
                }
            }
            let beating = relay.is_some_and(|r| r.beat_age() < DEAF_AFTER / 2);
            if beating && heard_own.elapsed() > DEAF_AFTER {
                crate::warn!("relay: the subscription stopped hearing; opening it again");
                break;
            }
        }
    }
}

/// A subscription that has not heard this instance's own heartbeat for
/// this long (while heartbeats go out) is taken for dead.
const DEAF_AFTER: Duration = Duration::from_secs(10);

/// `#N PAYLOAD`: N and the payload.
fn numbered(payload: &str) -> Option<(u64, &str)> {
    let (n, rest) = payload.strip_prefix('#')?.split_once(' ')?;
    Some((n.parse().ok()?, rest))
}

/// Heartbeats until `stop` (see `store::pg::bus`): every `HEARTBEAT`, on a
/// connection of its own, so that no busy room or pool makes this live
/// instance look dead. Instances found silent are swept (`apply`).
pub fn beat(store: &Store, relay: &Relay, stop: impl Fn() -> bool, mut apply: impl FnMut(Heard)) {
    while !stop() {
        match store.heartbeat() {
            Ok(beat) => {
                relay.beat_sent();
                if beat.rejoined {
                    // New, or swept while alive (the database was away
                    // longer than the others wait): every count again.
                    relay.republish();
                }
                for id in beat.swept {
                    crate::info!("relay: instance {id} went silent; its sockets are gone");
                    apply(Heard::Swept(id));
                }
            }
            Err(e) => {
                if let Some(n) = BEAT_FAILED.count() {
                    crate::warn!("relay: {n} heartbeat(s) failed: {e}");
                }
            }
        }
        std::thread::sleep(HEARTBEAT);
    }
}

static BEAT_FAILED: crate::log::Tally = crate::log::Tally::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let f = crate::ws::frame::text(br#"{"type":"message","content":"a b"}"#);
        assert_eq!(
            frame_text(&f),
            Some(r#"{"type":"message","content":"a b"}"#)
        );
        let long = "x".repeat(70_000);
        assert_eq!(
            frame_text(&crate::ws::frame::text(long.as_bytes())),
            Some(&long[..])
        );
        assert_eq!(
            decode("i1", r#"r 7 {"type":"message"}"#),
            Some(Heard::Room {
                group_id: 7,
                among: Among::All,
                frame: crate::ws::frame::text(br#"{"type":"message"}"#)
            })
        );
        assert_eq!(
            decode("i1", r#"t 7 3 {"type":"typing"}"#),
            Some(Heard::Room {
                group_id: 7,
                among: Among::AllBut(3),
                frame: crate::ws::frame::text(br#"{"type":"typing"}"#)
            })
        );
        assert_eq!(
            decode("i1", r#"o 7 3 {"type":"read"}"#),
            Some(Heard::Room {
                group_id: 7,
                among: Among::Only(3),
                frame: crate::ws::frame::text(br#"{"type":"read"}"#)
            })
        );
        assert_eq!(
            decode("i1", &format!("{} {{}}", Who::Except(vec![]).encode())),
            Some(Heard::Notify {
                who: Who::everyone(),
                frame: crate::ws::frame::text(b"{}")
            })
        );
        assert_eq!(
            decode("i1", "u 3,4 {}"),
            Some(Heard::Notify {
                who: Who::Only(vec![3, 4]),
                frame: crate::ws::frame::text(b"{}")
            })
        );
        assert_eq!(
            decode("i1", "p 0 5 ::1 2 bob smith"),
            Some(Heard::Presence {
                instance: "i1".into(),
                group_id: 0,
                user_id: 5,
                ip: "::1".parse().unwrap(),
                sockets: 2,
                username: "bob smith".into()
            })
        );
        assert_eq!(decode("i1", "swept abc"), Some(Heard::Swept("abc".into())));
        assert_eq!(numbered("#41 r 7 {}"), Some((41, "r 7 {}")));
        assert_eq!(numbered("r 7 {}"), None);
        assert_eq!(numbered("#x r"), None);
        assert_eq!(decode("i1", "E"), Some(Heard::Events));
        for bad in ["", "r x {}", "u 1,a {}", "p 1 2 notanip 1 n", "zz 1"] {
            assert_eq!(decode("i1", bad), None, "{bad}");
        }
    }
}
