//! `securechat session list [NAME]` and `session revoke ID|NAME`. A
//! session's id is the first 12 hex digits of its token's SHA-256 (the
//! token itself is never stored).

use rusqlite::params;

use super::{Data, users, when};
use crate::util;

pub fn list(data: &Data, name: Option<&str>) -> Result<(), String> {
    let rows = data
        .users
        .read(|c| {
            let mut st = c.prepare(
                "SELECT substr(s.token_hash, 1, 12), u.username, s.created_at, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.expires_at > ?1 AND (?2 IS NULL OR u.username = ?2)
                 ORDER BY s.created_at",
            )?;
            let rows = st.query_map(params![util::now_ms(), name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| e.to_string())?;
    println!(
        "{:<12}  {:<32}  {:<16}  {:<16}",
        "id", "username", "created (UTC)", "expires (UTC)"
    );
    for (id, user, created, expires) in rows {
        println!(
            "{id:<12}  {user:<32}  {:<16}  {:<16}",
            when(created),
            when(expires)
        );
    }
    Ok(())
}

/// Revokes one session by id (or unique id prefix of 6+ hex digits), or
/// every session of a user by name.
pub fn revoke(data: &Data, target: &str) -> Result<(), String> {
    if let Some(uid) = users::id_of(data, target)? {
        let n = data
            .users
            .write(|c| c.execute("DELETE FROM sessions WHERE user_id = ?1", [uid]))
            .map_err(|e| e.to_string())?;
        println!("revoked {n} session(s) of {target}");
        return Ok(());
    }
    if target.len() < 6 || !target.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{target:?} is neither a username nor a session id"));
    }
    let prefix = format!("{}%", target.to_ascii_lowercase());
    let n = data
        .users
        .write(|c| {
            let matching: i64 = c.query_row(
                "SELECT count(*) FROM sessions WHERE token_hash LIKE ?1",
                [&prefix],
                |r| r.get(0),
            )?;
            if matching != 1 {
                return Ok(matching as usize);
            }
            c.execute("DELETE FROM sessions WHERE token_hash LIKE ?1", [&prefix])?;
            Ok(1)
        })
        .map_err(|e| e.to_string())?;
    match n {
        0 => Err(format!("no session with id {target}")),
        1 => {
            println!("revoked session {target}");
            Ok(())
        }
        _ => Err(format!(
            "{n} sessions start with {target}; give more digits"
        )),
    }
}
