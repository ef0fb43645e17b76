//! The `storm` scenario: a room where `--storm-room` distinct users are
//! online, then `--storm-joiners` more distinct users open their first
//! socket on it at once. Measures how long until every socket's view of
//! who is online (its `hello`, then each `presence` list and
//! `presence_delta`) equals the room, checks that against the server's own
//! list, and what the storm cost the sockets that were already there.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::chatdb;
use crate::cli::Opts;
use crate::client::{Ep, http};
use crate::clock::now_ns;
use crate::error::BenchError;
use crate::room::{User, create_group, register_users};
use crate::server::{Server, stop_json};
use crate::sys::{Epoll, EpollEvent};
use crate::ws::{Event, Ws, parse_frames, pong, ws_connect};

/// The seeded users' names: `s00000`, `s00001`, …
const PREFIX: &str = "s";
/// Threads opening sockets at once.
const OPENERS: usize = 8;
/// How long a phase may take to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// What the receiver thread and the scenario share.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// A view is complete when it holds exactly users `0..expect`.
    expect: AtomicUsize,
    /// Sockets whose view is complete now.
    complete: AtomicUsize,
    /// When every socket handed over last came to have a complete view
    /// (ns): a later socket, or a view that went wrong, moves it on.
    settled_ns: AtomicU64,
    /// Sockets handed over so far.
    sockets: AtomicUsize,
    /// Presence bytes (lists and deltas) received since `mark_ns`, by the
    /// sockets handed over before it.
    early_bytes: AtomicU64,
    early_frames: AtomicU64,
    mark_ns: AtomicU64,
    /// Sockets closed by the server (1008 or otherwise) or ended.
    ended: AtomicUsize,
}

/// One socket's view of the room.
struct View {
    sock: std::net::TcpStream,
    pending: Vec<u8>,
    /// Bit `i` set: user `i` is online in this socket's view.
    bits: Vec<u64>,
    count: usize,
    /// A name outside the seeded users appeared (a wrong view).
    foreign: bool,
    complete: bool,
    /// Handed over before the storm began.
    early: bool,
    ended: bool,
    /// When the storm's first presence frame (early sockets) or the
    /// `hello` (joiners) came, and when the view last changed (ns).
    first_ns: u64,
    last_change_ns: u64,
}

impl View {
    fn set(&mut self, i: usize, on: bool) {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        let was = self.bits[w] & b != 0;
        if on && !was {
            self.bits[w] |= b;
            self.count += 1;
        } else if !on && was {
            self.bits[w] &= !b;
            self.count -= 1;
        }
    }

    fn clear(&mut self) {
        self.bits.iter_mut().for_each(|w| *w = 0);
        self.count = 0;
        self.foreign = false;
    }

    fn name(&mut self, name: &str, on: bool, total: usize) {
        match name
            .strip_prefix(PREFIX)
            .and_then(|d| d.parse::<usize>().ok())
            .filter(|&i| i < total)
        {
            Some(i) => self.set(i, on),
            None => self.foreign |= on,
        }
    }
}

/// Every `"username":"…"` in `s`.
fn usernames(s: &str) -> impl Iterator<Item = &str> {
    const KEY: &str = "\"username\":\"";
    s.split(KEY)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
}

/// Every string in the JSON array of strings that `s` starts with.
fn strings(s: &str) -> impl Iterator<Item = &str> {
    let end = s.find(']').unwrap_or(s.len());
    s[..end].split('"').skip(1).step_by(2)
}

/// Applies one text frame to `v`; returns whether it was about presence.
fn apply(v: &mut View, payload: &[u8], total: usize) -> bool {
    let Ok(s) = std::str::from_utf8(payload) else {
        return false;
    };
    // A whole list: the view becomes it.
    let replace = |v: &mut View, key: &str| {
        v.clear();
        if let Some(at) = s.find(key) {
            for n in usernames(&s[at..]) {
                v.name(n, true, total);
            }
        }
    };
    if s.starts_with("{\"type\":\"hello\"") {
        replace(v, "\"online\":[");
        false
    } else if s.starts_with("{\"type\":\"presence\",") {
        replace(v, "\"users\":[");
        true
    } else if s.starts_with("{\"type\":\"presence_delta\"") {
        let left_at = s.find("\"left\":[");
        if let Some(at) = s.find("\"joined\":[") {
            let end = left_at.filter(|&l| l > at).unwrap_or(s.len());
            for n in usernames(&s[at..end]) {
                v.name(n, true, total);
            }
        }
        if let Some(at) = left_at {
            for n in strings(&s[at + "\"left\":[".len()..]) {
                v.name(n, false, total);
            }
        }
        true
    } else {
        false
    }
}

/// The receiver: epoll over every socket handed to it through `intake`,
/// keeping each one's view and the count of complete views.
fn receive(intake: mpsc::Receiver<Ws>, sh: Arc<Shared>, total: usize) -> Timings {
    let Ok(ep) = Epoll::new() else {
        eprintln!("storm: epoll_create1 failed");
        return Timings::default();
    };
    let mut views: Vec<View> = Vec::new();
    let mut events = vec![EpollEvent { events: 0, u64: 0 }; 4096];
    let mut buf = vec![0u8; 256 * 1024];
    let mut expect = sh.expect.load(Ordering::Acquire);
    let mut complete = 0usize;
    // Whether all views were complete at the last look, and how many
    // sockets there were when that was recorded.
    let (mut was_all, mut recorded_len) = (false, 0usize);
    let update = |v: &mut View, expect: usize, complete: &mut usize| {
        let now = !v.ended && !v.foreign && v.count == expect;
        if now != v.complete {
            v.complete = now;
            if now {
                *complete += 1;
            } else {
                *complete -= 1;
            }
        }
    };
    while !sh.stop.load(Ordering::Relaxed) {
        // New sockets, and what came with their 101.
        while let Ok(ws) = intake.try_recv() {
            let _ = ws.sock.set_nonblocking(true);
            let idx = views.len();
            ep.add(ws.sock.as_raw_fd(), idx);
            views.push(View {
                sock: ws.sock,
                pending: ws.leftover,
                bits: vec![0; total.div_ceil(64)],
                count: 0,
                foreign: false,
                complete: false,
                early: sh.mark_ns.load(Ordering::Acquire) == 0,
                ended: false,
                first_ns: 0,
                last_change_ns: 0,
            });
            let v = views.last_mut().expect("just pushed");
            let data = std::mem::take(&mut v.pending);
            consume(v, &data, &sh, total);
            update(v, expect, &mut complete);
            sh.sockets.store(views.len(), Ordering::Release);
        }
        let e = sh.expect.load(Ordering::Acquire);
        if e != expect {
            expect = e;
            for v in &mut views {
                update(v, expect, &mut complete);
            }
        }
        let n = match ep.wait(&mut events, 5) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        for ev in &events[..n] {
            let v = &mut views[ev.u64 as usize];
            match (&v.sock).read(&mut buf) {
                Ok(0) => v.ended = true,
                Ok(k) => consume(v, &buf[..k], &sh, total),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => v.ended = true,
            }
            if v.ended {
                ep.delete(v.sock.as_raw_fd(), ev.u64 as usize);
                sh.ended.fetch_add(1, Ordering::Relaxed);
            }
            update(v, expect, &mut complete);
        }
        sh.complete.store(complete, Ordering::Release);
        let all = complete == views.len() && !views.is_empty();
        if all && (!was_all || recorded_len != views.len()) {
            sh.settled_ns.store(now_ns(), Ordering::Release);
            recorded_len = views.len();
        }
        was_all = all;
    }
    let mark = sh.mark_ns.load(Ordering::Acquire);
    let since = |t: u64| t.saturating_sub(mark) as f64 / 1e9;
    let mut t = Timings::default();
    for v in &views {
        let list = if v.early {
            &mut t.early
        } else {
            &mut t.joiners
        };
        list.0.push(since(v.first_ns));
        list.1.push(since(v.last_change_ns));
    }
    t
}

/// Per socket, seconds from the storm's start: (first frame, last change)
/// for early sockets (presence) and joiners (hello and presence).
#[derive(Default)]
struct Timings {
    early: (Vec<f64>, Vec<f64>),
    joiners: (Vec<f64>, Vec<f64>),
}

fn spread(v: &[f64]) -> Value {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    json!({
        "p50": crate::stats::quantile(&v, 0.5),
        "max": v.last().copied(),
    })
}

/// Frames in `v.pending` + `chunk`: views updated, pings answered.
fn consume(v: &mut View, chunk: &[u8], sh: &Shared, total: usize) {
    let mut data = std::mem::take(&mut v.pending);
    data.extend_from_slice(chunk);
    let mut ping: Option<Vec<u8>> = None;
    let mut closed = false;
    let (mut bytes, mut frames) = (0u64, 0u64);
    let marked = sh.mark_ns.load(Ordering::Relaxed) != 0;
    let used = parse_frames(&data, |ev| match ev {
        Event::Text(p) => {
            let presence = apply(v, p, total);
            if presence {
                bytes += p.len() as u64;
                frames += 1;
            }
            if marked && (presence || !v.early) {
                let now = now_ns();
                if v.first_ns == 0 {
                    v.first_ns = now;
                }
                v.last_change_ns = now;
            }
        }
        Event::Ping(p) => ping = Some(p.to_vec()),
        Event::Close(_) => closed = true,
        Event::Other => {}
    });
    if let Some(p) = ping {
        pong(&v.sock, None, &p);
    }
    if v.early && marked {
        sh.early_bytes.fetch_add(bytes, Ordering::Relaxed);
        sh.early_frames.fetch_add(frames, Ordering::Relaxed);
    }
    v.ended |= closed;
    data.drain(..used);
    v.pending = data;
}

/// Opens a socket for each of `users` from `OPENERS` threads, handing each
/// to the receiver as soon as it is open.
fn open_all(ep: &Ep, group: i64, users: &[User], to: &mpsc::Sender<Ws>) -> Result<(), BenchError> {
    thread::scope(|s| {
        let workers: Vec<_> = (0..OPENERS)
            .map(|t| {
                let to = to.clone();
                s.spawn(move || -> Result<(), BenchError> {
                    for u in users.iter().skip(t).step_by(OPENERS) {
                        let ws = ws_connect(ep, group, u)?;
                        let _ = to.send(ws);
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or(Err(BenchError::Panicked("opener"))))
    })
}

/// Waits until the receiver holds `sockets` sockets, all with complete
/// views; the time that became so (ns, after `since`), or None at the limit.
fn settle(sh: &Shared, sockets: usize, since: u64, limit: Instant) -> Option<u64> {
    while Instant::now() < limit {
        let held = sh.sockets.load(Ordering::Acquire);
        let settled = sh.settled_ns.load(Ordering::Acquire);
        if held == sockets && sh.complete.load(Ordering::Acquire) == sockets && settled > since {
            return Some(settled);
        }
        thread::sleep(Duration::from_millis(5));
    }
    None
}

/// The server's own list of who is online in `group`, as indexes.
fn server_view(ep: &Ep, owner: &User, group: i64) -> Result<(Vec<usize>, usize), BenchError> {
    let path = format!("/api/groups/{group}/online");
    let r = http(
        ep,
        "GET",
        &path,
        &[("Cookie", &format!("session={}", owner.session))],
        b"",
    )?;
    if r.status != 200 {
        return Err(BenchError::Status {
            request: format!("GET {path}"),
            status: r.status,
            body: None,
        });
    }
    let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    let mut ids = Vec::new();
    let mut other = 0;
    for u in v["users"].as_array().into_iter().flatten() {
        match u["username"]
            .as_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|d| d.parse().ok())
        {
            Some(i) => ids.push(i),
            None => other += 1,
        }
    }
    ids.sort_unstable();
    Ok((ids, other))
}

/// The storm: `o.storm_room` online, then `o.storm_joiners` arrive at once.
pub fn storm_run(o: &Opts) -> Result<Value, BenchError> {
    let (room, joiners) = (o.storm_room, o.storm_joiners);
    let total = room + joiners;
    let mut srv = Server::start(&o.server, false)?;
    let owner = register_users(&srv.ep, "owner", 1)?.remove(0);
    let group = create_group(&srv.ep, &owner, "storm")?;
    srv.stop_cleanly()?;
    let t = Instant::now();
    let users: Vec<User> = chatdb::seed_members(&srv.data_dir(), group, PREFIX, total)?
        .into_iter()
        .map(User::from_session)
        .collect();
    let seed_s = t.elapsed().as_secs_f64();
    srv.relaunch(&o.server)?;

    let sh = Arc::new(Shared::default());
    sh.expect.store(room, Ordering::Release);
    let (to, intake) = mpsc::channel();
    let receiver = {
        let sh = Arc::clone(&sh);
        thread::Builder::new()
            .name("storm-recv".into())
            .spawn(move || receive(intake, sh, total))
            .map_err(|error| BenchError::Thread {
                name: "storm-recv".into(),
                error,
            })?
    };
    let stop = |sh: &Shared| sh.stop.store(true, Ordering::Relaxed);
    // The room fills, and settles.
    let t = Instant::now();
    let filled = open_all(&srv.ep, group, &users[..room], &to)
        .map(|()| settle(&sh, room, 0, Instant::now() + SETTLE_LIMIT));
    let fill_s = t.elapsed().as_secs_f64();
    let filled = match filled {
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(e) => {
            stop(&sh);
            let _ = receiver.join();
            srv.stop();
            return Err(e);
        }
    };
    thread::sleep(Duration::from_millis(500));
    // The storm.
    let cpu0 = srv.cpu();
    let t0 = now_ns();
    sh.expect.store(total, Ordering::Release);
    sh.mark_ns.store(t0, Ordering::Release);
    let opened = open_all(&srv.ep, group, &users[room..], &to);
    let open_s = (now_ns() - t0) as f64 / 1e9;
    let settled = settle(&sh, total, t0, Instant::now() + SETTLE_LIMIT);
    let cpu = srv.cpu() - cpu0;
    let server = server_view(&srv.ep, &owner, group);
    stop(&sh);
    let timings = receiver.join().unwrap_or_default();
    let stopped = srv.stop();
    opened?;
    let (online, foreign) = server?;
    let server_matches =
        foreign == 0 && online.len() == total && online.iter().enumerate().all(|(i, &u)| i == u);
    let complete = sh.complete.load(Ordering::Acquire);
    Ok(json!({
        "scenario": "storm",
        "tls": false,
        "room": room,
        "joiners": joiners,
        "seed_seconds": seed_s,
        "fill_seconds": fill_s,
        "filled": filled,
        "open_seconds": open_s,
        "settled": settled.is_some(),
        "settle_seconds": settled.map(|s| s.saturating_sub(t0) as f64 / 1e9),
        "views_wrong": total - complete,
        "server_online": online.len(),
        "server_view_wrong": u8::from(!server_matches),
        "sockets_ended": sh.ended.load(Ordering::Relaxed),
        "presence_bytes_per_early_socket": sh.early_bytes.load(Ordering::Relaxed) as f64 / room as f64,
        "presence_frames_per_early_socket": sh.early_frames.load(Ordering::Relaxed) as f64 / room as f64,
        "server_cpu_s": cpu,
        "early_first_presence_s": spread(&timings.early.0),
        "early_last_change_s": spread(&timings.early.1),
        "joiner_hello_s": spread(&timings.joiners.0),
        "joiner_last_change_s": spread(&timings.joiners.1),
        "server": stop_json(&stopped),
    }))
}
