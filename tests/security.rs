//! Web security review checks: password change revokes other sessions,
//! failed logins look the same for unknown users and wrong passwords, and
//! every response path (errors, redirects, refusals) carries the headers.

mod common;

use std::time::{Duration, Instant};

use common::html::hidden_value;
use common::*;

/// Held by every test here: the timing comparison must not share the CPU
/// with the other tests' password hashing, and the rest are quick.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

fn change_password(c: &mut Client, current: &str, new: &str) -> Resp {
    let page = c.get("/account").text();
    let token = hidden_value(&page, "csrf_token").expect("account form has csrf_token");
    c.post_form(
        "/account/password",
        &[
            ("current_password", current),
            ("new_password", new),
            ("csrf_token", &token),
        ],
    )
}

#[test]
fn password_change_revokes_other_sessions() {
    let _alone = alone();
    let s = Server::start(&[]);
    let mut laptop = user(&s, "alice");
    let mut phone = s.client();
    assert_eq!(phone.login("alice", "correct horse battery").status, 303);
    assert_eq!(phone.get("/api/me").status, 200);
    // Wrong current password, short new one, missing CSRF: refused.
    assert_eq!(
        change_password(&mut laptop, "wrong password!", "new password 1").status,
        401
    );
    assert_eq!(
        change_password(&mut laptop, "correct horse battery", "short").status,
        400
    );
    let r = laptop.post_form(
        "/account/password",
        &[
            ("current_password", "correct horse battery"),
            ("new_password", "new password 1"),
        ],
    );
    assert_eq!(r.status, 403);
    assert_eq!(phone.get("/api/me").status, 200, "nothing changed yet");
    let r = change_password(&mut laptop, "correct horse battery", "new password 1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Password changed"));
    assert_eq!(laptop.get("/api/me").status, 200, "this session stays");
    assert_eq!(phone.get("/api/me").status, 401, "other sessions end");
    let mut c = s.client();
    assert_eq!(c.login("alice", "correct horse battery").status, 401);
    assert_eq!(c.login("alice", "new password 1").status, 303);
    assert_eq!(
        s.client().get("/account").status,
        303,
        "account page needs a session"
    );
}

#[test]
fn failed_logins_do_not_reveal_whether_a_user_exists() {
    let _alone = alone();
    let s = Server::start(&["--login-rate", "0"]);
    user(&s, "realuser");
    // One failed login as `name`: how long it took and the alert's HTML.
    let attempt = |c: &mut Client, token: &str, name: &str| {
        let t0 = Instant::now();
        let r = c.post_form(
            "/login",
            &[
                ("username", name),
                ("password", "wrong password"),
                ("csrf_token", token),
            ],
        );
        let took = t0.elapsed();
        assert_eq!(r.status, 401);
        let text = r.text();
        let at = text.find("role=\"alert\"").unwrap();
        (took, text[at..at + 60].to_string())
    };
    let mut known_client = s.client();
    let known_token = known_client.form_token("/login");
    let mut unknown_client = s.client();
    let unknown_token = unknown_client.form_token("/login");
    // The two kinds alternate (in turn first), so that load from other
    // tests hashing passwords at the same time falls on both alike.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    let (mut msg_known, mut msg_unknown) = (String::new(), String::new());
    for round in 0..15 {
        for first in [round % 2 == 0, round % 2 != 0] {
            if first {
                let (t, msg) = attempt(&mut known_client, &known_token, "realuser");
                known.push(t);
                msg_known = msg;
            } else {
                let (t, msg) = attempt(&mut unknown_client, &unknown_token, "nosuchuser");
                unknown.push(t);
                msg_unknown = msg;
            }
        }
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[known.len() / 2], unknown[unknown.len() / 2]);
    assert_eq!(msg_known, msg_unknown, "same message");
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    println!(
        "median failed login: existing user {known:?}, unknown user {unknown:?} (ratio {ratio:.2})"
    );
    assert!(
        (0.6..1.6).contains(&ratio),
        "timing differs: {known:?} vs {unknown:?}"
    );
    assert!(
        unknown > Duration::from_millis(2),
        "unknown users are hashed too"
    );
}

#[test]
fn headers_on_every_response_path() {
    let _alone = alone();
    // No cap here: a connection's slot is freed only once the server's
    // thread for it is done, which can be after the client has read the
    // answer and opened its next connection.
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut responses = vec![
        c.get("/"),
        c.get("/nope"),
        c.request("DELETE", "/login", &[], b""),
        c.post_form("/login", &[("username", "x")]),
        c.get("/api/me"),
    ];
    responses.push(parse_response(&raw(
        s.addr,
        b"garbage\r\n\r\n",
        Duration::from_secs(3),
    )));
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    responses.push(parse_response(&raw(
        s.addr,
        big.as_bytes(),
        Duration::from_secs(3),
    )));
    // The per-IP cap's refusal, from a server of its own.
    let capped = Server::start(&["--max-per-ip", "3"]);
    let held: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(capped.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    responses.push(parse_response(&raw(
        capped.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(3),
    )));
    drop(held);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [303, 404, 405, 403, 401, 400, 431, 429]);
    for r in &responses {
        let csp = r
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("no CSP on {}", r.status));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{}",
            r.status
        );
        assert_eq!(
            r.header("referrer-policy"),
            Some("same-origin"),
            "{}",
            r.status
        );
        assert_eq!(r.header("cache-control"), Some("no-store"), "{}", r.status);
    }
}
