//! Why a request failed in the web layer, and the one place that turns it
//! into an answer's status, code, message and headers: the chat's
//! refusals, plus what only HTTP knows (no session, a bad CSRF token or
//! Origin, an unknown route, a malformed upgrade).

use std::borrow::Cow;

use crate::chat::Refusal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebError {
    /// 401: no live session.
    Unauthorized,
    /// 403: missing or wrong `X-CSRF-Token`.
    BadCsrf,
    /// 403: a foreign `Origin` on a state change or handshake.
    BadOrigin,
    /// 404: no such route or asset.
    NotFound,
    /// 405 with `Allow`.
    MethodNotAllowed(Vec<&'static str>),
    /// 400 with `Sec-WebSocket-Version: 13`: not a usable upgrade.
    BadUpgrade(&'static str),
    /// What the chat refused.
    Refused(Refusal),
}

impl WebError {
    pub fn status(&self) -> u16 {
        match self {
            WebError::Unauthorized => 401,
            WebError::BadCsrf | WebError::BadOrigin => 403,
            WebError::NotFound => 404,
            WebError::MethodNotAllowed(_) => 405,
            WebError::BadUpgrade(_) => 400,
            WebError::Refused(r) => r.status(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            WebError::Unauthorized => "unauthorized",
            WebError::BadCsrf => "bad_csrf",
            WebError::BadOrigin => "bad_origin",
            WebError::NotFound => "not_found",
            WebError::MethodNotAllowed(_) => "method_not_allowed",
            WebError::BadUpgrade(_) => "bad_request",
            WebError::Refused(r) => r.code(),
        }
    }

    pub fn message(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            WebError::Unauthorized => "Log in first.",
            WebError::BadCsrf => "Missing or wrong X-CSRF-Token header.",
            WebError::BadOrigin => "Cross-origin request refused.",
            WebError::NotFound => "Not found.",
            WebError::MethodNotAllowed(_) => "Method not allowed.",
            WebError::BadUpgrade(why) => why,
            WebError::Refused(r) => return r.message(),
        })
    }

    /// Headers the answer must carry.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            WebError::MethodNotAllowed(allow) => vec![("Allow", allow.join(", "))],
            WebError::BadUpgrade(_) => vec![("Sec-WebSocket-Version", "13".into())],
            WebError::Refused(r) => r
                .retry_after()
                .map(|wait| ("Retry-After", (wait.as_secs() + 1).to_string()))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl From<Refusal> for WebError {
    fn from(r: Refusal) -> Self {
        WebError::Refused(r)
    }
}

impl From<crate::auth::AccountError> for WebError {
    fn from(e: crate::auth::AccountError) -> Self {
        use crate::auth::AccountError as A;
        let message = e.to_string();
        WebError::Refused(match e {
            A::Invalid(why) => Refusal::bad_request(why),
            A::Taken => Refusal::conflict("name_taken", message),
            A::BadCredentials | A::NotAdmin | A::RegistrationClosed | A::BadInvite => {
                Refusal::forbidden(message)
            }
            A::RateLimited(wait) => Refusal::rate_limited(wait, message),
            A::BadResetLink | A::NoSuchUser => Refusal::not_found(message),
            A::LastAdmin => Refusal::conflict("last_admin", message),
            A::Store(e) => e.into(),
        })
    }
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError::Refused(e.into())
    }
}
