//! Day-two operations against the real binary: admin subcommands, backup
//! while writing + restore, export, metrics, and proxy header trust.

mod common;

use std::time::Duration;

use common::html::hidden_value;
use common::ws::*;
use common::*;
use serde_json::{Value, json};

#[test]
fn user_and_session_commands_while_the_server_runs() {
    let s = Server::start(&[]);
    let data = s.data.clone();
    ok(admin(&data, &["user", "add", "carol"], "first password\n"));
    let mut c = s.client();
    assert_eq!(c.login("carol", "first password").status, 303);
    let mut c2 = s.client();
    assert_eq!(c2.login("carol", "first password").status, 303);
    let list = ok(admin(&data, &["user", "list"], ""));
    assert!(
        list.contains("carol") && list.lines().count() == 2,
        "{list}"
    );
    // Bad names and passwords, duplicates.
    assert!(
        !admin(&data, &["user", "add", "x"], "long enough pw\n")
            .status
            .success()
    );
    assert!(
        !admin(&data, &["user", "add", "dave"], "short\n")
            .status
            .success()
    );
    assert!(
        !admin(&data, &["user", "add", "CAROL"], "long enough pw\n")
            .status
            .success()
    );
    // Sessions: list, revoke one by id, then all by name.
    let sessions = ok(admin(&data, &["session", "list", "carol"], ""));
    let ids: Vec<&str> = sessions
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{sessions}");
    assert!(
        !sessions.contains(c.cookies.get("session").unwrap()),
        "tokens are never shown"
    );
    ok(admin(&data, &["session", "revoke", ids[0]], ""));
    let alive = [c.get("/api/me").status, c2.get("/api/me").status];
    assert_eq!(alive.iter().filter(|&&s| s == 200).count(), 1, "{alive:?}");
    // reset-password ends every session and sets the new password.
    ok(admin(
        &data,
        &["user", "reset-password", "carol"],
        "second password\n",
    ));
    assert_eq!(c.get("/api/me").status, 401);
    assert_eq!(c2.get("/api/me").status, 401);
    assert_eq!(s.client().login("carol", "first password").status, 401);
    let mut c3 = s.client();
    assert_eq!(c3.login("carol", "second password").status, 303);
    // delete: messages stay under "carol (deleted)"; the account is gone.
    let id = create_group(&mut c3, "kept");
    let mut ws = connect(&c3, &format!("/ws/chat/{id}"));
    send_text(&mut ws, "remember me", "r");
    expect(&mut ws, "ack");
    let mut other = user(&s, "observer");
    join(&mut other, id);
    ok(admin(&data, &["user", "delete", "carol"], ""));
    assert_eq!(c3.get("/api/me").status, 401);
    let hist = other.get(&format!("/api/groups/{id}/messages")).json();
    assert_eq!(hist["messages"][0]["author"], "carol (deleted)");
    assert_eq!(hist["messages"][0]["content"], "remember me");
    assert!(
        !admin(&data, &["user", "delete", "carol"], "")
            .status
            .success()
    );
    assert!(!admin(&data, &["frobnicate"], "").status.success());
}

#[test]
fn backup_while_writing_then_restore_and_compare() {
    // backup/restore copy SQLite data directories.
    crate::sqlite_only!();
    let s = Server::start(&["--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    let id = create_group(&mut a, "archive");
    let a2 = a.clone();
    let writer = std::thread::spawn(move || {
        let mut ws = connect(&a2, &format!("/ws/chat/{id}"));
        for i in 0..600 {
            send_text(&mut ws, &format!("line {i}"), &i.to_string());
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let mut acks = 0;
        while acks < 600 {
            match next(&mut ws, Duration::from_secs(10)) {
                Some(v) if v["type"] == "ack" => acks += 1,
                Some(_) => {}
                None => break,
            }
        }
        acks
    });
    std::thread::sleep(Duration::from_millis(150));
    let tmp = TempDir::new("backup");
    let dest = tmp.path().join("b1");
    let out = ok(admin(&s.data, &["backup", dest.to_str().unwrap()], ""));
    assert!(out.contains("integrity ok"), "{out}");
    assert_eq!(writer.join().unwrap(), 600);
    // A second backup refuses to overwrite.
    assert!(
        !admin(&s.data, &["backup", dest.to_str().unwrap()], "")
            .status
            .success()
    );

    // The export of the backup equals a consistent prefix of the live data.
    let backup_lines = ok(admin(&dest, &["export", "archive"], ""));
    let backed: Vec<Value> = backup_lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let live_lines = ok(admin(&s.data, &["export", &id.to_string()], ""));
    let live: Vec<Value> = live_lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(live.len(), 600);
    assert!(!backed.is_empty() && backed.len() <= live.len());
    assert_eq!(
        backed[..],
        live[..backed.len()],
        "the backup is a consistent prefix"
    );
    for (i, m) in live.iter().enumerate() {
        assert_eq!(m["content"], format!("line {i}"));
    }

    // Restore refuses while a server uses the data directory...
    let refused = admin(&s.data, &["restore", dest.to_str().unwrap()], "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("running"));
    // ...and works on a stopped one: a fresh directory restored from the backup.
    let restored = tmp.path().join("restored");
    ok(admin(&restored, &["restore", dest.to_str().unwrap()], ""));
    let s2 = Server::start_in(&restored, tmp.path(), &[]);
    a.addr = s2.addr;
    assert_eq!(
        a.get("/api/me").json()["username"],
        "alice",
        "sessions came back too"
    );
    let hist = a
        .get(&format!("/api/groups/{id}/messages?limit=100"))
        .json();
    assert_eq!(
        hist["messages"][0]["content"],
        backed.last().unwrap()["content"]
    );
}

#[test]
fn metrics_are_loopback_only_and_count_things() {
    let s = Server::start(&["--metrics", "--trust-proxy", "127.0.0.1/32"]);
    let mut a = user(&s, "alice");
    let id = create_group(&mut a, "metered");
    let mut ws = connect(&a, &format!("/ws/chat/{id}"));
    send_text(&mut ws, "count me", "m");
    expect(&mut ws, "ack");
    // Through the trusted proxy, only a request that names a loopback
    // client is one (a proxy that names no client could be serving anyone).
    let text = s
        .client()
        .request("GET", "/metrics", &[("X-Forwarded-For", "127.0.0.1")], b"")
        .text();
    assert_eq!(s.client().get("/metrics").status, 403);
    for needle in [
        "securechat_messages_stored_total 1",
        "securechat_websockets_open 1",
        "securechat_rooms_active 1",
        "securechat_connections_total",
        "securechat_deliveries_total",
        "securechat_slow_consumers_total 0",
        "securechat_rate_limited_total 0",
        "securechat_request_duration_seconds_bucket{class=\"api\",le=\"+Inf\"}",
        "securechat_request_duration_seconds_count{class=\"page\"}",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // A client forwarded by the (trusted) proxy is not loopback: refused.
    let r = s.client().request(
        "GET",
        "/metrics",
        &[("X-Forwarded-For", "203.0.113.5")],
        b"",
    );
    assert_eq!(r.status, 403);
    // Without --metrics there is no such page.
    let plain = Server::start(&[]);
    assert_eq!(plain.client().get("/metrics").status, 404);
}

#[test]
fn proxy_headers_count_only_from_trusted_peers() {
    let trusted = Server::start(&["--trust-proxy", "127.0.0.0/8"]);
    let untrusted = Server::start(&[]);
    for (s, expect_ip, expect_secure) in [
        (&trusted, "203.0.113.7", true),
        (&untrusted, "127.0.0.1", false),
    ] {
        let mut c = s.client();
        let fwd = [
            ("X-Forwarded-For", "198.51.100.1, 203.0.113.7"),
            ("X-Forwarded-Proto", "https"),
        ];
        let page = c.request("GET", "/register", &fwd, b"").text();
        let token = hidden_value(&page, "csrf_token").unwrap();
        let body = format!("username=proxied&password=correct+horse+battery&csrf_token={token}");
        let mut headers = fwd.to_vec();
        headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        if expect_secure {
            // The browser's Origin is the proxy's https origin.
            let origin = format!("https://{}", s.addr);
            headers.push(("Origin", Box::leak(origin.into_boxed_str())));
        }
        let r = c.request("POST", "/register", &headers, body.as_bytes());
        assert_eq!(r.status, 303, "{}", r.text());
        let cookie = r
            .session_set_cookie()
            .expect("register sets the session cookie");
        assert_eq!(cookie.contains("Secure"), expect_secure, "{cookie}");
        // Presence shows the client address the proxy reported, or the peer.
        let mut ws = connect_with(
            &c,
            "/ws",
            None,
            &[("X-Forwarded-For", "198.51.100.1, 203.0.113.7")],
        )
        .unwrap();
        let online = expect(&mut ws, "online");
        assert_eq!(online["users"][0]["ips"], json!([expect_ip]));
    }
}
