//! `securechat session list [NAME]` and `session revoke ID|NAME`. A
//! session's id is the first 12 hex digits of its token's SHA-256 (the
//! token itself is never stored).

use super::{AdminError, Result, when};
use crate::store::{PrefixMatch, Store};
use crate::util;

pub fn list(store: &Store, name: Option<&str>) -> Result<()> {
    let rows = store.list_sessions(name, util::now_ms())?;
    println!(
        "{:<12}  {:<32}  {:<16}  {:<16}",
        "id", "username", "created (UTC)", "expires (UTC)"
    );
    for s in rows {
        println!(
            "{:<12}  {:<32}  {:<16}  {:<16}",
            s.id,
            s.username,
            when(s.created_at),
            when(s.expires_at)
        );
    }
    Ok(())
}

/// Revokes one session by id (or unique id prefix of 6+ hex digits), or
/// every session of a user by name.
pub fn revoke(store: &Store, target: &str) -> Result<()> {
    if let Some((user, _)) = store.user_by_name(target)? {
        let n = store.revoke_sessions(user.id, None, util::now_ms())?;
        println!("revoked {n} session(s) of {target}");
        return Ok(());
    }
    if target.len() < 6 || !target.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AdminError::NotATarget(target.to_string()));
    }
    match store.revoke_session_by_prefix(target, util::now_ms())? {
        PrefixMatch::None => Err(AdminError::NoSuchSession(target.to_string())),
        PrefixMatch::Revoked => {
            println!("revoked session {target}");
            Ok(())
        }
        PrefixMatch::Ambiguous(matches) => Err(AdminError::AmbiguousSession {
            prefix: target.to_string(),
            matches,
        }),
    }
}
