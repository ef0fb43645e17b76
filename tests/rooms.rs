//! Large rooms through the real server: above 100 online users a room
//! sends `presence_delta` frames (what changed) instead of the whole list,
//! and after a storm of arrivals and departures every socket's view —
//! its `hello`, then every list and delta in order — equals the server's.
//! The server-wide list on `/ws` follows the same rule (`online_delta`).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::ws::*;
use common::*;
use serde_json::Value;

/// A socket's view of who is online, kept from its frames.
#[derive(Default)]
struct View {
    online: BTreeMap<String, Vec<String>>,
    lists: usize,
    deltas: usize,
    presence_bytes: usize,
    system_lines: usize,
}

fn entry(u: &Value) -> (String, Vec<String>) {
    let ips = u["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect();
    (u["username"].as_str().unwrap().to_string(), ips)
}

/// A JSON list of `{"username","ips"}` as a map.
fn list(users: &Value) -> BTreeMap<String, Vec<String>> {
    users.as_array().unwrap().iter().map(entry).collect()
}

impl View {
    /// From `/ws`'s first frame: the whole `online` list.
    fn from_online(first: &Value) -> View {
        assert_eq!(first["type"], "online", "{first}");
        View {
            online: list(&first["users"]),
            ..View::default()
        }
    }

    fn from_hello(hello: &Value) -> View {
        View {
            online: list(&hello["online"]),
            ..View::default()
        }
    }

    fn apply(&mut self, f: &Value) {
        match f["type"].as_str() {
            Some("presence" | "online") => {
                self.lists += 1;
                self.presence_bytes += f.to_string().len();
                self.online = list(&f["users"]);
            }
            Some("system") => self.system_lines += 1,
            Some("presence_delta" | "online_delta") => {
                self.deltas += 1;
                self.presence_bytes += f.to_string().len();
                for u in f["joined"].as_array().unwrap() {
                    let (name, ips) = entry(u);
                    self.online.insert(name, ips);
                }
                for name in f["left"].as_array().unwrap() {
                    self.online.remove(name.as_str().unwrap());
                }
            }
            _ => {}
        }
    }
}

fn register_many(s: &Server, prefix: &str, n: usize) -> Vec<Client> {
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..n)
            .map(|i| sc.spawn(move || user(s, &format!("{prefix}{i:03}"))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The server's own list of the room.
fn server_view(c: &mut Client, group: i64) -> BTreeMap<String, Vec<String>> {
    let r = c.get(&format!("/api/groups/{group}/online"));
    assert_eq!(r.status, 200, "{}", r.text());
    list(&r.json()["users"])
}

/// Opens a socket for each of `early` (with `open`: 115, so the count
/// never falls to 100 below), lets their frames settle and forgets what
/// they counted; then every one of `late` arrives at once while the last
/// 10 early sockets leave. Returns the sockets left, early ones first.
fn storm(
    early: &[Client],
    late: &[Client],
    open: impl Fn(&Client) -> (Ws, View) + Sync,
) -> Vec<(Ws, View)> {
    let mut socks: Vec<(Ws, View)> = early.iter().map(&open).collect();
    std::thread::sleep(Duration::from_millis(500));
    for (ws, view) in &mut socks {
        for f in drain(ws, Duration::from_millis(20)) {
            view.apply(&f);
        }
        *view = View {
            online: std::mem::take(&mut view.online),
            ..View::default()
        };
    }
    let leaving: Vec<(Ws, View)> = socks.drain(early.len() - 10..).collect();
    let open = &open;
    let arrived: Vec<(Ws, View)> = std::thread::scope(|sc| {
        let opening: Vec<_> = late.iter().map(|c| sc.spawn(move || open(c))).collect();
        for (mut ws, _) in leaving {
            let _ = ws.close(None);
            let _ = drain(&mut ws, Duration::from_millis(50));
        }
        opening.into_iter().map(|h| h.join().unwrap()).collect()
    });
    socks.extend(arrived);
    std::thread::sleep(Duration::from_secs(1));
    socks
}

/// Every socket's view ends equal to `truth`; the `stayed` sockets that
/// were there before the storm followed it in deltas: no whole list (one
/// of 145 people is ~7 KB; the storm's 50 changes as lists would be ~350 KB
/// each), under 8 KiB in all, and no "joined"/"left" lines (a room this
/// large does not announce them: 50 would drown its conversation, and they
/// cannot merge as deltas do).
fn assert_settled(
    socks: &mut [(Ws, View)],
    stayed: usize,
    truth: &BTreeMap<String, Vec<String>>,
    what: &str,
) {
    for (i, (ws, view)) in socks.iter_mut().enumerate() {
        for f in drain(ws, Duration::from_millis(30)) {
            view.apply(&f);
        }
        assert_eq!(
            &view.online, truth,
            "{what} {i}'s view differs from the server's"
        );
    }
    for (i, (_, view)) in socks.iter().take(stayed).enumerate() {
        assert_eq!(view.system_lines, 0, "{what} {i} got joined/left lines");
        assert_eq!(view.lists, 0, "{what} {i} got whole lists");
        assert!(view.deltas >= 1, "{what} {i} got no delta");
        assert!(
            view.presence_bytes < 8 * 1024,
            "{what} {i}: {} bytes of presence for 50 changes",
            view.presence_bytes
        );
    }
}

#[test]
fn large_rooms_get_presence_deltas_and_every_view_ends_right() {
    let s = Server::without_rate_limits(&[]);
    let mut early = register_many(&s, "early", 115);
    let mut late = register_many(&s, "late", 40);
    let g = create_group(&mut early[0], "everyone");
    for c in early.iter_mut().skip(1).chain(late.iter_mut()) {
        join(c, g);
    }
    let mut socks = storm(&early, &late, |c| {
        let (ws, hello) = open_group(c, g);
        (ws, View::from_hello(&hello))
    });
    let truth = server_view(&mut early[0], g);
    assert_eq!(truth.len(), 145);
    assert_settled(&mut socks, 105, &truth, "socket");
}

#[test]
fn the_online_list_on_ws_turns_to_deltas_above_100_users() {
    let s = Server::without_rate_limits(&[]);
    let mut early = register_many(&s, "early", 115);
    let late = register_many(&s, "late", 40);
    let mut socks = storm(&early, &late, |c| {
        let mut ws = connect(c, "/ws");
        let first = next(&mut ws, Duration::from_secs(10)).expect("a first frame on /ws");
        (ws, View::from_online(&first))
    });
    let r = early[0].get("/api/online");
    assert_eq!(r.status, 200);
    let truth = list(&r.json()["users"]);
    assert_eq!(truth.len(), 145);
    assert_settled(&mut socks, 105, &truth, "/ws socket");
}

#[test]
fn small_rooms_keep_whole_lists() {
    let s = Server::start(&["--register-rate", "0", "--socket-rate", "0"]);
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let g = create_group(&mut a, "small");
    join(&mut b, g);
    let (mut wa, _) = open_group(&a, g);
    let (_wb, _) = open_group(&b, g);
    // Alice hears of her own arrival, then bob's, as whole lists, and a
    // small room still announces who joined.
    let frames = drain(&mut wa, Duration::from_millis(500));
    assert!(
        frames
            .iter()
            .any(|v| v["type"] == "system" && v["text"] == "bob joined"),
        "{frames:?}"
    );
    let presence: Vec<&Value> = frames
        .iter()
        .filter(|v| v["type"] == "presence" || v["type"] == "presence_delta")
        .collect();
    assert!(
        presence.iter().all(|v| v["type"] == "presence"),
        "{presence:?}"
    );
    assert_eq!(
        presence.last().unwrap()["users"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn at_the_connection_cap_new_clients_get_503_and_the_log_says_why() {
    let s = Server::start(&["--max-connections", "3"]);
    let held: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let out = raw(
        s.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(3),
    );
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("Retry-After"), "{text}");
    let log = s.log_text();
    assert!(
        log.contains("3 connections open (--max-connections)"),
        "{log}"
    );
    drop(held);
    // Room again: served.
    std::thread::sleep(Duration::from_millis(300));
    let out = raw(
        s.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
}
