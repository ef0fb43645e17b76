//! The chat room a scenario runs in: registers the bench users through the
//! real forms (CSRF and all), creates group "bench" and has everyone join.

use std::thread;

use serde_json::Value;

use crate::client::{Ep, attr, http};
use crate::error::BenchError;

const PASSWORD: &str = "bench-password-123";

/// A registered bench user: its session cookie and CSRF token.
#[derive(Clone)]
pub struct User {
    pub session: String,
    csrf: String,
}

fn register(ep: &Ep, name: &str) -> Result<User, BenchError> {
    let form = http(ep, "GET", "/register", &[], b"")?;
    let missing = |what| BenchError::Missing {
        request: "GET /register",
        status: form.status,
        what,
    };
    let cookie = form
        .cookie("csrf")
        .ok_or_else(|| missing("a csrf cookie"))?;
    let token = attr(&form.body, "name=\"csrf_token\" value=\"")
        .ok_or_else(|| missing("a csrf_token input"))?;
    let body = format!("username={name}&password={PASSWORD}&csrf_token={token}");
    let r = http(
        ep,
        "POST",
        "/register",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &format!("csrf={cookie}")),
            ("Origin", &ep.origin()),
        ],
        body.as_bytes(),
    )?;
    let session = r
        .cookie("session")
        .filter(|_| r.status == 303)
        .ok_or_else(|| BenchError::Status {
            request: format!("POST /register for {name}"),
            status: r.status,
            body: None,
        })?;
    let chat = http(
        ep,
        "GET",
        "/chat",
        &[("Cookie", &format!("session={session}"))],
        b"",
    )?;
    let csrf =
        attr(&chat.body, "<meta name=\"csrf-token\" content=\"").ok_or(BenchError::Missing {
            request: "GET /chat",
            status: chat.status,
            what: "a csrf-token",
        })?;
    Ok(User { session, csrf })
}

fn api_post(ep: &Ep, user: &User, path: &str, body: &str) -> Result<(u16, Value), BenchError> {
    let r = http(
        ep,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Cookie", &format!("session={}", user.session)),
            ("X-CSRF-Token", &user.csrf),
            ("Origin", &ep.origin()),
        ],
        body.as_bytes(),
    )?;
    let v = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    Ok((r.status, v))
}

/// Registers `n` users, creates group "bench" and has everyone join it.
pub fn setup_room(ep: &Ep, n: usize) -> Result<(i64, Vec<User>), BenchError> {
    let users: Vec<Result<User, BenchError>> = thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                s.spawn(move || {
                    (w..n)
                        .step_by(4)
                        .map(|i| (i, register(ep, &format!("bench{i:03}"))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Result<User, BenchError>)> = workers
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, u)| u).collect()
    });
    let users: Vec<User> = users.into_iter().collect::<Result<_, _>>()?;
    if users.len() != n {
        return Err(BenchError::Incomplete {
            verb: "registered",
            noun: "users",
            got: users.len(),
            want: n,
        });
    }
    let (status, g) = api_post(ep, &users[0], "/api/groups", r#"{"name":"bench"}"#)?;
    let Some(id) = g["id"].as_i64().filter(|_| status == 201) else {
        return Err(BenchError::Status {
            request: "POST /api/groups".into(),
            status,
            body: Some(g),
        });
    };
    for u in &users[1..] {
        let path = format!("/api/groups/{id}/join");
        let (status, v) = api_post(ep, u, &path, "")?;
        if status != 200 {
            return Err(BenchError::Status {
                request: format!("POST {path}"),
                status,
                body: Some(v),
            });
        }
    }
    Ok((id, users))
}
