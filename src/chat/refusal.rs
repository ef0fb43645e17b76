//! Why the chat refused something: one enum for every rule the chat layer
//! enforces, carrying both what an HTTP answer needs (status, `Retry-After`)
//! and what a WebSocket `error` frame needs (code, `retry_after_ms`). The
//! JSON API and the socket handlers both report refusals through it, so a
//! rule is written once and answers the same way on either path.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400 `bad_request`: malformed or invalid input.
    BadRequest(Cow<'static, str>),
    /// 413 `too_large`: over a size limit.
    TooLarge(Cow<'static, str>),
    /// 403 `forbidden`: not allowed for this user.
    Forbidden(Cow<'static, str>),
    /// 404 `not_found`.
    NotFound(Cow<'static, str>),
    /// 409 with a specific code (e.g. `name_taken`).
    Conflict {
        code: &'static str,
        message: Cow<'static, str>,
    },
    /// 429 `rate_limited`, retry after the given time.
    RateLimited {
        retry_after: Duration,
        message: Cow<'static, str>,
    },
    /// 507 `storage_full`: the disk is full; writes resume by themselves
    /// when space returns, so retry after the given time.
    StorageFull { retry_after: Duration },
    /// 503 `storage_unavailable`: PostgreSQL cannot be reached (restarting,
    /// down, every connection busy); nothing was stored, retry shortly.
    StorageUnavailable,
    /// 500 `internal`: the storage failed (already logged, without content).
    Internal,
}

/// How long a client waits before retrying a write refused for a full disk.
pub const STORAGE_FULL_RETRY: Duration = Duration::from_secs(5);
/// How long a client waits before retrying after the database was away.
pub const STORAGE_UNAVAILABLE_RETRY: Duration = Duration::from_secs(2);

impl Refusal {
    pub fn bad_request(m: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal::BadRequest(m.into())
    }
    pub fn too_large(m: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal::TooLarge(m.into())
    }
    pub fn forbidden(m: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal::Forbidden(m.into())
    }
    pub fn not_found(m: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal::NotFound(m.into())
    }
    pub fn conflict(code: &'static str, m: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal::Conflict {
            code,
            message: m.into(),
        }
    }
    pub fn rate_limited(retry_after: Duration, m: impl Into<Cow<'static, str>>) -> Refusal {
        crate::metrics::inc(&crate::metrics::RATE_LIMITED);
        Refusal::RateLimited {
            retry_after,
            message: m.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::TooLarge(_) => 413,
            Refusal::Forbidden(_) => 403,
            Refusal::NotFound(_) => 404,
            Refusal::Conflict { .. } => 409,
            Refusal::RateLimited { .. } => 429,
            Refusal::StorageFull { .. } => 507,
            Refusal::StorageUnavailable => 503,
            Refusal::Internal => 500,
        }
    }

    /// The `error` code of the JSON API and of WebSocket `error` frames.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::BadRequest(_) => "bad_request",
            Refusal::TooLarge(_) => "too_large",
            Refusal::Forbidden(_) => "forbidden",
            Refusal::NotFound(_) => "not_found",
            Refusal::Conflict { code, .. } => code,
            Refusal::RateLimited { .. } => "rate_limited",
            Refusal::StorageFull { .. } => "storage_full",
            Refusal::StorageUnavailable => "storage_unavailable",
            Refusal::Internal => "internal",
        }
    }

    /// What a person reads.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            Refusal::BadRequest(m)
            | Refusal::TooLarge(m)
            | Refusal::Forbidden(m)
            | Refusal::NotFound(m)
            | Refusal::Conflict { message: m, .. }
            | Refusal::RateLimited { message: m, .. } => Cow::Borrowed(m),
            Refusal::StorageFull { .. } => {
                Cow::Borrowed("The server's disk is full; nothing was stored. Retry shortly.")
            }
            Refusal::StorageUnavailable => {
                Cow::Borrowed("The database is unavailable; nothing was stored. Retry shortly.")
            }
            Refusal::Internal => Cow::Borrowed("Internal server error; please retry."),
        }
    }

    /// How long to wait before trying again, for refusals that pass.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Refusal::RateLimited { retry_after, .. } | Refusal::StorageFull { retry_after } => {
                Some(*retry_after)
            }
            Refusal::StorageUnavailable => Some(STORAGE_UNAVAILABLE_RETRY),
            _ => None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.code())
    }
}

/// Requests refused while the database is away, reported once a minute.
static UNAVAILABLE: crate::log::Tally = crate::log::Tally::new();

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Refusal {
        match e {
            // Counted and reported once a minute by the store.
            StoreError::Full => Refusal::StorageFull {
                retry_after: STORAGE_FULL_RETRY,
            },
            StoreError::Unavailable(why) => {
                if let Some(n) = UNAVAILABLE.count() {
                    crate::warn!("{n} request(s) refused: PostgreSQL is unavailable ({why})");
                }
                Refusal::StorageUnavailable
            }
            e => {
                crate::error!("{e}");
                Refusal::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_a_status_and_a_code() {
        let cases = [
            (Refusal::bad_request("x"), 400, "bad_request"),
            (Refusal::too_large("x"), 413, "too_large"),
            (Refusal::forbidden("x"), 403, "forbidden"),
            (Refusal::not_found("x"), 404, "not_found"),
            (Refusal::conflict("name_taken", "x"), 409, "name_taken"),
            (
                Refusal::rate_limited(Duration::from_secs(1), "x"),
                429,
                "rate_limited",
            ),
            (
                Refusal::StorageFull {
                    retry_after: STORAGE_FULL_RETRY,
                },
                507,
                "storage_full",
            ),
            (Refusal::Internal, 500, "internal"),
        ];
        for (r, status, code) in cases {
            assert_eq!((r.status(), r.code()), (status, code));
        }
        assert_eq!(Refusal::from(StoreError::Busy), Refusal::Internal);
        let full = Refusal::from(StoreError::Full);
        assert_eq!(full.retry_after(), Some(STORAGE_FULL_RETRY));
    }
}
