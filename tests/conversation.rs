//! The conversation features, through the real server: replies, mentions
//! and their notices, reactions, read positions shared by a user's
//! sockets, search (and every shape of bad query), group DMs, and a
//! reconnect that replays edits, deletions and reactions.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::ws::*;
use common::*;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(3);
const QUIET: Duration = Duration::from_millis(400);

fn server() -> Server {
    Server::without_rate_limits(&[])
}

/// Posts `content` (with extra fields) on `ws` and returns the stored id.
fn post(ws: &mut Ws, extra: Value) -> i64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    let cid = format!("c{}", N.fetch_add(1, Ordering::Relaxed));
    let mut frame = json!({"type": "message", "client_id": cid});
    for (k, v) in extra.as_object().unwrap() {
        frame[k] = v.clone();
    }
    send(ws, frame);
    let ack = wait_for(ws, T, |v| v["type"] == "ack" || v["type"] == "error").unwrap();
    assert_eq!(ack["type"], "ack", "{ack}");
    ack["id"].as_i64().unwrap()
}

fn say(ws: &mut Ws, content: &str) -> i64 {
    post(ws, json!({"content": content}))
}

/// The error frame a refused message gets.
fn refused(ws: &mut Ws, frame: Value) -> Value {
    send(ws, frame);
    let e = wait_for(ws, T, |v| v["type"] == "error" || v["type"] == "ack").unwrap();
    assert_eq!(e["type"], "error", "{e}");
    e
}

/// A `/ws` socket, once the server lists it (its first `online` frame).
fn notices(c: &Client) -> Ws {
    let mut ws = connect(c, "/ws");
    expect(&mut ws, "online");
    ws
}

/// Waits until the search index has everything stored so far: the
/// indexer takes messages in id order, with the edits and deletions
/// queued before them, so once a fresh marker posted on `ws` is found,
/// everything before it is in.
fn caught_up(ws: &mut Ws, c: &mut Client) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let marker = format!("zzmarker{}", N.fetch_add(1, Ordering::Relaxed));
    say(ws, &marker);
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = c.get(&format!("/api/search?q={marker}"));
        assert_eq!(r.status, 200, "{}", r.text());
        if !r.json()["results"].as_array().unwrap().is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "the index never caught up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn history(c: &mut Client, g: i64) -> Vec<Value> {
    let r = c.get(&format!("/api/groups/{g}/messages?limit=100"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["messages"].as_array().unwrap().clone()
}

fn group_entry(c: &mut Client, g: i64) -> Value {
    let r = c.get("/api/groups");
    r.json()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == g)
        .cloned()
        .unwrap()
}

#[test]
fn replies_quote_a_message_of_the_same_group_and_nothing_else() {
    let s = server();
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let g = create_group(&mut a, "replies");
    join(&mut b, g);
    let other = create_group(&mut b, "elsewhere");
    let (mut wa, _) = open_group(&a, g);
    let (mut wo, _) = open_group(&b, other);
    let long = format!("first line\n{}", "x".repeat(200));
    let original = say(&mut wa, &long);
    let foreign = say(&mut wo, "not yours");

    let reply = post(&mut wa, json!({"content": "answer", "reply_to": original}));
    let m = wait_for(&mut wa, T, |v| v["type"] == "message" && v["id"] == reply).unwrap();
    assert_eq!(m["reply_to"]["id"], original);
    assert_eq!(m["reply_to"]["author"], "alice");
    let excerpt = m["reply_to"]["excerpt"].as_str().unwrap();
    assert!(excerpt.starts_with("first line x"), "{excerpt}");
    assert_eq!(excerpt.chars().count(), 100);
    assert_eq!(m["reactions"], json!({}));
    assert_eq!(m["mentions"], json!([]));

    let before = history(&mut a, g).len();
    for bad in [
        json!(foreign),
        json!(999_999),
        json!(-1),
        json!("1"),
        json!(1.5),
    ] {
        let e = refused(
            &mut wa,
            json!({"type": "message", "content": "x", "reply_to": bad}),
        );
        assert_eq!(e["code"], "bad_request", "{bad}: {e}");
    }
    assert_eq!(history(&mut a, g).len(), before, "nothing stored");

    // The original deleted: the reply stays, its quote has no text.
    let r = a.json("DELETE", &format!("/api/messages/{original}"), &json!({}));
    assert_eq!(r.status, 204);
    let h = history(&mut a, g);
    let kept = h.iter().find(|m| m["id"] == reply).unwrap();
    assert_eq!(kept["reply_to"]["id"], original);
    assert!(kept["reply_to"]["excerpt"].is_null());
    // ... and a deleted message cannot be answered.
    let e = refused(
        &mut wa,
        json!({"type": "message", "content": "x", "reply_to": original}),
    );
    assert_eq!(e["code"], "bad_request");
}

#[test]
fn mentions_notify_members_elsewhere_and_count_apart_from_unread() {
    let s = server();
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let mut c = user(&s, "carol");
    let _outsider = user(&s, "dave");
    let g = create_group(&mut a, "mentions");
    join(&mut b, g);
    join(&mut c, g);
    let mut bob_ws = notices(&b);
    let (mut carol_room, _) = open_group(&c, g);
    let mut carol_ws = notices(&c);
    let (mut wa, _) = open_group(&a, g);

    let id = say(
        &mut wa,
        "hey @bob and @carol, not @dave or bob@example.com; @alice",
    );
    let m = wait_for(&mut wa, T, |v| v["type"] == "message" && v["id"] == id).unwrap();
    assert_eq!(m["mentions"], json!(["bob", "carol"]));
    let note = wait_for(&mut bob_ws, T, |v| v["type"] == "mention").expect("bob is called");
    assert_eq!(
        note,
        json!({"type": "mention", "group_id": g, "message_id": id, "from": "alice"})
    );
    // Carol has the group open: she sees the message there, no notice.
    wait_for(&mut carol_room, T, |v| {
        v["type"] == "message" && v["id"] == id
    })
    .unwrap();
    assert!(
        wait_for(&mut carol_ws, QUIET, |v| v["type"] == "mention").is_none(),
        "no notice for a member on the room"
    );
    say(&mut wa, "no names here");
    let entry = group_entry(&mut b, g);
    assert_eq!(
        (entry["unread"].as_i64(), entry["mentions"].as_i64()),
        (Some(2), Some(1))
    );
    let own = group_entry(&mut a, g);
    assert_eq!(own["unread"], 0, "your own messages are not unread");

    // A listed mention must be a member's.
    let e = refused(
        &mut wa,
        json!({"type": "message", "content": "x", "mentions": ["dave"]}),
    );
    assert_eq!(e["code"], "bad_request");
    assert!(e["message"].as_str().unwrap().contains("dave"));
    for bad in [json!("bob"), json!([1]), json!(vec!["bob"; 51])] {
        let e = refused(
            &mut wa,
            json!({"type": "message", "content": "x", "mentions": bad}),
        );
        assert_eq!(e["code"], "bad_request");
    }

    // E2E: the sender lists them; the server never reads the content.
    let r = a.json(
        "POST",
        "/api/groups",
        &json!({"name": "sealed", "e2e": true}),
    );
    let sealed = r.json()["id"].as_i64().unwrap();
    join(&mut b, sealed);
    let (mut we, _) = open_group(&a, sealed);
    let dev = common::e2e::device(&mut a, common::e2e::KEY_A);
    let envelope = common::e2e::signed(
        json!({"iv": "AAECAwQFBgcICQoL", "ciphertext": "c2VjcmV0IGJ5dGVzLCBlbm91Z2ggZm9yIGEgdGFn",
            "keys": {"ab".repeat(32): "S".repeat(344)}}),
        &dev,
    );
    let id = post(&mut we, json!({"envelope": envelope, "mentions": ["bob"]}));
    let note = wait_for(&mut bob_ws, T, |v| v["type"] == "mention").unwrap();
    assert_eq!(
        (note["group_id"].as_i64(), note["message_id"].as_i64()),
        (Some(sealed), Some(id))
    );
    let e = refused(
        &mut we,
        json!({"type": "message", "envelope": envelope, "mentions": ["carol"]}),
    );
    assert_eq!(e["code"], "bad_request", "carol is not in the E2E group");
}

#[test]
fn reactions_are_one_emoji_toggled_per_user_and_live_in_the_room() {
    let s = server();
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let mut out = user(&s, "eve");
    let g = create_group(&mut a, "reactions");
    join(&mut b, g);
    let (mut wa, _) = open_group(&a, g);
    let (mut wb, _) = open_group(&b, g);
    let id = say(&mut wa, "react to me");
    let thumbs = "/reactions/%F0%9F%91%8D";
    let path = |emoji: &str| format!("/api/messages/{id}/reactions/{emoji}");

    let r = a.json("PUT", &format!("/api/messages/{id}{thumbs}"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"id": id, "reactions": {"👍": ["alice"]}}));
    let f = wait_for(&mut wb, T, |v| v["type"] == "reactions").unwrap();
    assert_eq!(
        f,
        json!({"type": "reactions", "id": id, "reactions": {"👍": ["alice"]}})
    );
    // The same twice is one reaction; bob's adds his name.
    a.json("PUT", &format!("/api/messages/{id}{thumbs}"), &json!({}));
    let r = b.json("PUT", &format!("/api/messages/{id}{thumbs}"), &json!({}));
    assert_eq!(r.json()["reactions"], json!({"👍": ["alice", "bob"]}));
    // "❤" and "❤️" are one reaction.
    let r = b.json("PUT", &path("%E2%9D%A4"), &json!({}));
    assert_eq!(r.json()["reactions"]["❤️"], json!(["bob"]), "{}", r.text());
    let r = b.json("DELETE", &path("%E2%9D%A4%EF%B8%8F"), &json!({}));
    assert_eq!(r.json()["reactions"], json!({"👍": ["alice", "bob"]}));
    let r = a.json("DELETE", &format!("/api/messages/{id}{thumbs}"), &json!({}));
    assert_eq!(r.json()["reactions"], json!({"👍": ["bob"]}));
    let h = history(&mut a, g);
    assert_eq!(h[0]["reactions"], json!({"👍": ["bob"]}));

    for bad in [
        "a",
        "%F0%9F%91%8D%F0%9F%91%8D",
        "%3Cb%3E",
        ":+1:",
        "%00",
        "%E2%80%8D",
        &"%F0%9F%91%8D".repeat(40),
    ] {
        let r = a.json("PUT", &path(bad), &json!({}));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    // Twenty different ones, not twenty-one.
    let many = [
        "😀", "😂", "😍", "😎", "😢", "😡", "👏", "🙏", "🔥", "🎉", "💯", "✅", "❌", "👀", "🚀",
        "🤔", "🙌", "💡", "🍕", "☕",
    ];
    for e in &many[..19] {
        let r = a.json("PUT", &path(&urlencode(e)), &json!({}));
        assert_eq!(r.status, 200, "{e}: {}", r.text());
    }
    let r = a.json("PUT", &path(&urlencode("🍺")), &json!({}));
    assert_eq!(r.status, 400, "a 21st distinct emoji");
    let r = b.json("PUT", &path(&urlencode("😀")), &json!({}));
    assert_eq!(r.status, 200, "an existing one still takes people");

    // Outsiders: no such message; deleted and system lines neither.
    let r = out.json("PUT", &format!("/api/messages/{id}{thumbs}"), &json!({}));
    assert_eq!(r.status, 404, "{}", r.text());
    let r = a.json("PUT", &format!("/api/messages/999999{thumbs}"), &json!({}));
    assert_eq!(r.status, 404);
    a.json("DELETE", &format!("/api/messages/{id}"), &json!({}));
    let r = b.json("PUT", &format!("/api/messages/{id}{thumbs}"), &json!({}));
    assert_eq!(r.status, 404);
    // Without the CSRF header: refused.
    let r = b.request("PUT", &path("%F0%9F%91%8D"), &[], b"");
    assert_eq!(r.status, 403);
}

#[test]
fn read_positions_move_forward_only_and_reach_the_users_other_sockets() {
    let s = server();
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let g = create_group(&mut a, "reading");
    let (mut wa, _) = open_group(&a, g);
    let old = say(&mut wa, "before bob came");
    join(&mut b, g);
    let entry = group_entry(&mut b, g);
    assert_eq!(
        (entry["unread"].as_i64(), entry["last_read_id"].as_i64()),
        (Some(0), Some(old))
    );
    let ids: Vec<i64> = (0..3).map(|i| say(&mut wa, &format!("news {i}"))).collect();
    assert_eq!(group_entry(&mut b, g)["unread"], 3);

    // Bob's second device: a `/ws` and the room.
    let mut phone = b.clone();
    let mut phone_ws = notices(&phone);
    let (mut phone_room, hello) = open_group(&phone, g);
    assert_eq!(hello["group"]["unread"], 3);
    let r = b.json(
        "PUT",
        &format!("/api/groups/{g}/read"),
        &json!({"last_read_id": ids[1]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["last_read_id"], ids[1]);
    assert_eq!(r.json()["unread"], 1);
    for ws in [&mut phone_ws, &mut phone_room] {
        let f = wait_for(ws, T, |v| v["type"] == "read").unwrap();
        assert_eq!(
            (f["group_id"].as_i64(), f["last_read_id"].as_i64()),
            (Some(g), Some(ids[1]))
        );
    }
    // Never back; never past the newest; nothing pushed when unmoved.
    let r = phone.json(
        "PUT",
        &format!("/api/groups/{g}/read"),
        &json!({"last_read_id": ids[0]}),
    );
    assert_eq!(r.json()["last_read_id"], ids[1]);
    assert!(wait_for(&mut phone_ws, QUIET, |v| v["type"] == "read").is_none());
    let r = b.json(
        "PUT",
        &format!("/api/groups/{g}/read"),
        &json!({"last_read_id": 1_000_000}),
    );
    assert_eq!(r.json()["last_read_id"], ids[2]);
    assert_eq!(r.json()["unread"], 0);
    for bad in [
        json!({}),
        json!({"last_read_id": "5"}),
        json!({"last_read_id": -1}),
        json!([]),
    ] {
        let r = b.json("PUT", &format!("/api/groups/{g}/read"), &bad);
        assert_eq!(r.status, 400, "{bad}");
    }
    let mut eve = user(&s, "eve");
    let r = eve.json(
        "PUT",
        &format!("/api/groups/{g}/read"),
        &json!({"last_read_id": 1}),
    );
    assert_eq!(r.status, 403);
    let r = eve.json("PUT", "/api/groups/99999/read", &json!({"last_read_id": 1}));
    assert_eq!(r.status, 404);
}

#[test]
fn search_finds_prefixes_and_phrases_in_your_plaintext_conversations_only() {
    let s = server();
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let g = create_group(&mut a, "ops");
    join(&mut b, g);
    let secret = create_group(&mut b, "bobs-own");
    let (mut wa, _) = open_group(&a, g);
    let (mut wb, _) = open_group(&b, secret);
    let deployed = say(&mut wa, "We deployed the green build on Friday");
    let later = say(&mut wa, "deployment of the red build failed");
    say(&mut wa, "green light, build later");
    say(&mut wb, "deployed in bob's own group");
    let linked = say(&mut wa, "Notes at example.com/report.pdf, by Émile");
    let gone = say(&mut wa, "deploying something to delete");
    a.json("DELETE", &format!("/api/messages/{gone}"), &json!({}));
    caught_up(&mut wa, &mut a);
    caught_up(&mut wb, &mut b);

    let found = |c: &mut Client, q: &str| -> Vec<i64> {
        let r = c.get(&format!("/api/search?q={}", urlencode(q)));
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        r.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        found(&mut a, "deplo"),
        [later, deployed],
        "prefix, newest first, not deleted, not bob's group"
    );
    assert_eq!(found(&mut a, "\"green build\""), [deployed]);
    // Words are split at punctuation on both engines, and case is folded
    // beyond ASCII.
    assert_eq!(found(&mut a, "report"), [linked]);
    assert_eq!(found(&mut a, "example.com"), [linked]);
    assert_eq!(found(&mut a, "émile"), [linked]);
    assert_eq!(found(&mut a, "GREEN friday"), [deployed]);
    assert_eq!(found(&mut b, "deplo").len(), 3, "bob sees his group too");
    let r = a.get(&format!("/api/search?q=deplo&group_id={g}"));
    let first = &r.json()["results"][0];
    assert_eq!(
        (first["group_id"].as_i64(), first["author"].as_str()),
        (Some(g), Some("alice"))
    );
    // Pages.
    let r = a.get("/api/search?q=build&limit=1");
    assert_eq!(r.json()["has_more"], true);
    let top = r.json()["results"][0]["id"].as_i64().unwrap();
    let r = a.get(&format!("/api/search?q=build&limit=5&before={top}"));
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 2);
    assert_eq!(r.json()["has_more"], false);
    // Edits are searched as they read now.
    a.json(
        "PATCH",
        &format!("/api/messages/{deployed}"),
        &json!({"content": "rolled back"}),
    );
    caught_up(&mut wa, &mut a);
    assert_eq!(found(&mut a, "rolled"), [deployed]);
    assert!(!found(&mut a, "friday").contains(&deployed));

    // FTS5 syntax is text; it never reaches the index as syntax.
    let syntax = say(&mut wa, "NOT green AND near OR content: the ^green (build)");
    caught_up(&mut wa, &mut a);
    for q in [
        "NEAR(green build)",
        "green AND",
        "OR",
        "-green",
        "green*",
        "content:green",
        "^green",
        "(green",
        "green)",
        "{green}",
        "'green'",
        "\"\"green",
        "NOT green",
        "\"AND\"",
    ] {
        assert_eq!(found(&mut a, q).first(), Some(&syntax), "{q}");
    }
    // Malformed queries: a 400 that says why, never a 500.
    for q in [
        "",
        "   ",
        "*",
        "\"unclosed",
        "a\u{0}b",
        "--",
        &"x".repeat(10_000),
    ] {
        let r = a.get(&format!("/api/search?q={}", urlencode(q)));
        assert_eq!(r.status, 400, "{q:?}: {}", r.text());
        assert!(r.json()["message"].as_str().unwrap().starts_with("Search:"));
    }
    for path in [
        "/api/search",
        "/api/search?q=x&limit=0",
        "/api/search?q=x&limit=51",
        "/api/search?q=x&before=abc",
        "/api/search?q=x&group_id=-1",
    ] {
        assert_eq!(a.get(path).status, 400, "{path}");
    }
    let r = a.get(&format!("/api/search?q=deplo&group_id={secret}"));
    assert_eq!(r.status, 403, "not alice's group");
    let r = Client::new(s.addr).get("/api/search?q=x");
    assert_eq!(r.status, 401);
}

#[test]
fn group_dms_are_one_per_set_of_people_and_named_by_them() {
    let s = server();
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let mut c = user(&s, "carol");
    let mut d = user(&s, "dave");
    let mut bob_ws = notices(&b);
    let r = a.json("POST", "/api/dm", &json!({"usernames": ["carol", "bob"]}));
    assert_eq!(r.status, 200, "{}", r.text());
    let g = r.json()["group_id"].as_i64().unwrap();
    let note = wait_for(&mut bob_ws, T, |v| v["type"] == "dm").unwrap();
    assert_eq!(
        (note["group_id"].as_i64(), note["from"].as_str()),
        (Some(g), Some("alice"))
    );
    // The same set, in any order and from any of them, is the same room.
    let r = c.json("POST", "/api/dm", &json!({"usernames": ["bob", "alice"]}));
    assert_eq!(r.json()["group_id"], g);
    let r = a.json("POST", "/api/dm", &json!({"usernames": ["bob"]}));
    let pair = r.json()["group_id"].as_i64().unwrap();
    assert_ne!(pair, g);
    let r = a.json("POST", "/api/dm", &json!({"username": "bob"}));
    assert_eq!(
        r.json()["group_id"],
        pair,
        "the one-name form keeps working"
    );

    let r = b.get("/api/dms");
    let dms = r.json()["dms"].as_array().unwrap().clone();
    let entry = dms.iter().find(|e| e["group_id"] == g).unwrap();
    assert_eq!(entry["usernames"], json!(["alice", "carol"]));
    assert_eq!(entry["username"], "alice, carol");
    assert_eq!(entry["unread"], 0);
    let one = dms.iter().find(|e| e["group_id"] == pair).unwrap();
    assert_eq!(one["usernames"], json!(["alice"]));
    assert_eq!(one["username"], "alice");

    let (mut wa, _) = open_group(&a, g);
    let (mut wc, _) = open_group(&c, g);
    let id = say(&mut wa, "all three of us");
    wait_for(&mut wc, T, |v| v["type"] == "message" && v["id"] == id).unwrap();
    let note = wait_for(&mut bob_ws, T, |v| v["type"] == "dm" && v["group_id"] == g).unwrap();
    assert_eq!(note["from"], "alice");
    assert_eq!(
        try_connect(&d, &format!("/ws/chat/{g}"), None).err(),
        Some(404)
    );

    let nine: Vec<String> = (0..9).map(|i| format!("user{i}")).collect();
    for n in &nine {
        user(&s, n);
    }
    let r = a.json("POST", "/api/dm", &json!({"usernames": nine}));
    assert_eq!(r.status, 200, "ten people in all");
    let mut ten = nine.clone();
    ten.push("bob".into());
    for (bad, status) in [
        (json!({"usernames": ten}), 400),
        (json!({"usernames": []}), 400),
        (json!({"usernames": ["bob", "bob"]}), 400),
        (json!({"usernames": ["bob", "alice"]}), 400),
        (json!({"usernames": ["bob", 5]}), 400),
        (json!({"usernames": "bob"}), 400),
        (json!({"usernames": ["bob"], "username": "carol"}), 400),
        (json!({"usernames": ["bob", "nobody"]}), 404),
    ] {
        let r = a.json("POST", "/api/dm", &bad);
        assert_eq!(r.status, status, "{bad}: {}", r.text());
    }

    // An account deleted: the pair's DM closes, the group DM goes on.
    drop(wc);
    ok(admin(&s.data, &["user", "delete", "carol"], ""));
    let r = a.json("POST", "/api/dm", &json!({"usernames": ["carol"]}));
    assert_eq!(r.status, 404);
    let id = say(&mut wa, "still here");
    assert!(id > 0);
    let r = a.get("/api/dms");
    let entry = r.json()["dms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["group_id"] == g)
        .cloned()
        .unwrap();
    assert_eq!(entry["usernames"], json!(["bob"]));
    assert_eq!(entry["closed"], false);
    let _ = &mut d;
}

#[test]
fn a_reconnect_replays_edits_deletions_and_reactions_since_it_left() {
    let s = server();
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let g = create_group(&mut a, "reconnect");
    join(&mut b, g);
    let (mut wa, _) = open_group(&a, g);
    let ids: Vec<i64> = (0..4).map(|i| say(&mut wa, &format!("m{i}"))).collect();
    let (mut wb, _) = open_group(&b, g);
    let last = wait_for(&mut wb, QUIET, |_| false);
    assert!(last.is_none());
    drop(wb);
    std::thread::sleep(Duration::from_millis(20));
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    std::thread::sleep(Duration::from_millis(20));
    // While bob is away: an edit, a deletion, a reaction, a new message.
    a.json(
        "PATCH",
        &format!("/api/messages/{}", ids[0]),
        &json!({"content": "m0 fixed"}),
    );
    a.json("DELETE", &format!("/api/messages/{}", ids[1]), &json!({}));
    a.json(
        "PUT",
        &format!("/api/messages/{}/reactions/%F0%9F%8E%89", ids[2]),
        &json!({}),
    );
    let fresh = say(&mut wa, "new one");

    let path = format!("/ws/chat/{g}?after={}&since={since}", ids[3]);
    let mut wb = connect(&b, &path);
    expect(&mut wb, "hello");
    let got = drain(&mut wb, QUIET);
    let kinds: Vec<(&str, i64)> = got
        .iter()
        .map(|v| (v["type"].as_str().unwrap(), v["id"].as_i64().unwrap_or(0)))
        .filter(|(t, _)| *t != "presence" && *t != "system")
        .collect();
    assert_eq!(
        kinds,
        [
            ("message", fresh),
            ("edited", ids[0]),
            ("deleted", ids[1]),
            ("reactions", ids[2])
        ],
        "{got:?}"
    );
    let edited = got.iter().find(|v| v["type"] == "edited").unwrap();
    assert_eq!(edited["content"], "m0 fixed");
    let reactions = got.iter().find(|v| v["type"] == "reactions").unwrap();
    assert_eq!(reactions["reactions"], json!({"🎉": ["alice"]}));

    // Since after the changes: only the message.
    let now = since + 60_000;
    let mut wb = connect(&b, &format!("/ws/chat/{g}?after={}&since={now}", ids[3]));
    expect(&mut wb, "hello");
    let got = drain(&mut wb, QUIET);
    assert!(
        got.iter()
            .all(|v| !matches!(v["type"].as_str(), Some("edited" | "deleted" | "reactions")))
    );
    for bad in ["since=-1", "since=soon", "since=1.5"] {
        let r = try_connect(&b, &format!("/ws/chat/{g}?after=1&{bad}"), None);
        assert_eq!(r.err(), Some(400), "{bad}");
    }
}

#[test]
fn the_search_index_is_rebuilt_when_lost_or_stale() {
    // SQLite's FTS5 index file.
    crate::sqlite_only!();
    let dir = TempDir::new("index");
    let data = dir.path().join("data");
    let flags = ["--msg-rate", "0", "--socket-rate", "0"];
    let mut s = Server::start_in(&data, dir.path(), &flags);
    let mut a = user(&s, "alice");
    let g = create_group(&mut a, "kept");
    let (mut wa, _) = open_group(&a, g);
    let old = say(&mut wa, "an unforgettable sentence");
    caught_up(&mut wa, &mut a);
    let search = |c: &mut Client, q: &str| -> Vec<i64> {
        let r = c.get(&format!("/api/search?q={q}"));
        r.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(search(&mut a, "unforget"), [old]);
    drop(wa);
    s.terminate();

    // The index file is gone: the next start builds it from the messages.
    for f in ["search.sqlite3", "search.sqlite3-wal", "search.sqlite3-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    let mut s = Server::start_in(&data, dir.path(), &flags);
    let mut a = s.client();
    assert_eq!(a.login("alice", "correct horse battery").status, 303);
    a.load_csrf();
    let (mut wa, _) = open_group(&a, g);
    caught_up(&mut wa, &mut a);
    assert_eq!(search(&mut a, "unforget"), [old]);
    assert!(s.log_text().contains("search index: building it"));
    let newer = say(&mut wa, "another unforgettable one");
    caught_up(&mut wa, &mut a);
    drop(wa);
    s.terminate();

    // A chat file that is not the one indexed (copied in from elsewhere):
    // started over, never a stale hit.
    let chat = rusqlite::Connection::open(data.join("chat.sqlite3")).unwrap();
    chat.execute(
        "UPDATE meta SET value = 'elsewhere' WHERE key = 'epoch'",
        [],
    )
    .unwrap();
    chat.execute(
        "UPDATE messages SET content = 'replaced words' WHERE id = ?1",
        [newer],
    )
    .unwrap();
    chat.execute("DELETE FROM search_queue", []).unwrap();
    drop(chat);
    let s = Server::start_in(&data, dir.path(), &flags);
    let mut a = s.client();
    assert_eq!(a.login("alice", "correct horse battery").status, 303);
    a.load_csrf();
    let (mut wa, _) = open_group(&a, g);
    caught_up(&mut wa, &mut a);
    assert_eq!(search(&mut a, "unforget"), [old]);
    assert_eq!(search(&mut a, "replaced"), [newer]);
}

#[test]
fn search_can_be_turned_off() {
    let s = Server::start(&["--no-search"]);
    let mut a = user(&s, "alice");
    let r = a.get("/api/search?q=anything");
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].as_str().unwrap().contains("turned off"));
}
