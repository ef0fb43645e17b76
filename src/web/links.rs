//! Pages reached by a link someone was given: an invite to a group
//! (`/invite/{code}`: the group's name and a `Join group` button, after
//! logging in or registering and coming back) and a one-time password
//! reset (`/reset/{token}`). A link that does not work (unknown, expired,
//! used up, revoked) is a 404 page that says so.

use minijinja::context;

use super::pages::{db_error, error_page, form_token, form_token_ok, render};
use super::{Web, session};
use crate::auth::AccountError;
use crate::http::form::{Form, percent_encode};
use crate::http::{Request, Response};

/// `GET /invite/{code}`
pub fn invite_page(web: &Web, req: &Request, code: &str) -> Response {
    invite_answer(web, req, code, 200, None)
}

fn invite_answer(
    web: &Web,
    req: &Request,
    code: &str,
    status: u16,
    error: Option<&str>,
) -> Response {
    let group = match web.chat.invited_group(code) {
        Ok(g) => g,
        Err(r) => return error_page(web, r.status(), &r.message()),
    };
    let s = session::current(web, req);
    let here = format!("/invite/{code}");
    render(
        web,
        status,
        "invite.html",
        context! {
            v => &web.asset_version,
            name => &group.name,
            private => group.private,
            e2e => group.e2e,
            members => group.member_count,
            code => code,
            logged_in => s.is_some(),
            username => s.as_ref().map(|s| s.user.username.clone()),
            csrf_token => s.as_ref().map(|s| s.csrf_token()),
            here_q => percent_encode(&here),
            registration => web.accounts.registration().as_str(),
            error => error,
        },
    )
}

/// `POST /invite/{code}` (`csrf_token`): joins, then opens the group.
pub fn join_by_invite(web: &Web, req: &Request, code: &str) -> Response {
    let Some(s) = session::current(web, req) else {
        return Response::redirect(&format!(
            "/login?next={}",
            percent_encode(&format!("/invite/{code}"))
        ));
    };
    let given = Form::parse(&req.body).ok();
    let given = given.as_ref().and_then(|f| f.get("csrf_token"));
    if !crate::auth::csrf::matches(&s.csrf_token(), given) {
        return invite_answer(
            web,
            req,
            code,
            403,
            Some("This form expired. Please try again."),
        );
    }
    match web.chat.accept_invite(&s.user, code) {
        Ok((group, _)) => Response::redirect(&format!("/chat#group-{}", group.id)),
        Err(r) if r.status() == 404 => error_page(web, 404, &r.message()),
        Err(r) => invite_answer(web, req, code, r.status(), Some(&r.message())),
    }
}

fn reset_form(
    web: &Web,
    req: &Request,
    token: &str,
    status: u16,
    error: Option<&str>,
    done: Option<&str>,
) -> Response {
    let username = match done {
        Some(name) => name.to_string(),
        None => match web.accounts.reset_link_user(token) {
            Ok(u) => u.username,
            Err(AccountError::Store(e)) => return db_error(web, &e),
            Err(e) => return error_page(web, 404, &e.to_string()),
        },
    };
    let (csrf_token, set_cookie) = form_token(req);
    let page = render(
        web,
        status,
        "reset.html",
        context! {
            v => &web.asset_version,
            username => username,
            token => token,
            csrf_token => csrf_token,
            error => error,
            done => done.is_some(),
        },
    );
    match set_cookie {
        Some(c) => page.with_header("Set-Cookie", c),
        None => page,
    }
}

/// `GET /reset/{token}`
pub fn reset_page(web: &Web, req: &Request, token: &str) -> Response {
    reset_form(web, req, token, 200, None, None)
}

/// `POST /reset/{token}` (`new_password`, `csrf_token`)
pub fn reset(web: &Web, req: &Request, token: &str) -> Response {
    let Ok(form) = Form::parse(&req.body) else {
        return reset_form(
            web,
            req,
            token,
            400,
            Some("The form could not be read."),
            None,
        );
    };
    if !form_token_ok(req, &form) {
        return reset_form(
            web,
            req,
            token,
            403,
            Some("This form expired. Please try again."),
            None,
        );
    }
    let new = form.get("new_password").unwrap_or("");
    match web.accounts.use_reset_link(token, new) {
        Ok(user) => reset_form(web, req, token, 200, None, Some(&user.username)),
        Err(AccountError::Invalid(why)) => reset_form(web, req, token, 400, Some(why), None),
        Err(AccountError::Store(e)) => db_error(web, &e),
        Err(e) => error_page(web, 404, &e.to_string()),
    }
}
