//! Real-time chat against the real server: groups, history, WebSocket
//! frames, presence, DMs, replay, eviction, rate limits and bad input.

mod common;

use std::time::{Duration, Instant};

use common::ws::*;
use common::*;
use serde_json::{Value, json};
use tungstenite::Message;

const T: Duration = Duration::from_secs(10);

fn usernames(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn groups_api_rules() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let id = create_group(&mut a, "  Rust Fans  ");
    let list = b.get("/api/groups").json();
    let g = &list["groups"][0];
    assert_eq!(g["name"], "Rust Fans");
    assert_eq!(g["member"], false);
    assert_eq!(g["e2e"], false);
    assert!(g["created_at"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(a.get("/api/groups").json()["groups"][0]["member"], true);
    // Case-insensitive uniqueness, name rules, types.
    assert_eq!(
        b.json("POST", "/api/groups", &json!({"name": "rust fans"}))
            .status,
        409
    );
    for bad in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "x".repeat(65)}),
        json!({"name": "a\u{7}b"}),
        json!({"name": 5}),
        json!({"name": "ok", "e2e": "yes"}),
        json!([1]),
    ] {
        let r = b.json("POST", "/api/groups", &bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.json()["error"].is_string() && r.json()["message"].is_string());
    }
    assert_eq!(
        b.request(
            "POST",
            "/api/groups",
            &[("X-CSRF-Token", b.csrf.clone().unwrap().as_str())],
            b"not json"
        )
        .status,
        400
    );
    // CSRF and Origin.
    let mut no_csrf = b.clone();
    no_csrf.csrf = None;
    assert_eq!(
        no_csrf
            .json("POST", "/api/groups", &json!({"name": "x"}))
            .status,
        403
    );
    no_csrf.csrf = Some("0".repeat(64));
    assert_eq!(
        no_csrf
            .json("POST", &format!("/api/groups/{id}/join"), &Value::Null)
            .status,
        403
    );
    let mut evil = b.clone();
    evil.origin = Some("http://evil.example".into());
    assert_eq!(
        evil.json("POST", "/api/groups", &json!({"name": "x"}))
            .status,
        403
    );
    // Anonymous readers get nothing.
    let mut anon = s.client();
    for path in [
        "/api/groups",
        "/api/online",
        &format!("/api/groups/{id}/messages"),
        "/api/dms",
        &format!("/api/groups/{id}/online"),
    ] {
        assert_eq!(anon.get(path).status, 401, "{path}");
    }
    // Join, then leave; unknown groups are 404.
    join(&mut b, id);
    assert_eq!(b.get("/api/groups").json()["groups"][0]["member"], true);
    assert_eq!(
        b.json("POST", &format!("/api/groups/{id}/leave"), &Value::Null)
            .status,
        204
    );
    assert_eq!(b.get(&format!("/api/groups/{id}/messages")).status, 403);
    assert_eq!(
        b.json("POST", "/api/groups/999/join", &Value::Null).status,
        404
    );
    assert_eq!(b.get("/api/groups/999/messages").status, 404);
}

#[test]
fn two_members_and_an_outsider() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let mut eve = user(&s, "eve");
    let id = create_group(&mut a, "team");
    join(&mut b, id);

    let (mut wa, hello) = open_group(&a, id);
    assert_eq!(hello["group"]["id"], id);
    assert_eq!(hello["group"]["name"], "team");
    assert_eq!(hello["you"]["username"], "alice");
    assert_eq!(usernames(&hello["online"]), ["alice"]);
    let (mut wb, _) = open_group(&b, id);
    let joined = wait_for(&mut wa, T, |v| {
        v["type"] == "system" && v["text"] == "bob joined"
    })
    .expect("bob joined");
    assert!(joined["created_at"].is_i64());
    let p = expect(&mut wa, "presence");
    assert_eq!(usernames(&p["users"]), ["alice", "bob"]);
    assert_eq!(p["users"][0]["ips"], json!(["127.0.0.1"]));

    // The outsider can neither listen nor read.
    assert_eq!(
        try_connect(&eve, &format!("/ws/chat/{id}"), None).err(),
        Some(403)
    );
    assert_eq!(eve.get(&format!("/api/groups/{id}/messages")).status, 403);
    assert_eq!(eve.get(&format!("/api/groups/{id}/online")).status, 403);
    assert_eq!(try_connect(&eve, "/ws/chat/999", None).err(), Some(404));
    assert_eq!(
        try_connect(&s.client(), &format!("/ws/chat/{id}"), None).err(),
        Some(401)
    );
    assert_eq!(try_connect(&s.client(), "/ws", None).err(), Some(401));
    assert_eq!(
        try_connect(&a, &format!("/ws/chat/{id}"), Some("http://evil.example")).err(),
        Some(403)
    );
    assert_eq!(try_connect(&a, "/ws", Some("null")).err(), Some(403));
    assert_eq!(
        try_connect(&a, &format!("/ws/chat/{id}?after=x"), None).err(),
        Some(400)
    );
    // A plain GET on a socket route is refused, not upgraded.
    assert_eq!(a.get(&format!("/ws/chat/{id}")).status, 400);

    // A message: stored, acked to the sender, delivered to both in order.
    send_text(&mut wa, "hello <b>bob</b>", "c1");
    let ack = expect(&mut wa, "ack");
    assert_eq!(ack["client_id"], "c1");
    let mid = ack["id"].as_i64().unwrap();
    let ma = expect(&mut wa, "message");
    let mb = expect(&mut wb, "message");
    for m in [&ma, &mb] {
        assert_eq!(m["id"], mid);
        assert_eq!(m["group_id"], id);
        assert_eq!(m["author"], "alice");
        assert_eq!(m["content"], "hello <b>bob</b>");
        assert!(m["created_at"].as_i64().unwrap() > 1_600_000_000_000);
        assert!(m["edited_at"].is_null());
    }
    let hist = b.get(&format!("/api/groups/{id}/messages")).json();
    assert_eq!(hist["messages"][0]["id"], mid);
    assert_eq!(hist["has_more"], false);

    // Typing goes to others only.
    send(&mut wb, json!({"type": "typing"}));
    assert_eq!(expect(&mut wa, "typing")["username"], "bob");

    // Edit and delete: author only, propagated to the room.
    let path = format!("/api/messages/{mid}");
    assert_eq!(
        b.json("PATCH", &path, &json!({"content": "hijack"})).status,
        403
    );
    assert_eq!(b.json("DELETE", &path, &Value::Null).status, 403);
    assert_eq!(
        eve.json("PATCH", &path, &json!({"content": "x"})).status,
        404
    );
    assert_eq!(a.json("PATCH", &path, &json!({"content": ""})).status, 400);
    let r = a.json("PATCH", &path, &json!({"content": "hello bob (edited)"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["edited_at"].as_i64().is_some());
    let e = expect(&mut wb, "edited");
    assert_eq!(e["id"], mid);
    assert_eq!(e["content"], "hello bob (edited)");
    assert!(e["edited_at"].is_i64());
    assert_eq!(
        b.get(&format!("/api/groups/{id}/messages")).json()["messages"][0]["content"],
        "hello bob (edited)"
    );
    assert_eq!(a.json("DELETE", &path, &Value::Null).status, 204);
    assert_eq!(expect(&mut wb, "deleted")["id"], mid);
    assert_eq!(
        b.get(&format!("/api/groups/{id}/messages")).json()["messages"],
        json!([])
    );
    assert_eq!(
        a.json("PATCH", &path, &json!({"content": "back?"})).status,
        404
    );

    // Leaving closes the leaver's socket and tells the room.
    assert_eq!(
        b.json("POST", &format!("/api/groups/{id}/leave"), &Value::Null)
            .status,
        204
    );
    assert_eq!(close_code(&mut wb, T), Some(4403), "not a member");
    assert_eq!(expect(&mut wa, "system")["text"], "bob left");
}

#[test]
fn presence_with_ips_and_two_tabs() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let id = create_group(&mut a, "room");
    join(&mut b, id);
    let mut notify = connect(&a, "/ws");
    assert_eq!(
        usernames(&expect(&mut notify, "online")["users"]),
        ["alice"]
    );

    let (mut wa, _) = open_group(&a, id);
    let (mut tab1, _) = open_group(&b, id);
    expect(&mut wa, "system");
    // A second tab from another address (127.0.0.2): bob's IPs grow, no new "joined".
    let tab2 = connect_with(&b, &format!("/ws/chat/{id}"), Some("127.0.0.2"), &[]).unwrap();
    let p = wait_for(&mut wa, T, |v| {
        v["type"] == "presence"
            && v["users"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["ips"].as_array().unwrap().len() == 2)
    })
    .expect("presence with two IPs");
    let bob = p["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bob")
        .unwrap();
    assert_eq!(bob["ips"], json!(["127.0.0.1", "127.0.0.2"]));
    let online = a.get(&format!("/api/groups/{id}/online")).json();
    assert_eq!(usernames(&online["users"]), ["alice", "bob"]);
    let all = a.get("/api/online").json();
    assert_eq!(usernames(&all["users"]), ["alice", "bob"]);
    assert!(
        wait_for(&mut notify, T, |v| v["type"] == "online"
            && usernames(&v["users"]) == ["alice", "bob"])
        .is_some()
    );

    // Closing one tab keeps bob online; closing both says he left.
    drop(tab2);
    let p = expect(&mut wa, "presence");
    assert_eq!(p["users"][1]["ips"], json!(["127.0.0.1"]));
    tab1.close(None).unwrap();
    let _ = drain(&mut tab1, Duration::from_millis(200));
    let left = wait_for(&mut wa, T, |v| v["type"] == "system").unwrap();
    assert_eq!(left["text"], "bob left");
    assert_eq!(usernames(&expect(&mut wa, "presence")["users"]), ["alice"]);
    assert!(
        wait_for(&mut notify, T, |v| v["type"] == "online"
            && usernames(&v["users"]) == ["alice"])
        .is_some()
    );
    assert_eq!(usernames(&a.get("/api/online").json()["users"]), ["alice"]);
}

#[test]
fn history_pages_through_120_messages() {
    let s = Server::start(&["--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    let id = create_group(&mut a, "history");
    let (mut ws, _) = open_group(&a, id);
    for i in 0..120 {
        send_text(&mut ws, &format!("m{i}"), &format!("c{i}"));
    }
    let mut acked = Vec::new();
    while acked.len() < 120 {
        let v = expect(&mut ws, "ack");
        acked.push(v["id"].as_i64().unwrap());
    }
    assert!(
        acked.windows(2).all(|w| w[0] < w[1]),
        "ids increase in send order"
    );
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    let mut pages = 0;
    loop {
        let path = match before {
            Some(b) => format!("/api/groups/{id}/messages?before={b}&limit=50"),
            None => format!("/api/groups/{id}/messages?limit=50"),
        };
        let page = a.get(&path).json();
        let msgs = page["messages"].as_array().unwrap().clone();
        pages += 1;
        for m in &msgs {
            seen.push(m["content"].as_str().unwrap().to_string());
        }
        before = msgs.last().map(|m| m["id"].as_i64().unwrap());
        if page["has_more"] == false {
            break;
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..120).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(seen, expected, "newest first, nothing lost or repeated");
    assert_eq!(
        a.get(&format!("/api/groups/{id}/messages")).json()["messages"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "before=0",
        "before=-3",
        "before=abc",
    ] {
        assert_eq!(
            a.get(&format!("/api/groups/{id}/messages?{bad}")).status,
            400,
            "{bad}"
        );
    }
}

#[test]
fn reconnect_replays_what_was_missed() {
    let s = Server::start(&["--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let id = create_group(&mut a, "replay");
    join(&mut b, id);
    let (mut wa, _) = open_group(&a, id);
    let (mut wb, _) = open_group(&b, id);
    send_text(&mut wa, "before", "x");
    let last_seen = expect(&mut wb, "message")["id"].as_i64().unwrap();
    drop(wb);
    for i in 0..5 {
        send_text(&mut wa, &format!("missed {i}"), &format!("m{i}"));
        expect(&mut wa, "ack");
    }
    let mut wb = connect(&b, &format!("/ws/chat/{id}?after={last_seen}"));
    let frames = drain(&mut wb, Duration::from_millis(500));
    assert_eq!(frames[0]["type"], "hello");
    let replayed: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        replayed,
        ["missed 0", "missed 1", "missed 2", "missed 3", "missed 4"]
    );
    // Live messages continue after the replay.
    send_text(&mut wa, "live", "l");
    assert_eq!(expect(&mut wb, "message")["content"], "live");
}

#[test]
fn direct_messages_and_notifications() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let mut nb = connect(&b, "/ws");
    expect(&mut nb, "online");
    let r = a.json("POST", "/api/dm", &json!({"username": "BOB"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let gid = r.json()["group_id"].as_i64().unwrap();
    let note = expect(&mut nb, "dm");
    assert_eq!(note["group_id"], gid);
    assert_eq!(note["from"], "alice");
    // Reused, hidden from the group list, listed under DMs for both.
    assert_eq!(
        b.json("POST", "/api/dm", &json!({"username": "alice"}))
            .json()["group_id"],
        gid
    );
    assert_eq!(a.get("/api/groups").json()["groups"], json!([]));
    assert_eq!(
        a.get("/api/dms").json()["dms"],
        json!([{"group_id": gid, "username": "bob", "usernames": ["bob"], "closed": false, "e2e": false,
            "last_read_id": 0, "unread": 0, "mentions": 0}])
    );
    assert_eq!(
        b.get("/api/dms").json()["dms"],
        json!([{"group_id": gid, "username": "alice", "usernames": ["alice"], "closed": false, "e2e": false,
            "last_read_id": 0, "unread": 0, "mentions": 0}])
    );
    assert_eq!(
        a.json("POST", "/api/dm", &json!({"username": "nobody"}))
            .status,
        404
    );
    assert_eq!(
        a.json("POST", "/api/dm", &json!({"username": "alice"}))
            .status,
        400
    );
    assert_eq!(
        a.json("POST", "/api/dm", &json!({"user": "bob"})).status,
        400
    );
    // Third parties cannot join or read it.
    let mut eve = user(&s, "eve");
    assert_eq!(
        eve.json("POST", &format!("/api/groups/{gid}/join"), &Value::Null)
            .status,
        404
    );
    assert_eq!(
        try_connect(&eve, &format!("/ws/chat/{gid}"), None).err(),
        Some(404),
        "a DM is private: to others it does not exist"
    );
    // Writing while bob has no socket on it notifies him; once he is in, not.
    let (mut wa, _) = open_group(&a, gid);
    send_text(&mut wa, "psst", "p");
    let note = expect(&mut nb, "dm");
    assert_eq!(note["from"], "alice");
    let (mut wb, _) = open_group(&b, gid);
    send_text(&mut wa, "you there?", "q");
    assert_eq!(expect(&mut wb, "message")["content"], "you there?");
    assert!(wait_for(&mut nb, Duration::from_millis(500), |v| v["type"] == "dm").is_none());
}

#[test]
fn new_group_is_announced() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let b = user(&s, "bob");
    let mut nb = connect(&b, "/ws");
    expect(&mut nb, "online");
    let id = create_group(&mut a, "fresh");
    let g = expect(&mut nb, "new_group");
    assert_eq!(g["group"]["id"], id);
    assert_eq!(g["group"]["name"], "fresh");
    assert_eq!(g["group"]["member"], false);
    // DMs are not announced as groups. The DM must really be created (bob
    // hears of it on the same socket), or there is nothing to announce.
    let r = a.json("POST", "/api/dm", &json!({"username": "bob"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let dm = r.json()["group_id"].as_i64().expect("DM group_id");
    let mut before_note = Vec::new();
    let note = loop {
        match next(&mut nb, T) {
            Some(v) if v["type"] == "dm" => break v,
            Some(v) => before_note.push(v),
            None => panic!("bob never heard of the DM; got {before_note:?}"),
        }
    };
    assert_eq!(note["group_id"], dm);
    assert!(
        !before_note.iter().any(|v| v["type"] == "new_group"),
        "{before_note:?}"
    );
    assert!(
        wait_for(&mut nb, Duration::from_millis(300), |v| v["type"]
            == "new_group")
        .is_none()
    );
}

#[test]
fn hundred_sockets_of_one_user() {
    let s = Server::start(&["--socket-rate", "0"]);
    let mut a = user(&s, "alice");
    let id = create_group(&mut a, "many");
    let mut socks: Vec<Ws> = (0..100).map(|_| open_group(&a, id).0).collect();
    send_text(&mut socks[0], "to all tabs", "x");
    for (i, ws) in socks.iter_mut().enumerate() {
        let m = wait_for(ws, T, |v| v["type"] == "message")
            .unwrap_or_else(|| panic!("socket {i} missed it"));
        assert_eq!(m["content"], "to all tabs");
    }
    assert_eq!(
        a.get(&format!("/api/groups/{id}/online")).json()["users"],
        json!([{"username": "alice", "ips": ["127.0.0.1"]}])
    );
}

#[test]
fn slow_reader_is_evicted_and_others_get_everything() {
    let s = Server::start(&["--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    let mut fast = user(&s, "fast");
    let mut slow = user(&s, "slow");
    let id = create_group(&mut a, "firehose");
    join(&mut fast, id);
    join(&mut slow, id);
    let (mut ws_slow, _) = open_group(&slow, id);
    let (mut ws_fast, _) = open_group(&fast, id);
    let (mut wa, _) = open_group(&a, id);
    let _ = drain(&mut wa, Duration::from_millis(200));
    // The fast reader runs on its own thread; the slow one never reads.
    let n = 5000;
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        while got.len() < n {
            match next(&mut ws_fast, T) {
                Some(v) if v["type"] == "message" => got.push(v["id"].as_i64().unwrap()),
                Some(_) => {}
                None => break,
            }
        }
        got
    });
    let body = "x".repeat(3900);
    for i in 0..n {
        send(
            &mut wa,
            json!({"type": "message", "content": body, "client_id": i.to_string()}),
        );
        if i % 100 == 99 {
            // Keep our own socket drained so we are not the slow one.
            while let Some(v) = next(&mut wa, Duration::from_millis(1)) {
                let _ = v;
            }
        }
    }
    let got = reader.join().unwrap();
    assert_eq!(got.len(), n, "the fast reader got every message");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order");
    let online = a.get(&format!("/api/groups/{id}/online")).json();
    assert!(
        !usernames(&online["users"]).contains(&"slow".to_string()),
        "slow consumer evicted: {online}"
    );
    // What the slow client finally reads ends with a 1008 close (or a cut connection).
    let code = close_code(&mut ws_slow, Duration::from_secs(20));
    assert!(matches!(code, Some(1008) | Some(1006)), "{code:?}");
}

#[test]
fn messages_are_rate_limited() {
    let s = Server::start(&["--msg-rate", "1", "--msg-burst", "3"]);
    let mut a = user(&s, "alice");
    let id = create_group(&mut a, "slowly");
    // Creating the group took a token from the same bucket; let it refill.
    std::thread::sleep(Duration::from_millis(1100));
    let (mut ws, _) = open_group(&a, id);
    for i in 0..3 {
        send_text(&mut ws, "ok", &i.to_string());
        expect(&mut ws, "ack");
    }
    send_text(&mut ws, "too fast", "4");
    let e = expect(&mut ws, "error");
    assert_eq!(e["code"], "rate_limited");
    let wait = e["retry_after_ms"].as_u64().unwrap();
    assert!(wait > 0 && wait <= 1000, "{wait}");
    std::thread::sleep(Duration::from_millis(wait + 50));
    send_text(&mut ws, "patient", "5");
    assert_eq!(expect(&mut ws, "ack")["client_id"], "5");
}

#[test]
fn bad_frames_get_errors_and_the_socket_stays_usable() {
    let s = Server::start(&["--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    let id = create_group(&mut a, "robust");
    let r = a.json(
        "POST",
        "/api/groups",
        &json!({"name": "secret", "e2e": true}),
    );
    let e2e = r.json()["id"].as_i64().unwrap();
    let (mut ws, _) = open_group(&a, id);
    let _ = drain(&mut ws, Duration::from_millis(200));
    let cases: Vec<(Message, &str)> = vec![
        (Message::text("not json"), "bad_request"),
        (Message::text("[1,2]"), "bad_request"),
        (Message::text("{}"), "bad_request"),
        (Message::text(r#"{"type":"dance"}"#), "bad_request"),
        (Message::text(r#"{"type":5}"#), "bad_request"),
        (Message::text(r#"{"type":"message"}"#), "bad_request"),
        (
            Message::text(r#"{"type":"message","content":42}"#),
            "bad_request",
        ),
        (
            Message::text(r#"{"type":"message","content":""}"#),
            "bad_request",
        ),
        (
            Message::text(r#"{"type":"message","content":"hi","client_id":7}"#),
            "bad_request",
        ),
        (
            Message::text(json!({"type":"message","content":"x".repeat(4001)}).to_string()),
            "too_large",
        ),
        (
            Message::text(
                r#"{"type":"message","envelope":{"iv":"AA","ciphertext":"AA","keys":{"a":"AA"}}}"#,
            ),
            "bad_request",
        ),
        (Message::binary(vec![1, 2, 3]), "bad_request"),
    ];
    for (msg, code) in cases {
        let shown = format!("{msg:?}").chars().take(80).collect::<String>();
        ws.send(msg).unwrap();
        let e = expect(&mut ws, "error");
        assert_eq!(e["code"], code, "{shown}");
        assert!(e["message"].as_str().unwrap().len() > 3);
    }
    send_text(&mut ws, "still here", "ok");
    assert_eq!(expect(&mut ws, "ack")["client_id"], "ok");
    // Plaintext in an E2E group is refused and never stored.
    let (mut we, _) = open_group(&a, e2e);
    send_text(&mut we, "plaintext secret", "p");
    assert_eq!(expect(&mut we, "error")["code"], "bad_request");
    assert_eq!(
        a.get(&format!("/api/groups/{e2e}/messages")).json()["messages"],
        json!([])
    );
    // 4000 characters (multi-byte) are fine; a frame over 64 KiB closes with 1009.
    send_text(&mut ws, &"é".repeat(4000), "big-ok");
    assert_eq!(expect(&mut ws, "ack")["client_id"], "big-ok");
    let _ = ws.send(Message::text("y".repeat(70 * 1024)));
    assert_eq!(close_code(&mut ws, T), Some(1009));
    let hist = a.get(&format!("/api/groups/{id}/messages")).json();
    assert!(
        hist["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["content"].as_str().unwrap().chars().count() <= 4000)
    );
    // The server is still fine.
    assert_eq!(a.get("/healthz").status, 200);
}

#[test]
fn a_resent_client_id_is_acked_again_not_stored_twice() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let id = create_group(&mut a, "once");
    let (mut ws, _) = open_group(&a, id);
    send_text(&mut ws, "only once", "same-id");
    let first = expect(&mut ws, "ack")["id"].as_i64().unwrap();
    drop(ws);
    // The client reconnects and resends because it never saw the ack.
    let (mut ws, _) = open_group(&a, id);
    send_text(&mut ws, "only once", "same-id");
    assert_eq!(expect(&mut ws, "ack")["id"], first);
    let hist = a.get(&format!("/api/groups/{id}/messages")).json();
    assert_eq!(hist["messages"].as_array().unwrap().len(), 1);
    // Errors answering a message name its client_id.
    send(
        &mut ws,
        json!({"type": "message", "content": "", "client_id": "bad-1"}),
    );
    let e = expect(&mut ws, "error");
    assert_eq!(
        (e["code"].as_str(), e["client_id"].as_str()),
        (Some("bad_request"), Some("bad-1"))
    );
}

#[test]
fn members_elsewhere_hear_of_activity_for_unread_counts() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let c = user(&s, "carol");
    let id = create_group(&mut a, "busy");
    join(&mut b, id);
    let mut nb = connect(&b, "/ws");
    expect(&mut nb, "online");
    let mut nc = connect(&c, "/ws");
    expect(&mut nc, "online");
    let (mut wa, _) = open_group(&a, id);
    send_text(&mut wa, "news", "n1");
    let note = wait_for(&mut nb, T, |v| v["type"] == "activity").expect("activity for bob");
    assert_eq!(
        (note["group_id"].as_i64(), note["from"].as_str()),
        (Some(id), Some("alice"))
    );
    assert!(
        wait_for(&mut nc, Duration::from_millis(300), |v| v["type"]
            == "activity")
        .is_none(),
        "not for non-members"
    );
    // Once bob has the group open, he gets the message itself instead.
    let (mut wb, _) = open_group(&b, id);
    send_text(&mut wa, "more", "n2");
    assert_eq!(expect(&mut wb, "message")["content"], "more");
    assert!(
        wait_for(&mut nb, Duration::from_millis(300), |v| v["type"]
            == "activity")
        .is_none()
    );
    // After leaving, no more notices.
    drop(wb);
    b.json("POST", &format!("/api/groups/{id}/leave"), &Value::Null);
    send_text(&mut wa, "after", "n3");
    expect(&mut wa, "ack");
    assert!(
        wait_for(&mut nb, Duration::from_millis(300), |v| v["type"]
            == "activity")
        .is_none()
    );
}

/// Opcodes of the server's frames in `bytes` (unmasked, as a server sends).
fn frame_opcodes(mut bytes: &[u8]) -> Vec<u8> {
    let mut ops = Vec::new();
    while bytes.len() >= 2 {
        let (op, len7) = (bytes[0] & 0x0f, (bytes[1] & 0x7f) as usize);
        let (head, len) = match len7 {
            126 if bytes.len() >= 4 => (4, u16::from_be_bytes([bytes[2], bytes[3]]) as usize),
            127 if bytes.len() >= 10 => (
                10,
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
            ),
            126 | 127 => break,
            n => (2, n),
        };
        if bytes.len() < head + len {
            break;
        }
        ops.push(op);
        bytes = &bytes[head + len..];
    }
    ops
}

#[test]
fn nothing_follows_the_close_a_client_asked_for() {
    use std::io::{Read, Write};
    let s = Server::start(&["--msg-rate", "0", "--socket-rate", "0"]);
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let id = create_group(&mut a, "busy");
    join(&mut b, id);
    // alice keeps the room busy while bob opens sockets and closes them.
    let (mut wa, _) = open_group(&a, id);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                send(
                    &mut wa,
                    json!({"type": "message", "content": "busy", "client_id": i.to_string()}),
                );
                while next(&mut wa, Duration::from_millis(1)).is_some() {}
                i += 1;
            }
        })
    };
    // A masked close frame, code 1000 (mask 0: the payload goes as is).
    let close = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
    for round in 0..150 {
        let (mut sock, mut got) = upgrade_raw(&b, &format!("/ws/chat/{id}"), None, &[])
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        sock.write_all(&close).unwrap();
        // Everything up to the server closing the connection.
        let _ = sock.read_to_end(&mut got);
        let ops = frame_opcodes(&got);
        let at = ops.iter().position(|&op| op == 0x8);
        assert!(at.is_some(), "round {round}: no close frame in {ops:?}");
        assert_eq!(
            at,
            Some(ops.len() - 1),
            "round {round}: frames after the close: {ops:?}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flood.join().unwrap();
}

/// Applies a frame to a socket's view of a room's presence: its hello's
/// `online` list, replaced by every presence frame it reads.
fn update_view(view: &mut Vec<String>, v: &Value) {
    if v["type"] == "presence" {
        *view = usernames(&v["users"]);
    }
}

/// Reads frames into `view` until it is `want` or `until` passes.
fn read_until_view(ws: &mut Ws, view: &mut Vec<String>, want: &[String], until: Instant) {
    while view != want {
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            return;
        };
        match next(ws, left) {
            Some(v) => update_view(view, &v),
            None => return,
        }
    }
}

/// Applies the frames that have already arrived.
fn apply_arrived(ws: &mut Ws, view: &mut Vec<String>) {
    for v in drain(ws, Duration::from_millis(20)) {
        update_view(view, &v);
    }
}

#[test]
fn after_a_join_storm_every_socket_ends_with_the_full_presence_list() {
    // Presence lists still waiting to be sent are replaced by newer ones;
    // whatever was skipped, every socket's final view (its hello's list,
    // updated by each presence frame it got) is complete.
    let n = 60;
    let s = Server::start(&["--register-rate", "0"]);
    let mut owner = user(&s, "owner");
    let id = create_group(&mut owner, "storm");
    let members: Vec<Client> = (0..n)
        .map(|i| {
            let mut c = user(&s, &format!("member{i}"));
            join(&mut c, id);
            c
        })
        .collect();
    let mut everyone: Vec<String> = (0..n).map(|i| format!("member{i}")).collect();
    everyone.push("owner".into());
    everyone.sort();
    let (observer, hello) = open_group(&owner, id);
    assert_eq!(usernames(&hello["online"]), ["owner"]);
    let opened: Vec<(Ws, Value)> = std::thread::scope(|scope| {
        let opening: Vec<_> = members
            .chunks(n / 4)
            .map(|chunk| {
                scope.spawn(move || chunk.iter().map(|c| open_group(c, id)).collect::<Vec<_>>())
            })
            .collect();
        opening
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    // (socket, whose it is, its view), the observer first.
    let mut socks: Vec<(Ws, String, Vec<String>)> = std::iter::once((observer, hello))
        .chain(opened)
        .map(|(ws, hello)| {
            let who = hello["you"]["username"].as_str().unwrap().to_string();
            (ws, who, usernames(&hello["online"]))
        })
        .collect();
    let until = Instant::now() + T;
    for (ws, _, view) in &mut socks {
        read_until_view(ws, view, &everyone, until);
    }
    // Whatever is still on its way arrives; a later, shorter list would
    // undo a complete one.
    std::thread::sleep(Duration::from_millis(300));
    for (ws, who, view) in &mut socks {
        apply_arrived(ws, view);
        assert_eq!(
            *view,
            everyone,
            "{who}'s socket ends with {} of {} users",
            view.len(),
            everyone.len()
        );
    }
    // And when they all leave at once, the observer ends up alone.
    let (mut observer, _, mut view) = socks.swap_remove(0);
    drop(socks);
    let alone = ["owner".to_string()];
    read_until_view(&mut observer, &mut view, &alone, Instant::now() + T);
    std::thread::sleep(Duration::from_millis(300));
    apply_arrived(&mut observer, &mut view);
    assert_eq!(view, alone, "the observer's view after everyone left");
}
