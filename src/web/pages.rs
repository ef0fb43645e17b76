//! HTML pages: `/`, register, login, logout, the `/chat` shell, the account
//! page and error pages. Forms before login use a double-submit CSRF
//! cookie; after login the token is derived from the session. The account
//! flows themselves live in `auth::accounts`; here they are read from forms
//! and rendered.

use minijinja::context;

use super::Web;
use super::session::{self, current};
use crate::auth::{self, AccountError, Registration, Session, csrf, session as tokens};
use crate::http::form::{Form, percent_encode};
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
            admin => s.user.admin,
            csrf_token => s.csrf_token(),
            max_upload => web.chat.max_upload(),
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
pub(super) fn form_token(req: &Request) -> (String, Option<String>) {
    match session::cookie(req, csrf::COOKIE) {
        Some(t) if tokens::is_token_shape(t) => (t.to_string(), None),
        _ => {
            let t = util::random_token();
            let cookie = cookies::set(csrf::COOKIE, &t, 24 * 3600, req.secure);
            (t, Some(cookie))
        }
    }
}

/// Whether a pre-login form's CSRF token matches its cookie.
pub(super) fn form_token_ok(req: &Request, form: &Form) -> bool {
    let expected = session::cookie(req, csrf::COOKIE).unwrap_or("");
    csrf::matches(expected, form.get("csrf_token"))
}

/// A local path to go back to after logging in (`?next=` or the form's
/// `next`): only paths on this site.
fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?;
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 512
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    ok.then(|| next.to_string())
}

/// What an account form was filled with.
#[derive(Default)]
struct Filled {
    username: String,
    password: String,
    invite: Option<String>,
    next: Option<String>,
}

fn account_page(
    web: &Web,
    req: &Request,
    which: AccountForm,
    status: u16,
    error: Option<&str>,
    filled: &Filled,
) -> Response {
    let (token, set_cookie) = form_token(req);
    // `/login?ended=1`: where the client goes when its session ended.
    let ended = matches!(which, AccountForm::Login)
        && error.is_none()
        && req.query_param("ended").is_some();
    let next = filled
        .next
        .clone()
        .or_else(|| safe_next(req.query_param("next").as_deref()));
    let invite = filled
        .invite
        .clone()
        .or_else(|| req.query_param("invite"))
        .unwrap_or_default();
    let next_q = next.as_deref().map(percent_encode).unwrap_or_default();
    let mut r = render(
        web,
        status,
        which.template(),
        context! {
            v => &web.asset_version,
            csrf_token => token,
            error => error,
            username => &filled.username,
            ended => ended,
            next => next,
            next_q => next_q,
            mode => web.accounts.registration().as_str(),
            invite => invite,
        },
    );
    if let Some(c) = set_cookie {
        r = r.with_header("Set-Cookie", c);
    }
    r
}

/// `GET /register`: 403 when registration is closed.
pub fn register_form(web: &Web, req: &Request) -> Response {
    let status = if web.accounts.registration() == Registration::Closed {
        403
    } else {
        200
    };
    account_page(
        web,
        req,
        AccountForm::Register,
        status,
        None,
        &Filled::default(),
    )
}

pub fn login_form(web: &Web, req: &Request) -> Response {
    account_page(web, req, AccountForm::Login, 200, None, &Filled::default())
}

/// Parses an account form and checks its CSRF token; on failure, the page
/// to answer with.
fn account_form(web: &Web, req: &Request, which: AccountForm) -> Result<Filled, Response> {
    let Ok(form) = Form::parse(&req.body) else {
        let why = Some("The form could not be read.");
        return Err(account_page(web, req, which, 400, why, &Filled::default()));
    };
    if !form_token_ok(req, &form) {
        let why = Some("This form expired. Please try again.");
        return Err(account_page(web, req, which, 403, why, &Filled::default()));
    }
    Ok(Filled {
        username: form.get("username").unwrap_or("").trim().to_string(),
        password: form.get("password").unwrap_or("").to_string(),
        invite: form.get("invite").map(|c| c.trim().to_string()),
        next: safe_next(form.get("next")),
    })
}

/// The form again with what went wrong (and `Retry-After` when limited).
fn refused(
    web: &Web,
    req: &Request,
    which: AccountForm,
    e: &AccountError,
    filled: &Filled,
) -> Response {
    let status = match e {
        AccountError::Invalid(_) | AccountError::Taken => 400,
        AccountError::BadCredentials => 401,
        AccountError::RateLimited(_) => 429,
        AccountError::RegistrationClosed | AccountError::BadInvite | AccountError::NotAdmin => 403,
        AccountError::BadResetLink | AccountError::NoSuchUser => 404,
        AccountError::LastAdmin => 409,
        AccountError::Store(e) => return db_error(web, e),
    };
    let page = account_page(web, req, which, status, Some(&e.to_string()), filled);
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
    if web.accounts.registration() == Registration::Closed {
        return account_page(web, req, which, 403, None, &Filled::default());
    }
    let mut filled = match account_form(web, req, which) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let result = web.accounts.register(
        &filled.username,
        &filled.password,
        req.peer,
        filled.invite.as_deref(),
    );
    if auth::validate_username(&filled.username).is_err() {
        filled.username.clear();
    }
    match result {
        Ok(user) => start_session(web, req, &user, filled.next.as_deref()),
        Err(e) => refused(web, req, which, &e, &filled),
    }
}

pub fn login(web: &Web, req: &Request) -> Response {
    let which = AccountForm::Login;
    let filled = match account_form(web, req, which) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match web
        .accounts
        .login(&filled.username, &filled.password, req.peer)
    {
        Ok(user) => start_session(web, req, &user, filled.next.as_deref()),
        Err(e) => refused(web, req, which, &e, &filled),
    }
}

/// Issues a new session (replacing any the request had) and goes to
/// `next` (a local path), else `/chat`.
fn start_session(
    web: &Web,
    req: &Request,
    user: &crate::store::User,
    next: Option<&str>,
) -> Response {
    let old = session::cookie(req, tokens::COOKIE);
    match web.accounts.start_session(user, old) {
        Ok(token) => Response::redirect(next.unwrap_or("/chat")).with_header(
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
        Err(AccountError::Store(e)) => db_error(web, &e),
        Err(_) => {
            let why = Some("The current password is not right.");
            account_page_for(web, &s, 401, why, None)
        }
    }
}

pub(super) fn render(web: &Web, status: u16, name: &str, ctx: minijinja::Value) -> Response {
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

pub(super) fn db_error(web: &Web, e: &crate::store::StoreError) -> Response {
    if let crate::store::StoreError::Unavailable(_) = e {
        // PostgreSQL is away (the event follower's log lines say so).
        return error_page(
            web,
            503,
            "The database is unavailable just now. Please try again in a moment.",
        );
    }
    crate::error!("{e}");
    error_page(
        web,
        500,
        "Something went wrong on our side. Please try again.",
    )
}
