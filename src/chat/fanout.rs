//! A room's broadcast pipeline. Senders store a message and append its
//! frame here (in the room's order, with the recipients of that moment);
//! a flusher thread — alive only while there is work — delivers it. When
//! frames arrive faster than they can be written, they collect, and each
//! socket gets all of its pending frames in one vectored write instead of
//! one send per frame. An idle room pays one thread hand-off per message.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::ws::frame::Frame;
use crate::ws::peer::Peer;

pub type Peers = Arc<Vec<Arc<Peer>>>;

/// How long an idle flusher waits for more work before it exits.
const LINGER: Duration = Duration::from_millis(200);
const FLUSHER_STACK: usize = 128 * 1024;

#[derive(Default)]
pub struct Fanout {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    pending: Vec<(Peers, Frame)>,
    running: bool,
}

impl Fanout {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `frame` for `peers`. Call in the room's order.
    pub fn push(self: &Arc<Self>, peers: Peers, frame: Frame) {
        let mut st = self.lock();
        st.pending.push((peers, frame));
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
                let batch = std::mem::take(&mut st.pending);
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
                    st = self
                        .wake
                        .wait_timeout(st, LINGER)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                if st.pending.is_empty() {
                    st.running = false;
                    return;
                }
                std::mem::take(&mut st.pending)
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
