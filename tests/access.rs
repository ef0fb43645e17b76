//! Access that holds for the life of a connection: every way a session
//! ends closes its sockets (4401) within 2 s, in this process or from an
//! admin command beside it; a membership that ends closes the group's
//! sockets (4403) and no interleaving of join, handshake and leave lets a
//! non-member post or read; ids are never reused (also across an upgrade of
//! a v1 data directory); per-user limits; names that cannot impersonate;
//! E2E keys checked; `/metrics` behind a proxy; private files; a full disk.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::ws::*;
use common::*;
use serde_json::{Value, json};

/// The promise: sockets close within this long of the change.
const WITHIN: Duration = Duration::from_secs(2);
const PASSWORD: &str = "correct horse battery";

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The store's id of a client's session (what `session list` shows).
fn session_id(c: &Client) -> String {
    sha256_hex(c.cookies["session"].as_bytes())[..12].to_string()
}

/// Waits for the server to close `ws`: the close code and how long it took.
fn closing(ws: &mut Ws) -> (Option<u16>, Duration) {
    let start = Instant::now();
    (close_code(ws, WITHIN * 3), start.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn logged_in(s: &Server, name: &str, password: &str) -> Client {
    let mut c = s.client();
    assert_eq!(c.login(name, password).status, 303, "login {name}");
    c
}

/// Both sockets of a session: one on a group, one for notifications.
fn sockets(c: &Client, group: i64) -> (Ws, Ws) {
    let (chat, _) = open_group(c, group);
    let mut notify = connect(c, "/ws");
    expect(&mut notify, "online");
    (chat, notify)
}

#[test]
fn every_way_a_session_ends_closes_its_sockets_with_4401_within_2s() {
    let s = Server::start(&["--socket-rate", "0", "--login-rate", "0"]);
    let mut owner = user(&s, "owner");
    let g = create_group(&mut owner, "room");
    let mut password = PASSWORD.to_string();
    let mut a = user(&s, "alice");
    join(&mut a, g);
    let mut times = Vec::new();
    let cases = [
        "logout",
        "password change",
        "session revoke",
        "user reset-password",
        "expiry",
        "user delete",
    ];
    for case in cases {
        let mut other = logged_in(&s, "alice", &password);
        if case == "expiry" {
            // A session that expires in 1.5 s, seen by the socket at its
            // handshake: the server's sweep must close it then.
            let hash = sha256_hex(other.cookies["session"].as_bytes());
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
                + 1500;
            db_execute(
                &s.data,
                "users.sqlite3",
                "UPDATE sessions SET expires_at = ?1 WHERE token_hash = ?2",
                &[DbValue::Int(at), DbValue::Text(hash)],
            );
        }
        let (mut chat, mut notify) = sockets(&other, g);
        let started = Instant::now();
        match case {
            "logout" => {
                let token = other.csrf.clone().unwrap();
                assert_eq!(
                    other.post_form("/logout", &[("csrf_token", &token)]).status,
                    303
                );
            }
            "password change" => {
                let new = format!("{password}!");
                let token = a.form_token("/account");
                let r = a.post_form(
                    "/account/password",
                    &[
                        ("current_password", &password),
                        ("new_password", &new),
                        ("csrf_token", &token),
                    ],
                );
                assert_eq!(r.status, 200, "{}", r.text());
                password = new;
            }
            "session revoke" => {
                ok(admin(
                    &s.data,
                    &["session", "revoke", &session_id(&other)],
                    "",
                ));
            }
            "user reset-password" => {
                password = "a brand new password".into();
                ok(admin(
                    &s.data,
                    &["user", "reset-password", "alice"],
                    &format!("{password}\n"),
                ));
                a = logged_in(&s, "alice", &password);
            }
            "expiry" => {}
            "user delete" => {
                ok(admin(&s.data, &["user", "delete", "alice"], ""));
            }
            _ => unreachable!(),
        }
        let changed = started.elapsed();
        for (what, ws) in [("group socket", &mut chat), ("/ws", &mut notify)] {
            let (code, took) = closing(ws);
            assert_eq!(code, Some(4401), "{case}: {what}");
            assert!(
                took <= WITHIN + Duration::from_millis(if case == "expiry" { 1500 } else { 0 }),
                "{case}: {what} closed after {took:?}"
            );
            if case != "expiry" {
                times.push(took);
            }
        }
        assert_eq!(
            other.get("/api/me").status,
            401,
            "{case}: the session is over"
        );
        eprintln!("{case}: change took {changed:?}");
    }
    eprintln!(
        "revocation → close: median {:?}, max {:?} over {} sockets",
        median(times.clone()),
        times.iter().max().unwrap(),
        times.len()
    );
}

#[test]
fn revocation_from_an_admin_command_reaches_sockets_fast_every_time() {
    // The admin command runs in another process: the server notices its
    // commit through the database (no signal, no restart).
    let s = Server::start(&["--socket-rate", "0", "--login-rate", "0"]);
    let mut a = user(&s, "alice");
    let g = create_group(&mut a, "room");
    let mut times = Vec::new();
    for i in 0..20u64 {
        let other = logged_in(&s, "alice", PASSWORD);
        let (mut ws, _) = open_group(&other, g);
        // Spread the revocations over the server's poll period, so the
        // times below are not all taken at one phase of it.
        std::thread::sleep(Duration::from_millis(i * 37 % 250));
        ok(admin(
            &s.data,
            &["session", "revoke", &session_id(&other)],
            "",
        ));
        let (code, took) = closing(&mut ws);
        assert_eq!(code, Some(4401));
        times.push(took);
    }
    let max = *times.iter().max().unwrap();
    eprintln!(
        "admin revoke (command exit) → 4401: median {:?}, max {max:?} over {} runs",
        median(times.clone()),
        times.len()
    );
    assert!(max <= WITHIN, "slowest {max:?}");
}

#[test]
fn a_deleted_users_open_socket_can_no_longer_post() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let g = create_group(&mut a, "room");
    let mut victim = user(&s, "victim");
    join(&mut victim, g);
    let (mut ws, _) = open_group(&victim, g);
    ok(admin(&s.data, &["user", "delete", "victim"], ""));
    // Whatever the socket sends after the deletion is not stored.
    let _ = ws.send(tungstenite::Message::text(
        json!({"type": "message", "content": "still here?", "client_id": "x"}).to_string(),
    ));
    let mut acked = false;
    while let Some(f) = next(&mut ws, WITHIN) {
        acked |= f["type"] == "ack";
    }
    assert!(!acked, "a deleted user's message was acknowledged");
    let hist = a.get(&format!("/api/groups/{g}/messages")).json();
    assert!(
        hist["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["content"] != "still here?"),
        "{hist}"
    );
}

#[test]
fn ids_are_never_reused_and_a_deleted_users_dm_stays_readable_but_closed() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let mut c = user(&s, "carol");
    let g = create_group(&mut a, "room");
    join(&mut c, g);
    let carol_id = c.get("/api/me").json()["id"].as_i64().unwrap();
    let (mut ws, _) = open_group(&c, g);
    send_text(&mut ws, "carol was here", "1");
    let msg = expect(&mut ws, "ack")["id"].as_i64().unwrap();
    drop(ws);
    let dm = c
        .json("POST", "/api/dm", &json!({"username": "alice"}))
        .json()["group_id"]
        .as_i64()
        .unwrap();
    let (mut dws, _) = open_group(&c, dm);
    send_text(&mut dws, "hi alice", "2");
    expect(&mut dws, "ack");
    drop(dws);
    ok(admin(&s.data, &["user", "delete", "carol"], ""));
    // The newest account was deleted: the next one gets a new id.
    let mut d = user(&s, "dave");
    let dave_id = d.get("/api/me").json()["id"].as_i64().unwrap();
    assert!(dave_id > carol_id, "id {dave_id} after deleting {carol_id}");
    // So dave cannot touch carol's messages.
    let edit = d.json(
        "PATCH",
        &format!("/api/messages/{msg}"),
        &json!({"content": "mine"}),
    );
    assert!(matches!(edit.status, 403 | 404), "{}", edit.status);
    let del = d.json("DELETE", &format!("/api/messages/{msg}"), &Value::Null);
    assert!(matches!(del.status, 403 | 404), "{}", del.status);
    // alice's DM with carol stays listed and readable, and is closed.
    let dms = a.get("/api/dms").json()["dms"].clone();
    assert_eq!(
        dms,
        json!([{"group_id": dm, "username": "carol (deleted)", "usernames": [], "closed": true,
            "e2e": false, "last_read_id": 0, "unread": 1, "mentions": 0}])
    );
    let hist = a.get(&format!("/api/groups/{dm}/messages")).json();
    assert_eq!(hist["messages"][0]["content"], "hi alice");
    assert_eq!(hist["messages"][0]["author"], "carol (deleted)");
    let (mut aws, _) = open_group(&a, dm);
    send_text(&mut aws, "anyone?", "3");
    let refused = expect(&mut aws, "error");
    assert_eq!(refused["code"], "forbidden");
    assert_eq!(refused["client_id"], "3");
    // A DM between alice and dave is a new room.
    let fresh = d
        .json("POST", "/api/dm", &json!({"username": "alice"}))
        .json()["group_id"]
        .as_i64()
        .unwrap();
    assert_ne!(fresh, dm);
    let (mut fws, _) = open_group(&d, fresh);
    send_text(&mut fws, "hello", "4");
    expect(&mut fws, "ack");
}

/// The bytes of a WebSocket upgrade request for `path` as `c`.
fn upgrade_request(c: &Client, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Origin: http://{host}\r\nCookie: {cookie}\r\n\r\n",
        host = c.addr,
        cookie = c.cookie_header()
    )
    .into_bytes()
}

/// The bytes of `POST /api/groups/{g}/leave` as `c`.
fn leave_request(c: &Client, g: i64) -> Vec<u8> {
    format!(
        "POST /api/groups/{g}/leave HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Origin: http://{host}\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n\
         Content-Length: 0\r\n\r\n",
        host = c.addr,
        cookie = c.cookie_header(),
        csrf = c.csrf.as_deref().unwrap_or("")
    )
    .into_bytes()
}

/// Reads a response head: its status, and the bytes that followed it.
fn read_head(s: &mut std::net::TcpStream) -> (u16, Vec<u8>) {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let status = String::from_utf8_lossy(&got[9..12]).parse().unwrap();
            return (status, got.split_off(at + 4));
        }
    }
}

#[test]
fn no_interleaving_of_join_handshake_and_leave_lets_a_non_member_post_or_read() {
    use std::io::Write;
    const ROUNDS: usize = 400;
    let s = Server::start(&["--socket-rate", "0", "--join-rate", "0", "--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    let g = create_group(&mut a, "race");
    let mut b = user(&s, "bob");
    let (mut alice_ws, _) = open_group(&a, g);
    let started = Instant::now();
    let (mut opened, mut refused) = (0, 0);
    let (up_req, leave_req) = (
        upgrade_request(&b, &format!("/ws/chat/{g}")),
        leave_request(&b, g),
    );
    for round in 0..ROUNDS {
        join(&mut b, g);
        // One request goes, the other follows 0 to 1 ms later, in 5 µs
        // steps — the leave first in half the rounds — so that the leave
        // lands in every phase of the handshake.
        let mut up = std::net::TcpStream::connect(s.addr).unwrap();
        let mut leave = std::net::TcpStream::connect(s.addr).unwrap();
        for c in [&up, &leave] {
            c.set_nodelay(true).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        let delay = Duration::from_micros((round as u64 % 200) * 5);
        let (first, second) = if round % 2 == 0 {
            ((&mut up, &up_req), (&mut leave, &leave_req))
        } else {
            ((&mut leave, &leave_req), (&mut up, &up_req))
        };
        first.0.write_all(first.1).unwrap();
        let t = Instant::now();
        while t.elapsed() < delay {
            std::hint::spin_loop();
        }
        second.0.write_all(second.1).unwrap();
        assert_eq!(read_head(&mut leave).0, 204, "round {round}: leave");
        // bob has left. alice speaks; bob's socket, if it opened, must
        // neither hear her nor get anything stored.
        send_text(
            &mut alice_ws,
            &format!("after {round}"),
            &format!("a{round}"),
        );
        let (status, rest) = read_head(&mut up);
        if status != 101 {
            assert!(matches!(status, 403 | 404), "round {round}: {status}");
            refused += 1;
            continue;
        }
        opened += 1;
        let mut ws = tungstenite::WebSocket::from_partially_read(
            up,
            rest,
            tungstenite::protocol::Role::Client,
            None,
        );
        let _ = ws.send(tungstenite::Message::text(
            json!({"type": "message", "content": format!("bob {round}"), "client_id": "b"})
                .to_string(),
        ));
        // Until it is closed for real (not merely quiet: a frame still
        // being handled when bob joins again in the next round would be
        // his as a member).
        let (frames, closed) = frames_until_close(&mut ws, WITHIN * 5);
        for f in frames {
            assert_ne!(
                f["type"], "ack",
                "round {round}: a non-member's message was stored"
            );
            assert!(
                f["content"] != format!("after {round}"),
                "round {round}: a non-member read the room"
            );
        }
        assert!(closed, "round {round}: a non-member's socket stayed open");
    }
    let hist = a.get(&format!("/api/groups/{g}/messages?limit=100")).json();
    assert!(
        hist["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["author"] != "bob"),
        "bob's messages were stored"
    );
    eprintln!(
        "{ROUNDS} rounds in {:?}: {opened} sockets opened (all closed, none posted or read), {refused} refused",
        started.elapsed()
    );
}

/// A raw handshake's status line and headers (for `Retry-After`).
fn handshake_head(c: &Client, path: &str) -> String {
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nOrigin: http://{host}\r\n\
         Cookie: {cookie}\r\n\r\n",
        host = c.addr,
        cookie = c.cookie_header()
    );
    let got = raw(c.addr, req.as_bytes(), Duration::from_secs(2));
    let text = String::from_utf8_lossy(&got);
    text.split("\r\n\r\n").next().unwrap_or("").to_string()
}

#[test]
fn per_user_limits_stop_scripts_with_429_and_retry_after() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    // WebSocket opens: 30, then 429 with Retry-After.
    let mut held = Vec::new();
    for i in 0..30 {
        held.push(try_connect(&a, "/ws", None).unwrap_or_else(|st| panic!("open {i}: {st}")));
    }
    let head = handshake_head(&a, "/ws");
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert!(head.contains("Retry-After: "), "{head}");
    drop(held);
    // Group creation: 10, then 429.
    for i in 0..10 {
        create_group(&mut a, &format!("g{i}"));
    }
    let r = a.json("POST", "/api/groups", &json!({"name": "one more"}));
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    // Joins and leaves: 30 in all, then 429.
    let mut b = user(&s, "bob");
    for i in 0..30 {
        let path = if i % 2 == 0 { "join" } else { "leave" };
        let r = b.json("POST", &format!("/api/groups/1/{path}"), &Value::Null);
        assert!(r.status < 300, "{path} {i}: {}", r.status);
    }
    assert_eq!(
        b.json("POST", "/api/groups/1/join", &Value::Null).status,
        429
    );
    // New DMs: 20, then 429; opening an existing one is not limited.
    for i in 0..21 {
        user(&s, &format!("peer{i}"));
    }
    let mut c = user(&s, "carol");
    for i in 0..20 {
        let r = c.json("POST", "/api/dm", &json!({"username": format!("peer{i}")}));
        assert_eq!(r.status, 200, "dm {i}");
    }
    let r = c.json("POST", "/api/dm", &json!({"username": "peer20"}));
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        c.json("POST", "/api/dm", &json!({"username": "peer3"}))
            .status,
        200,
        "an existing DM still opens"
    );
}

#[test]
fn group_names_that_could_impersonate_are_refused() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let post = |c: &mut Client, name: &str| c.json("POST", "/api/groups", &json!({ "name": name }));
    assert_eq!(post(&mut a, "homoG").status, 201);
    // A Cyrillic о, other case, and both: the same name to the eye.
    for twin in ["h\u{43e}moG", "HOMOG", "h\u{43e}mog"] {
        let r = post(&mut a, twin);
        assert_eq!(r.status, 409, "{twin:?}");
        assert_eq!(r.json()["error"], "name_taken");
    }
    // Bidi controls and zero-width characters hide or reorder text.
    for bad in [
        "ad\u{202e}nim",
        "pay\u{200b}roll",
        "\u{2066}ops\u{2069}",
        "x\u{feff}",
        "a\u{200d}b",
        "a\u{2060}b",
    ] {
        let r = post(&mut a, bad);
        assert_eq!(r.status, 400, "{bad:?}: {}", r.text());
    }
    // Stored NFC: a decomposed é is the composed one.
    let r = post(&mut a, "cafe\u{301}");
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["name"], "caf\u{e9}");
    assert_eq!(post(&mut a, "caf\u{e9}").status, 409);
}

#[test]
fn metrics_through_a_trusted_proxy_need_the_clients_address() {
    let s = Server::start(&["--metrics", "--trust-proxy", "127.0.0.1"]);
    let mut c = s.client();
    let status = |c: &mut Client, xff: Option<&str>| {
        let headers: Vec<(&str, &str)> = xff.map(|v| ("X-Forwarded-For", v)).into_iter().collect();
        c.request("GET", "/metrics", &headers, b"").status
    };
    assert_eq!(
        status(&mut c, None),
        403,
        "the proxy said nothing: not loopback"
    );
    assert_eq!(status(&mut c, Some("not-an-address")), 403);
    assert_eq!(status(&mut c, Some("203.0.113.7")), 403);
    assert_eq!(status(&mut c, Some("127.0.0.1")), 200);
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_data_directory_and_databases_are_their_owners_alone() {
    // The SQLite files' modes.
    crate::sqlite_only!();
    use std::os::unix::fs::PermissionsExt;
    // Fresh: created private.
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let g = create_group(&mut a, "room");
    let (mut ws, _) = open_group(&a, g);
    send_text(&mut ws, "hi", "1");
    expect(&mut ws, "ack");
    assert_eq!(mode(&s.data), 0o700);
    for f in [
        "users.sqlite3",
        "chat.sqlite3",
        "chat.sqlite3-wal",
        "chat.sqlite3-shm",
    ] {
        assert_eq!(mode(&s.data.join(f)), 0o600, "{f}");
    }
    drop(ws);
    // Existing, made readable by others (an older version, a umask):
    // tightened at start.
    let dir = TempDir::new("modes");
    let data = dir.path().join("data");
    let mut first = Server::start_in(&data, dir.path(), &[]);
    user(&first, "bob");
    first.terminate();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in ["users.sqlite3", "chat.sqlite3"] {
        std::fs::set_permissions(data.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let _again = Server::start_in(&data, dir.path(), &[]);
    assert_eq!(mode(&data), 0o700);
    for f in ["users.sqlite3", "chat.sqlite3"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
}

/// The schema of a v1 data directory, as v1 created it.
const V1_USERS: &str = "
CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE sessions (token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE TABLE device_keys (id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL, public_key TEXT NOT NULL, created_at INTEGER NOT NULL,
    UNIQUE (user_id, fingerprint));
PRAGMA user_version = 1;";
const V1_CHAT: &str = "
CREATE TABLE groups (id INTEGER PRIMARY KEY, name TEXT NOT NULL, name_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('group', 'dm')), e2e INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE UNIQUE INDEX groups_name_key ON groups(kind, name_key);
CREATE TABLE memberships (group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL, joined_at INTEGER NOT NULL, PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX memberships_user ON memberships(user_id);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    author_id INTEGER NOT NULL, author TEXT NOT NULL, content TEXT, envelope TEXT,
    created_at INTEGER NOT NULL, edited_at INTEGER, deleted_at INTEGER);
CREATE INDEX messages_group ON messages(group_id, id);
PRAGMA user_version = 1;";

#[test]
fn a_v1_data_directory_is_upgraded_keeping_everything_and_reusing_no_id() {
    // A v1 SQLite data directory.
    crate::sqlite_only!();
    let dir = TempDir::new("v1");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let token = "ab".repeat(32);
    let far = 4_000_000_000_000i64;
    {
        let u = rusqlite::Connection::open(data.join("users.sqlite3")).unwrap();
        u.execute_batch(V1_USERS).unwrap();
        // Accounts 1 and 2; 3 was deleted (v1 would hand 3 out again) and
        // is still named by its messages and by its DM with alice.
        u.execute_batch(
            "INSERT INTO users VALUES (1, 'alice', 'x', 1), (2, 'bob', 'x', 1);
             INSERT INTO device_keys VALUES (1, 1, 'fp', 'key', 1);",
        )
        .unwrap();
        u.execute(
            "INSERT INTO sessions VALUES (?1, 1, 1, ?2)",
            rusqlite::params![sha256_hex(token.as_bytes()), far],
        )
        .unwrap();
        let c = rusqlite::Connection::open(data.join("chat.sqlite3")).unwrap();
        c.execute_batch(V1_CHAT).unwrap();
        c.execute_batch(
            "INSERT INTO groups VALUES (1, 'homoG', 'homog', 'group', 0, 1, 1);
             INSERT INTO groups VALUES (2, 'h\u{43e}moG', 'h\u{43e}mog', 'group', 0, 2, 2);
             INSERT INTO groups VALUES (3, 'Direct message', 'dm:1:3', 'dm', 0, 3, 3);
             INSERT INTO memberships VALUES (1, 1, 1), (1, 2, 1), (2, 2, 2), (3, 1, 3);
             INSERT INTO messages (group_id, author_id, author, content, created_at)
                 VALUES (1, 1, 'alice', 'v1 hello', 5), (3, 3, 'carol (deleted)', 'bye', 6);",
        )
        .unwrap();
    }
    let s = Server::start_in(&data, dir.path(), &[]);
    let mut a = s.client();
    a.cookies.insert("session".into(), token);
    a.load_csrf();
    // The session, the user and their data came through.
    assert_eq!(a.get("/api/me").json()["id"], 1);
    let hist = a.get("/api/groups/1/messages").json();
    assert_eq!(hist["messages"][0]["content"], "v1 hello");
    let names: Vec<Value> = a.get("/api/groups").json()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("homoG"), json!("h\u{43e}moG")],
        "look-alikes already there stay"
    );
    assert_eq!(
        a.json("POST", "/api/groups", &json!({"name": "HOMOG"}))
            .status,
        409,
        "but no new one"
    );
    // The DM whose other member was deleted under v1: readable, closed.
    assert_eq!(
        a.get("/api/groups/3/messages").json()["messages"][0]["content"],
        "bye"
    );
    let dms = a.get("/api/dms").json()["dms"].clone();
    assert_eq!(dms[0]["closed"], true, "{dms}");
    // A new account gets a new id: not 3, which the messages still name.
    let mut d = user(&s, "dave");
    assert_eq!(d.get("/api/me").json()["id"], 4);
    // And group ids continue after the highest.
    assert_eq!(create_group(&mut d, "fresh"), 4);
}

#[test]
fn a_full_disk_refuses_writes_clearly_keeps_reads_and_recovers_by_itself() {
    // The data directory's disk: PostgreSQL keeps its tables elsewhere.
    crate::sqlite_only!();
    let dir = TempDir::new("full");
    let disk = Tmpfs::mount(&dir.path().join("disk"), "4m");
    let data = disk.0.join("data");
    let s = Server::start_in(&data, dir.path(), &["--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    let g = create_group(&mut a, "room");
    let (mut ws, _) = open_group(&a, g);
    send_text(&mut ws, "before", "0");
    expect(&mut ws, "ack");
    let filler = fill(&disk.0);
    const TRIES: usize = 200;
    let mut full = 0;
    for i in 1..=TRIES {
        send_text(&mut ws, &format!("m{i}"), &i.to_string());
        let f = wait_for(&mut ws, Duration::from_secs(5), |f| {
            f["type"] == "ack" || f["type"] == "error"
        })
        .expect("an answer");
        if f["type"] == "error" {
            assert_eq!(f["code"], "storage_full", "{f}");
            assert_eq!(f["retry_after_ms"], 5000, "{f}");
            assert_eq!(f["client_id"], i.to_string());
            full += 1;
        }
    }
    assert!(
        full > TRIES / 2,
        "only {full} of {TRIES} refused: the disk did not fill"
    );
    // Reads go on; the JSON API says the same thing.
    let hist = a.get(&format!("/api/groups/{g}/messages")).json();
    assert_eq!(
        hist["messages"].as_array().unwrap().last().unwrap()["content"],
        "before"
    );
    let r = a.json("POST", "/api/groups", &json!({"name": "more"}));
    assert_eq!(r.status, 507, "{}", r.text());
    assert_eq!(r.json()["error"], "storage_full");
    assert!(r.header("retry-after").is_some());
    let log = s.log_text();
    // (The search indexer may also say once that it waits for space.)
    let lines = log
        .lines()
        .filter(|l| l.contains("disk is full: ") && l.contains("write(s) refused"))
        .count();
    assert_eq!(lines, 1, "one line a minute, with a count:\n{log}");
    // Space returns: writes resume by themselves.
    std::fs::remove_file(filler).unwrap();
    send_text(&mut ws, "after", "after");
    let ack = wait_for(&mut ws, Duration::from_secs(5), |f| {
        f["type"] == "ack" || f["type"] == "error"
    })
    .unwrap();
    assert_eq!(ack["type"], "ack", "{ack}");
    let hist = a.get(&format!("/api/groups/{g}/messages?limit=1")).json();
    assert_eq!(hist["messages"][0]["content"], "after");
    drop(ws);
    drop(s);
    drop(disk);
}
