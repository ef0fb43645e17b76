//! Server administration: what server admins (and the operator at the
//! command line) may do to accounts — disable and enable them (a disabled
//! account cannot log in, and all its sessions end), promote and demote
//! admins (never leaving the server without one), hand out one-time
//! password reset links — and server invites for registration by invite.

use super::accounts::{AccountError, Accounts, RESET_LINK_MS};
use super::session;
use crate::store::{Invite, User, UserSummary};
use crate::util;

/// Who asks: a logged-in server admin, or the operator at the command line.
#[derive(Debug, Clone, Copy)]
pub enum Operator<'a> {
    Admin(&'a User),
    CommandLine,
}

impl Operator<'_> {
    fn check(self) -> Result<Option<i64>, AccountError> {
        match self {
            Operator::Admin(u) if u.admin => Ok(Some(u.id)),
            Operator::Admin(_) => Err(AccountError::NotAdmin),
            Operator::CommandLine => Ok(None),
        }
    }
}

/// A one-time reset link: its token (shown once) and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetLink {
    pub user: User,
    pub token: String,
    pub expires_at: i64,
}

impl ResetLink {
    /// Where the link points, on this server.
    pub fn path(&self) -> String {
        format!("/reset/{}", self.token)
    }
}

impl Accounts {
    fn account(&self, name: &str) -> Result<User, AccountError> {
        Ok(self
            .store()
            .any_user_by_name(name)?
            .ok_or(AccountError::NoSuchUser)?
            .0)
    }

    /// Every account, for the admin page and `user list`.
    pub fn list_users(&self, by: Operator<'_>) -> Result<Vec<UserSummary>, AccountError> {
        by.check()?;
        Ok(self.store().list_users(util::now_ms())?)
    }

    /// Disables (or enables again) the account named `name`.
    pub fn set_disabled(
        &self,
        by: Operator<'_>,
        name: &str,
        disabled: bool,
    ) -> Result<User, AccountError> {
        by.check()?;
        let user = self.account(name)?;
        self.store()
            .set_disabled(user.id, disabled, util::now_ms())?
            .map_err(|_| AccountError::LastAdmin)?;
        crate::info!(
            "user id={} {}",
            user.id,
            if disabled { "disabled" } else { "enabled" }
        );
        Ok(user)
    }

    /// Makes the account named `name` a server admin, or not.
    pub fn set_admin(
        &self,
        by: Operator<'_>,
        name: &str,
        admin: bool,
    ) -> Result<User, AccountError> {
        by.check()?;
        let user = self.account(name)?;
        self.store()
            .set_admin(user.id, admin)?
            .map_err(|_| AccountError::LastAdmin)?;
        Ok(User { admin, ..user })
    }

    /// A one-time link (valid 24 h) that sets a new password for the
    /// account named `name` and ends all its sessions.
    pub fn reset_link(&self, by: Operator<'_>, name: &str) -> Result<ResetLink, AccountError> {
        by.check()?;
        let user = self.account(name)?;
        let token = session::new_token();
        let now = util::now_ms();
        let expires_at = now + RESET_LINK_MS;
        self.store()
            .create_reset_link(user.id, &session::token_hash(&token), now, expires_at)?;
        Ok(ResetLink {
            user,
            token,
            expires_at,
        })
    }

    /// A server invite (registration by invite): optional use limit and
    /// expiry, as already checked by the caller.
    pub fn create_server_invite(
        &self,
        by: Operator<'_>,
        code: &str,
        max_uses: Option<i64>,
        expires_at: Option<i64>,
    ) -> Result<Invite, AccountError> {
        let creator = by.check()?;
        Ok(self.store().create_server_invite(
            code,
            creator,
            expires_at,
            max_uses,
            util::now_ms(),
        )?)
    }

    /// The server invites that still work.
    pub fn server_invites(&self, by: Operator<'_>) -> Result<Vec<Invite>, AccountError> {
        by.check()?;
        let now = util::now_ms();
        Ok(self
            .store()
            .list_server_invites()?
            .into_iter()
            .filter(|i| i.expires_at.is_none_or(|t| t > now))
            .collect())
    }

    /// Revokes a server invite; whether there was one.
    pub fn revoke_server_invite(&self, by: Operator<'_>, code: &str) -> Result<bool, AccountError> {
        by.check()?;
        Ok(self.store().revoke_server_invite(code, util::now_ms())?)
    }
}
