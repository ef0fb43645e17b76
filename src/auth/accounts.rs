//! The account flows: register (as the registration mode allows), log in,
//! change the password, start and end sessions, find the session behind a
//! token, and set a password with a one-time reset link. Each flow applies
//! its rate limit, input rules and hashing here; pages only read forms and
//! render the outcome.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::password::Passwords;
use super::session::{self, Session};
use super::{MAX_PASSWORD, validate_password, validate_username};
use crate::limits::Limiter;
use crate::store::{Store, StoreError, Unregistered, User};
use crate::util;

/// Who may make an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Anyone who reaches the server.
    Open,
    /// Holders of a server invite.
    Invite,
    /// Nobody: accounts come from the administrator (`securechat user add`).
    Closed,
}

impl Registration {
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Open => "open",
            Registration::Invite => "invite",
            Registration::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Registration> {
        match s {
            "open" => Some(Registration::Open),
            "invite" => Some(Registration::Invite),
            "closed" => Some(Registration::Closed),
            _ => None,
        }
    }
}

/// The stored setting that holds the registration mode.
const REGISTRATION_KEY: &str = "registration";
/// How long a password reset link works.
pub const RESET_LINK_MS: i64 = 24 * 3600 * 1000;

/// The flows' tunables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Login attempts per minute per IP and username after a burst of 10;
    /// 0 = no limit.
    pub login_rate: f64,
    /// Registrations per minute per IP after a burst of 50; 0 = no limit.
    pub register_rate: f64,
    /// The registration mode to set at start; `None` keeps the stored one
    /// (open when none was ever stored).
    pub registration: Option<Registration>,
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
    /// Registration is closed: accounts come from the administrator.
    RegistrationClosed,
    /// Registration is by invite and the code is missing or no longer works.
    BadInvite,
    /// A reset link that is used, expired or unknown.
    BadResetLink,
    /// Only server admins may do this.
    NotAdmin,
    NoSuchUser,
    /// The last server admin cannot be demoted or disabled.
    LastAdmin,
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
            AccountError::RegistrationClosed => f.write_str(
                "Registration is closed: accounts are made by the administrator (securechat user add).",
            ),
            AccountError::BadInvite => f.write_str(
                "Registration is by invitation: this invite code is missing, expired, used up or revoked.",
            ),
            AccountError::BadResetLink => f.write_str(
                "This reset link is no longer valid: it was used, it expired, or it never existed.",
            ),
            AccountError::NotAdmin => f.write_str("Only server admins can do this."),
            AccountError::NoSuchUser => f.write_str("No such user."),
            AccountError::LastAdmin => f.write_str(
                "This is the last server admin: make someone else an admin first.",
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
    registration: RwLock<Registration>,
}

impl Accounts {
    /// The flows over `store`; a registration mode in `settings` is stored
    /// (it then holds across restarts until changed).
    pub fn new(store: Arc<Store>, settings: Settings) -> Result<Accounts, StoreError> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mode = match settings.registration {
            Some(mode) => {
                store.set_setting(REGISTRATION_KEY, mode.as_str())?;
                mode
            }
            None => store
                .setting(REGISTRATION_KEY)?
                .as_deref()
                .and_then(Registration::parse)
                .unwrap_or(Registration::Open),
        };
        Ok(Accounts {
            store,
            passwords: Passwords::new(cores),
            logins: Limiter::new(settings.login_rate / 60.0, LOGIN_BURST),
            registrations: Limiter::new(settings.register_rate / 60.0, REGISTER_BURST),
            registration: RwLock::new(mode),
        })
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// The account a reset link is for, while it works.
    pub fn reset_link_user(&self, token: &str) -> Result<User, AccountError> {
        if !session::is_token_shape(token) {
            return Err(AccountError::BadResetLink);
        }
        self.store
            .reset_link_user(&session::token_hash(token), util::now_ms())?
            .ok_or(AccountError::BadResetLink)
    }

    /// Sets a new password with a reset link (once) and ends every session
    /// of the account.
    pub fn use_reset_link(&self, token: &str, password: &str) -> Result<User, AccountError> {
        validate_password(password).map_err(AccountError::Invalid)?;
        self.reset_link_user(token)?;
        let hash = self.passwords.hash(password);
        let user = self
            .store
            .use_reset_link(&session::token_hash(token), &hash, util::now_ms())?
            .ok_or(AccountError::BadResetLink)?;
        crate::info!(
            "password of user id={} set with a reset link; sessions ended",
            user.id
        );
        Ok(user)
    }

    /// Who may make an account now.
    pub fn registration(&self) -> Registration {
        *self.registration.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes (and stores) the registration mode.
    pub fn set_registration(&self, mode: Registration) -> Result<(), StoreError> {
        self.store.set_setting(REGISTRATION_KEY, mode.as_str())?;
        *self.registration.write().unwrap_or_else(|e| e.into_inner()) = mode;
        Ok(())
    }

    /// Computes the hash unknown users are checked against (call once from
    /// a background thread at start, so the first login does not wait).
    pub fn warm_up(&self) {
        self.passwords.warm_up();
    }

    fn limit_login(&self, ip: IpAddr, username: &str) -> Result<(), AccountError> {
        let key = username.chars().take(32).collect::<String>().to_lowercase();
        let named = format!("{ip} {key}");
        self.take(&self.logins, (ip, key), "login", &named)
            .map_err(AccountError::RateLimited)
    }

    /// A token of `limiter`'s bucket for `key`: in PostgreSQL mode from the
    /// row every instance shares (`named` names it there; this instance's
    /// bucket while the database is away), else from memory.
    fn take<K: std::hash::Hash + Eq>(
        &self,
        limiter: &Limiter<K>,
        key: K,
        kind: &str,
        named: &str,
    ) -> Result<(), std::time::Duration> {
        if !self.store.is_postgres() || limiter.rate() <= 0.0 {
            return limiter.take(key);
        }
        let (rate, burst) = (limiter.rate(), limiter.burst());
        match self.store.take_shared_token_named(kind, named, rate, burst) {
            Ok(taken) => taken,
            Err(_) => limiter.take(key),
        }
    }

    /// Creates an account, as the registration mode allows (`invite`: the
    /// server invite code the form carried).
    pub fn register(
        &self,
        username: &str,
        password: &str,
        ip: IpAddr,
        invite: Option<&str>,
    ) -> Result<User, AccountError> {
        let mode = self.registration();
        if mode == Registration::Closed {
            return Err(AccountError::RegistrationClosed);
        }
        self.take(&self.registrations, ip, "register", &ip.to_string())
            .map_err(AccountError::RateLimited)?;
        let invite = match mode {
            Registration::Invite => {
                let code = invite
                    .filter(|c| !c.is_empty())
                    .ok_or(AccountError::BadInvite)?;
                if !self.store.server_invite_usable(code, util::now_ms())? {
                    return Err(AccountError::BadInvite);
                }
                Some(code)
            }
            _ => None,
        };
        validate_username(username)
            .and(validate_password(password))
            .map_err(AccountError::Invalid)?;
        if self.store.any_user_by_name(username)?.is_some() {
            return Err(AccountError::Taken);
        }
        let hash = self.passwords.hash(password);
        let now = util::now_ms();
        let user = match invite {
            None => self
                .store
                .create_user(username, &hash, now)?
                .ok_or(AccountError::Taken)?,
            Some(code) => self
                .store
                .create_user_invited(username, &hash, code, now)?
                .map_err(|e| match e {
                    Unregistered::BadInvite => AccountError::BadInvite,
                    Unregistered::NameTaken => AccountError::Taken,
                })?,
        };
        crate::info!(
            "registered user id={}{}",
            user.id,
            if user.admin { " (server admin)" } else { "" }
        );
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
            Some((user, _)) if ok => {
                let _ = self.store.touch_last_seen(user.id, util::now_ms());
                Ok(user)
            }
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

    /// The live session behind a cookie's token, if any. Using it counts
    /// as being seen (written at most every `LAST_SEEN_EVERY_MS`).
    pub fn session(&self, token: &str) -> Option<Session> {
        if !session::is_token_shape(token) {
            return None;
        }
        let now = util::now_ms();
        let found = self
            .store
            .session_user(&session::token_hash(token), now)
            .ok()
            .flatten()?;
        if found
            .last_seen_at
            .is_none_or(|t| t < now - crate::store::LAST_SEEN_EVERY_MS)
        {
            let _ = self.store.touch_last_seen(found.user.id, now);
        }
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
