//! Command-line flags (parsed with lexopt) and their defaults: what the
//! user asked for, as one `Config` that `server` turns into each layer's
//! own settings.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::http::proxy::{BadNetwork, TrustedProxies};

pub const USAGE: &str = "\
SecureChat — a small self-hosted group chat server

Usage: securechat [OPTIONS]
       securechat gen-cert [--certfile PATH] [--keyfile PATH] [--tls-config PATH] [--force]
       securechat [--data-dir PATH] COMMAND

Admin commands (the server may be running, except for restore and migrate):
  user list                  users with their creation date and live sessions
  user add NAME              new user; the password is read from the terminal or stdin
  user reset-password NAME   new password (terminal or stdin); ends the user's sessions
  user delete NAME           deletes the account; messages stay as 'NAME (deleted)'
  user disable NAME          the account cannot log in; its sessions end
  user enable NAME           undoes disable
  user promote NAME          makes the account a server admin
  user demote NAME           takes server admin away (never from the last admin)
  user reset-link NAME       prints a one-time link (24 h) that sets a new password
  session list [NAME]        live sessions (id = start of the token's SHA-256)
  session revoke ID|NAME     ends one session, or all of a user's
  invite create [--uses N] [--days D]
                             a server invite (for --registration invite)
  invite list                server invites that still work
  invite revoke CODE         revokes a server invite
  backup DEST_DIR            consistent copy of both databases (safe while running)
  restore SRC_DIR            replaces the data with a backup (server stopped)
  export GROUP [DIR]         a group's messages (id or name) as JSON Lines on stdout;
                             with DIR, its files too, as DIR/ID-NAME
  migrate --to URL           copies the data into an empty PostgreSQL database
                             (postgres://USER[:PASSWORD]@HOST:PORT/DB; server stopped)
  acme status                the ACME certificate: domains, expiry, last and next attempt
  acme renew                 asks the running server (or the next start) to renew now

Options:
  --host ADDR            address to listen on (default 127.0.0.1)
  --port PORT            port to listen on; 0 picks a free one (default 8000)
  --tls                  serve HTTPS/WSS instead of HTTP
  --certfile PATH        TLS certificate, PEM (default .tls/cert.pem)
  --keyfile PATH         TLS private key, PEM (default .tls/key.pem)
  --tls-config PATH      settings for generated certificates (default tls_config.json)
  --redirect-http PORT   with --tls: also listen on PORT for plain HTTP and redirect
                         every request to the HTTPS origin (and answer ACME HTTP-01)
  --acme DOMAIN[,DOMAIN…]
                         get the certificate from an ACME CA (Let's Encrypt by default)
                         for these names, keep it in DATA_DIR/acme and renew it; implies --tls
  --acme-email ADDR      the account's contact address (needed with --acme)
  --acme-directory URL   another CA's directory (https://)
  --acme-staging         Let's Encrypt's staging directory (try this first)
  --acme-ca PATH         a PEM bundle trusted for the directory's HTTPS, beside the
                         system's roots (a test CA such as pebble's)
  --acme-challenge KIND  tls-alpn-01 (on the HTTPS port) or http-01 (on --redirect-http);
                         default: tls-alpn-01, then http-01 when --redirect-http runs
  --data-dir PATH        where the databases live (default data)
  --files-dir PATH       where uploaded files' bytes live (default DATA_DIR/files)
  --database URL         keep the tables in PostgreSQL (postgres://USER[:PASSWORD]@HOST:PORT/DB)
                         instead of SQLite files in the data directory
  --max-upload SIZE      largest upload, e.g. 25MiB, 500KiB or bytes (default 25MiB)
  --max-storage-per-user SIZE
                         bytes of files each user may keep (default 1GiB)
  --msg-rate N           messages per second per user, sustained; 0 = no limit (default 5)
  --msg-burst N          message bucket size (default 20)
  --login-rate N         login attempts per minute per IP and username after a
                         burst of 10; 0 = no limit (default 6)
  --register-rate N      registrations per minute per IP after a burst of 50;
                         0 = no limit (default 12)
  --socket-rate N        WebSocket opens per minute per user after a burst of 30;
                         0 = no limit (default 30)
  --dm-rate N            new direct conversations per minute per user after a
                         burst of 20; 0 = no limit (default 10)
  --group-rate N         new groups per minute per user after a burst of 10;
                         0 = no limit (default 5)
  --join-rate N          group joins and leaves per minute per user after a burst
                         of 30; 0 = no limit (default 30)
  --registration MODE    who may make an account: open (anyone), invite (holders of
                         a server invite), closed (the administrator makes them);
                         kept until changed (default open)
  --no-search            keep no full-text index of messages; /api/search answers
                         404 (the index, search.sqlite3, catches up when it is on again)
  --metrics              serve Prometheus metrics at /metrics to loopback clients
                         (or anywhere with `Authorization: Bearer $SECURECHAT_METRICS_TOKEN`)
  --trust-proxy CIDR     trust X-Forwarded-For/-Proto from these peers
                         (comma-separated or repeated; e.g. 127.0.0.1/32)
  --max-connections N    open connections at most; more get 503 (default 10000)
  --max-per-ip N         open connections from one address at most; more get 429;
                         0 = no limit (default 256)
  -h, --help             print this help
  -V, --version          print the version

Environment:
  ASSET_VERSION          cache-busting version for asset URLs (default: start time)
  SECURECHAT_LOG         error | warn | info | debug | off (default info)
  SECURECHAT_DATABASE_URL
                         --database, when that is not given (keeps a password off
                         the command line)
";

/// Everything the server needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub tls: bool,
    pub certfile: PathBuf,
    pub keyfile: PathBuf,
    pub tls_config: PathBuf,
    pub data_dir: PathBuf,
    pub msg_rate: f64,
    pub msg_burst: f64,
    pub login_rate: f64,
    pub register_rate: f64,
    pub socket_rate: f64,
    pub dm_rate: f64,
    pub group_rate: f64,
    pub join_rate: f64,
    pub max_connections: usize,
    pub max_per_ip: usize,
    pub redirect_http: Option<u16>,
    pub metrics: bool,
    /// `--no-search`: no full-text index.
    pub no_search: bool,
    /// `--files-dir` (default: `files` in the data directory).
    pub files_dir: Option<PathBuf>,
    /// `--database` (or `SECURECHAT_DATABASE_URL`): PostgreSQL's URL.
    pub database: Option<crate::store::DatabaseUrl>,
    pub max_upload: u64,
    pub storage_per_user: u64,
    pub trusted_proxies: TrustedProxies,
    /// `--registration`, when given.
    pub registration: Option<crate::auth::Registration>,
    /// `invite create --uses N`.
    pub uses: Option<i64>,
    /// `invite create --days D`.
    pub days: Option<i64>,
    /// `migrate --to URL`.
    pub migrate_to: Option<String>,
    /// `--acme …`: a certificate from an ACME CA (implies `--tls`).
    pub acme: Option<crate::tls::acme::renew::Settings>,
}

/// A command line that cannot be run.
#[derive(Debug)]
pub enum ConfigError {
    /// lexopt's own complaint (unknown flag, missing value, …).
    Parse(lexopt::Error),
    /// A flag's value does not parse.
    Invalid {
        flag: &'static str,
        value: String,
    },
    /// A flag's value, or a combination of flags, breaks a rule.
    Rule(String),
    Network(BadNetwork),
    /// Words that are not a command.
    UnknownCommand(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Parse(e) => write!(f, "{e}"),
            ConfigError::Invalid { flag, value } => write!(f, "invalid value '{value}' for {flag}"),
            ConfigError::Rule(why) => f.write_str(why),
            ConfigError::Network(e) => write!(f, "{e}"),
            ConfigError::UnknownCommand(words) => write!(f, "unknown command: {words}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<lexopt::Error> for ConfigError {
    fn from(e: lexopt::Error) -> Self {
        ConfigError::Parse(e)
    }
}

fn rule(why: &str) -> ConfigError {
    ConfigError::Rule(why.to_string())
}

impl Config {
    /// Where uploaded files' bytes live: `--files-dir`, else `files` in the
    /// data directory.
    pub fn files_dir(&self) -> PathBuf {
        self.files_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("files"))
    }

    /// Where the data lives.
    pub fn location(&self) -> crate::store::Location {
        crate::store::Location {
            data_dir: self.data_dir.clone(),
            files_dir: self.files_dir(),
            database: self.database.clone(),
        }
    }

    /// Where the certificate and its settings are.
    pub fn cert_paths(&self) -> crate::tls::CertPaths {
        crate::tls::CertPaths {
            certfile: self.certfile.clone(),
            keyfile: self.keyfile.clone(),
            settings: self.tls_config.clone(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8000,
            tls: false,
            certfile: PathBuf::from(".tls/cert.pem"),
            keyfile: PathBuf::from(".tls/key.pem"),
            tls_config: PathBuf::from("tls_config.json"),
            data_dir: PathBuf::from("data"),
            msg_rate: 5.0,
            msg_burst: 20.0,
            login_rate: 6.0,
            register_rate: 12.0,
            socket_rate: 30.0,
            dm_rate: 10.0,
            group_rate: 5.0,
            join_rate: 30.0,
            max_connections: 10_000,
            max_per_ip: 256,
            redirect_http: None,
            metrics: false,
            no_search: false,
            files_dir: None,
            database: None,
            max_upload: crate::chat::files::MAX_UPLOAD,
            storage_per_user: crate::chat::files::MAX_STORAGE,
            trusted_proxies: Default::default(),
            registration: None,
            uses: None,
            days: None,
            migrate_to: None,
            acme: None,
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Serve(Config),
    /// Generate a self-signed certificate (overwriting only with `force`).
    GenCert {
        config: Config,
        force: bool,
    },
    /// An admin subcommand on a server's data.
    Admin {
        location: crate::store::Location,
        action: crate::admin::Action,
    },
    Help,
    Version,
}

/// Parses the arguments after the program name.
pub fn parse<I>(args: I) -> Result<Command, ConfigError>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    use lexopt::prelude::*;
    let mut cfg = Config::default();
    let mut parser = lexopt::Parser::from_args(args);
    let mut words: Vec<String> = Vec::new();
    let mut force = false;
    let mut acme = AcmeFlags::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Value(v) => words.push(v.to_string_lossy().into_owned()),
            Long("force") => force = true,
            Long("acme") => acme.domains = Some(value(&mut parser, "--acme")?),
            Long("acme-email") => acme.email = Some(value(&mut parser, "--acme-email")?),
            Long("acme-directory") => {
                acme.directory = Some(value(&mut parser, "--acme-directory")?);
            }
            Long("acme-staging") => acme.staging = true,
            Long("acme-ca") => acme.ca = Some(path(&mut parser)?),
            Long("acme-challenge") => {
                let kind: String = value(&mut parser, "--acme-challenge")?;
                acme.challenge = Some(match kind.as_str() {
                    "tls-alpn-01" => crate::tls::acme::order::Kind::TlsAlpn01,
                    "http-01" => crate::tls::acme::order::Kind::Http01,
                    _ => {
                        return Err(ConfigError::Invalid {
                            flag: "--acme-challenge",
                            value: kind,
                        });
                    }
                });
            }
            Long("redirect-http") => {
                cfg.redirect_http = Some(value(&mut parser, "--redirect-http")?)
            }
            Long("host") => cfg.host = value(&mut parser, "--host")?,
            Long("port") => cfg.port = value(&mut parser, "--port")?,
            Long("tls") => cfg.tls = true,
            Long("metrics") => cfg.metrics = true,
            Long("no-search") => cfg.no_search = true,
            Long("files-dir") => cfg.files_dir = Some(path(&mut parser)?),
            Long("database") => {
                let url: String = value(&mut parser, "--database")?;
                cfg.database = Some(crate::store::DatabaseUrl::new(url));
            }
            Long("max-upload") => cfg.max_upload = size(&mut parser, "--max-upload")?,
            Long("max-storage-per-user") => {
                cfg.storage_per_user = size(&mut parser, "--max-storage-per-user")?;
            }
            Long("registration") => {
                let mode: String = value(&mut parser, "--registration")?;
                cfg.registration = Some(crate::auth::Registration::parse(&mode).ok_or(
                    ConfigError::Invalid {
                        flag: "--registration",
                        value: mode,
                    },
                )?);
            }
            Long("uses") => {
                let n: i64 = value(&mut parser, "--uses")?;
                if !(1..=100_000).contains(&n) {
                    return Err(rule("--uses must be 1 to 100000"));
                }
                cfg.uses = Some(n);
            }
            Long("to") => cfg.migrate_to = Some(value(&mut parser, "--to")?),
            Long("days") => {
                let n: i64 = value(&mut parser, "--days")?;
                if !(1..=365).contains(&n) {
                    return Err(rule("--days must be 1 to 365"));
                }
                cfg.days = Some(n);
            }
            Long("trust-proxy") => {
                let list: String = value(&mut parser, "--trust-proxy")?;
                cfg.trusted_proxies
                    .add(&list)
                    .map_err(ConfigError::Network)?;
            }
            Long("certfile") => cfg.certfile = path(&mut parser)?,
            Long("keyfile") => cfg.keyfile = path(&mut parser)?,
            Long("tls-config") => cfg.tls_config = path(&mut parser)?,
            Long("data-dir") => cfg.data_dir = path(&mut parser)?,
            Long("msg-rate") => cfg.msg_rate = non_negative(&mut parser, "--msg-rate")?,
            Long("msg-burst") => {
                cfg.msg_burst = non_negative(&mut parser, "--msg-burst")?;
                if cfg.msg_burst < 1.0 {
                    return Err(rule("--msg-burst must be at least 1"));
                }
            }
            Long("login-rate") => cfg.login_rate = non_negative(&mut parser, "--login-rate")?,
            Long("register-rate") => {
                cfg.register_rate = non_negative(&mut parser, "--register-rate")?;
            }
            Long("socket-rate") => cfg.socket_rate = non_negative(&mut parser, "--socket-rate")?,
            Long("dm-rate") => cfg.dm_rate = non_negative(&mut parser, "--dm-rate")?,
            Long("group-rate") => cfg.group_rate = non_negative(&mut parser, "--group-rate")?,
            Long("join-rate") => cfg.join_rate = non_negative(&mut parser, "--join-rate")?,
            Long("max-per-ip") => cfg.max_per_ip = value(&mut parser, "--max-per-ip")?,
            Long("max-connections") => {
                cfg.max_connections = value(&mut parser, "--max-connections")?;
                if cfg.max_connections == 0 {
                    return Err(rule("--max-connections must be at least 1"));
                }
            }
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            other => return Err(other.unexpected().into()),
        }
    }
    if cfg.database.is_none() {
        cfg.database = std::env::var("SECURECHAT_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(crate::store::DatabaseUrl::new);
    }
    if let Some(url) = &cfg.database
        && !is_postgres_url(url.expose())
    {
        return Err(rule("--database needs a postgres://USER@HOST:PORT/DB URL"));
    }
    match words.first().map(String::as_str) {
        None => {}
        Some("gen-cert") if words.len() == 1 => return Ok(Command::GenCert { config: cfg, force }),
        Some(_) => {
            let mut action = crate::admin::parse(&words)
                .map_err(|_| ConfigError::UnknownCommand(words.join(" ")))?;
            if let crate::admin::Action::InviteCreate { uses, days } = &mut action {
                (*uses, *days) = (cfg.uses, cfg.days);
            } else if cfg.uses.is_some() || cfg.days.is_some() {
                return Err(rule("--uses and --days only go with invite create"));
            }
            if let crate::admin::Action::Migrate(url) = &mut action {
                *url = cfg
                    .migrate_to
                    .take()
                    .filter(|u| is_postgres_url(u))
                    .ok_or_else(|| rule("migrate needs --to postgres://USER@HOST:PORT/DB"))?;
                if cfg.database.is_some() {
                    return Err(rule(
                        "migrate copies a SQLite data directory: run it without --database",
                    ));
                }
            } else if cfg.migrate_to.is_some() {
                return Err(rule("--to only goes with migrate"));
            }
            return Ok(Command::Admin {
                location: cfg.location(),
                action,
            });
        }
    }
    if force {
        return Err(rule("--force only goes with gen-cert"));
    }
    cfg.acme = acme.settings()?;
    if cfg.acme.is_some() {
        cfg.tls = true;
    }
    if cfg.redirect_http.is_some() && !cfg.tls {
        return Err(rule("--redirect-http needs --tls"));
    }
    if let Some(a) = &cfg.acme
        && a.challenge == Some(crate::tls::acme::order::Kind::Http01)
        && cfg.redirect_http.is_none()
    {
        return Err(rule(
            "--acme-challenge http-01 needs --redirect-http (the CA asks on port 80)",
        ));
    }
    Ok(Command::Serve(cfg))
}

/// The `--acme…` flags as given, checked together by `settings`.
#[derive(Default)]
struct AcmeFlags {
    domains: Option<String>,
    email: Option<String>,
    directory: Option<String>,
    staging: bool,
    ca: Option<PathBuf>,
    challenge: Option<crate::tls::acme::order::Kind>,
}

impl AcmeFlags {
    fn settings(self) -> Result<Option<crate::tls::acme::renew::Settings>, ConfigError> {
        use crate::tls::acme::renew::{LETS_ENCRYPT, LETS_ENCRYPT_STAGING, Settings};
        let Some(list) = self.domains else {
            let others = self.email.is_some()
                || self.directory.is_some()
                || self.staging
                || self.ca.is_some()
                || self.challenge.is_some();
            if others {
                return Err(rule("the --acme-… flags go with --acme DOMAIN[,DOMAIN…]"));
            }
            return Ok(None);
        };
        let mut domains: Vec<String> = Vec::new();
        for d in list.split(',').map(|d| d.trim().to_ascii_lowercase()) {
            if !is_acme_domain(&d) {
                return Err(ConfigError::Invalid {
                    flag: "--acme",
                    value: d,
                });
            }
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        if domains.len() > 100 {
            return Err(rule("--acme takes at most 100 domains"));
        }
        let email = self.email.ok_or_else(|| {
            rule(
                "--acme needs --acme-email ADDR (the CA writes there before a certificate expires)",
            )
        })?;
        let plausible = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, host)| {
                !local.is_empty() && host.contains('.') && !host.starts_with('.')
            })
            && !email.contains(|c: char| {
                c.is_whitespace() || c.is_control() || matches!(c, ',' | ':' | '<' | '>')
            });
        if !plausible {
            return Err(ConfigError::Invalid {
                flag: "--acme-email",
                value: email,
            });
        }
        let directory = match (self.directory, self.staging) {
            (Some(_), true) => {
                return Err(rule("give --acme-directory or --acme-staging, not both"));
            }
            (Some(url), false) => {
                if !url.starts_with("https://") || url.len() > 2048 {
                    return Err(rule("--acme-directory needs an https:// URL"));
                }
                url
            }
            (None, true) => LETS_ENCRYPT_STAGING.to_string(),
            (None, false) => LETS_ENCRYPT.to_string(),
        };
        Ok(Some(Settings {
            domains,
            email,
            directory,
            ca: self.ca,
            challenge: self.challenge,
        }))
    }
}

/// A DNS name a CA can validate over HTTP-01 or TLS-ALPN-01: no wildcard,
/// no IP address, at least two labels.
fn is_acme_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && d.parse::<IpAddr>().is_err()
        && !labels
            .last()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn value<T: std::str::FromStr>(
    parser: &mut lexopt::Parser,
    flag: &'static str,
) -> Result<T, ConfigError> {
    let raw = parser.value()?;
    let text = raw.to_string_lossy();
    text.parse().map_err(|_| ConfigError::Invalid {
        flag,
        value: text.into_owned(),
    })
}

fn non_negative(parser: &mut lexopt::Parser, flag: &'static str) -> Result<f64, ConfigError> {
    let v: f64 = value(parser, flag)?;
    if !v.is_finite() || v < 0.0 {
        return Err(ConfigError::Rule(format!(
            "{flag} must be a non-negative number"
        )));
    }
    Ok(v)
}

/// A size in bytes: a number, optionally with K/KiB, M/MiB or G/GiB
/// (powers of 1024), at least 1.
fn size(parser: &mut lexopt::Parser, flag: &'static str) -> Result<u64, ConfigError> {
    let text: String = value(parser, flag)?;
    parse_size(&text).ok_or(ConfigError::Invalid { flag, value: text })
}

fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult).filter(|n| *n > 0)
}

fn path(parser: &mut lexopt::Parser) -> Result<PathBuf, ConfigError> {
    Ok(parser.value().map(PathBuf::from)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> Result<Config, String> {
        match parse(args.iter().copied()).map_err(|e| e.to_string())? {
            Command::Serve(c) => Ok(c),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn defaults() {
        let c = serve(&[]).unwrap();
        assert_eq!(c.port, 8000);
        assert_eq!(c.host.to_string(), "127.0.0.1");
        assert!(!c.tls);
    }

    #[test]
    fn flags() {
        let c = serve(&[
            "--port",
            "0",
            "--data-dir",
            "/tmp/x",
            "--msg-rate=0",
            "--tls",
        ])
        .unwrap();
        assert_eq!(c.port, 0);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.msg_rate, 0.0);
        assert!(c.tls);
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(serve(&["--port", "70000"]).unwrap_err().contains("--port"));
        assert!(serve(&["--port"]).is_err());
        assert!(serve(&["--host", "nope"]).is_err());
        assert!(serve(&["--msg-rate", "-1"]).is_err());
        assert!(serve(&["--msg-rate", "NaN"]).is_err());
        assert!(serve(&["--bogus"]).is_err());
        assert_eq!(parse_size("25MiB"), Some(25 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("-5"), None);
        assert_eq!(parse_size("5TB"), None);
        assert_eq!(parse_size("99999999999999999999"), None);
        assert!(matches!(parse(["--help"]), Ok(Command::Help)));
        assert!(matches!(parse(["-V"]), Ok(Command::Version)));
        assert!(serve(&["--redirect-http", "8080"]).is_err());
        assert!(serve(&["gen-cert"]).is_err());
        assert!(matches!(
            parse(["gen-cert", "--force"]),
            Ok(Command::GenCert { force: true, .. })
        ));
        assert!(parse(["serve", "gen-cert"]).is_err());
    }

    #[test]
    fn acme_flags() {
        use crate::tls::acme::renew::{LETS_ENCRYPT, LETS_ENCRYPT_STAGING};
        let c = serve(&[
            "--acme",
            "Chat.Example.org, b.example.org,chat.example.org",
            "--acme-email",
            "ops@example.org",
        ])
        .unwrap();
        let a = c.acme.unwrap();
        assert!(c.tls, "--acme implies --tls");
        assert_eq!(a.domains, ["chat.example.org", "b.example.org"]);
        assert_eq!((a.directory.as_str(), a.challenge), (LETS_ENCRYPT, None));
        let a = serve(&[
            "--acme",
            "x.example.org",
            "--acme-email",
            "o@example.org",
            "--acme-staging",
        ])
        .unwrap()
        .acme
        .unwrap();
        assert_eq!(a.directory, LETS_ENCRYPT_STAGING);
        let c = serve(&[
            "--acme",
            "x.example.org",
            "--acme-email",
            "o@example.org",
            "--acme-challenge",
            "http-01",
            "--redirect-http",
            "80",
        ])
        .unwrap();
        assert_eq!(
            c.acme.unwrap().challenge,
            Some(crate::tls::acme::order::Kind::Http01)
        );
        for bad in [
            "a",
            "-a.example.org",
            "a..b",
            "1.2.3.4",
            "a.b-",
            "*.example.org",
            "",
        ] {
            assert!(!is_acme_domain(bad), "{bad}");
        }
        assert!(is_acme_domain("xn--bcher-kva.example"));
    }
}
