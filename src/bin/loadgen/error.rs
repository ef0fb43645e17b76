//! [`BenchError`], the one error type of the benchmark.
//!
//! The project rule is one error enum per layer, and no error that is just
//! a `String` across a module boundary; `loadgen` is one layer, so every
//! fallible function in it returns this enum. A variant says what went
//! wrong and keeps what the user needs to act on it (the path, the request,
//! the status, the underlying error); `Display` words it the way the
//! benchmark prints it (`loadgen: …`, `FAILED: …`). The wrapping variants
//! ([`Request`], [`Socket`], [`ServerStart`]) say where a lower error
//! happened.
//!
//! [`Request`]: BenchError::Request
//! [`Socket`]: BenchError::Socket
//! [`ServerStart`]: BenchError::ServerStart

use std::fmt;
use std::io;
use std::path::PathBuf;

use rustls::pki_types::pem;
use serde_json::Value;

#[derive(Debug)]
pub enum BenchError {
    /// The command line does not parse (lexopt: unknown option, missing value).
    Args(lexopt::Error),
    /// A flag's value is not what the flag takes.
    BadValue { flag: &'static str, value: String },
    /// A `--scenario` or `--transport` name that does not exist.
    Unknown {
        kind: &'static str,
        name: String,
        choices: &'static str,
    },
    /// The options break a rule; the rule as told to the user.
    Invalid(&'static str),
    /// The server binary could not be copied or started (usually: not built).
    ServerBinary {
        action: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    /// A file or directory could not be created, opened or written.
    File {
        action: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    /// A thread could not be started.
    Thread { name: String, error: io::Error },
    /// A worker thread panicked (`what`: "sender", "receiver").
    Panicked(&'static str),
    /// Socket I/O failed while `doing` ("connect", "send", "receive", …).
    Io {
        doing: &'static str,
        error: io::Error,
    },
    /// The server's certificate file is not readable PEM.
    CertFile { path: PathBuf, error: pem::Error },
    /// The server's certificate file holds no certificate.
    NoCert(PathBuf),
    /// rustls refused the certificate or could not set up a connection.
    Tls {
        context: String,
        error: rustls::Error,
    },
    /// One HTTP or WebSocket-upgrade exchange failed (`request`: what it was).
    Request {
        request: String,
        error: Box<BenchError>,
    },
    /// The peer closed the connection before a whole response head.
    Closed,
    /// A response head that does not parse.
    BadHead(httparse::Error),
    /// An HTTP answer with an unexpected status (and its JSON body, if any).
    Status {
        request: String,
        status: u16,
        body: Option<Value>,
    },
    /// A response lacks something the benchmark needs (a cookie, a token).
    Missing {
        request: &'static str,
        status: u16,
        what: &'static str,
    },
    /// The WebSocket upgrade answered with the wrong `Sec-WebSocket-Accept`.
    WrongAccept,
    /// The server's "listening on" line is not the address it was asked for.
    AddressLine(String),
    /// Something the benchmark waits for did not happen within `secs`.
    Timeout { what: &'static str, secs: u64 },
    /// The server did not come up: why, and the tail of its log.
    ServerStart {
        error: Box<BenchError>,
        log_tail: String,
    },
    /// The server did not exit cleanly on SIGTERM (samples from its log).
    ServerStop { samples: Vec<String> },
    /// A field of `/proc/<pid>/status` could not be read.
    ProcStatus { field: &'static str, pid: i32 },
    /// Socket `index` (of `of`, `tried` attempted) could not be opened.
    Socket {
        index: usize,
        of: usize,
        tried: usize,
        error: Box<BenchError>,
    },
    /// Fewer came back than were asked for (a worker thread died).
    Incomplete {
        verb: &'static str,
        noun: &'static str,
        got: usize,
        want: usize,
    },
    /// The benchmark's own access to a server database (seeding, the
    /// search index's triggers, query plans) failed while `doing`.
    Sqlite {
        doing: &'static str,
        path: PathBuf,
        error: rusqlite::Error,
    },
    /// No PostgreSQL to run on: `SECURECHAT_TEST_PG` is unset (`unset`) or
    /// not a URL on this machine.
    NoPostgres { unset: bool },
    /// The benchmark's own access to PostgreSQL (making and dropping a
    /// run's database, reading its settings, counting stored rows) failed
    /// while `doing`.
    Postgres {
        doing: &'static str,
        error: postgres::Error,
    },
    /// The server answered, but wrongly: what was checked, and an example.
    Wrong { check: &'static str, detail: String },
}

impl BenchError {
    /// `error` as what went wrong in the exchange `request`.
    pub fn in_request(request: impl Into<String>, error: BenchError) -> BenchError {
        BenchError::Request {
            request: request.into(),
            error: Box::new(error),
        }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Args(e) => write!(f, "{e}"),
            BenchError::BadValue { flag, value } => write!(f, "invalid value '{value}' for {flag}"),
            BenchError::Unknown {
                kind,
                name,
                choices,
            } => write!(f, "unknown {kind} '{name}' ({choices})"),
            BenchError::Invalid(rule) => f.write_str(rule),
            BenchError::ServerBinary {
                action,
                path,
                error,
            } => write!(
                f,
                "cannot {action} {} ({error}); run `cargo build --release` first",
                path.display()
            ),
            BenchError::File {
                action,
                path,
                error,
            } => write!(f, "cannot {action} {}: {error}", path.display()),
            BenchError::Thread { name, error } => {
                write!(f, "cannot start thread {name}: {error}")
            }
            BenchError::Panicked(what) => write!(f, "{what} thread panicked"),
            BenchError::Io { doing, error } => write!(f, "{doing}: {error}"),
            BenchError::CertFile { path, error } => write!(f, "{}: {error}", path.display()),
            BenchError::NoCert(path) => write!(f, "{}: no certificate", path.display()),
            BenchError::Tls { context, error } => write!(f, "{context}: {error}"),
            BenchError::Request { request, error } => write!(f, "{request}: {error}"),
            BenchError::Closed => f.write_str("connection closed before a response"),
            BenchError::BadHead(e) => write!(f, "bad response head: {e}"),
            BenchError::Status {
                request,
                status,
                body,
            } => {
                write!(f, "{request} answered {status}")?;
                match body {
                    Some(body) => write!(f, ": {body}"),
                    None => Ok(()),
                }
            }
            BenchError::Missing {
                request,
                status,
                what,
            } => write!(f, "{request} answered {status} without {what}"),
            BenchError::WrongAccept => f.write_str("wrong Sec-WebSocket-Accept"),
            BenchError::AddressLine(line) => write!(f, "unexpected address line: {line}"),
            BenchError::Timeout { what, secs } => write!(f, "{what} within {secs} s"),
            BenchError::ServerStart { error, log_tail } => {
                write!(f, "{error}; server log:\n{log_tail}")
            }
            BenchError::ServerStop { samples } => {
                write!(f, "server did not stop cleanly: {samples:?}")
            }
            BenchError::ProcStatus { field, pid } => {
                write!(f, "cannot read {field} of pid {pid}")
            }
            BenchError::Socket {
                index,
                of,
                tried,
                error,
            } => write!(f, "socket {index} of {of} failed ({tried} tried): {error}"),
            BenchError::Incomplete {
                verb,
                noun,
                got,
                want,
            } => write!(f, "{verb} only {got} of {want} {noun}"),
            BenchError::Sqlite { doing, path, error } => {
                write!(f, "{doing} ({}): {error}", path.display())
            }
            BenchError::NoPostgres { unset: true } => f.write_str(
                "SECURECHAT_TEST_PG is not set; these scenarios need PostgreSQL \
                 (make bench runs loadgen under tests/with-postgres, which sets it)",
            ),
            BenchError::NoPostgres { unset: false } => f.write_str(
                "SECURECHAT_TEST_PG must be a postgres://USER@127.0.0.1:PORT/DB URL \
                 (the benchmark talks to this machine only)",
            ),
            BenchError::Postgres { doing, error } => write!(f, "PostgreSQL: {doing}: {error}"),
            BenchError::Wrong { check, detail } => write!(f, "{check}: {detail}"),
        }
    }
}

impl std::error::Error for BenchError {}

impl From<lexopt::Error> for BenchError {
    fn from(e: lexopt::Error) -> Self {
        BenchError::Args(e)
    }
}

impl From<httparse::Error> for BenchError {
    fn from(e: httparse::Error) -> Self {
        BenchError::BadHead(e)
    }
}
