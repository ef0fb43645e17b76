//! `securechat user list | add NAME | reset-password NAME | delete NAME`.

use rusqlite::{OptionalExtension, params};

use super::{Data, password_prompt, when};
use crate::auth::{self, password::Passwords};
use crate::db::users as store;
use crate::util;

pub fn list(data: &Data) -> Result<(), String> {
    let rows = data
        .users
        .read(|c| {
            let mut st = c.prepare(
                "SELECT u.id, u.username, u.created_at,
                        (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?1)
                 FROM users u ORDER BY u.id",
            )?;
            let rows = st.query_map([util::now_ms()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| e.to_string())?;
    println!(
        "{:>6}  {:<32}  {:<16}  sessions",
        "id", "username", "created (UTC)"
    );
    for (id, name, created, sessions) in rows {
        println!("{id:>6}  {name:<32}  {:<16}  {sessions}", when(created));
    }
    Ok(())
}

fn find(data: &Data, name: &str) -> Result<store::User, String> {
    store::find_by_name(&data.users, name)
        .map_err(|e| e.to_string())?
        .map(|(u, _)| u)
        .ok_or_else(|| format!("no user named {name:?}"))
}

pub fn add(data: &Data, name: &str) -> Result<(), String> {
    auth::validate_username(name).map_err(str::to_string)?;
    let password = password_prompt::read_new_password()?;
    let hash = Passwords::new(1).hash(&password);
    match store::create(&data.users, name, &hash, util::now_ms()).map_err(|e| e.to_string())? {
        Some(u) => {
            println!("added user {} (id {})", u.username, u.id);
            Ok(())
        }
        None => Err(format!("the username {name:?} is taken")),
    }
}

pub fn reset_password(data: &Data, name: &str) -> Result<(), String> {
    let user = find(data, name)?;
    let password = password_prompt::read_new_password()?;
    let hash = Passwords::new(1).hash(&password);
    store::set_password(&data.users, user.id, &hash).map_err(|e| e.to_string())?;
    let ended = data
        .users
        .write(|c| c.execute("DELETE FROM sessions WHERE user_id = ?1", [user.id]))
        .map_err(|e| e.to_string())?;
    println!(
        "password of {} reset; {ended} session(s) ended",
        user.username
    );
    Ok(())
}

/// Deletes the account, its sessions, device keys and memberships. Its
/// messages stay, credited to "NAME (deleted)", so conversations remain
/// readable and nobody who later registers NAME appears as their author.
pub fn delete(data: &Data, name: &str) -> Result<(), String> {
    let user = find(data, name)?;
    let renamed = format!("{} (deleted)", user.username);
    let (memberships, messages) = data
        .chat
        .write(|c| {
            let tx = c.transaction()?;
            let m = tx.execute("DELETE FROM memberships WHERE user_id = ?1", [user.id])?;
            let n = tx.execute(
                "UPDATE messages SET author = ?2 WHERE author_id = ?1",
                params![user.id, renamed],
            )?;
            tx.commit()?;
            Ok((m, n))
        })
        .map_err(|e| e.to_string())?;
    data.users
        .write(|c| c.execute("DELETE FROM users WHERE id = ?1", [user.id]))
        .map_err(|e| e.to_string())?;
    println!(
        "deleted {}: left {memberships} group(s); {messages} message(s) kept as {renamed:?}",
        user.username
    );
    Ok(())
}

/// The id of a user by name, if any (for `session revoke NAME`).
pub fn id_of(data: &Data, name: &str) -> Result<Option<i64>, String> {
    data.users
        .read(|c| {
            c.query_row("SELECT id FROM users WHERE username = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
        })
        .map_err(|e| e.to_string())
}
