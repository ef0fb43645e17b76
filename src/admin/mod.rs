//! Admin subcommands on the same binary, working on the data directory
//! whether the server is stopped or running (SQLite does the locking):
//! users, sessions, backup/restore and export. They print for people;
//! every query they make lives in `store`.

mod acme;
pub mod backup;
pub mod invites;
mod migrate;
pub mod password_prompt;
pub mod sessions;
pub mod users;

use std::fmt;
use std::path::PathBuf;

use crate::store::{Location, StoreError};

/// What an admin command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    UserList,
    UserAdd(String),
    UserResetPassword(String),
    UserDelete(String),
    UserDisable(String),
    UserEnable(String),
    UserPromote(String),
    UserDemote(String),
    UserResetLink(String),
    InviteCreate {
        uses: Option<i64>,
        days: Option<i64>,
    },
    InviteList,
    InviteRevoke(String),
    SessionList(Option<String>),
    SessionRevoke(String),
    Backup(PathBuf),
    Restore(PathBuf),
    /// A group's messages; with a directory, its files too.
    Export(String, Option<PathBuf>),
    /// Copy the data directory into the PostgreSQL database at this URL
    /// (`migrate --to URL`).
    Migrate(String),
    /// `acme status`: the ACME certificate and the last attempt.
    AcmeStatus,
    /// `acme renew`: asks the running server to renew now.
    AcmeRenew,
}

/// Why an admin command failed.
#[derive(Debug)]
pub enum AdminError {
    /// The words are not a command.
    UnknownCommand(String),
    NoSuchUser(String),
    NoSuchGroup(String),
    NoSuchSession(String),
    NoSuchInvite(String),
    /// A session id prefix that matches several sessions.
    AmbiguousSession {
        prefix: String,
        matches: i64,
    },
    /// Neither a username nor a session id.
    NotATarget(String),
    UsernameTaken(String),
    /// Input that breaks a rule (username, password, …).
    Invalid(&'static str),
    /// The two passwords typed differ.
    PasswordsDiffer,
    /// What the account rules refused (the last admin, …).
    Account(crate::auth::AccountError),
    /// Reading the terminal or writing the output failed.
    Io(std::io::Error),
    Store(StoreError),
}

impl From<crate::auth::AccountError> for AdminError {
    fn from(e: crate::auth::AccountError) -> Self {
        match e {
            crate::auth::AccountError::Store(e) => AdminError::Store(e),
            e => AdminError::Account(e),
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::UnknownCommand(words) => write!(f, "unknown command: {words}"),
            AdminError::NoSuchUser(name) => write!(f, "no user named {name:?}"),
            AdminError::NoSuchGroup(g) => write!(f, "no group {g:?}"),
            AdminError::NoSuchSession(id) => write!(f, "no session with id {id}"),
            AdminError::NoSuchInvite(code) => write!(f, "no server invite {code}"),
            AdminError::AmbiguousSession { prefix, matches } => {
                write!(
                    f,
                    "{matches} sessions start with {prefix}; give more digits"
                )
            }
            AdminError::NotATarget(t) => write!(f, "{t:?} is neither a username nor a session id"),
            AdminError::UsernameTaken(name) => write!(f, "the username {name:?} is taken"),
            AdminError::Invalid(why) => f.write_str(why),
            AdminError::PasswordsDiffer => f.write_str("the passwords differ"),
            AdminError::Account(e) => write!(f, "{e}"),
            AdminError::Io(e) => write!(f, "{e}"),
            AdminError::Store(StoreError::InUse(dir)) => write!(
                f,
                "{} is in use by a running SecureChat server; stop it before restoring",
                dir.display()
            ),
            AdminError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Store(e)
    }
}

impl From<std::io::Error> for AdminError {
    fn from(e: std::io::Error) -> Self {
        AdminError::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, AdminError>;

/// Parses the positional words of an admin command.
pub fn parse(words: &[String]) -> Result<Action> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    Ok(match w.as_slice() {
        ["user", "list"] => Action::UserList,
        ["user", "add", name] => Action::UserAdd(name.to_string()),
        ["user", "reset-password", name] => Action::UserResetPassword(name.to_string()),
        ["user", "delete", name] => Action::UserDelete(name.to_string()),
        ["user", "disable", name] => Action::UserDisable(name.to_string()),
        ["user", "enable", name] => Action::UserEnable(name.to_string()),
        ["user", "promote", name] => Action::UserPromote(name.to_string()),
        ["user", "demote", name] => Action::UserDemote(name.to_string()),
        ["user", "reset-link", name] => Action::UserResetLink(name.to_string()),
        ["invite", "create"] => Action::InviteCreate {
            uses: None,
            days: None,
        },
        ["invite", "list"] => Action::InviteList,
        ["invite", "revoke", code] => Action::InviteRevoke(code.to_string()),
        ["session", "list"] => Action::SessionList(None),
        ["session", "list", name] => Action::SessionList(Some(name.to_string())),
        ["session", "revoke", id] => Action::SessionRevoke(id.to_string()),
        ["backup", dest] => Action::Backup(PathBuf::from(dest)),
        ["restore", src] => Action::Restore(PathBuf::from(src)),
        ["export", group] => Action::Export(group.to_string(), None),
        ["export", group, dir] => Action::Export(group.to_string(), Some(PathBuf::from(dir))),
        ["migrate"] => Action::Migrate(String::new()),
        ["acme", "status"] => Action::AcmeStatus,
        ["acme", "renew"] => Action::AcmeRenew,
        _ => return Err(AdminError::UnknownCommand(words.join(" "))),
    })
}

/// Runs an admin command; output goes to stdout.
pub fn run(location: &Location, action: Action) -> Result<()> {
    match &action {
        Action::Restore(src) => return backup::restore(src, location),
        Action::Migrate(url) => {
            return migrate::migrate(&location.data_dir, &location.files_dir, url);
        }
        Action::AcmeStatus => return acme::status(&location.data_dir),
        Action::AcmeRenew => return acme::renew(&location.data_dir),
        _ => {}
    }
    let store = std::sync::Arc::new(location.open()?);
    let accounts = || {
        let settings = crate::auth::accounts::Settings {
            login_rate: 0.0,
            register_rate: 0.0,
            registration: None,
        };
        crate::auth::Accounts::new(std::sync::Arc::clone(&store), settings)
    };
    match action {
        Action::Restore(_) | Action::Migrate(_) | Action::AcmeStatus | Action::AcmeRenew => Ok(()),
        Action::UserDisable(name) => users::set_disabled(&accounts()?, &name, true),
        Action::UserEnable(name) => users::set_disabled(&accounts()?, &name, false),
        Action::UserPromote(name) => users::set_admin(&accounts()?, &name, true),
        Action::UserDemote(name) => users::set_admin(&accounts()?, &name, false),
        Action::UserResetLink(name) => users::reset_link(&accounts()?, &name),
        Action::InviteCreate { uses, days } => invites::create(&accounts()?, uses, days),
        Action::InviteList => invites::list(&accounts()?),
        Action::InviteRevoke(code) => invites::revoke(&accounts()?, &code),
        Action::Backup(dest) => backup::backup(&store, &dest),
        Action::Export(group, dir) => backup::export(&store, &group, dir.as_deref()),
        Action::UserList => users::list(&store),
        Action::UserAdd(name) => users::add(&store, &name),
        Action::UserResetPassword(name) => users::reset_password(&store, &name),
        Action::UserDelete(name) => users::delete(&store, &name),
        Action::SessionList(name) => sessions::list(&store, name.as_deref()),
        Action::SessionRevoke(id) => sessions::revoke(&store, &id),
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) for Unix milliseconds.
pub fn when(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = crate::tls::der::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem / 60 % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn parses_commands() {
        assert_eq!(parse(&words("user list")).unwrap(), Action::UserList);
        assert_eq!(
            parse(&words("user add bob")).unwrap(),
            Action::UserAdd("bob".into())
        );
        assert_eq!(
            parse(&words("session revoke abc")).unwrap(),
            Action::SessionRevoke("abc".into())
        );
        assert_eq!(
            parse(&words("backup /tmp/b")).unwrap(),
            Action::Backup("/tmp/b".into())
        );
        assert!(parse(&words("user")).is_err());
        assert!(parse(&words("user add")).is_err());
        assert!(parse(&words("frobnicate")).is_err());
        assert_eq!(when(0), "1970-01-01 00:00");
    }
}
