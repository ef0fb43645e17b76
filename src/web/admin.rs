//! `GET /admin`: the server's administration page, for server admins (403
//! for everyone else): users (created, last seen, sessions, admin,
//! disabled) with their actions, server invites, the registration mode.
//! The actions call the admin JSON API (`static/js/admin.js`).

use minijinja::context;
use serde::Serialize;

use super::pages::{db_error, error_page, render};
use super::{Web, session};
use crate::auth::{AccountError, Operator};
use crate::http::{Request, Response};

#[derive(Serialize)]
struct UserRow {
    username: String,
    created: String,
    created_iso: String,
    last_seen: Option<String>,
    last_seen_iso: Option<String>,
    sessions: i64,
    admin: bool,
    disabled: bool,
}

#[derive(Serialize)]
struct InviteRow {
    code: String,
    url: String,
    uses: i64,
    max_uses: Option<i64>,
    expires: Option<String>,
    expires_iso: Option<String>,
}

/// `YYYY-MM-DD HH:MM UTC` and ISO-8601 for Unix ms.
fn times(ms: i64) -> (String, String) {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = crate::tls::der::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let (h, min, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    (
        format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02} UTC"),
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z"),
    )
}

pub fn page(web: &Web, req: &Request) -> Response {
    let Some(s) = session::current(web, req) else {
        return Response::redirect("/login?next=%2Fadmin");
    };
    if !s.user.admin {
        return error_page(web, 403, "This page is for server admins.");
    }
    let users = match web.accounts.list_users(Operator::Admin(&s.user)) {
        Ok(u) => u,
        Err(AccountError::Store(e)) => return db_error(web, &e),
        Err(e) => return error_page(web, 403, &e.to_string()),
    };
    let invites = match web.accounts.server_invites(Operator::Admin(&s.user)) {
        Ok(i) => i,
        Err(AccountError::Store(e)) => return db_error(web, &e),
        Err(e) => return error_page(web, 403, &e.to_string()),
    };
    let users: Vec<UserRow> = users
        .into_iter()
        .map(|u| {
            let (created, created_iso) = times(u.created_at);
            let seen = u.last_seen_at.map(times);
            UserRow {
                username: u.username,
                created,
                created_iso,
                last_seen: seen.as_ref().map(|t| t.0.clone()),
                last_seen_iso: seen.map(|t| t.1),
                sessions: u.live_sessions,
                admin: u.admin,
                disabled: u.disabled,
            }
        })
        .collect();
    let invites: Vec<InviteRow> = invites
        .into_iter()
        .map(|i| {
            let exp = i.expires_at.map(times);
            InviteRow {
                url: format!("/register?invite={}", i.code),
                code: i.code,
                uses: i.uses,
                max_uses: i.max_uses,
                expires: exp.as_ref().map(|t| t.0.clone()),
                expires_iso: exp.map(|t| t.1),
            }
        })
        .collect();
    render(
        web,
        200,
        "admin.html",
        context! {
            v => &web.asset_version,
            username => &s.user.username,
            csrf_token => s.csrf_token(),
            users => minijinja::value::Serde(&users),
            invites => minijinja::value::Serde(&invites),
            registration => web.accounts.registration().as_str(),
        },
    )
}
