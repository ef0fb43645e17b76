//! Invite links: a group's (SQLite's `chat.sqlite3`; made by its owner or
//! admins, used to join) and the server's (`users.sqlite3`; made by
//! server admins, used to register when registration is by invite). A code
//! works while it is not revoked, not expired and not used up; using one
//! counts a use in the same transaction as what it lets in. (In PostgreSQL
//! both are tables of the one database.)

use super::groups::add_member_on;
use super::sql::{Row, Sql};
use super::{Invite, InviteUse, Part, Result, Store};

const INVITE_COLS: &str = "code, created_by, created_at, expires_at, max_uses, uses, revoked_at";

fn invite_row(r: &Row<'_>) -> Result<Invite> {
    Ok(Invite {
        code: r.get(0)?,
        created_by: r.get(1)?,
        created_at: r.get(2)?,
        expires_at: r.get(3)?,
        max_uses: r.get(4)?,
        uses: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

/// `WHERE` clause of a code that still works at `?2`.
const USABLE: &str = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)
    AND (max_uses IS NULL OR uses < max_uses)";

fn count_use(sql: &mut Sql<'_>, table: &str, code: &str, now: i64) -> Result<bool> {
    let n = sql.exec(
        &format!("UPDATE {table} SET uses = uses + 1 WHERE code = ?1 AND {USABLE}"),
        &[&code, &now],
    )?;
    Ok(n > 0)
}

/// The group a code invites to, if the code still works at `now`.
fn usable_group(sql: &mut Sql<'_>, code: &str, now: i64) -> Result<Option<i64>> {
    sql.row(
        &format!("SELECT group_id FROM invites WHERE code = ?1 AND {USABLE}"),
        &[&code, &now],
        |r| r.get(0),
    )
}

impl Store {
    /// A new invite link to a group.
    pub fn create_invite(
        &self,
        group_id: i64,
        code: &str,
        by: i64,
        expires_at: Option<i64>,
        max_uses: Option<i64>,
        now: i64,
    ) -> Result<Invite> {
        self.write(Part::Chat, |sql| {
            sql.exec(
                "INSERT INTO invites (code, group_id, created_by, created_at, expires_at, max_uses)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[&code, &group_id, &by, &now, &expires_at, &max_uses],
            )
        })?;
        Ok(Invite {
            code: code.to_string(),
            created_by: Some(by),
            created_at: now,
            expires_at,
            max_uses,
            uses: 0,
            revoked_at: None,
        })
    }

    /// A group's invite links that are not revoked, newest first.
    pub fn list_invites(&self, group_id: i64) -> Result<Vec<Invite>> {
        self.read(Part::Chat, |sql| {
            sql.rows(
                &format!(
                    "SELECT {INVITE_COLS} FROM invites WHERE group_id = ?1 AND revoked_at IS NULL
                     ORDER BY created_at DESC, code"
                ),
                &[&group_id],
                invite_row,
            )
        })
    }

    /// Revokes one of a group's invite links; whether it was there.
    pub fn revoke_invite(&self, group_id: i64, code: &str, now: i64) -> Result<bool> {
        self.write(Part::Chat, |sql| {
            sql.exec(
                "UPDATE invites SET revoked_at = ?3 WHERE group_id = ?1 AND code = ?2 AND revoked_at IS NULL",
                &[&group_id, &code, &now],
            )
            .map(|n| n > 0)
        })
    }

    /// The group a code invites to, if the code still works.
    pub fn usable_invite(&self, code: &str, now: i64) -> Result<Option<i64>> {
        self.read(Part::Chat, |sql| usable_group(sql, code, now))
    }

    /// Joins `user_id` to the group a working code invites to, counting a
    /// use (not for someone who is already a member).
    pub fn use_invite(&self, code: &str, user_id: i64, now: i64) -> Result<InviteUse> {
        let used = self.write(Part::Chat, |sql| {
            sql.begin()?;
            let Some(group_id) = usable_group(sql, code, now)? else {
                return Ok(InviteUse::Invalid);
            };
            let added = add_member_on(sql, group_id, user_id, now)?;
            // Counted under the same check as it was read with: two uses of
            // the last one at once (two instances) let only one in.
            if added && !count_use(sql, "invites", code, now)? {
                return Ok(InviteUse::Invalid);
            }
            sql.commit()?;
            Ok(InviteUse::Joined { group_id, added })
        })?;
        if matches!(used, InviteUse::Joined { added: true, .. }) {
            self.appended();
        }
        Ok(used)
    }

    /// A new server invite (registration by invite).
    pub fn create_server_invite(
        &self,
        code: &str,
        by: Option<i64>,
        expires_at: Option<i64>,
        max_uses: Option<i64>,
        now: i64,
    ) -> Result<Invite> {
        self.write(Part::Users, |sql| {
            sql.exec(
                "INSERT INTO server_invites (code, created_by, created_at, expires_at, max_uses)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &[&code, &by, &now, &expires_at, &max_uses],
            )
        })?;
        Ok(Invite {
            code: code.to_string(),
            created_by: by,
            created_at: now,
            expires_at,
            max_uses,
            uses: 0,
            revoked_at: None,
        })
    }

    /// The server invites that are not revoked, newest first.
    pub fn list_server_invites(&self) -> Result<Vec<Invite>> {
        self.read(Part::Users, |sql| {
            sql.rows(
                &format!(
                    "SELECT {INVITE_COLS} FROM server_invites WHERE revoked_at IS NULL
                     ORDER BY created_at DESC, code"
                ),
                &[],
                invite_row,
            )
        })
    }

    /// Revokes a server invite; whether it was there.
    pub fn revoke_server_invite(&self, code: &str, now: i64) -> Result<bool> {
        self.write(Part::Users, |sql| {
            sql.exec(
                "UPDATE server_invites SET revoked_at = ?2 WHERE code = ?1 AND revoked_at IS NULL",
                &[&code, &now],
            )
            .map(|n| n > 0)
        })
    }

    /// Whether a server invite still works.
    pub fn server_invite_usable(&self, code: &str, now: i64) -> Result<bool> {
        self.read(Part::Users, |sql| {
            sql.value(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM server_invites WHERE code = ?1 AND {USABLE})"
                ),
                &[&code, &now],
            )
        })
    }

    /// Counts a use of a server invite inside the transaction that creates
    /// the account; false when the code no longer works.
    pub(super) fn use_server_invite_on(sql: &mut Sql<'_>, code: &str, now: i64) -> Result<bool> {
        count_use(sql, "server_invites", code, now)
    }
}
