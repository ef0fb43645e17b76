//! A room's broadcast pipeline. Senders store a message and append its
//! frame here (in the room's order, with the recipients of that moment);
//! a flusher thread — alive only while there is work — delivers it. When
//! frames arrive faster than they can be written, they collect, and each
//! socket gets all of its pending frames in one vectored write instead of
//! one send per frame. An idle room pays one thread hand-off per message.
//!
//! A frame that states the room's whole presence list replaces one still
//! waiting: when sockets come and go faster than the flusher delivers,
//! members get the latest list once, not every list in between (each is
//! as long as the room, so a join storm would otherwise cost n² bytes).
//! In rooms large enough to get presence deltas, a delta still waiting
//! takes in the next one, so a storm reaches each member as a few frames.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::presence::Delta;
use crate::sync::{lock, wait_timeout};
use crate::ws::frame::Frame;
use crate::ws::peer::Peer;

pub type Peers = Arc<Vec<Arc<Peer>>>;

/// How a delta becomes its frame (a room's `presence_delta`, `/ws`'s
/// `online_delta`).
pub type Encode = fn(&Delta) -> Frame;

/// How long an idle flusher waits for more work before it exits.
const LINGER: Duration = Duration::from_millis(200);
/// A delta that waits alone is sent at most this often: each sending
/// walks every socket of the room, and in a storm deltas would otherwise go
/// out back to back (2,000 arrivals into 5,000 online: 33 walks of 7,000
/// sockets in 2.6 s), taking the CPU the arrivals need. Presence shows up
/// at most this much later; anything else waiting takes the delta along.
const DELTA_EVERY: Duration = Duration::from_millis(200);
const FLUSHER_STACK: usize = 128 * 1024;

#[derive(Default)]
pub struct Fanout {
    state: Mutex<State>,
    wake: Condvar,
}

struct Pending {
    peers: Peers,
    frame: Frame,
    /// A presence delta, encoded when it is taken (later ones merge in),
    /// and how.
    delta: Option<(Delta, Encode)>,
    /// Replaced by a newer presence list before it was sent.
    dropped: bool,
}

#[derive(Default)]
struct State {
    pending: Vec<Pending>,
    /// Where in `pending` the newest presence list waits.
    presence_at: Option<usize>,
    /// Where the newest presence delta waits (only after the newest list).
    delta_at: Option<usize>,
    running: bool,
    /// When a delta last went out.
    delta_sent: Option<Instant>,
}

impl State {
    fn add(&mut self, peers: Peers, frame: Frame, presence: bool) {
        if presence {
            // A whole list says everything earlier lists and deltas said.
            for at in [self.presence_at.take(), self.delta_at.take()]
                .into_iter()
                .flatten()
            {
                self.pending[at].dropped = true;
            }
            self.presence_at = Some(self.pending.len());
        }
        self.pending.push(Pending {
            peers,
            frame,
            delta: None,
            dropped: false,
        });
    }

    /// Queues a delta, merged into one still waiting (which then goes to
    /// the newer recipients: those who came since have the entries from
    /// their `hello`, and applying them again changes nothing).
    fn add_delta(&mut self, peers: Peers, delta: Delta, encode: Encode) {
        if let Some(at) = self.delta_at
            && let Some((waiting, how)) = self.pending[at].delta.as_mut()
        {
            // One queue carries one kind of delta (a room's or /ws's).
            debug_assert!(std::ptr::fn_addr_eq(*how, encode));
            waiting.merge(delta);
            self.pending[at].peers = peers;
            return;
        }
        self.delta_at = Some(self.pending.len());
        self.pending.push(Pending {
            peers,
            frame: Frame::default(),
            delta: Some((delta, encode)),
            dropped: false,
        });
    }

    /// How long a delta waiting alone should wait still (see `DELTA_EVERY`).
    fn delta_wait(&self) -> Option<Duration> {
        let alone = self.pending.len() == 1 && self.delta_at == Some(0);
        let since = self.delta_sent?.elapsed();
        (alone && since < DELTA_EVERY).then(|| DELTA_EVERY - since)
    }

    /// Everything waiting, in order, without what was replaced.
    fn take(&mut self) -> Vec<(Peers, Frame)> {
        self.presence_at = None;
        self.delta_at = None;
        std::mem::take(&mut self.pending)
            .into_iter()
            .filter(|p| !p.dropped)
            .map(|p| match p.delta {
                Some((d, encode)) => (p.peers, encode(&d)),
                None => (p.peers, p.frame),
            })
            .collect()
    }
}

impl Fanout {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Queues `frame` for `peers`. Call in the room's order.
    pub fn push(self: &Arc<Self>, peers: Peers, frame: Frame) {
        self.enqueue(peers, frame, false);
    }

    /// Queues the room's presence list, replacing one not sent yet.
    pub fn push_presence(self: &Arc<Self>, peers: Peers, frame: Frame) {
        self.enqueue(peers, frame, true);
    }

    /// Queues a change of a large room's presence (or of the server's
    /// online list), merged into one not sent yet.
    pub fn push_delta(self: &Arc<Self>, peers: Peers, delta: Delta, encode: Encode) {
        let mut st = self.lock();
        st.add_delta(peers, delta, encode);
        self.run(st);
    }

    fn enqueue(self: &Arc<Self>, peers: Peers, frame: Frame, presence: bool) {
        let mut st = self.lock();
        st.add(peers, frame, presence);
        self.run(st);
    }

    /// Makes sure a flusher delivers what `st` holds.
    fn run(self: &Arc<Self>, mut st: MutexGuard<'_, State>) {
        if st.running {
            self.wake.notify_one();
            return;
        }
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("fanout".into())
            .stack_size(FLUSHER_STACK)
            .spawn(move || me.flush_loop());
        match spawned {
            Ok(_) => st.running = true,
            Err(_) => {
                // No thread to be had: deliver on this one.
                let batch = st.take();
                drop(st);
                deliver(batch);
            }
        }
    }

    fn flush_loop(self: Arc<Self>) {
        loop {
            let batch = {
                let mut st = self.lock();
                if st.pending.is_empty() {
                    st = wait_timeout(&self.wake, st, LINGER);
                }
                while let Some(left) = st.delta_wait() {
                    st = wait_timeout(&self.wake, st, left);
                }
                if st.pending.is_empty() {
                    st.running = false;
                    return;
                }
                if st.delta_at.is_some() {
                    st.delta_sent = Some(Instant::now());
                }
                st.take()
            };
            deliver(batch);
        }
    }
}

/// Sends a batch: consecutive frames with the same recipients go to each
/// socket together.
fn deliver(batch: Vec<(Peers, Frame)>) {
    let mut i = 0;
    while i < batch.len() {
        let peers = &batch[i].0;
        let mut j = i + 1;
        while j < batch.len() && Arc::ptr_eq(&batch[j].0, peers) {
            j += 1;
        }
        let frames: Vec<Frame> = batch[i..j].iter().map(|(_, f)| f.clone()).collect();
        for p in peers.iter() {
            p.send_many(&frames);
        }
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(batch: &[(Peers, Frame)]) -> Vec<&[u8]> {
        batch.iter().map(|(_, f)| &f[..]).collect()
    }

    #[test]
    fn a_newer_presence_list_replaces_one_still_waiting() {
        let peers: Peers = Arc::default();
        let mut st = State::default();
        let frame = |s: &str| Frame::from(s.as_bytes());
        st.add(Arc::clone(&peers), frame("p1"), true);
        st.add(Arc::clone(&peers), frame("m1"), false);
        st.add(Arc::clone(&peers), frame("p2"), true);
        st.add(Arc::clone(&peers), frame("m2"), false);
        st.add(Arc::clone(&peers), frame("p3"), true);
        let sent: Vec<&[u8]> = vec![b"m1", b"m2", b"p3"];
        assert_eq!(texts(&st.take()), sent);
        // Once taken for sending, a list is not replaced any more.
        st.add(Arc::clone(&peers), frame("p4"), true);
        st.add(Arc::clone(&peers), frame("m3"), false);
        let sent: Vec<&[u8]> = vec![b"p4", b"m3"];
        assert_eq!(texts(&st.take()), sent);
        assert!(st.take().is_empty());
    }

    #[test]
    fn a_delta_alone_waits_its_turn_and_anything_else_takes_it_along() {
        let peers: Peers = Arc::default();
        let delta = || Delta {
            left: ["a".to_string()].into(),
            ..Delta::default()
        };
        let mut st = State::default();
        st.add_delta(Arc::clone(&peers), delta(), Delta::encode);
        assert_eq!(st.delta_wait(), None, "the first delta goes at once");
        st.delta_sent = Some(Instant::now());
        st.take();
        st.add_delta(Arc::clone(&peers), delta(), Delta::encode);
        let wait = st.delta_wait().expect("a delta right after one waits");
        assert!(wait <= DELTA_EVERY);
        st.add(Arc::clone(&peers), Frame::from(&b"m"[..]), false);
        assert_eq!(st.delta_wait(), None, "a message takes the delta along");
        st.take();
        st.delta_sent = Instant::now().checked_sub(DELTA_EVERY);
        st.add_delta(peers, delta(), Delta::encode);
        assert_eq!(st.delta_wait(), None, "once its turn has come it goes");
    }

    #[test]
    fn frames_that_pile_up_reach_each_socket_in_one_write() {
        use crate::ws::peer::tests::{MemWire, peer};
        let wires: Vec<_> = (0..3).map(|_| MemWire::with_room(1 << 20)).collect();
        let peers: Peers = Arc::new(
            wires
                .iter()
                .enumerate()
                .map(|(i, w)| peer(i as u64, i as i64, "u", w))
                .collect(),
        );
        let fanout = Arc::new(Fanout::default());
        let frames: Vec<Frame> = (0..20)
            .map(|i| crate::ws::frame::text(format!("m{i}").as_bytes()))
            .collect();
        {
            // Hold the queue so the flusher cannot start before all are in.
            let mut st = fanout.lock();
            for f in &frames {
                st.add(Arc::clone(&peers), f.clone(), false);
            }
        }
        fanout.push(Arc::clone(&peers), frames[0].clone());
        let want = [frames.concat(), frames[0].to_vec()].concat();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while wires.iter().any(|w| w.state().bytes.len() < want.len())
            && std::time::Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        for w in &wires {
            let st = w.state();
            assert_eq!(st.bytes, want);
            assert_eq!(st.writes, vec![21], "one vectored write of 21 frames");
        }
    }
}
