//! Closed doors, through the real server: every role × moderation action
//! pair allowed or refused as the table says; private groups invisible to
//! outsiders on every route and notice; invite links; ownership handed on;
//! group deletion; server admins, disabled accounts, reset links and the
//! registration modes — from the web and from the admin commands beside a
//! running server.

mod common;

use std::time::{Duration, Instant};

use common::html::hidden_value;
use common::ws::*;
use common::*;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(3);

fn server() -> Server {
    Server::without_rate_limits(&[])
}

/// A group with an owner, an admin and a member, and one message by the
/// owner; returns the group's id and the message's.
fn staffed(
    owner: &mut Client,
    admin: &mut Client,
    member: &mut Client,
    name: &str,
    private: bool,
) -> (i64, i64) {
    let r = owner.json(
        "POST",
        "/api/groups",
        &json!({"name": name, "private": private}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let g = r.json()["id"].as_i64().unwrap();
    for who in ["admin", "member"] {
        let r = owner.json(
            "POST",
            &format!("/api/groups/{g}/members"),
            &json!({"username": who}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = owner.json(
        "PATCH",
        &format!("/api/groups/{g}/members/admin"),
        &json!({"role": "admin"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["role"], "admin");
    let _ = (admin, member);
    let (mut ws, _) = open_group(owner, g);
    send_text(&mut ws, "the owner's words", "m");
    let msg = expect(&mut ws, "ack")["id"].as_i64().unwrap();
    (g, msg)
}

#[test]
fn every_role_and_action_pair_is_allowed_or_refused_as_the_table_says() {
    let s = server();
    let mut owner = user(&s, "owner");
    let mut admin = user(&s, "admin");
    let mut member = user(&s, "member");
    let mut outsider = user(&s, "outsider");
    user(&s, "newbie");
    user(&s, "extra");
    // (what, expected status for owner, admin, member, outsider)
    type Act = fn(&mut Client, i64, i64) -> u16;
    let cases: &[(&str, Act, [u16; 4])] = &[
        (
            "see members",
            |c, g, _| c.get(&format!("/api/groups/{g}/members")).status,
            [200, 200, 200, 200],
        ),
        (
            "add a member",
            |c, g, _| {
                c.json(
                    "POST",
                    &format!("/api/groups/{g}/members"),
                    &json!({"username": "newbie"}),
                )
                .status
            },
            [200, 200, 403, 403],
        ),
        (
            "remove a plain member",
            |c, g, _| {
                c.json(
                    "DELETE",
                    &format!("/api/groups/{g}/members/member"),
                    &Value::Null,
                )
                .status
            },
            [204, 204, 403, 403],
        ),
        (
            "remove an admin",
            |c, g, _| {
                c.json(
                    "DELETE",
                    &format!("/api/groups/{g}/members/admin"),
                    &Value::Null,
                )
                .status
            },
            [204, 403, 403, 403],
        ),
        (
            "make an admin",
            |c, g, _| {
                c.json(
                    "PATCH",
                    &format!("/api/groups/{g}/members/member"),
                    &json!({"role": "admin"}),
                )
                .status
            },
            [200, 403, 403, 403],
        ),
        (
            "make a member",
            |c, g, _| {
                c.json(
                    "PATCH",
                    &format!("/api/groups/{g}/members/admin"),
                    &json!({"role": "member"}),
                )
                .status
            },
            [200, 403, 403, 403],
        ),
        (
            "hand the group on",
            |c, g, _| {
                c.json(
                    "PATCH",
                    &format!("/api/groups/{g}/members/member"),
                    &json!({"role": "owner"}),
                )
                .status
            },
            [200, 403, 403, 403],
        ),
        (
            "rename",
            |c, g, _| {
                c.json(
                    "PATCH",
                    &format!("/api/groups/{g}"),
                    &json!({"name": format!("renamed {g}")}),
                )
                .status
            },
            [200, 200, 403, 403],
        ),
        (
            "delete someone's message",
            |c, _, m| {
                c.json("DELETE", &format!("/api/messages/{m}"), &Value::Null)
                    .status
            },
            [204, 204, 403, 404],
        ),
        (
            "make an invite link",
            |c, g, _| {
                c.json("POST", &format!("/api/groups/{g}/invites"), &json!({}))
                    .status
            },
            [201, 201, 403, 403],
        ),
        (
            "list invite links",
            |c, g, _| c.get(&format!("/api/groups/{g}/invites")).status,
            [200, 200, 403, 403],
        ),
        (
            "delete the group",
            |c, g, _| {
                c.json("DELETE", &format!("/api/groups/{g}"), &Value::Null)
                    .status
            },
            [204, 403, 403, 403],
        ),
        (
            "leave",
            |c, g, _| {
                c.json("POST", &format!("/api/groups/{g}/leave"), &Value::Null)
                    .status
            },
            [204, 204, 204, 403],
        ),
    ];
    let mut n = 0;
    for (what, act, expected) in cases {
        for (i, want) in expected.iter().enumerate() {
            n += 1;
            let (g, msg) = staffed(&mut owner, &mut admin, &mut member, &format!("g{n}"), false);
            let actor = match i {
                0 => &mut owner,
                1 => &mut admin,
                2 => &mut member,
                _ => &mut outsider,
            };
            let got = act(actor, g, msg);
            let who = ["owner", "admin", "member", "outsider"][i];
            assert_eq!(got, *want, "{who}: {what}");
        }
    }
    // Refusals say why.
    let (g, _) = staffed(&mut owner, &mut admin, &mut member, "why", false);
    let r = member.json(
        "PATCH",
        &format!("/api/groups/{g}"),
        &json!({"name": "mine"}),
    );
    assert_eq!(r.status, 403);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("owner and admins"),
        "{}",
        r.text()
    );
    // Nobody removes themselves (that is leaving) or changes their own role as owner.
    assert_eq!(
        owner
            .json(
                "DELETE",
                &format!("/api/groups/{g}/members/owner"),
                &Value::Null
            )
            .status,
        403
    );
    let r = owner.json(
        "PATCH",
        &format!("/api/groups/{g}/members/owner"),
        &json!({"role": "member"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    // Editing stays the author's alone.
    let (_, msg) = staffed(&mut owner, &mut admin, &mut member, "edits", false);
    assert_eq!(
        admin
            .json(
                "PATCH",
                &format!("/api/messages/{msg}"),
                &json!({"content": "x"})
            )
            .status,
        403
    );
}

#[test]
fn moderation_reaches_the_room_and_the_people_it_concerns() {
    let s = server();
    let mut owner = user(&s, "owner");
    let mut admin = user(&s, "admin");
    let mut member = user(&s, "member");
    let (g, msg) = staffed(&mut owner, &mut admin, &mut member, "room", true);
    let (mut room, _) = open_group(&owner, g);
    let mut member_room = open_group(&member, g).0;
    let mut member_note = connect(&member, "/ws");
    // A moderator's deletion says by whom; it is gone from history.
    assert_eq!(
        admin
            .json("DELETE", &format!("/api/messages/{msg}"), &Value::Null)
            .status,
        204
    );
    let d = expect(&mut room, "deleted");
    assert_eq!(
        (d["id"].as_i64(), d["by"].as_str()),
        (Some(msg), Some("admin"))
    );
    // A rename reaches the room and the /ws of those who see the group.
    let r = admin.json(
        "PATCH",
        &format!("/api/groups/{g}"),
        &json!({"name": "war room"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "war room");
    let up = expect(&mut member_note, "group_updated");
    assert_eq!(up["group"]["name"], "war room");
    assert_eq!(up["group"]["role"], "member");
    // Every action left a system line, kept in history.
    let lines: Vec<String> = owner.get(&format!("/api/groups/{g}/messages")).json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["system"] == true)
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    for want in [
        "owner added admin",
        "owner added member",
        "owner made admin an admin",
        "admin renamed the group to war room",
    ] {
        assert!(lines.iter().any(|l| l == want), "{want:?} in {lines:?}");
    }
    let live = wait_for(&mut room, T, |f| {
        f["type"] == "system" && f["text"] == "admin renamed the group to war room"
    })
    .unwrap();
    assert!(
        live["id"].as_i64().is_some(),
        "stored lines carry their id: {live}"
    );
    // Removal: the member's sockets close with 4403, their /ws hears it.
    assert_eq!(
        owner
            .json(
                "DELETE",
                &format!("/api/groups/{g}/members/member"),
                &Value::Null
            )
            .status,
        204
    );
    assert_eq!(close_code(&mut member_room, T), Some(4403));
    assert_eq!(expect(&mut member_note, "removed")["group_id"], g);
    assert!(
        wait_for(&mut room, T, |f| f["type"] == "system"
            && f["text"] == "member was removed")
        .is_some()
    );
    // Re-added: /ws hears `added`.
    owner.json(
        "POST",
        &format!("/api/groups/{g}/members"),
        &json!({"username": "member"}),
    );
    let added = expect(&mut member_note, "added");
    assert_eq!(added["group"]["id"], g);
    assert_eq!(added["group"]["role"], "member");
}

#[test]
fn the_owner_leaving_hands_the_group_on_and_deleting_it_closes_everything() {
    let s = server();
    let mut owner = user(&s, "owner");
    let mut first = user(&s, "first");
    let mut second = user(&s, "second");
    let g = create_group(&mut owner, "succession");
    join(&mut first, g);
    join(&mut second, g);
    owner.json(
        "PATCH",
        &format!("/api/groups/{g}/members/second"),
        &json!({"role": "admin"}),
    );
    // The longest-standing admin comes before the longest-standing member.
    assert_eq!(
        owner
            .json("POST", &format!("/api/groups/{g}/leave"), &Value::Null)
            .status,
        204
    );
    let roles: Vec<(String, String)> =
        first.get(&format!("/api/groups/{g}/members")).json()["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["username"].as_str().unwrap().into(),
                    m["role"].as_str().unwrap().into(),
                )
            })
            .collect();
    assert_eq!(
        roles,
        vec![
            ("first".into(), "member".into()),
            ("second".into(), "owner".into())
        ]
    );
    // Without admins, the longest-standing member.
    assert_eq!(
        second
            .json("POST", &format!("/api/groups/{g}/leave"), &Value::Null)
            .status,
        204
    );
    let me = first.get("/api/groups").json()["groups"][0].clone();
    assert_eq!(me["role"], "owner");
    // The only member, as owner, cannot leave: they delete instead.
    let r = first.json("POST", &format!("/api/groups/{g}/leave"), &Value::Null);
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"], "last_owner");
    // Deleting: sockets close 4403, every /ws that could see it hears it,
    // the messages are gone.
    join(&mut owner, g);
    let mut room = open_group(&owner, g).0;
    let mut watcher = user(&s, "watcher");
    let mut note = connect(&watcher, "/ws");
    assert_eq!(
        owner
            .json("DELETE", &format!("/api/groups/{g}"), &Value::Null)
            .status,
        403
    );
    assert_eq!(
        first
            .json("DELETE", &format!("/api/groups/{g}"), &Value::Null)
            .status,
        204
    );
    assert_eq!(close_code(&mut room, T), Some(4403));
    assert_eq!(expect(&mut note, "group_deleted")["group_id"], g);
    assert_eq!(owner.get(&format!("/api/groups/{g}/messages")).status, 404);
    assert_eq!(watcher.get("/api/groups").json()["groups"], json!([]));
}

#[test]
fn a_private_group_is_to_outsiders_exactly_a_group_that_does_not_exist() {
    let s = server();
    let mut alice = user(&s, "alice");
    let mut eve = user(&s, "eve");
    let mut eve_note = connect(&eve, "/ws");
    expect(&mut eve_note, "online");
    let r = alice.json(
        "POST",
        "/api/groups",
        &json!({"name": "Secret", "private": true}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        (r.json()["private"].clone(), r.json()["role"].clone()),
        (json!(true), json!("owner"))
    );
    let p = r.json()["id"].as_i64().unwrap();
    let missing = p + 1000;
    let (mut room, _) = open_group(&alice, p);
    send_text(&mut room, "classified", "1");
    let msg = expect(&mut room, "ack")["id"].as_i64().unwrap();
    alice.json(
        "PATCH",
        &format!("/api/groups/{p}"),
        &json!({"name": "Secret 2"}),
    );
    // Every route answers eve as for an id that does not exist.
    let routes: &[(&str, String, Value)] = &[
        ("GET", "/api/groups/{}/messages".into(), Value::Null),
        ("GET", "/api/groups/{}/members".into(), Value::Null),
        ("GET", "/api/groups/{}/online".into(), Value::Null),
        ("GET", "/api/groups/{}/keys".into(), Value::Null),
        ("GET", "/api/groups/{}/invites".into(), Value::Null),
        ("POST", "/api/groups/{}/invites".into(), json!({})),
        ("POST", "/api/groups/{}/join".into(), Value::Null),
        ("POST", "/api/groups/{}/leave".into(), Value::Null),
        (
            "POST",
            "/api/groups/{}/members".into(),
            json!({"username": "eve"}),
        ),
        ("DELETE", "/api/groups/{}/members/alice".into(), Value::Null),
        (
            "PATCH",
            "/api/groups/{}/members/alice".into(),
            json!({"role": "member"}),
        ),
        ("PATCH", "/api/groups/{}".into(), json!({"name": "mine"})),
        ("DELETE", "/api/groups/{}".into(), Value::Null),
    ];
    for (method, path, body) in routes {
        let hidden = eve.json(method, &path.replace("{}", &p.to_string()), body);
        let absent = eve.json(method, &path.replace("{}", &missing.to_string()), body);
        assert_eq!(hidden.status, 404, "{method} {path}");
        assert_eq!(
            hidden.body, absent.body,
            "{method} {path}: the same answer as for no group"
        );
    }
    for (hidden, absent) in [(
        format!("/api/messages/{msg}"),
        "/api/messages/999999".to_string(),
    )] {
        for method in ["PATCH", "DELETE"] {
            let h = eve.json(method, &hidden, &json!({"content": "x"}));
            let a = eve.json(method, &absent, &json!({"content": "x"}));
            assert_eq!((h.status, h.body), (a.status, a.body), "{method} {hidden}");
        }
    }
    assert_eq!(
        try_connect(&eve, &format!("/ws/chat/{p}"), None).err(),
        Some(404)
    );
    assert_eq!(eve.get("/api/groups").json()["groups"], json!([]));
    // Nor did any notice tell eve about it.
    for f in drain(&mut eve_note, Duration::from_millis(300)) {
        assert!(!f.to_string().contains("Secret"), "eve heard {f}");
        assert_ne!(f["group_id"], p, "eve heard {f}");
    }
    // Its name is not reserved against her; a twin among alice's own is.
    assert_eq!(
        eve.json("POST", "/api/groups", &json!({"name": "Secret 2"}))
            .status,
        201
    );
    assert_eq!(
        alice
            .json(
                "POST",
                "/api/groups",
                &json!({"name": "secret 2", "private": true})
            )
            .status,
        409
    );
    assert_eq!(
        eve.json(
            "POST",
            "/api/groups",
            &json!({"name": "Secret 2", "private": true})
        )
        .status,
        409,
        "eve's public twin is visible to her"
    );
    // Deleting it tells only its members.
    alice.json("DELETE", &format!("/api/groups/{p}"), &Value::Null);
    assert!(
        wait_for(&mut eve_note, Duration::from_millis(500), |f| f["type"]
            == "group_deleted")
        .is_none()
    );
}

#[test]
fn guessing_a_private_group_costs_what_guessing_a_missing_one_costs() {
    let s = server();
    let mut alice = user(&s, "alice");
    let mut eve = user(&s, "eve");
    let p = alice
        .json(
            "POST",
            "/api/groups",
            &json!({"name": "vault", "private": true}),
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    let time = |c: &mut Client, id: i64| {
        let t = Instant::now();
        assert_eq!(c.get(&format!("/api/groups/{id}/messages")).status, 404);
        t.elapsed()
    };
    let (mut hidden, mut absent) = (Vec::new(), Vec::new());
    for _ in 0..40 {
        hidden.push(time(&mut eve, p));
        absent.push(time(&mut eve, p + 500));
    }
    hidden.sort();
    absent.sort();
    let (h, a) = (hidden[20].as_secs_f64(), absent[20].as_secs_f64());
    assert!(h / a < 2.0 && a / h < 2.0, "medians {h:.6}s vs {a:.6}s");
}

#[test]
fn invite_links_let_people_in_once_counted_and_never_as_admins() {
    let s = server();
    let mut alice = user(&s, "alice");
    let mut bob = user(&s, "bob");
    let mut carol = user(&s, "carol");
    let p = alice
        .json(
            "POST",
            "/api/groups",
            &json!({"name": "club", "private": true}),
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    let r = alice.json(
        "POST",
        &format!("/api/groups/{p}/invites"),
        &json!({"max_uses": 1, "expires_in_s": 3600}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let inv = r.json();
    let code = inv["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 32, "128 bits of hex");
    assert_eq!(inv["url"], format!("/invite/{code}"));
    assert_eq!(
        (inv["max_uses"].clone(), inv["uses"].clone()),
        (json!(1), json!(0))
    );
    // The invite page names the group; logged out it sends you to log in
    // or register, coming back.
    let page = s.client().get(&format!("/invite/{code}"));
    assert_eq!(page.status, 200);
    assert!(page.text().contains("club"));
    assert!(page.text().contains(&format!("next=%2Finvite%2F{code}")));
    let form = bob.get(&format!("/invite/{code}"));
    assert!(form.text().contains("Join group"));
    // Joining through the page (a form) lands in the group.
    let token = hidden_value(&form.text(), "csrf_token").unwrap();
    let r = bob.post_form(&format!("/invite/{code}"), &[("csrf_token", &token)]);
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some(format!("/chat#group-{p}").as_str())
    );
    let mine = bob.get("/api/groups").json()["groups"][0].clone();
    assert_eq!(
        (mine["id"].as_i64(), mine["role"].as_str()),
        (Some(p), Some("member"))
    );
    // Used up: carol gets the "not valid" page and 404 from the API.
    assert_eq!(carol.get(&format!("/invite/{code}")).status, 404);
    assert_eq!(
        carol
            .json("POST", &format!("/api/invites/{code}"), &Value::Null)
            .status,
        404
    );
    // A second link; already-members do not use it up; listing counts.
    let code2 = alice
        .json(
            "POST",
            &format!("/api/groups/{p}/invites"),
            &json!({"max_uses": 2}),
        )
        .json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        bob.json("POST", &format!("/api/invites/{code2}"), &Value::Null)
            .status,
        200
    );
    let r = carol.json("POST", &format!("/api/invites/{code2}"), &Value::Null);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["role"], "member");
    let list = alice.get(&format!("/api/groups/{p}/invites")).json()["invites"].clone();
    let two = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == code2)
        .unwrap();
    assert_eq!(two["uses"], 1, "bob, already in, did not count");
    // Revoked and expired links stop working.
    assert_eq!(
        alice
            .json(
                "DELETE",
                &format!("/api/groups/{p}/invites/{code2}"),
                &Value::Null
            )
            .status,
        204
    );
    let mut dave = user(&s, "dave");
    assert_eq!(
        dave.json("POST", &format!("/api/invites/{code2}"), &Value::Null)
            .status,
        404
    );
    let code3 = alice
        .json("POST", &format!("/api/groups/{p}/invites"), &json!({}))
        .json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    db_execute(
        &s.data,
        "chat.sqlite3",
        "UPDATE invites SET expires_at = 1 WHERE code = ?1",
        &[DbValue::Text(code3.clone())],
    );
    let expired = dave.get(&format!("/invite/{code3}"));
    assert_eq!(expired.status, 404);
    assert!(expired.text().contains("expired"), "{}", expired.text());
    // Codes of any other shape, and bad limits.
    for bad in ["nope", "0000", &"g".repeat(32)] {
        assert_eq!(
            dave.json("POST", &format!("/api/invites/{bad}"), &Value::Null)
                .status,
            404
        );
    }
    for bad in [
        json!({"max_uses": 0}),
        json!({"expires_in_s": 5}),
        json!({"max_uses": "x"}),
    ] {
        assert_eq!(
            alice
                .json("POST", &format!("/api/groups/{p}/invites"), &bad)
                .status,
            400,
            "{bad}"
        );
    }
    // A member of a public group joins it; a private one only by invite.
    assert_eq!(
        dave.json("POST", &format!("/api/groups/{p}/join"), &Value::Null)
            .status,
        404
    );
}

#[test]
fn server_admins_disable_enable_promote_and_keep_one_admin() {
    let s = server();
    let mut alice = user(&s, "alice");
    let mut bob = user(&s, "bob");
    assert_eq!(
        alice.get("/api/me").json()["admin"],
        true,
        "the first account"
    );
    assert_eq!(bob.get("/api/me").json()["admin"], false);
    assert_eq!(bob.get("/admin").status, 403);
    assert_eq!(s.client().get("/admin").status, 303);
    let page = alice.get("/admin");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("bob"));
    // Non-admins, and admins without the CSRF header, are refused.
    assert_eq!(
        bob.json("POST", "/api/admin/users/alice/disable", &Value::Null)
            .status,
        403
    );
    let mut no_csrf = alice.clone();
    no_csrf.csrf = None;
    assert_eq!(
        no_csrf
            .json("POST", "/api/admin/users/bob/disable", &Value::Null)
            .status,
        403
    );
    // Disabling ends bob's sessions at once, and he cannot log in.
    let g = create_group(&mut alice, "room");
    join(&mut bob, g);
    let mut ws = open_group(&bob, g).0;
    assert_eq!(
        alice
            .json("POST", "/api/admin/users/bob/disable", &Value::Null)
            .status,
        204
    );
    assert_eq!(close_code(&mut ws, T), Some(4401));
    assert_eq!(bob.get("/api/me").status, 401);
    let mut again = s.client();
    let r = again.login("bob", "correct horse battery");
    assert_eq!(r.status, 401);
    assert!(r.text().contains("Invalid username or password."));
    // Nobody can DM or add him while he is disabled.
    assert_eq!(
        alice
            .json("POST", "/api/dm", &json!({"username": "bob"}))
            .status,
        404
    );
    assert_eq!(
        alice
            .json(
                "POST",
                &format!("/api/groups/{g}/members"),
                &json!({"username": "bob"})
            )
            .status,
        404
    );
    assert_eq!(
        alice
            .json("POST", "/api/admin/users/bob/enable", &Value::Null)
            .status,
        204
    );
    assert_eq!(again.login("bob", "correct horse battery").status, 303);
    // The last admin cannot go; with a second one, they can.
    let r = alice.json("POST", "/api/admin/users/alice/demote", &Value::Null);
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"], "last_admin");
    assert_eq!(
        alice
            .json("POST", "/api/admin/users/alice/disable", &Value::Null)
            .status,
        409
    );
    assert_eq!(
        alice
            .json("POST", "/api/admin/users/bob/promote", &Value::Null)
            .status,
        204
    );
    assert_eq!(again.get("/api/me").json()["admin"], true);
    assert_eq!(
        alice
            .json("POST", "/api/admin/users/alice/demote", &Value::Null)
            .status,
        204
    );
    assert_eq!(alice.get("/api/me").json()["admin"], false);
    assert_eq!(
        alice
            .json("POST", "/api/admin/users/nobody/disable", &Value::Null)
            .status,
        403,
        "no longer an admin"
    );
}

#[test]
fn a_reset_link_sets_a_password_once_and_ends_every_session() {
    let s = server();
    let mut alice = user(&s, "alice");
    let bob = user(&s, "bob");
    let mut bob_ws = connect(&bob, "/ws");
    let r = alice.json("POST", "/api/admin/users/bob/reset-link", &Value::Null);
    assert_eq!(r.status, 201, "{}", r.text());
    let url = r.json()["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("/reset/"));
    let far = r.json()["expires_at"].as_i64().unwrap()
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
    assert!(
        (23 * 3600 * 1000..=24 * 3600 * 1000).contains(&far),
        "24 h: {far}"
    );
    let mut visitor = s.client();
    let form = visitor.get(&url);
    assert_eq!(form.status, 200);
    assert!(form.text().contains("bob"));
    let token = hidden_value(&form.text(), "csrf_token").unwrap();
    let short = visitor.post_form(&url, &[("new_password", "short"), ("csrf_token", &token)]);
    assert_eq!(short.status, 400);
    let done = visitor.post_form(
        &url,
        &[
            ("new_password", "a whole new password"),
            ("csrf_token", &token),
        ],
    );
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(
        close_code(&mut bob_ws, T),
        Some(4401),
        "every session ended"
    );
    assert_eq!(s.client().login("bob", "a whole new password").status, 303);
    assert_eq!(s.client().login("bob", "correct horse battery").status, 401);
    // Once only.
    assert_eq!(visitor.get(&url).status, 404);
    let again = visitor.post_form(
        &url,
        &[("new_password", "yet another one"), ("csrf_token", &token)],
    );
    assert_eq!(again.status, 404);
    assert_eq!(s.client().get("/reset/not-a-token").status, 404);
}

#[test]
fn registration_by_invite_and_closed_and_the_mode_holds_across_restarts() {
    let dir = TempDir::new("reg");
    let data = dir.path().join("data");
    {
        let s = Server::start_in(&data, dir.path(), &["--registration", "invite"]);
        // Nobody registers without a code — not even the first account.
        let mut c = s.client();
        let r = c.register("alice", "correct horse battery");
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("invitation"), "{}", r.text());
        ok(admin(
            &data,
            &["user", "add", "alice"],
            "correct horse battery\n",
        ));
        // A code from the admin command, one use.
        let out = ok(admin(
            &data,
            &["invite", "create", "--uses", "1", "--days", "7"],
            "",
        ));
        let url = out.lines().next().unwrap().to_string();
        let code = url.strip_prefix("/register?invite=").unwrap().to_string();
        let page = c.get(&url);
        assert!(
            page.text().contains(&format!("value=\"{code}\"")),
            "the form is filled in"
        );
        let token = c.form_token("/register");
        let reg = |c: &mut Client, name: &str, code: &str, token: &str| {
            c.post_form(
                "/register",
                &[
                    ("username", name),
                    ("password", "correct horse battery"),
                    ("invite", code),
                    ("csrf_token", token),
                ],
            )
        };
        assert_eq!(reg(&mut c, "bob", &code, &token).status, 303);
        let mut d = s.client();
        let token = d.form_token("/register");
        let used = reg(&mut d, "dave", &code, &token);
        assert_eq!(used.status, 403, "used up");
        // Listed and revoked from the command line too.
        let code2 = ok(admin(&data, &["invite", "create"], ""))
            .lines()
            .next()
            .unwrap()
            .strip_prefix("/register?invite=")
            .unwrap()
            .to_string();
        assert!(ok(admin(&data, &["invite", "list"], "")).contains(&code2));
        ok(admin(&data, &["invite", "revoke", &code2], ""));
        assert_eq!(reg(&mut d, "dave", &code2, &token).status, 403);
        // An admin closes registration from the API.
        let mut a = s.client();
        assert_eq!(a.login("alice", "correct horse battery").status, 303);
        assert_eq!(
            a.get("/api/me").json()["admin"],
            true,
            "the first account, made by the command"
        );
        let r = a.json("PUT", "/api/admin/registration", &json!({"mode": "closed"}));
        assert_eq!(r.status, 200);
    }
    // Restarted without the flag: still closed.
    let s = Server::start_in(&data, dir.path(), &[]);
    let mut c = s.client();
    let page = c.get("/register");
    assert_eq!(page.status, 403);
    assert!(
        page.text().contains("securechat user add"),
        "{}",
        page.text()
    );
    let post = c.post_form(
        "/register",
        &[("username", "eve"), ("password", "correct horse battery")],
    );
    assert_eq!(post.status, 403);
    assert!(post.text().contains("securechat user add"));
}

#[test]
fn admin_commands_reach_a_running_server_within_2s() {
    let s = server();
    let mut alice = user(&s, "alice");
    let bob = user(&s, "bob");
    let mut ws = connect(&bob, "/ws");
    let started = Instant::now();
    ok(admin(&s.data, &["user", "disable", "bob"], ""));
    assert_eq!(close_code(&mut ws, T), Some(4401));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.client().login("bob", "correct horse battery").status, 401);
    ok(admin(&s.data, &["user", "enable", "bob"], ""));
    let mut b = s.client();
    assert_eq!(b.login("bob", "correct horse battery").status, 303);
    ok(admin(&s.data, &["user", "promote", "bob"], ""));
    assert_eq!(b.get("/api/me").json()["admin"], true);
    ok(admin(&s.data, &["user", "demote", "bob"], ""));
    assert_eq!(b.get("/api/me").json()["admin"], false);
    let refused = admin(&s.data, &["user", "demote", "alice"], "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("last server admin"));
    let out = ok(admin(&s.data, &["user", "reset-link", "bob"], ""));
    let path = out
        .lines()
        .find(|l| l.starts_with("/reset/"))
        .unwrap()
        .to_string();
    assert_eq!(s.client().get(&path).status, 200);
    let _ = alice.get("/api/me");
}
