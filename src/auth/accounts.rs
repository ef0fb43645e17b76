//! The account flows: register, log in, change the password, start and end
//! sessions, and find the session behind a token. Each flow applies its
//! rate limit, input rules and hashing here; pages only read forms and
//! render the outcome.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::password::Passwords;
use super::session::{self, Session};
use super::{MAX_PASSWORD, validate_password, validate_username};
use crate::limits::Limiter;
use crate::store::{Store, StoreError, User};
use crate::util;

/// The flows' tunables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Login attempts per minute per IP and username after a burst of 10;
    /// 0 = no limit.
    pub login_rate: f64,
    /// Registrations per minute per IP after a burst of 50; 0 = no limit.
    pub register_rate: f64,
}

const LOGIN_BURST: f64 = 10.0;
const REGISTER_BURST: f64 = 50.0;

/// Why an account flow did not go through.
#[derive(Debug)]
pub enum AccountError {
    /// The input breaks a rule; the text says which.
    Invalid(&'static str),
    /// The username is taken (case-insensitively).
    Taken,
    /// Unknown user or wrong password: one answer for both.
    BadCredentials,
    /// Too many attempts; try again after this long.
    RateLimited(Duration),
    /// The storage failed.
    Store(StoreError),
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountError::Invalid(why) => f.write_str(why),
            AccountError::Taken => f.write_str("That username is taken. Please choose another."),
            AccountError::BadCredentials => f.write_str("Invalid username or password."),
            AccountError::RateLimited(wait) => write!(
                f,
                "Too many attempts. Please wait {} seconds and try again.",
                wait.as_secs() + 1
            ),
            AccountError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        AccountError::Store(e)
    }
}

pub struct Accounts {
    store: Arc<Store>,
    passwords: Passwords,
    /// Login attempts (and password changes) per IP and username.
    logins: Limiter<(IpAddr, String)>,
    /// Registrations per IP.
    registrations: Limiter<IpAddr>,
}

impl Accounts {
    pub fn new(store: Arc<Store>, settings: Settings) -> Accounts {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Accounts {
            store,
            passwords: Passwords::new(cores),
            logins: Limiter::new(settings.login_rate / 60.0, LOGIN_BURST),
            registrations: Limiter::new(settings.register_rate / 60.0, REGISTER_BURST),
        }
    }

    /// Computes the hash unknown users are checked against (call once from
    /// a background thread at start, so the first login does not wait).
    pub fn warm_up(&self) {
        self.passwords.warm_up();
    }

    fn limit_login(&self, ip: IpAddr, username: &str) -> Result<(), AccountError> {
        let key = username.chars().take(32).collect::<String>().to_lowercase();
        self.logins
            .take((ip, key))
            .map_err(AccountError::RateLimited)
    }

    /// Creates an account.
    pub fn register(
        &self,
        username: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<User, AccountError> {
        self.registrations
            .take(ip)
            .map_err(AccountError::RateLimited)?;
        validate_username(username)
            .and(validate_password(password))
            .map_err(AccountError::Invalid)?;
        if self.store.user_by_name(username)?.is_some() {
            return Err(AccountError::Taken);
        }
        let hash = self.passwords.hash(password);
        let user = self
            .store
            .create_user(username, &hash, util::now_ms())?
            .ok_or(AccountError::Taken)?;
        crate::info!("registered user id={}", user.id);
        Ok(user)
    }

    /// Checks a username and password. Unknown users take as long as wrong
    /// passwords and get the same answer.
    pub fn login(&self, username: &str, password: &str, ip: IpAddr) -> Result<User, AccountError> {
        self.limit_login(ip, username)?;
        let found = if validate_username(username).is_ok() && password.len() <= MAX_PASSWORD {
            self.store.user_by_name(username)?
        } else {
            None
        };
        let ok = self
            .passwords
            .verify(password, found.as_ref().map(|(_, h)| h.as_str()));
        match found {
            Some((user, _)) if ok => Ok(user),
            _ => Err(AccountError::BadCredentials),
        }
    }

    /// Issues a new session for `user` (ending `replacing`, the token the
    /// request came with, if any) and returns its token.
    pub fn start_session(
        &self,
        user: &User,
        replacing: Option<&str>,
    ) -> Result<String, StoreError> {
        let now = util::now_ms();
        if let Some(old) = replacing {
            let _ = self.store.delete_session(&session::token_hash(old), now);
        }
        let token = session::new_token();
        self.store.create_session(
            &session::token_hash(&token),
            user.id,
            now,
            now + session::LIFETIME_MS,
        )?;
        Ok(token)
    }

    /// Ends a session (logout).
    pub fn end_session(&self, s: &Session) {
        if let Err(e) = self
            .store
            .delete_session(&session::token_hash(&s.token), util::now_ms())
        {
            crate::error!("logout: {e}");
        }
    }

    /// The live session behind a cookie's token, if any.
    pub fn session(&self, token: &str) -> Option<Session> {
        if !session::is_token_shape(token) {
            return None;
        }
        let found = self
            .store
            .session_user(&session::token_hash(token), util::now_ms())
            .ok()
            .flatten()?;
        Some(Session {
            user: found.user,
            token: token.to_string(),
            expires_at: found.expires_at,
        })
    }

    /// Changes the password of `s`'s user (the current one must be right)
    /// and ends every other session of theirs; returns how many ended.
    pub fn change_password(
        &self,
        s: &Session,
        current: &str,
        new: &str,
        ip: IpAddr,
    ) -> Result<usize, AccountError> {
        validate_password(new).map_err(AccountError::Invalid)?;
        self.limit_login(ip, &s.user.username)?;
        let stored = self.store.password_hash(s.user.id)?;
        if current.len() > MAX_PASSWORD || !self.passwords.verify(current, stored.as_deref()) {
            return Err(AccountError::BadCredentials);
        }
        let hash = self.passwords.hash(new);
        self.store.set_password(s.user.id, &hash)?;
        let keep = session::token_hash(&s.token);
        let ended = self
            .store
            .revoke_sessions(s.user.id, Some(&keep), util::now_ms())?;
        crate::info!(
            "password changed for user id={}; {ended} other sessions ended",
            s.user.id
        );
        Ok(ended)
    }
}
