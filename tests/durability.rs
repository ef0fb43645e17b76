//! Crash safety: kill -9 the server while clients send; every acknowledged
//! message must be in the history after a restart, and both databases must
//! pass `PRAGMA integrity_check`. And a clean shutdown (SIGTERM) closes the
//! sockets, checkpoints the WAL and keeps the messages.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ws::*;
use common::*;
use serde_json::json;
use tungstenite::Message;

#[test]
fn acknowledged_messages_survive_kill_9() {
    let dir = TempDir::new("kill9");
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, dir.path(), &["--msg-rate", "0"]);
    let mut owner = user(&s, "owner");
    let id = create_group(&mut owner, "durable");
    let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let mut senders = Vec::new();
    for n in 0..4 {
        let mut c = user(&s, &format!("sender{n}"));
        join(&mut c, id);
        let acked = Arc::clone(&acked);
        let mut ws = connect(&c, &format!("/ws/chat/{id}"));
        senders.push(std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(20);
            let mut i = 0u64;
            while Instant::now() < until {
                let sent = ws.send(Message::text(
                    json!({"type": "message", "content": format!("s{n} m{i}"), "client_id": i.to_string()}).to_string(),
                ));
                if sent.is_err() {
                    break;
                }
                i += 1;
                // Collect whatever acks have arrived.
                loop {
                    match next(&mut ws, Duration::from_millis(if i.is_multiple_of(20) { 5 } else { 0 })) {
                        Some(v) if v["type"] == "ack" => acked.lock().unwrap().push(v["id"].as_i64().unwrap()),
                        Some(_) => continue,
                        None => break,
                    }
                }
                if !ws.can_read() {
                    break;
                }
            }
            // Drain the last acks until the connection dies.
            while let Some(v) = next(&mut ws, Duration::from_millis(500)) {
                if v["type"] == "ack" {
                    acked.lock().unwrap().push(v["id"].as_i64().unwrap());
                }
            }
        }));
    }
    // Let them write for a while, then kill the server without warning.
    let until = Instant::now() + Duration::from_secs(10);
    while acked.lock().unwrap().len() < 300 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe_kill(s.child.id(), 9);
    let _ = s.child.wait();
    for t in senders {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 100,
        "only {} acks before the kill",
        acked.len()
    );

    // Integrity of both files as left by the crash (opened directly).
    for f in ["users.sqlite3", "chat.sqlite3"] {
        let conn = rusqlite::Connection::open(data.join(f)).unwrap();
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "{f}");
    }

    let s2 = Server::start_in(&data, dir.path(), &[]);
    owner.addr = s2.addr;
    let mut found = std::collections::HashSet::new();
    let mut before: Option<i64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/api/groups/{id}/messages?limit=100&before={b}"),
            None => format!("/api/groups/{id}/messages?limit=100"),
        };
        let page = owner.get(&path).json();
        let msgs = page["messages"].as_array().unwrap().clone();
        for m in &msgs {
            found.insert(m["id"].as_i64().unwrap());
        }
        before = msgs.last().map(|m| m["id"].as_i64().unwrap());
        if page["has_more"] == false {
            break;
        }
    }
    let missing: Vec<_> = acked.iter().filter(|id| !found.contains(id)).collect();
    println!(
        "acked {} before kill -9, found {} after restart, missing {}",
        acked.len(),
        found.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
}

#[test]
fn shutdown_closes_sockets_with_1001_and_keeps_messages() {
    let dir = TempDir::new("shutdown");
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, dir.path(), &[]);
    let mut a = user(&s, "alice");
    let id = create_group(&mut a, "durable");
    let (mut ws, _) = open_group(&a, id);
    send_text(&mut ws, "kept", "k");
    let mid = expect(&mut ws, "ack")["id"].as_i64().unwrap();
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(close_code(&mut ws, Duration::from_secs(10)), Some(1001));
    // The WAL was checkpointed into the main files and truncated.
    for f in ["chat.sqlite3-wal", "users.sqlite3-wal"] {
        let len = std::fs::metadata(data.join(f))
            .map(|m| m.len())
            .unwrap_or(0);
        assert_eq!(len, 0, "{f} holds {len} bytes after SIGTERM");
    }
    let s2 = Server::start_in(&data, dir.path(), &[]);
    a.addr = s2.addr;
    let (mut ws, _) = {
        let mut ws = connect(&a, &format!("/ws/chat/{id}?after=0"));
        let hello = expect(&mut ws, "hello");
        (ws, hello)
    };
    let m = expect(&mut ws, "message");
    assert_eq!(
        (m["id"].as_i64().unwrap(), m["content"].as_str().unwrap()),
        (mid, "kept")
    );
}
