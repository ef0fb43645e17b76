//! Test harness: starts the real `securechat` binary on 127.0.0.1 with an
//! ephemeral port and a temporary data directory, and speaks HTTP/1.1 to it
//! over real sockets with a small cookie-keeping client.
//!
//! Submodules: `ws` (WebSocket helpers), `html` (scraping pages) and `pg`
//! (a throwaway PostgreSQL cluster). Each test binary compiles all of it
//! and uses what it needs.
#![allow(dead_code)]

pub mod e2e;
pub mod fake_ca;
pub mod html;
pub mod https;
pub mod pebble;
pub mod pg;
pub mod ws;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use html::{hidden_value, meta_content};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh empty directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "securechat-test-{tag}-{}-{n}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The engine under test: with `SECURECHAT_TEST_PG` set to a cluster's
/// URL (`tests/with-postgres` starts one for `make test`), every data
/// directory a test uses gets a fresh database of its own there, and the
/// server and the admin commands on that directory use it (`--database`):
/// the same tests then check the PostgreSQL engine.
pub fn test_pg() -> Option<String> {
    std::env::var("SECURECHAT_TEST_PG")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Whether the tests run on PostgreSQL (a test of something only SQLite
/// has — its files, its backups — returns early then, saying so).
pub fn on_postgres() -> bool {
    test_pg().is_some()
}

/// Returns from the test when it runs on PostgreSQL: for tests of what
/// only the SQLite engine has (its files on disk, backup and restore).
#[macro_export]
macro_rules! sqlite_only {
    () => {
        if $crate::common::on_postgres() {
            eprintln!("SQLite only: skipped on PostgreSQL");
            return;
        }
    };
}

/// The `--database` argument for data directory `data`: the database
/// named in a file beside the directory (`use_database`), else on
/// PostgreSQL a new one (named there for next time), else none.
pub fn database_args(data: &Path) -> Vec<String> {
    let note = data.with_extension("pgurl");
    if let Ok(url) = std::fs::read_to_string(&note) {
        return vec!["--database".into(), url];
    }
    if test_pg().is_none() {
        return Vec::new();
    }
    let url = new_test_database();
    std::fs::write(&note, &url).unwrap();
    vec!["--database".into(), url]
}

/// A new database on the run's cluster (`SECURECHAT_TEST_PG`); its URL.
pub fn new_test_database() -> String {
    let cluster = test_pg().expect("SECURECHAT_TEST_PG");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!(
        "t{}_{n}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut c = postgres::Client::connect(&cluster, postgres::NoTls).expect("the test cluster");
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let (base, _) = cluster.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

/// Makes the server and admin commands on `data` use the database `url`
/// (several instances share one this way).
pub fn use_database(data: &Path, url: &str) {
    std::fs::write(data.with_extension("pgurl"), url).unwrap();
}

/// A value for `db_execute`.
pub enum DbValue {
    Int(i64),
    Text(String),
}

/// Runs one statement (`?1`-style parameters) on the database that holds
/// the table: SQLite's `file` in `data`, or the PostgreSQL database the
/// directory uses (`use_database`/`SECURECHAT_TEST_PG`). Returns the rows
/// it changed.
pub fn db_execute(data: &Path, file: &str, sql: &str, params: &[DbValue]) -> u64 {
    match std::fs::read_to_string(data.with_extension("pgurl")) {
        Ok(url) => {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let sql = sql.replace('?', "$");
            let values: Vec<Box<dyn postgres::types::ToSql + Sync>> = params
                .iter()
                .map(|p| -> Box<dyn postgres::types::ToSql + Sync> {
                    match p {
                        DbValue::Int(i) => Box::new(*i),
                        DbValue::Text(t) => Box::new(t.clone()),
                    }
                })
                .collect();
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                values.iter().map(|v| v.as_ref()).collect();
            c.execute(sql.as_str(), &refs).unwrap()
        }
        Err(_) => {
            let c = rusqlite::Connection::open(data.join(file)).unwrap();
            let values: Vec<rusqlite::types::Value> = params
                .iter()
                .map(|p| match p {
                    DbValue::Int(i) => rusqlite::types::Value::Integer(*i),
                    DbValue::Text(t) => rusqlite::types::Value::Text(t.clone()),
                })
                .collect();
            c.execute(sql, rusqlite::params_from_iter(values)).unwrap() as u64
        }
    }
}

/// Everything the messages table keeps of message bodies, as text: the
/// bytes of SQLite's chat file (and its log), or PostgreSQL's rows.
pub fn stored_bodies(data: &Path) -> String {
    match std::fs::read_to_string(data.with_extension("pgurl")) {
        Ok(url) => {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.query(
                "SELECT coalesce(content, ''), coalesce(envelope, '') FROM messages",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| format!("{} {}\n", r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect()
        }
        Err(_) => {
            let mut stored = Vec::new();
            for f in ["chat.sqlite3", "chat.sqlite3-wal"] {
                stored.extend(std::fs::read(data.join(f)).unwrap_or_default());
            }
            String::from_utf8_lossy(&stored).into_owned()
        }
    }
}

/// A running server process.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: String,
    pub data: PathBuf,
    pub log: PathBuf,
    pub stdout: Vec<String>,
    _dir: Option<TempDir>,
}

/// The server binary under test: this build's, or `SECURECHAT_TEST_BIN`
/// (to run the same tests against another build, such as an older one).
pub fn bin() -> String {
    std::env::var("SECURECHAT_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_securechat").to_string())
}

impl Server {
    /// Starts a server with every per-user and per-IP rate limit off
    /// (tests that make many groups, joins, sockets and messages quickly),
    /// plus `extra`.
    pub fn without_rate_limits(extra: &[&str]) -> Server {
        let mut args = vec![
            "--group-rate",
            "0",
            "--join-rate",
            "0",
            "--socket-rate",
            "0",
            "--msg-rate",
            "0",
            "--login-rate",
            "0",
            "--dm-rate",
            "0",
            "--register-rate",
            "0",
        ];
        args.extend_from_slice(extra);
        Server::start(&args)
    }

    /// Starts a server on a fresh data dir with extra flags.
    pub fn start(extra: &[&str]) -> Server {
        let dir = TempDir::new("srv");
        let data = dir.path().join("data");
        let mut s = Server::start_in(&data, dir.path(), extra);
        s._dir = Some(dir);
        s
    }

    /// Starts a server on a fresh data dir with extra flags and extra
    /// environment variables.
    pub fn start_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = TempDir::new("srv");
        let data = dir.path().join("data");
        let mut s = Server::start_in_env(&data, dir.path(), extra, env);
        s._dir = Some(dir);
        s
    }

    /// Starts a server on `data` (kept across restarts), logging to `logdir`.
    pub fn start_in(data: &Path, logdir: &Path, extra: &[&str]) -> Server {
        Server::start_in_env(data, logdir, extra, &[])
    }

    /// `start_in` with extra environment variables for the server process.
    pub fn start_in_env(
        data: &Path,
        logdir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let log = logdir.join(format!("server-{n}.log"));
        let logfile = std::fs::File::create(&log).unwrap();
        let mut args: Vec<String> = vec![
            "--port".into(),
            "0".into(),
            "--data-dir".into(),
            data.display().to_string(),
        ];
        args.extend(database_args(data));
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(bin())
            .args(&args)
            .env("SECURECHAT_LOG", "debug")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(logfile))
            .spawn()
            .expect("start securechat");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut stdout = Vec::new();
        let (scheme, addr) = loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                let _ = child.kill();
                panic!(
                    "server exited before listening: {}\n{}",
                    stdout.join(""),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            stdout.push(line.clone());
            if let Some(rest) = line.trim().strip_prefix("SecureChat listening on ") {
                let (scheme, addr) = rest.split_once("://").unwrap();
                break (scheme.to_string(), addr.parse().unwrap());
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        Server {
            child,
            addr,
            scheme,
            data: data.to_path_buf(),
            log,
            stdout,
            _dir: None,
        }
    }

    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), 15);
        wait_timeout(&mut self.child, Duration::from_secs(15)).expect("server did not stop")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn unsafe_kill(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

pub fn wait_timeout(child: &mut Child, t: Duration) -> Option<std::process::ExitStatus> {
    let until = std::time::Instant::now() + t;
    while std::time::Instant::now() < until {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The full `Set-Cookie` value that sets the `session` cookie, if any.
    pub fn session_set_cookie(&self) -> Option<String> {
        self.headers_named("set-cookie")
            .into_iter()
            .find(|c| c.trim_start().starts_with("session="))
            .map(str::to_string)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Reads one response from a stream (by Content-Length).
pub fn read_response(stream: &mut impl Read) -> std::io::Result<Resp> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// An HTTP client with a cookie jar; one connection per request.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub cookies: BTreeMap<String, String>,
    /// Sent as `Origin` on every request when set.
    pub origin: Option<String>,
    /// Sent as `X-CSRF-Token` on JSON requests when set.
    pub csrf: Option<String>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            cookies: BTreeMap::new(),
            origin: None,
            csrf: None,
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends a request with the given extra headers and body.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let bytes = self.request_bytes(method, path, &self.addr.to_string(), headers, body);
        s.write_all(&bytes).unwrap();
        let resp = read_response(&mut s).unwrap();
        self.absorb_cookies(&resp);
        resp
    }

    /// A request with the jar's cookies and origin, for `host`.
    pub fn request_bytes(
        &self,
        method: &str,
        path: &str,
        host: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<u8> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        if !self.cookies.is_empty() {
            req.push_str(&format!("Cookie: {}\r\n", self.cookie_header()));
        }
        if let Some(o) = &self.origin {
            req.push_str(&format!("Origin: {o}\r\n"));
        }
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    pub fn absorb_cookies(&mut self, resp: &Resp) {
        for c in resp.headers_named("set-cookie") {
            let first = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = first.split_once('=') {
                let deleted = c.contains("Max-Age=0") || v.is_empty();
                if deleted {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
    }

    pub fn get(&mut self, path: &str) -> Resp {
        self.request("GET", path, &[], b"")
    }

    pub fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    /// A JSON request carrying the client's CSRF token.
    pub fn json(&mut self, method: &str, path: &str, body: &serde_json::Value) -> Resp {
        let csrf = self.csrf.clone();
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(t) = &csrf {
            headers.push(("X-CSRF-Token", t));
        }
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.request(method, path, &headers, &body)
    }

    /// GETs a form page and returns its `csrf_token`.
    pub fn form_token(&mut self, path: &str) -> String {
        let page = self.get(path).text();
        hidden_value(&page, "csrf_token").expect("form has csrf_token")
    }

    /// Registers and stays logged in; fills in `csrf` from the chat page.
    pub fn register(&mut self, username: &str, password: &str) -> Resp {
        let token = self.form_token("/register");
        let r = self.post_form(
            "/register",
            &[
                ("username", username),
                ("password", password),
                ("csrf_token", &token),
            ],
        );
        if r.status == 303 {
            self.load_csrf();
        }
        r
    }

    pub fn login(&mut self, username: &str, password: &str) -> Resp {
        let token = self.form_token("/login");
        let r = self.post_form(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf_token", &token),
            ],
        );
        if r.status == 303 {
            self.load_csrf();
        }
        r
    }

    /// Reads the CSRF token from `/chat`'s meta tag.
    pub fn load_csrf(&mut self) {
        let page = self.get("/chat").text();
        self.csrf = meta_content(&page, "csrf-token");
    }
}

/// A new logged-in client for a fresh user.
pub fn user(server: &Server, name: &str) -> Client {
    let mut c = server.client();
    let r = c.register(name, "correct horse battery");
    assert_eq!(r.status, 303, "register {name}: {}", r.text());
    c
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Sends raw bytes on a new connection and reads whatever comes back until
/// the server closes (or `timeout`).
pub fn raw(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Parses a whole response held in `bytes` (as returned by `raw`); panics
/// with what came when it is not a complete response.
pub fn parse_response(bytes: &[u8]) -> Resp {
    read_response(&mut &bytes[..]).unwrap_or_else(|e| {
        panic!(
            "no complete response ({e}): {:?}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// A TCP connection to `to` from the local address `src` (e.g. `127.0.0.2`).
pub fn connect_from(src: &str, to: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&format!("{src}:0").parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.connect(&to.into()).unwrap();
    sock.into()
}

/// Creates a group; returns its id.
pub fn create_group(c: &mut Client, name: &str) -> i64 {
    let r = c.json("POST", "/api/groups", &serde_json::json!({ "name": name }));
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

/// Joins a group.
pub fn join(c: &mut Client, id: i64) {
    let r = c.json(
        "POST",
        &format!("/api/groups/{id}/join"),
        &serde_json::Value::Null,
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Runs an admin subcommand on `data` with `stdin` as its input.
pub fn admin(data: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(bin())
        .arg("--data-dir")
        .arg(data)
        .args(database_args(data))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command refused before it reads its input (a bad name) may exit
    // before this write: its input was not needed, so a broken pipe is fine.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.unwrap(),
    }
    child.wait_with_output().unwrap()
}

/// The stdout of a command that must have succeeded.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A tmpfs mounted for one test, unmounted when dropped (also on failure).
pub struct Tmpfs(pub std::path::PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill a disk, which needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system at `dir` to the last byte; returns the filler.
pub fn fill(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    while f.write_all(&[0u8]).is_ok() {}
    path
}
