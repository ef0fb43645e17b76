//! Admin subcommands on the same binary, working on the data directory
//! whether the server is stopped or running (SQLite does the locking):
//! users, sessions, backup/restore and export.

pub mod backup;
pub mod password_prompt;
pub mod sessions;
pub mod users;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::db::{self, Db};

/// What an admin command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    UserList,
    UserAdd(String),
    UserResetPassword(String),
    UserDelete(String),
    SessionList(Option<String>),
    SessionRevoke(String),
    Backup(PathBuf),
    Restore(PathBuf),
    Export(String),
}

/// Parses the positional words of an admin command.
pub fn parse(words: &[String]) -> Result<Action, String> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    Ok(match w.as_slice() {
        ["user", "list"] => Action::UserList,
        ["user", "add", name] => Action::UserAdd(name.to_string()),
        ["user", "reset-password", name] => Action::UserResetPassword(name.to_string()),
        ["user", "delete", name] => Action::UserDelete(name.to_string()),
        ["session", "list"] => Action::SessionList(None),
        ["session", "list", name] => Action::SessionList(Some(name.to_string())),
        ["session", "revoke", id] => Action::SessionRevoke(id.to_string()),
        ["backup", dest] => Action::Backup(PathBuf::from(dest)),
        ["restore", src] => Action::Restore(PathBuf::from(src)),
        ["export", group] => Action::Export(group.to_string()),
        _ => return Err(format!("unknown command: {}", words.join(" "))),
    })
}

/// Both databases of a data directory.
pub struct Data {
    pub dir: PathBuf,
    pub users: Db,
    pub chat: Db,
}

impl Data {
    pub fn open(dir: &Path) -> Result<Data, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Data {
            dir: dir.to_path_buf(),
            users: Db::open(&dir.join("users.sqlite3"), db::users::MIGRATIONS)?,
            chat: Db::open(&dir.join("chat.sqlite3"), db::chat::MIGRATIONS)?,
        })
    }
}

/// Runs an admin command; output goes to stdout.
pub fn run(data_dir: &Path, action: Action) -> Result<(), String> {
    match action {
        Action::Restore(src) => backup::restore(&src, data_dir),
        Action::Backup(dest) => backup::backup(&Data::open(data_dir)?, &dest),
        Action::Export(group) => backup::export(&Data::open(data_dir)?, &group),
        Action::UserList => users::list(&Data::open(data_dir)?),
        Action::UserAdd(name) => users::add(&Data::open(data_dir)?, &name),
        Action::UserResetPassword(name) => users::reset_password(&Data::open(data_dir)?, &name),
        Action::UserDelete(name) => users::delete(&Data::open(data_dir)?, &name),
        Action::SessionList(name) => sessions::list(&Data::open(data_dir)?, name.as_deref()),
        Action::SessionRevoke(id) => sessions::revoke(&Data::open(data_dir)?, &id),
    }
}

/// An exclusive lock on a data directory, held by the running server (and
/// by `restore`, which must not run beside it).
pub struct DirLock(#[allow(dead_code)] File);

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join("securechat.lock");
        let f = File::create(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            return Err(format!(
                "{} is in use by a running SecureChat server",
                dir.display()
            ));
        }
        Ok(DirLock(f))
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
        assert_eq!(parse(&words("user list")), Ok(Action::UserList));
        assert_eq!(
            parse(&words("user add bob")),
            Ok(Action::UserAdd("bob".into()))
        );
        assert_eq!(
            parse(&words("session revoke abc")),
            Ok(Action::SessionRevoke("abc".into()))
        );
        assert_eq!(
            parse(&words("backup /tmp/b")),
            Ok(Action::Backup("/tmp/b".into()))
        );
        assert!(parse(&words("user")).is_err());
        assert!(parse(&words("user add")).is_err());
        assert!(parse(&words("frobnicate")).is_err());
        assert_eq!(when(0), "1970-01-01 00:00");
    }
}
