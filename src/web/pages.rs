//! HTML pages: `/`, register, login, logout, the `/chat` shell, the account
//! page and error pages. Forms before login use a double-submit CSRF
//! cookie; after login the token is derived from the session. The account
//! flows themselves live in `auth::accounts`; here they are read from forms
//! and rendered.

use minijinja::context;

use super::Web;
use super::session::{self, current};
use crate::auth::{self, AccountError, Session, csrf, session as tokens};
use crate::http::form::Form;
use crate::http::{Request, Response, cookies};
use crate::util;

pub fn root(web: &Web, req: &Request) -> Response {
    match current(web, req) {
        Some(_) => Response::redirect("/chat"),
        None => Response::redirect("/login"),
    }
}

pub fn chat(web: &Web, req: &Request) -> Response {
    let Some(s) = current(web, req) else {
        return Response::redirect("/login");
    };
    render(
        web,
        200,
        "chat.html",
        context! {
            v => &web.asset_version,
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
        Some(t) if tokens::is_token_shape(t) => (t.to_string(), None),
        _ => {
            let t = util::random_token();
            let cookie = cookies::set(csrf::COOKIE, &t, 24 * 3600, req.secure);
            (t, Some(cookie))
        }
    }
}

fn account_page(
    web: &Web,
    req: &Request,
    which: AccountForm,
    status: u16,
    error: Option<&str>,
    username: &str,
) -> Response {
    let (token, set_cookie) = form_token(req);
    // `/login?ended=1`: where the client goes when its session ended.
    let ended = matches!(which, AccountForm::Login)
        && error.is_none()
        && req.query_param("ended").is_some();
    let mut r = render(
        web,
        status,
        which.template(),
        context! { v => &web.asset_version, csrf_token => token, error => error, username => username, ended => ended },
    );
    if let Some(c) = set_cookie {
        r = r.with_header("Set-Cookie", c);
    }
    r
}

pub fn register_form(web: &Web, req: &Request) -> Response {
    account_page(web, req, AccountForm::Register, 200, None, "")
}

pub fn login_form(web: &Web, req: &Request) -> Response {
    account_page(web, req, AccountForm::Login, 200, None, "")
}

/// Parses an account form and checks its CSRF token; on failure, the page
/// to answer with.
fn account_form(
    web: &Web,
    req: &Request,
    which: AccountForm,
) -> Result<(String, String), Response> {
    let Ok(form) = Form::parse(&req.body) else {
        let why = Some("The form could not be read.");
        return Err(account_page(web, req, which, 400, why, ""));
    };
    let expected = session::cookie(req, csrf::COOKIE).unwrap_or("");
    if !csrf::matches(expected, form.get("csrf_token")) {
        let why = Some("This form expired. Please try again.");
        return Err(account_page(web, req, which, 403, why, ""));
    }
    let username = form.get("username").unwrap_or("").trim().to_string();
    let password = form.get("password").unwrap_or("").to_string();
    Ok((username, password))
}

/// The form again with what went wrong (and `Retry-After` when limited).
fn refused(
    web: &Web,
    req: &Request,
    which: AccountForm,
    e: &AccountError,
    username: &str,
) -> Response {
    let status = match e {
        AccountError::Invalid(_) | AccountError::Taken => 400,
        AccountError::BadCredentials => 401,
        AccountError::RateLimited(_) => 429,
        AccountError::Store(e) => return db_error(web, e),
    };
    let page = account_page(web, req, which, status, Some(&e.to_string()), username);
    match e {
        AccountError::RateLimited(wait) => {
            crate::metrics::inc(&crate::metrics::RATE_LIMITED);
            page.with_header("Retry-After", (wait.as_secs() + 1).to_string())
        }
        _ => page,
    }
}

pub fn register(web: &Web, req: &Request) -> Response {
    let which = AccountForm::Register;
    let (username, password) = match account_form(web, req, which) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let shown = if auth::validate_username(&username).is_ok() {
        username.as_str()
    } else {
        ""
    };
    match web.accounts.register(&username, &password, req.peer) {
        Ok(user) => start_session(web, req, &user),
        Err(e) => refused(web, req, which, &e, shown),
    }
}

pub fn login(web: &Web, req: &Request) -> Response {
    let which = AccountForm::Login;
    let (username, password) = match account_form(web, req, which) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match web.accounts.login(&username, &password, req.peer) {
        Ok(user) => start_session(web, req, &user),
        Err(e) => refused(web, req, which, &e, &username),
    }
}

/// Issues a new session (replacing any the request had) and goes to `/chat`.
fn start_session(web: &Web, req: &Request, user: &crate::store::User) -> Response {
    let old = session::cookie(req, tokens::COOKIE);
    match web.accounts.start_session(user, old) {
        Ok(token) => Response::redirect("/chat").with_header(
            "Set-Cookie",
            session::session_cookie(Some(&token), req.secure),
        ),
        Err(e) => db_error(web, &e),
    }
}

pub fn logout(web: &Web, req: &Request) -> Response {
    let clear = session::session_cookie(None, req.secure);
    let Some(s) = current(web, req) else {
        return Response::redirect("/login").with_header("Set-Cookie", clear);
    };
    let given = Form::parse(&req.body)
        .ok()
        .and_then(|f| f.get("csrf_token").map(str::to_string));
    if !csrf::matches(&s.csrf_token(), given.as_deref()) {
        return error_page(
            web,
            403,
            "This form expired. Go back, reload the page and try again.",
        );
    }
    web.accounts.end_session(&s);
    Response::redirect("/login").with_header("Set-Cookie", clear)
}

/// `GET /account`: the password-change form.
pub fn account(web: &Web, req: &Request) -> Response {
    match current(web, req) {
        Some(s) => account_page_for(web, &s, 200, None, None),
        None => Response::redirect("/login"),
    }
}

fn account_page_for(
    web: &Web,
    s: &Session,
    status: u16,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    render(
        web,
        status,
        "account.html",
        context! {
            v => &web.asset_version,
            username => &s.user.username,
            csrf_token => s.csrf_token(),
            error => error,
            notice => notice,
        },
    )
}

/// `POST /account/password`: needs the current password; ends every other
/// session of the user.
pub fn change_password(web: &Web, req: &Request) -> Response {
    let Some(s) = current(web, req) else {
        return Response::redirect("/login");
    };
    let Ok(form) = Form::parse(&req.body) else {
        return account_page_for(web, &s, 400, Some("The form could not be read."), None);
    };
    if !csrf::matches(&s.csrf_token(), form.get("csrf_token")) {
        let why = Some("This form expired. Please try again.");
        return account_page_for(web, &s, 403, why, None);
    }
    let current_pw = form.get("current_password").unwrap_or("");
    let new = form.get("new_password").unwrap_or("");
    match web.accounts.change_password(&s, current_pw, new, req.peer) {
        Ok(_) => {
            let done = Some("Password changed. You were logged out everywhere else.");
            account_page_for(web, &s, 200, None, done)
        }
        Err(AccountError::Invalid(why)) => account_page_for(web, &s, 400, Some(why), None),
        Err(AccountError::RateLimited(wait)) => {
            let msg = format!(
                "Too many attempts. Please wait {} seconds.",
                wait.as_secs() + 1
            );
            account_page_for(web, &s, 429, Some(&msg), None)
        }
        Err(AccountError::BadCredentials | AccountError::Taken) => {
            let why = Some("The current password is not right.");
            account_page_for(web, &s, 401, why, None)
        }
        Err(AccountError::Store(e)) => db_error(web, &e),
    }
}

fn render(web: &Web, status: u16, name: &str, ctx: minijinja::Value) -> Response {
    match web.templates.render(name, ctx) {
        Ok(html) => Response::html(status, html),
        Err(e) => {
            crate::error!("template {name}: {e}");
            Response::text(500, "Internal server error")
        }
    }
}

/// An HTML error page.
pub fn error_page(web: &Web, status: u16, message: &str) -> Response {
    let title = crate::http::response::reason(status);
    render(
        web,
        status,
        "error.html",
        context! { v => &web.asset_version, status => status, title => title, message => message },
    )
}

fn db_error(web: &Web, e: &crate::store::StoreError) -> Response {
    crate::error!("{e}");
    error_page(
        web,
        500,
        "Something went wrong on our side. Please try again.",
    )
}
