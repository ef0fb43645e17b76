//! HTML pages: `/`, register, login, logout, the `/chat` shell and error
//! pages. Forms before login use a double-submit CSRF cookie; after login
//! the token is derived from the session.

use minijinja::context;

use crate::auth::{self, csrf, session as tokens};
use crate::db::users;
use crate::http::form::Form;
use crate::http::{Request, Response, cookies};
use crate::util;

use super::App;
use super::session::{self, Session};

pub fn root(app: &App, req: &Request) -> Response {
    match session::current(app, req) {
        Some(_) => Response::redirect("/chat"),
        None => Response::redirect("/login"),
    }
}

pub fn chat(app: &App, req: &Request) -> Response {
    let Some(s) = session::current(app, req) else {
        return Response::redirect("/login");
    };
    render(
        app,
        200,
        "chat.html",
        context! {
            v => &app.asset_version,
            username => &s.user.username,
            user_id => s.user.id,
            csrf_token => s.csrf_token(),
            secure => req.secure,
            tls => req.tls_info.clone().unwrap_or_default(),
        },
    )
}

/// Which of the two account forms.
#[derive(Clone, Copy)]
enum AccountForm {
    Login,
    Register,
}

impl AccountForm {
    fn template(self) -> &'static str {
        match self {
            AccountForm::Login => "login.html",
            AccountForm::Register => "register.html",
        }
    }
}

/// The pre-login CSRF token from the request's cookie, or a fresh one with
/// the `Set-Cookie` that installs it.
fn form_token(req: &Request) -> (String, Option<String>) {
    match session::cookie(req, csrf::COOKIE) {
        Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (t.to_string(), None)
        }
        _ => {
            let t = util::random_token();
            let cookie = cookies::set(csrf::COOKIE, &t, 24 * 3600, req.secure);
            (t, Some(cookie))
        }
    }
}

fn account_page(
    app: &App,
    req: &Request,
    which: AccountForm,
    status: u16,
    error: Option<&str>,
    username: &str,
) -> Response {
    let (token, set_cookie) = form_token(req);
    let mut r = render(
        app,
        status,
        which.template(),
        context! { v => &app.asset_version, csrf_token => token, error => error, username => username },
    );
    if let Some(c) = set_cookie {
        r = r.with_header("Set-Cookie", c);
    }
    r
}

pub fn register_form(app: &App, req: &Request) -> Response {
    account_page(app, req, AccountForm::Register, 200, None, "")
}

pub fn login_form(app: &App, req: &Request) -> Response {
    account_page(app, req, AccountForm::Login, 200, None, "")
}

/// Parses an account form and checks its CSRF token; on failure, the page
/// to answer with.
fn account_form(
    app: &App,
    req: &Request,
    which: AccountForm,
) -> Result<(String, String), Response> {
    let Ok(form) = Form::parse(&req.body) else {
        return Err(account_page(
            app,
            req,
            which,
            400,
            Some("The form could not be read."),
            "",
        ));
    };
    let expected = session::cookie(req, csrf::COOKIE).unwrap_or("");
    if !csrf::matches(expected, form.get("csrf_token")) {
        return Err(account_page(
            app,
            req,
            which,
            403,
            Some("This form expired. Please try again."),
            "",
        ));
    }
    let username = form.get("username").unwrap_or("").trim().to_string();
    let password = form.get("password").unwrap_or("").to_string();
    Ok((username, password))
}

pub fn register(app: &App, req: &Request) -> Response {
    let which = AccountForm::Register;
    let (username, password) = match account_form(app, req, which) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let shown = if auth::validate_username(&username).is_ok() {
        username.as_str()
    } else {
        ""
    };
    if let Err(wait) = app.chat.registrations.take(req.peer) {
        return too_many(app, req, which, wait, shown);
    }
    if let Err(msg) = auth::validate_username(&username).and(auth::validate_password(&password)) {
        return account_page(app, req, which, 400, Some(msg), shown);
    }
    let taken = "That username is taken. Please choose another.";
    match users::find_by_name(&app.users_db, &username) {
        Ok(Some(_)) => return account_page(app, req, which, 400, Some(taken), shown),
        Ok(None) => {}
        Err(e) => return db_error(app, e),
    }
    let hash = app.passwords.hash(&password);
    match users::create(&app.users_db, &username, &hash, util::now_ms()) {
        Ok(Some(user)) => {
            crate::info!("registered user id={}", user.id);
            start_session(app, req, &user)
        }
        Ok(None) => account_page(app, req, which, 400, Some(taken), shown),
        Err(e) => db_error(app, e),
    }
}

pub fn login(app: &App, req: &Request) -> Response {
    let which = AccountForm::Login;
    let (username, password) = match account_form(app, req, which) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Err(wait) = app.chat.logins.take((
        req.peer,
        username.chars().take(32).collect::<String>().to_lowercase(),
    )) {
        return too_many(app, req, which, wait, &username);
    }
    let found = if auth::validate_username(&username).is_ok() && password.len() <= 1024 {
        match users::find_by_name(&app.users_db, &username) {
            Ok(f) => f,
            Err(e) => return db_error(app, e),
        }
    } else {
        None
    };
    let ok = app
        .passwords
        .verify(&password, found.as_ref().map(|(_, h)| h.as_str()));
    match found {
        Some((user, _)) if ok => start_session(app, req, &user),
        _ => account_page(
            app,
            req,
            which,
            401,
            Some("Invalid username or password."),
            &username,
        ),
    }
}

fn too_many(
    app: &App,
    req: &Request,
    which: AccountForm,
    wait: std::time::Duration,
    username: &str,
) -> Response {
    crate::metrics::inc(&crate::metrics::RATE_LIMITED);
    let secs = wait.as_secs() + 1;
    let msg = format!("Too many attempts. Please wait {secs} seconds and try again.");
    account_page(app, req, which, 429, Some(&msg), username)
        .with_header("Retry-After", secs.to_string())
}

/// Issues a new session (replacing any the request had) and goes to `/chat`.
fn start_session(app: &App, req: &Request, user: &users::User) -> Response {
    if let Some(old) = session::cookie(req, tokens::COOKIE) {
        let _ = users::delete_session(&app.users_db, &tokens::token_hash(old));
    }
    let token = tokens::new_token();
    let now = util::now_ms();
    if let Err(e) = users::create_session(
        &app.users_db,
        &tokens::token_hash(&token),
        user.id,
        now,
        now + tokens::LIFETIME_MS,
    ) {
        return db_error(app, e);
    }
    Response::redirect("/chat").with_header(
        "Set-Cookie",
        session::session_cookie(Some(&token), req.secure),
    )
}

pub fn logout(app: &App, req: &Request) -> Response {
    let clear = session::session_cookie(None, req.secure);
    let Some(s) = session::current(app, req) else {
        return Response::redirect("/login").with_header("Set-Cookie", clear);
    };
    let given = Form::parse(&req.body)
        .ok()
        .and_then(|f| f.get("csrf_token").map(str::to_string));
    if !csrf::matches(&s.csrf_token(), given.as_deref()) {
        return error_page(
            app,
            403,
            "This form expired. Go back, reload the page and try again.",
        );
    }
    end_session(app, &s);
    Response::redirect("/login").with_header("Set-Cookie", clear)
}

/// `GET /account`: the password-change form.
pub fn account(app: &App, req: &Request) -> Response {
    match session::current(app, req) {
        Some(s) => account_page_for(app, &s, 200, None, None),
        None => Response::redirect("/login"),
    }
}

fn account_page_for(
    app: &App,
    s: &Session,
    status: u16,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    render(
        app,
        status,
        "account.html",
        context! {
            v => &app.asset_version,
            username => &s.user.username,
            csrf_token => s.csrf_token(),
            error => error,
            notice => notice,
        },
    )
}

/// `POST /account/password`: needs the current password; ends every other
/// session of the user.
pub fn change_password(app: &App, req: &Request) -> Response {
    let Some(s) = session::current(app, req) else {
        return Response::redirect("/login");
    };
    let Ok(form) = Form::parse(&req.body) else {
        return account_page_for(app, &s, 400, Some("The form could not be read."), None);
    };
    if !csrf::matches(&s.csrf_token(), form.get("csrf_token")) {
        return account_page_for(
            app,
            &s,
            403,
            Some("This form expired. Please try again."),
            None,
        );
    }
    let current = form.get("current_password").unwrap_or("");
    let new = form.get("new_password").unwrap_or("");
    if let Err(msg) = auth::validate_password(new) {
        return account_page_for(app, &s, 400, Some(msg), None);
    }
    if let Err(wait) = app
        .chat
        .logins
        .take((req.peer, s.user.username.to_lowercase()))
    {
        let msg = format!(
            "Too many attempts. Please wait {} seconds.",
            wait.as_secs() + 1
        );
        return account_page_for(app, &s, 429, Some(&msg), None);
    }
    let stored = match users::password_hash(&app.users_db, s.user.id) {
        Ok(h) => h,
        Err(e) => return db_error(app, e),
    };
    if current.len() > 1024 || !app.passwords.verify(current, stored.as_deref()) {
        return account_page_for(
            app,
            &s,
            401,
            Some("The current password is not right."),
            None,
        );
    }
    let hash = app.passwords.hash(new);
    let revoked = users::set_password(&app.users_db, s.user.id, &hash).and_then(|_| {
        users::revoke_other_sessions(&app.users_db, s.user.id, &tokens::token_hash(&s.token))
    });
    match revoked {
        Ok(n) => {
            crate::info!(
                "password changed for user id={}; {n} other sessions ended",
                s.user.id
            );
            account_page_for(
                app,
                &s,
                200,
                None,
                Some("Password changed. You were logged out everywhere else."),
            )
        }
        Err(e) => db_error(app, e),
    }
}

fn end_session(app: &App, s: &Session) {
    if let Err(e) = users::delete_session(&app.users_db, &tokens::token_hash(&s.token)) {
        crate::error!("logout: {e}");
    }
}

fn render(app: &App, status: u16, name: &str, ctx: minijinja::Value) -> Response {
    match app.templates.render(name, ctx) {
        Ok(html) => Response::html(status, html),
        Err(e) => {
            crate::error!("template {name}: {e}");
            Response::text(500, "Internal server error")
        }
    }
}

/// An HTML error page.
pub fn error_page(app: &App, status: u16, message: &str) -> Response {
    let title = crate::http::response::reason(status);
    render(
        app,
        status,
        "error.html",
        context! { v => &app.asset_version, status => status, title => title, message => message },
    )
}

pub fn db_error(app: &App, e: rusqlite::Error) -> Response {
    crate::error!("database: {e}");
    error_page(
        app,
        500,
        "Something went wrong on our side. Please try again.",
    )
}
