//! Integration tests for the HTTP foundation: redirects, accounts, sessions,
//! CSRF and Origin checks, security headers, static assets, request limits,
//! the command line and logging. Every test drives the real binary over
//! real sockets.

mod common;
use common::html::*;
use common::*;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";

// ---------------------------------------------------------------- helpers

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The token in a `Set-Cookie: session=<token>; ...` value.
fn cookie_value(set_cookie: &str) -> String {
    let first = set_cookie.split(';').next().unwrap();
    first.split_once('=').unwrap().1.trim().to_string()
}

/// The attributes of a `Set-Cookie` value after the name=value pair.
fn cookie_attrs(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_string())
        .collect()
}

/// A raw `GET` of exactly `target`, with nothing normalising the path.
fn raw_get(addr: SocketAddr, target: &str) -> Vec<u8> {
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw(addr, req.as_bytes(), Duration::from_secs(5))
}

/// `GET /api/me` from a fresh client that sends only `session=<token>`.
fn me_with_token(server: &Server, token: &str) -> Resp {
    let mut c = server.client();
    c.cookies.insert("session".into(), token.into());
    c.get("/api/me")
}

/// Waits (briefly) until the server log satisfies `pred`, then returns it.
/// Request lines are written after the response, so they may lag a little.
fn wait_log(server: &Server, pred: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let log = server.log_text();
        if pred(&log) || Instant::now() > until {
            return log;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn has_request_line(log: &str, method: &str, path: &str, status: u16) -> bool {
    log.lines().any(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words.contains(&method)
            && words.contains(&path)
            && words.contains(&status.to_string().as_str())
    })
}

/// Everything stored in the data dir's SQLite files (including WAL/SHM).
fn db_bytes(data: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(data).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".sqlite3") {
            all.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs the binary with `args`, killing it if it has not exited in 10 s.
fn run_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let dir = TempDir::new("cli");
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("securechat {args:?} did not exit within 10 s");
    }
    (
        status.unwrap().code(),
        t_out.join().unwrap(),
        t_err.join().unwrap(),
    )
}

/// Form fields `creds` plus `csrf_token=t`.
fn with<'a>(creds: &[(&'a str, &'a str)], t: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut v = creds.to_vec();
    v.push(("csrf_token", t));
    v
}

fn assert_security_headers(what: &str, r: &Resp) {
    let csp = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy: {:?}", r.headers));
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: CSP {csp}");
    assert!(!csp.contains("'unsafe-inline'"), "{what}: CSP {csp}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}: {:?}",
        r.headers
    );
    assert_eq!(
        r.header("referrer-policy"),
        Some("same-origin"),
        "{what}: {:?}",
        r.headers
    );
}

fn assert_no_store(what: &str, r: &Resp) {
    let cc = r.header("cache-control").unwrap_or("");
    assert!(cc.contains("no-store"), "{what}: Cache-Control {cc:?}");
}

// ------------------------------------------------------------ redirects

#[test]
fn root_and_chat_redirect_by_session() {
    let s = Server::start(&[]);
    let mut anon = s.client();
    let r = anon.get("/");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
    let r = anon.get("/chat");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));

    let mut c = user(&s, "redir_user");
    let r = c.get("/");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/chat"));
    let r = c.get("/chat");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(r.text().contains("redir_user"));
}

// ------------------------------------------------------------- register

#[test]
fn register_sets_session_cookie_and_api_me_works() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let token = c.form_token("/register");
    let r = c.post_form(
        "/register",
        &[
            ("username", "Reg_User.1"),
            ("password", PW),
            ("csrf_token", &token),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/chat"));
    let sc = r
        .session_set_cookie()
        .expect("register sets the session cookie");
    let value = cookie_value(&sc);
    assert!(
        value.len() >= 32 && is_hex(&value),
        "session token {value:?}"
    );
    let attrs = cookie_attrs(&sc);
    for want in ["Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(
            attrs.iter().any(|a| a.eq_ignore_ascii_case(want)),
            "missing {want} in {sc}"
        );
    }
    assert!(
        !attrs.iter().any(|a| a.eq_ignore_ascii_case("Secure")),
        "Secure over plain HTTP: {sc}"
    );

    let r = c.get("/api/me");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/json")
    );
    let me = r.json();
    assert!(me["id"].as_i64().is_some_and(|id| id > 0), "{me}");
    assert_eq!(me["username"], "Reg_User.1");
    assert_eq!(
        me["admin"], true,
        "the first account is a server admin: {me}"
    );
    assert_eq!(me.as_object().unwrap().len(), 3, "{me}");
}

#[test]
fn register_rejects_duplicate_usernames_case_insensitively() {
    let s = Server::start(&[]);
    let _first = user(&s, "dupuser");
    for name in ["dupuser", "DupUser", "DUPUSER"] {
        let mut c = s.client();
        let r = c.register(name, PW);
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("text/html"),
            "{name}"
        );
        let body = r.text();
        assert!(
            alert_text(&body).is_some_and(|t| !t.is_empty()),
            "{name}: {body}"
        );
        assert!(
            body.contains("action=\"/register\""),
            "form re-rendered: {body}"
        );
        assert!(
            r.session_set_cookie().is_none(),
            "{name}: no session on failure"
        );
        assert_eq!(c.get("/api/me").status, 401);
    }
}

#[test]
fn register_rejects_invalid_usernames_and_passwords() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let token = c.form_token("/register");
    let long_name = "a".repeat(33);
    let long_pw = "p".repeat(1025);
    let cases: [(&str, &str); 6] = [
        ("ab", PW),
        (&long_name, PW),
        ("bad name", PW),
        ("<script>", PW),
        ("goodname1", "1234567"),
        ("goodname2", &long_pw),
    ];
    for (name, pw) in cases {
        let r = c.post_form(
            "/register",
            &[("username", name), ("password", pw), ("csrf_token", &token)],
        );
        let what = format!("username {:?} / password of {} bytes", name, pw.len());
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        let body = r.text();
        assert!(
            alert_text(&body).is_some_and(|t| !t.is_empty()),
            "{what}: {body}"
        );
        assert!(!body.contains("<script>"), "{what}: input echoed unescaped");
        assert!(r.session_set_cookie().is_none(), "{what}: session issued");
    }
    assert_eq!(c.get("/api/me").status, 401);
    // Boundaries that must be accepted: 32-char name, 8-byte password, 1024-byte password.
    let ok_name = "b".repeat(32);
    let ok_pw = "q".repeat(1024);
    for (name, pw) in [(ok_name.as_str(), "12345678"), ("abc", ok_pw.as_str())] {
        let mut c = s.client();
        let r = c.register(name, pw);
        assert_eq!(r.status, 303, "{name}: {}", r.text());
    }
}

#[test]
fn account_pages_link_each_other_and_label_inputs() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let reg = c.get("/register");
    assert_eq!(reg.status, 200);
    let reg = reg.text();
    let login = c.get("/login");
    assert_eq!(login.status, 200);
    let login = login.text();

    assert!(reg.contains("href=\"/login\""), "register links to login");
    assert!(
        login.contains("href=\"/register\""),
        "login links to register"
    );
    for (page, html, button) in [("register", &reg, "Register"), ("login", &login, "Log in")] {
        assert_eq!(
            labelled_input_name(html, "Username").as_deref(),
            Some("username"),
            "{page}: Username label"
        );
        assert_eq!(
            labelled_input_name(html, "Password").as_deref(),
            Some("password"),
            "{page}: Password label"
        );
        assert!(
            html.contains(&format!(">{button}</button>")),
            "{page}: button {button}"
        );
        let token = hidden_value(html, "csrf_token").expect("csrf_token field");
        assert!(token.len() >= 32, "{page}: csrf token {token:?}");
        assert!(
            html.contains("type=\"password\""),
            "{page}: password input hidden"
        );
        assert!(
            alert_text(html).is_none(),
            "{page}: no alert on a fresh form"
        );
    }
}

// ---------------------------------------------------------- login/logout

#[test]
fn login_issues_new_token_each_time_and_fails_generically() {
    let s = Server::start(&[]);
    let a = user(&s, "loginuser");
    let t0 = a.cookies["session"].clone();

    let mut b = s.client();
    let r = b.login("loginuser", PW);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/chat"));
    let t1 = cookie_value(&r.session_set_cookie().expect("login sets session"));
    assert_ne!(t1, t0, "login must issue a new token");
    // Logging in again while holding a session issues yet another token.
    let r = b.login("loginuser", PW);
    assert_eq!(r.status, 303);
    let t2 = cookie_value(&r.session_set_cookie().expect("login sets session"));
    assert_ne!(t2, t1, "second login must issue a new token");
    assert_ne!(t2, t0);
    let me = b.get("/api/me");
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "loginuser");

    let mut c = s.client();
    let wrong = c.login("loginuser", "wrong password!");
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    assert!(wrong.session_set_cookie().is_none());
    let unknown = c.login("nosuchuser", PW);
    assert_eq!(unknown.status, 401, "{}", unknown.text());
    assert!(unknown.session_set_cookie().is_none());
    let m1 = alert_text(&wrong.text()).expect("alert on wrong password");
    let m2 = alert_text(&unknown.text()).expect("alert on unknown user");
    assert!(!m1.is_empty());
    assert_eq!(m1, m2, "same message for unknown user and wrong password");
    assert_eq!(c.get("/api/me").status, 401);
}

#[test]
fn logout_deletes_session_server_side() {
    let s = Server::start(&[]);
    let mut c = user(&s, "logoutuser");
    let token = c.cookies["session"].clone();
    assert_eq!(me_with_token(&s, &token).status, 200);

    let page = c.get("/chat").text();
    let csrf = hidden_value(&page, "csrf_token").expect("logout form has csrf_token");
    let r = c.post_form("/logout", &[("csrf_token", &csrf)]);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/login"));
    let cleared = r.session_set_cookie().expect("logout clears the cookie");
    assert!(
        cookie_value(&cleared).is_empty() || cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    // Replaying the old cookie by hand: the session is gone server-side.
    let r = me_with_token(&s, &token);
    assert_eq!(r.status, 401, "{}", r.text());
    let mut replay = s.client();
    replay.cookies.insert("session".into(), token.clone());
    let r = replay.get("/chat");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
}

/// The admin page's row of `name`, up to its `</tr>`.
fn admin_row(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("data-username=\"{name}\""))
        .unwrap_or_else(|| panic!("no row for {name}: {page}"));
    let row = &page[at..];
    row[..row.find("</tr>").unwrap()].to_string()
}

#[test]
fn using_a_session_counts_as_being_seen() {
    let s = Server::start(&[]);
    let mut admin = user(&s, "firstadmin");
    // bob registered and uses the session he got; he never logs in again.
    let mut bob = user(&s, "seenbob");
    assert_eq!(bob.get("/api/me").status, 200);
    let page = admin.get("/admin");
    assert_eq!(page.status, 200, "{}", page.text());
    let row = admin_row(&page.text(), "seenbob");
    assert!(
        !row.contains("never") && row.contains("<time"),
        "bob was seen, not never: {row}"
    );
}

// ------------------------------------------------------------------ CSRF

#[test]
fn csrf_required_on_register_and_login() {
    let s = Server::start(&[]);
    let creds = [("username", "csrfuser"), ("password", PW)];

    // Register: no cookie and no field; cookie but no field; wrong field;
    // another client's token.
    let mut c = s.client();
    assert_eq!(c.post_form("/register", &creds).status, 403);
    let token = c.form_token("/register");
    assert_eq!(c.post_form("/register", &creds).status, 403);
    let mut wrong = token.clone();
    let last = if wrong.ends_with('0') { "1" } else { "0" };
    wrong.replace_range(wrong.len() - 1.., last);
    assert_eq!(c.post_form("/register", &with(&creds, &wrong)).status, 403);
    assert_eq!(c.post_form("/register", &with(&creds, "")).status, 403);
    let other = s.client().form_token("/register");
    assert_ne!(other, token);
    assert_eq!(c.post_form("/register", &with(&creds, &other)).status, 403);
    assert!(!c.cookies.contains_key("session"));
    // None of those created the account: it can still be registered.
    let r = c.post_form("/register", &with(&creds, &token));
    assert_eq!(r.status, 303, "{}", r.text());

    // Login: the same refusals, then success with the right token.
    let mut d = s.client();
    assert_eq!(d.post_form("/login", &creds).status, 403);
    let token = d.form_token("/login");
    assert_eq!(d.post_form("/login", &creds).status, 403);
    assert_eq!(d.post_form("/login", &with(&creds, &wrong)).status, 403);
    assert_eq!(d.post_form("/login", &with(&creds, &other)).status, 403);
    assert!(!d.cookies.contains_key("session"));
    assert_eq!(d.get("/api/me").status, 401);
    let r = d.post_form("/login", &with(&creds, &token));
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(d.get("/api/me").status, 200);
}

#[test]
fn csrf_required_on_logout_and_exposed_on_chat_page() {
    let s = Server::start(&[]);
    let mut c = user(&s, "csrflogout");
    let page = c.get("/chat").text();
    let meta = meta_content(&page, "csrf-token").expect("chat page has csrf-token meta");
    assert!(meta.len() >= 32, "csrf meta {meta:?}");
    let form = hidden_value(&page, "csrf_token").expect("logout form token");
    assert_eq!(meta, form, "meta and form token agree");

    let r = c.post_form("/logout", &[]);
    assert_eq!(r.status, 403, "no token: {}", r.text());
    let r = c.post_form("/logout", &[("csrf_token", &"0".repeat(meta.len()))]);
    assert_eq!(r.status, 403, "wrong token");
    let pre_login = c.form_token("/login");
    assert_ne!(pre_login, meta);
    let r = c.post_form("/logout", &[("csrf_token", &pre_login)]);
    assert_eq!(r.status, 403, "a pre-login form token is not the session's");
    // Another user's token does not work either.
    let other = user(&s, "csrfother");
    let other_token = other.csrf.clone().expect("other csrf");
    let r = c.post_form("/logout", &[("csrf_token", &other_token)]);
    assert_eq!(r.status, 403, "another session's token");

    // The session survived every refused logout.
    assert_eq!(c.get("/api/me").status, 200);
    let r = c.post_form("/logout", &[("csrf_token", &meta)]);
    assert_eq!(r.status, 303);
    assert_eq!(c.get("/api/me").status, 401);
}

// ---------------------------------------------------------------- Origin

#[test]
fn foreign_origin_refused_own_origin_allowed() {
    let s = Server::start(&[]);
    let _u = user(&s, "originuser");
    let login = |origin: &str| {
        let mut c = s.client();
        c.origin = Some(origin.to_string());
        let r = c.login("originuser", PW);
        (r, c)
    };
    let https_self = format!("https://{}", s.addr);
    for bad in ["http://evil.example", "null", https_self.as_str()] {
        let (r, c) = login(bad);
        assert_eq!(r.status, 403, "Origin {bad}: {}", r.text());
        assert!(!c.cookies.contains_key("session"), "Origin {bad}");
    }
    let (r, mut c) = login(&s.origin());
    assert_eq!(r.status, 303, "own origin: {}", r.text());
    assert_eq!(c.get("/api/me").status, 200);
}

// --------------------------------------------------------------- storage

#[test]
fn session_survives_restart_and_db_stores_no_raw_token() {
    // Reads the SQLite files themselves.
    crate::sqlite_only!();
    let dir = TempDir::new("restart");
    let data = dir.path().join("data");
    let mut s1 = Server::start_in(&data, dir.path(), &[]);
    let c = user(&s1, "persist_user");
    let token = c.cookies["session"].clone();
    let me1 = me_with_token(&s1, &token);
    assert_eq!(me1.status, 200);
    let id = me1.json()["id"].as_i64().unwrap();

    assert!(data.join("users.sqlite3").is_file(), "users.sqlite3 exists");
    assert!(data.join("chat.sqlite3").is_file(), "chat.sqlite3 exists");
    let bytes = db_bytes(&data);
    assert!(
        contains(&bytes, b"persist_user"),
        "the search sees the stored user"
    );
    assert!(
        !contains(&bytes, token.as_bytes()),
        "raw session token stored"
    );
    assert!(!contains(&bytes, token.to_uppercase().as_bytes()));

    let started = Instant::now();
    let status = s1.terminate();
    assert!(status.success(), "SIGTERM exit status {status:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "slow shutdown");
    let bytes = db_bytes(&data);
    assert!(contains(&bytes, b"persist_user"));
    assert!(
        !contains(&bytes, token.as_bytes()),
        "raw session token stored"
    );
    drop(s1);

    let s2 = Server::start_in(&data, dir.path(), &[]);
    let r = me_with_token(&s2, &token);
    assert_eq!(r.status, 200, "session after restart: {}", r.text());
    assert_eq!(r.json()["id"].as_i64(), Some(id));
    assert_eq!(r.json()["username"], "persist_user");
    // And a token that was never issued is still refused.
    assert_eq!(me_with_token(&s2, &"ab".repeat(32)).status, 401);
}

// --------------------------------------------------------------- headers

#[test]
fn security_headers_on_every_response() {
    let s = Server::start(&[]);
    let mut c = s.client();

    let page = c.get("/login");
    assert_eq!(page.status, 200);
    let not_found = c.get("/no/such/page");
    assert_eq!(not_found.status, 404);
    let redirect = c.get("/");
    assert_eq!(redirect.status, 303);
    let api = c.get("/api/me");
    assert_eq!(api.status, 401);
    let not_allowed = c.request("DELETE", "/login", &[], b"");
    assert_eq!(not_allowed.status, 405);
    let asset = c.get("/static/css/app.css?v=1");
    assert_eq!(asset.status, 200);
    let malformed = parse_response(&raw(
        s.addr,
        b"\x01\x02 garbage\r\n\r\n",
        Duration::from_secs(5),
    ));
    assert_eq!(malformed.status, 400);

    for (what, r) in [
        ("page", &page),
        ("404", &not_found),
        ("303", &redirect),
        ("api 401", &api),
        ("405", &not_allowed),
        ("static", &asset),
        ("malformed 400", &malformed),
    ] {
        assert_security_headers(what, r);
    }
    for (what, r) in [
        ("page", &page),
        ("404", &not_found),
        ("303", &redirect),
        ("api 401", &api),
    ] {
        assert_no_store(what, r);
    }
    // A logged-in page and a successful API answer too.
    let mut u = user(&s, "hdruser");
    let chat = u.get("/chat");
    assert_security_headers("chat", &chat);
    assert_no_store("chat", &chat);
    let me = u.get("/api/me");
    assert_eq!(me.status, 200);
    assert_security_headers("api 200", &me);
    assert_no_store("api 200", &me);
}

#[test]
fn static_assets_versioned_and_cached() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let page = c.get("/login").text();
    let at = page
        .find("/static/css/app.css?v=")
        .expect("login page links the stylesheet with ?v=");
    let url = &page[at..at + page[at..].find('"').unwrap()];
    assert!(url.len() > "/static/css/app.css?v=".len(), "{url}");

    let css = c.get(url);
    assert_eq!(css.status, 200, "{url}");
    let ct = css.header("content-type").unwrap_or("");
    assert!(ct.starts_with("text/css"), "{ct}");
    let cc = css.header("cache-control").unwrap_or("");
    assert!(
        cc.contains("immutable") && cc.contains("max-age=31536000"),
        "{cc}"
    );
    assert!(!css.body.is_empty());

    let js = c.get("/static/js/theme.js?v=x");
    assert_eq!(js.status, 200);
    let ct = js.header("content-type").unwrap_or("");
    assert!(ct.starts_with("text/javascript"), "{ct}");
    assert!(!js.body.is_empty());

    let missing = c.get("/static/css/nope.css?v=1");
    assert_eq!(missing.status, 404);
}

#[test]
fn asset_version_env_sets_page_urls() {
    let s = Server::start_env(&[], &[("ASSET_VERSION", "testver-42")]);
    let mut c = s.client();
    let page = c.get("/login").text();
    assert!(page.contains("/static/css/app.css?v=testver-42"), "{page}");
    assert!(page.contains("/static/js/theme.js?v=testver-42"), "{page}");
    let mut u = user(&s, "assetuser");
    let chat = u.get("/chat").text();
    for (what, html) in [("login", &page), ("chat", &chat)] {
        let n = html.matches("?v=").count();
        assert!(n >= 2, "{what}: asset URLs");
        assert_eq!(html.matches("?v=testver-42").count(), n, "{what}: {html}");
    }
    assert_eq!(c.get("/static/css/app.css?v=testver-42").status, 200);
}

#[test]
fn unversioned_assets_revalidate_with_etag() {
    let s = Server::start_env(&[], &[("ASSET_VERSION", "etag-test")]);
    let mut c = s.client();
    let r = c.get("/static/js/app.js");
    assert_eq!(r.status, 200);
    let etag = r.header("etag").unwrap().to_string();
    assert_eq!(etag, "\"etag-test\"");
    let r = c.request("GET", "/static/js/app.js", &[("If-None-Match", &etag)], b"");
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(
        c.request(
            "GET",
            "/static/js/app.js",
            &[("If-None-Match", "\"old\"")],
            b""
        )
        .status,
        200
    );
}

// ------------------------------------------------------------- traversal

#[test]
fn static_traversal_refused() {
    let s = Server::start(&[]);
    for target in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/%2E%2E/Cargo.toml",
        "/static/%2e%2e%2fCargo.toml",
        "/static/..%5cCargo.toml",
        "/static/..\\Cargo.toml",
        "/static/css/../../Cargo.toml",
        "/static/css/%2e%2e/%2e%2e/Cargo.toml",
        "/static/./../Cargo.toml",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
    ] {
        let bytes = raw_get(s.addr, target);
        let r = parse_response(&bytes);
        assert!(
            r.status == 400 || r.status == 404,
            "{target}: status {}",
            r.status
        );
        let text = r.text();
        assert!(
            !text.contains("[package]") && !text.contains("root:"),
            "{target}: leaked file contents"
        );
    }
    // The server is unharmed and still serves real assets.
    let r = parse_response(&raw_get(s.addr, "/static/css/app.css?v=1"));
    assert_eq!(r.status, 200);
}

// ------------------------------------------------------------- malformed

#[test]
fn malformed_requests_refused() {
    let s = Server::start(&[]);
    let t = Duration::from_secs(5);

    let r = parse_response(&raw(s.addr, b"\x16\x03\x01\x02\x00garbage\r\n\r\n", t));
    assert_eq!(r.status, 400, "garbage");
    let r = parse_response(&raw(s.addr, b"this is not http at all\r\n\r\n", t));
    assert_eq!(r.status, 400, "text garbage");

    // A head of exactly 16 KiB + 1 bytes with no end in sight.
    let mut big = format!("GET / HTTP/1.1\r\nHost: {}\r\nX-Big: ", s.addr).into_bytes();
    big.resize(16 * 1024 + 1, b'a');
    let r = parse_response(&raw(s.addr, &big, t));
    assert_eq!(r.status, 431, "head just over 16 KiB");
    // A complete head far over the limit.
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nX-Big: {}\r\n\r\n",
        s.addr,
        "a".repeat(40 * 1024)
    );
    let r = parse_response(&raw(s.addr, huge.as_bytes(), t));
    assert_eq!(r.status, 431, "40 KiB head");

    let req = format!(
        "POST /login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 99999999\r\n\r\n",
        s.addr
    );
    let r = parse_response(&raw(s.addr, req.as_bytes(), t));
    assert_eq!(r.status, 413, "huge Content-Length");

    // Still serving.
    assert_eq!(s.client().get("/healthz").status, 200);
}

#[test]
fn slow_head_is_cut_off_with_408() {
    let s = Server::start(&[]);
    let stream = TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(25)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Slow: ", s.addr).into_bytes();
    let started = Instant::now();
    let trickle = std::thread::spawn(move || {
        // The head never ends: after the prefix, one more header byte at a time.
        for b in head.into_iter().chain(std::iter::repeat(b'a')) {
            if stop2.load(Ordering::Relaxed) || writer.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let mut out = Vec::new();
    let mut reader = &stream;
    let _ = reader.read_to_end(&mut out);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    trickle.join().unwrap();

    let r = parse_response(&out);
    assert_eq!(r.status, 408, "{:?}", String::from_utf8_lossy(&out));
    assert!(
        elapsed >= Duration::from_secs(9) && elapsed <= Duration::from_secs(15),
        "cut off after {elapsed:?}"
    );
    // The server still serves a normal request.
    let r = s.client().get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok");
}

#[test]
fn not_found_is_html_for_pages_and_json_for_api() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let r = c.get("/definitely-not-here");
    assert_eq!(r.status, 404);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(r.text().contains("<html"), "{}", r.text());

    for path in ["/api/definitely-not-here", "/api/groups/0/messages"] {
        let r = c.get(path);
        assert_eq!(r.status, 404, "{path}");
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "{path}"
        );
        let j = r.json();
        assert!(
            j["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {j}"
        );
        assert!(
            j["message"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {j}"
        );
    }
}

#[test]
fn method_not_allowed_has_allow() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let r = c.request("DELETE", "/login", &[], b"");
    assert_eq!(r.status, 405);
    let allow = r.header("allow").expect("Allow on 405").to_string();
    let methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    assert!(
        methods.contains(&"GET") && methods.contains(&"POST"),
        "{allow}"
    );
    assert!(!methods.contains(&"DELETE"), "{allow}");

    let r = c.get("/logout");
    assert_eq!(r.status, 405);
    let allow = r.header("allow").expect("Allow on 405").to_string();
    let methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    assert!(methods.contains(&"POST"), "{allow}");
    assert!(!methods.contains(&"GET"), "{allow}");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let s = Server::start(&[]);
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let host = s.addr.to_string();

    conn.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    let r1 = read_response(&mut conn).unwrap();
    assert_eq!(r1.status, 200);
    assert_eq!(r1.text(), "ok");
    assert!(
        !r1.header("connection")
            .unwrap_or("")
            .eq_ignore_ascii_case("close"),
        "keep-alive by default in HTTP/1.1"
    );

    conn.write_all(format!("GET /api/me HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    let r2 = read_response(&mut conn).unwrap();
    assert_eq!(r2.status, 401);
    assert!(r2.json()["error"].is_string());

    // Two pipelined requests in one write; the last asks to close.
    conn.write_all(
        format!(
            "GET /login HTTP/1.1\r\nHost: {host}\r\n\r\nGET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let r3 = read_response(&mut conn).unwrap();
    assert_eq!(r3.status, 200);
    assert!(r3.text().contains("csrf_token"));
    let r4 = read_response(&mut conn).unwrap();
    assert_eq!(r4.status, 200);
    assert_eq!(r4.text(), "ok");
    // The server must close now: EOF well before the 30 s idle timeout. A
    // read timeout means the connection is still open.
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let waiting = Instant::now();
    let mut rest = Vec::new();
    match conn.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!(
            "connection still open {:?} after Connection: close",
            waiting.elapsed()
        ),
        Err(e) => panic!("connection not closed cleanly after Connection: close: {e}"),
    }
    assert!(
        rest.is_empty(),
        "bytes after the last response: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn healthz_and_unauthenticated_api() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let r = c.get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok");

    let r = c.get("/api/me");
    assert_eq!(r.status, 401);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/json")
    );
    let j = r.json();
    assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()), "{j}");
    assert!(j["message"].as_str().is_some_and(|e| !e.is_empty()), "{j}");

    // A malformed or unknown session cookie is the same as none.
    for bad in ["nothex", "", &"0".repeat(64)] {
        let r = me_with_token(&s, bad);
        assert_eq!(r.status, 401, "session={bad:?}");
    }
}

// ------------------------------------------------------------------- CLI

#[test]
fn cli_errors_help_and_version() {
    for args in [
        &["--data-dir", "d", "--port", "notanumber"][..],
        &["--data-dir", "d", "--bogus"][..],
    ] {
        let (code, _out, err) = run_cli(args);
        assert_eq!(code, Some(2), "{args:?}: stderr {err:?}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line on stderr: {err:?}");
        assert!(
            lines[0].to_lowercase().contains("error"),
            "{args:?}: {err:?}"
        );
    }

    let (code, out, _) = run_cli(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("--port"), "{out}");

    let (code, out, _) = run_cli(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
}

// ------------------------------------------------------------------ logs

#[test]
fn logs_never_contain_secrets() {
    let s = Server::start(&[]);
    let password = "LogSecretPassw0rdXyz";
    let mut c = s.client();
    let form_token = c.form_token("/register");
    let r = c.register("loguser", password);
    assert_eq!(r.status, 303);
    let t1 = c.cookies["session"].clone();
    let csrf1 = c.csrf.clone().expect("csrf after register");

    let mut d = s.client();
    let login_form_token = d.form_token("/login");
    let r = d.login("loguser", password);
    assert_eq!(r.status, 303);
    let t2 = d.cookies["session"].clone();
    let csrf2 = d.csrf.clone().expect("csrf after login");
    let r = d.post_form("/logout", &[("csrf_token", &csrf2)]);
    assert_eq!(r.status, 303);
    // A failed login with the password too.
    let mut e = s.client();
    assert_eq!(e.login("loguser", "WrongSecretPassw0rd").status, 401);

    let log = wait_log(&s, |l| {
        has_request_line(l, "POST", "/logout", 303) && has_request_line(l, "POST", "/login", 401)
    });
    assert!(has_request_line(&log, "POST", "/register", 303), "{log}");
    assert!(has_request_line(&log, "POST", "/login", 303), "{log}");
    assert!(has_request_line(&log, "POST", "/logout", 303), "{log}");
    assert!(has_request_line(&log, "POST", "/login", 401), "{log}");
    for (what, secret) in [
        ("password", password),
        ("wrong password", "WrongSecretPassw0rd"),
        ("session token 1", t1.as_str()),
        ("session token 2", t2.as_str()),
        ("csrf token 1", csrf1.as_str()),
        ("csrf token 2", csrf2.as_str()),
        ("register form token", form_token.as_str()),
        ("login form token", login_form_token.as_str()),
    ] {
        assert!(!log.contains(secret), "log contains the {what}:\n{log}");
    }
}
