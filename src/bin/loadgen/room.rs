//! The chat room a scenario runs in: registers the bench users through the
//! real forms (CSRF and all), creates group "bench" and has everyone join
//! (or, piece by piece, the users and groups a scenario lays out itself).

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

impl User {
    /// A user known by its session alone (seeded; sockets only: no CSRF
    /// token for the API).
    pub fn from_session(session: String) -> User {
        User {
            session,
            csrf: String::new(),
        }
    }

    /// The CSRF token a JSON API request (or an upload) carries.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }
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

/// Registers users `{prefix}000` … (`n` of them) from a few threads at once.
pub fn register_users(ep: &Ep, prefix: &str, n: usize) -> Result<Vec<User>, BenchError> {
    let users: Vec<Result<User, BenchError>> = thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                s.spawn(move || {
                    (w..n)
                        .step_by(4)
                        .map(|i| (i, register(ep, &format!("{prefix}{i:03}"))))
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
    Ok(users)
}

/// Creates the public group `name` as `owner`; returns its id.
pub fn create_group(ep: &Ep, owner: &User, name: &str) -> Result<i64, BenchError> {
    let body = serde_json::json!({ "name": name }).to_string();
    let (status, g) = api_post(ep, owner, "/api/groups", &body)?;
    g["id"]
        .as_i64()
        .filter(|_| status == 201)
        .ok_or(BenchError::Status {
            request: "POST /api/groups".into(),
            status,
            body: Some(g),
        })
}

/// Has `user` join the public group `id`.
pub fn join_group(ep: &Ep, user: &User, id: i64) -> Result<(), BenchError> {
    let path = format!("/api/groups/{id}/join");
    let (status, v) = api_post(ep, user, &path, "")?;
    if status != 200 {
        return Err(BenchError::Status {
            request: format!("POST {path}"),
            status,
            body: Some(v),
        });
    }
    Ok(())
}

/// Registers `n` users, creates group "bench" and has everyone join it.
pub fn setup_room(ep: &Ep, n: usize) -> Result<(i64, Vec<User>), BenchError> {
    let users = register_users(ep, "bench", n)?;
    let id = create_group(ep, &users[0], "bench")?;
    for u in &users[1..] {
        join_group(ep, u, id)?;
    }
    Ok((id, users))
}
