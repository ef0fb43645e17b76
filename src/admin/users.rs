//! `securechat user list | add NAME | reset-password NAME | delete NAME`.

use super::{AdminError, Result, password_prompt, when};
use crate::auth::{self, password::Passwords};
use crate::store::{Store, User};
use crate::util;

pub fn list(store: &Store) -> Result<()> {
    println!(
        "{:>6}  {:<32}  {:<16}  sessions",
        "id", "username", "created (UTC)"
    );
    for u in store.list_users(util::now_ms())? {
        println!(
            "{:>6}  {:<32}  {:<16}  {}",
            u.id,
            u.username,
            when(u.created_at),
            u.live_sessions
        );
    }
    Ok(())
}

fn find(store: &Store, name: &str) -> Result<User> {
    store
        .user_by_name(name)?
        .map(|(u, _)| u)
        .ok_or_else(|| AdminError::NoSuchUser(name.to_string()))
}

pub fn add(store: &Store, name: &str) -> Result<()> {
    auth::validate_username(name).map_err(AdminError::Invalid)?;
    let password = password_prompt::read_new_password()?;
    let hash = Passwords::new(1).hash(&password);
    match store.create_user(name, &hash, util::now_ms())? {
        Some(u) => {
            println!("added user {} (id {})", u.username, u.id);
            Ok(())
        }
        None => Err(AdminError::UsernameTaken(name.to_string())),
    }
}

pub fn reset_password(store: &Store, name: &str) -> Result<()> {
    let user = find(store, name)?;
    let password = password_prompt::read_new_password()?;
    let hash = Passwords::new(1).hash(&password);
    store.set_password(user.id, &hash)?;
    let ended = store.revoke_sessions(user.id, None, util::now_ms())?;
    println!(
        "password of {} reset; {ended} session(s) ended",
        user.username
    );
    Ok(())
}

/// Deletes the account, its sessions, device keys and memberships. Its
/// messages stay, credited to "NAME (deleted)", so conversations remain
/// readable and nobody who later registers NAME appears as their author.
pub fn delete(store: &Store, name: &str) -> Result<()> {
    let user = find(store, name)?;
    let renamed = format!("{} (deleted)", user.username);
    let done = store.delete_user(user.id, &renamed, util::now_ms())?;
    println!(
        "deleted {}: left {} group(s); {} message(s) kept as {renamed:?}",
        user.username, done.memberships, done.messages
    );
    Ok(())
}

use crate::auth::{Accounts, Operator};

/// `user disable NAME` / `user enable NAME`.
pub fn set_disabled(accounts: &Accounts, name: &str, disabled: bool) -> Result<()> {
    let user = accounts.set_disabled(Operator::CommandLine, name, disabled)?;
    if disabled {
        println!(
            "disabled {}: it cannot log in, and its sessions ended",
            user.username
        );
    } else {
        println!("enabled {}", user.username);
    }
    Ok(())
}

/// `user promote NAME` / `user demote NAME`.
pub fn set_admin(accounts: &Accounts, name: &str, admin: bool) -> Result<()> {
    let user = accounts.set_admin(Operator::CommandLine, name, admin)?;
    let what = if admin {
        "is now a server admin"
    } else {
        "is no longer a server admin"
    };
    println!("{} {what}", user.username);
    Ok(())
}

/// `user reset-link NAME`: a one-time link, valid 24 h.
pub fn reset_link(accounts: &Accounts, name: &str) -> Result<()> {
    let link = accounts.reset_link(Operator::CommandLine, name)?;
    println!(
        "a one-time link for {} to set a new password (valid until {} UTC, ends every session):",
        link.user.username,
        when(link.expires_at)
    );
    println!("{}", link.path());
    println!(
        "(open it on your server, e.g. https://chat.example.com{})",
        link.path()
    );
    Ok(())
}
