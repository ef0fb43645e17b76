//! Keeping a certificate from an ACME CA (`--acme`): at start, the kept
//! certificate (or, before the first one, the self-signed one `--tls`
//! serves) goes into the HTTPS listener; a thread of its own then gets a
//! new one when it is due — at once when there is none, when the kept one
//! was for other domains or another CA, or expires within 30 days; then at
//! two thirds of its lifetime, or when `securechat acme renew` asks — and
//! swaps it in for new handshakes, after `status.json` and the log say so.
//! A failed attempt is logged (never a key) and retried after a back-off
//! that doubles from a minute to six hours, or later when the CA's rate
//! limit says so (followed across restarts and by `acme renew`); a
//! certificate already due when it arrives counts as a failure, so a
//! skewed clock cannot make a loop of issuances. `status.json` records
//! every attempt for `securechat acme status`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::alpn::AlpnResponder;
use super::client::{AcmeError, Client};
use super::http01::Http01Responder;
use super::jws::AccountKey;
use super::kept::{self, Kept};
use super::order::{Challenge, Kind, Responder};
use super::status::{Attempt, Status};
use crate::tls::live::{self, LiveCert};
use crate::tls::{CertPaths, TlsError};
use crate::util;
use rustls::sign::CertifiedKey;

/// Let's Encrypt's directories.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// The request file `securechat acme renew` leaves for the running server.
pub const RENEW_REQUEST: &str = "renew";

/// The first back-off after a failure, and the longest.
const BACKOFF_FIRST: Duration = Duration::from_secs(60);
const BACKOFF_MAX: Duration = Duration::from_secs(6 * 3600);
/// The longest a CA's `Retry-After` is followed.
const RETRY_AFTER_MAX: u64 = 7 * 24 * 3600;

/// What `--acme…` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub domains: Vec<String>,
    pub email: String,
    pub directory: String,
    /// `--acme-ca`: a PEM bundle trusted for the directory's HTTPS.
    pub ca: Option<PathBuf>,
    /// `--acme-challenge`; `None`: TLS-ALPN-01, then HTTP-01 when the
    /// plain-HTTP listener runs.
    pub challenge: Option<Kind>,
}

/// Where ACME keeps its files: `DATA_DIR/acme`.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("acme")
}

/// Back-off after `failures` failed attempts in a row.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_FIRST
        .saturating_mul(1 << doublings)
        .min(BACKOFF_MAX)
}

/// The keeper, until its thread runs it.
pub struct Keeper {
    settings: Settings,
    dir: PathBuf,
    live: Arc<LiveCert>,
    alpn: Arc<AlpnResponder>,
    http: Option<Arc<Http01Responder>>,
    status: Status,
    /// Unix seconds.
    next: i64,
    /// The CA's terms of service were named in the log.
    told_terms: bool,
}

/// What `prepare` hands the server: the TLS configuration to serve, the
/// HTTP-01 answers for the plain listener, and the keeper for its thread.
pub struct Prepared {
    pub tls: Arc<rustls::ServerConfig>,
    pub http01: Option<Arc<Http01Responder>>,
    pub keeper: Keeper,
}

/// Both responders as one, for an order.
struct Responders<'a>(&'a AlpnResponder, Option<&'a Http01Responder>);

impl Responder for Responders<'_> {
    fn publish(&self, c: &Challenge) {
        self.0.publish(c);
        if let Some(h) = self.1 {
            h.publish(c);
        }
    }

    fn withdraw(&self, c: &Challenge) {
        self.0.withdraw(c);
        if let Some(h) = self.1 {
            h.withdraw(c);
        }
    }
}

fn now_s() -> i64 {
    util::now_ms() / 1000
}

/// Where the server listens: the HTTPS port and the plain one, if any.
#[derive(Debug, Clone, Copy)]
pub struct Listen {
    pub host: std::net::IpAddr,
    pub port: u16,
    /// `--redirect-http` (HTTP-01 can be answered there).
    pub plain: Option<u16>,
}

/// What a CA on the internet cannot reach, said once at start.
fn warn_unreachable(listen: Listen, kinds: &[Kind]) {
    if listen.host.is_loopback() {
        crate::warn!(
            "acme: listening on {} only, which no CA can reach: use --host 0.0.0.0 (or a public address)",
            listen.host
        );
    }
    if kinds.contains(&Kind::TlsAlpn01) && listen.port != 443 {
        crate::warn!(
            "acme: the CA checks tls-alpn-01 on port 443: make sure port 443 reaches port {}",
            listen.port
        );
    }
    if let Some(plain) = listen.plain.filter(|p| *p != 80)
        && kinds.contains(&Kind::Http01)
    {
        crate::warn!(
            "acme: the CA checks http-01 on port 80: make sure port 80 reaches port {plain}"
        );
    }
}

/// The challenge kinds to try, in order.
fn kinds(settings: &Settings, plain_http: bool) -> Vec<Kind> {
    match settings.challenge {
        Some(kind) => vec![kind],
        None if plain_http => vec![Kind::TlsAlpn01, Kind::Http01],
        None => vec![Kind::TlsAlpn01],
    }
}

/// Loads what is kept and builds the listener's configuration.
pub fn prepare(
    settings: Settings,
    data_dir: &Path,
    self_signed: &CertPaths,
    listen: Listen,
) -> Result<Prepared, TlsError> {
    let plain_http = listen.plain.is_some();
    warn_unreachable(listen, &kinds(&settings, plain_http));
    if let Some(ca) = &settings.ca {
        // Refused at start, not at the first attempt: a typo here would
        // otherwise show only as failures in the log.
        let pem = std::fs::read(ca).map_err(|error| TlsError::Io {
            path: ca.clone(),
            error,
        })?;
        let certs = ureq::tls::parse_pem(&pem)
            .filter(|i| matches!(i, Ok(ureq::tls::PemItem::Certificate(_))))
            .count();
        if certs == 0 {
            return Err(TlsError::NotPem {
                path: ca.clone(),
                what: "a PEM bundle of CA certificates",
            });
        }
    }
    let dir = dir(data_dir);
    let io = |error| TlsError::Io {
        path: dir.clone(),
        error,
    };
    let kept = kept::load(&dir).map_err(io)?;
    let status = Status::load(&dir);
    let now = now_s();
    let names = settings.domains.join(", ");
    let usable = kept.and_then(|k| match live::certified_pem(&k.chain_pem, &k.key_pem) {
        Ok(pair) => Some((pair, k)),
        Err(e) => {
            crate::warn!(
                "acme: the kept certificate in {} is unusable ({e}); getting a new one",
                dir.display()
            );
            None
        }
    });
    let (live, next) = match usable {
        Some((pair, k)) => {
            let sorted = |d: &[String]| {
                let mut d = d.to_vec();
                d.sort();
                d
            };
            let same = status.directory == settings.directory
                && sorted(&status.domains) == sorted(&settings.domains);
            let mut next = if !same || k.due_on_start(now) {
                now
            } else {
                k.renew_at()
            };
            // While this certificate serves, a back-off outlives a restart
            // (`acme renew` cuts it short).
            if same && status.failures > 0 {
                next = next.max(status.next_attempt.unwrap_or(0));
            }
            println!(
                "TLS certificate (ACME): {}, expires {}",
                dir.join("chain.pem").display(),
                crate::tls::cert::date_time(k.not_after)
            );
            if !same {
                println!(
                    "  it was issued for other domains or by another CA: asking for {names} now"
                );
            }
            (LiveCert::new(pair), next)
        }
        None => {
            let id = crate::tls::cert::load_or_generate(
                &self_signed.certfile,
                &self_signed.keyfile,
                &self_signed.settings,
            )?;
            crate::tls::describe(self_signed, &id);
            println!("  served until the ACME certificate for {names} arrives");
            (LiveCert::from_identity(id)?, now)
        }
    };
    // A CA's rate limit outlives a restart.
    let next = next.max(status.not_before_retry.unwrap_or(0));
    let live = Arc::new(live);
    let alpn = Arc::new(AlpnResponder::new(Some(Arc::clone(&live) as _)));
    let http = plain_http.then(|| Arc::new(Http01Responder::default()));
    let tls = crate::tls::build(Arc::clone(&alpn) as _, true)?;
    Ok(Prepared {
        tls,
        http01: http.clone(),
        keeper: Keeper {
            settings,
            dir,
            live,
            alpn,
            http,
            status,
            next,
            told_terms: false,
        },
    })
}

impl Keeper {
    fn kinds(&self) -> Vec<Kind> {
        kinds(&self.settings, self.http.is_some())
    }

    /// Runs until `stopping`: waits for the next attempt (or a request),
    /// makes it, and so on.
    pub fn run(mut self, stopping: impl Fn() -> bool) {
        loop {
            loop {
                if stopping() {
                    return;
                }
                if self.take_request() {
                    let now = now_s();
                    match self.status.not_before_retry.filter(|t| *t > now) {
                        // A request cuts a back-off short, not the CA's
                        // own rate limit.
                        Some(t) => {
                            crate::info!(
                                "acme: renewal asked for (securechat acme renew); the CA asked not to be asked before {}",
                                crate::tls::cert::date_time(t)
                            );
                            self.next = t;
                        }
                        None => {
                            crate::info!("acme: renewal asked for (securechat acme renew)");
                            break;
                        }
                    }
                }
                if now_s() >= self.next {
                    break;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            // A request left while this attempt runs is answered by it.
            let _ = self.take_request();
            self.attempt();
        }
    }

    fn take_request(&self) -> bool {
        std::fs::remove_file(self.dir.join(RENEW_REQUEST)).is_ok()
    }

    fn attempt(&mut self) {
        let started = Instant::now();
        let at = now_s();
        let names = self.settings.domains.join(", ");
        crate::info!(
            "acme: asking {} for a certificate for {names}",
            self.settings.directory
        );
        let result = self.obtain().and_then(|(k, pair, kind)| {
            // Due again at once: a clock far ahead of the CA's, or a
            // certificate that hardly lives. Served, but asked for again
            // only after a back-off, never in a loop.
            if k.renew_at() <= now_s() {
                self.live.replace(pair);
                return Err(AcmeError::Protocol(format!(
                    "the new certificate (valid {} to {}) is already due for renewal: is this machine's clock right?",
                    crate::tls::cert::date_time(k.not_before),
                    crate::tls::cert::date_time(k.not_after)
                )));
            }
            Ok((k, pair, kind))
        });
        let took_ms = started.elapsed().as_millis() as u64;
        let served = match result {
            Ok((k, pair, kind)) => {
                self.status = Status {
                    directory: self.settings.directory.clone(),
                    domains: self.settings.domains.clone(),
                    not_before: Some(k.not_before),
                    not_after: Some(k.not_after),
                    renew_at: Some(k.renew_at()),
                    last_attempt: Some(Attempt {
                        at,
                        took_ms,
                        challenge: kind.map(|k| k.name().into()),
                        error: None,
                    }),
                    failures: 0,
                    next_attempt: Some(k.renew_at()),
                    not_before_retry: None,
                };
                self.next = k.renew_at();
                let how = match kind {
                    Some(k) => format!("over {}", k.name()),
                    None => "on the CA's still valid authorizations".into(),
                };
                crate::info!(
                    "acme: certificate for {names} issued {how} in {took_ms} ms and now served; expires {}, renewal due {}",
                    crate::tls::cert::date_time(k.not_after),
                    crate::tls::cert::date_time(k.renew_at()),
                );
                Some(pair)
            }
            Err(e) => {
                let failures = self.status.failures.saturating_add(1);
                let mut wait = backoff(failures).as_secs();
                let retry_after = match &e {
                    AcmeError::Problem {
                        retry_after: Some(s),
                        ..
                    } => Some((*s).min(RETRY_AFTER_MAX)),
                    _ => None,
                };
                if let Some(s) = retry_after {
                    wait = wait.max(s);
                }
                self.next = at + wait as i64;
                crate::warn!(
                    "acme: no certificate for {names} (attempt {failures} failed after {took_ms} ms): {e}; next attempt in {}",
                    shown(wait)
                );
                self.status.failures = failures;
                self.status.last_attempt = Some(Attempt {
                    at,
                    took_ms,
                    challenge: None,
                    error: Some(e.to_string()),
                });
                self.status.next_attempt = Some(self.next);
                self.status.not_before_retry = retry_after.map(|s| at + s as i64);
                None
            }
        };
        if let Err(e) = self.status.save(&self.dir) {
            crate::warn!(
                "acme: cannot write {}: {e}",
                self.dir.join(super::status::FILE).display()
            );
        }
        // Swapped in last: whoever sees the new certificate finds the
        // status and the log already saying so.
        if let Some(pair) = served {
            self.live.replace(pair);
        }
    }

    /// One attempt: the account, then an order per challenge kind until
    /// one is validated; the certificate kept (not yet served).
    fn obtain(&mut self) -> Result<(Kept, CertifiedKey, Option<Kind>), AcmeError> {
        let ca = match &self.settings.ca {
            Some(path) => Some(std::fs::read(path)?),
            None => None,
        };
        let mut client = Client::new(&self.settings.directory, ca.as_deref())?;
        let key = AccountKey::load_or_create(&self.dir.join("account.key"))?;
        let kid = client.account(&key, &self.settings.email)?;
        if !self.told_terms {
            self.told_terms = true;
            match &client.terms {
                Some(url) => crate::info!(
                    "acme: using the CA's account for {}; its terms of service, agreed to by using --acme: {url}",
                    self.settings.email
                ),
                None => crate::info!("acme: using the CA's account for {}", self.settings.email),
            }
        }
        let responders = Responders(&self.alpn, self.http.as_deref());
        let kinds = self.kinds();
        let mut failed = None;
        for (i, kind) in kinds.iter().copied().enumerate() {
            match client.obtain(&key, &kid, &self.settings.domains, kind, &responders) {
                Ok(issued) => {
                    let pair = live::certified_pem(&issued.chain_pem, &issued.key_pem)
                        .map_err(|e| AcmeError::Protocol(format!("the issued certificate: {e}")))?;
                    let k = kept::save(&self.dir, &issued)?;
                    return Ok((k, pair, (issued.answered > 0).then_some(kind)));
                }
                Err(e @ (AcmeError::Invalid { .. } | AcmeError::NotOffered { .. }))
                    if i + 1 < kinds.len() =>
                {
                    crate::warn!("acme: {e}; trying {}", kinds[i + 1].name());
                    failed = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(failed.unwrap_or_else(|| AcmeError::Protocol("no challenge kind to try".into())))
    }
}

/// "45 s", "8 min", "6 h".
fn shown(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_from_a_minute_to_six_hours() {
        let mins: Vec<u64> = (1..=11).map(|n| backoff(n).as_secs() / 60).collect();
        assert_eq!(mins, [1, 2, 4, 8, 16, 32, 64, 128, 256, 360, 360]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
        assert_eq!(shown(45), "45 s");
        assert_eq!(shown(600), "10 min");
        assert_eq!(shown(21_600), "6 h");
    }
}
