//! Groups, memberships and roles (SQLite's `chat.sqlite3`, or PostgreSQL):
//! creating (public names
//! unique, private names unique among a user's private groups), looking a
//! group up together with the caller's role in one statement, joining and
//! leaving (ownership handed on), roles, renaming, deleting, and the DM
//! rooms. Every membership change appends its event.

use super::chat::group_name_key;
use super::events::{self, Event};
use super::sql::{self, Row, Sql};
use super::{DmRow, Group, Member, NameTaken, Part, Result, Role, Store, StoreError};

const GROUP_COLS: &str = "g.id, g.name, g.kind, g.e2e, g.private, g.created_at, g.closed_at,
    (SELECT count(*) FROM memberships mc WHERE mc.group_id = g.id)";
/// How many columns `GROUP_COLS` names: the next one is a query's own.
const GROUP_COLS_LEN: usize = 8;

/// What a DM room is called while its people have accounts.
const DM_NAME: &str = "Direct message";

fn group_row(r: &Row<'_>) -> Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        name: r.get(1)?,
        is_dm: r.get::<String>(2)? == "dm",
        e2e: r.get(3)?,
        private: r.get(4)?,
        created_at: r.get(5)?,
        closed_at: r.get(6)?,
        member_count: r.get(7)?,
    })
}

fn role_col(r: &Row<'_>, i: usize) -> Result<Option<Role>> {
    Ok(r.get::<Option<String>>(i)?.as_deref().and_then(Role::parse))
}

fn group_on(sql: &mut Sql<'_>, id: i64) -> Result<Option<Group>> {
    sql.row(
        &format!("SELECT {GROUP_COLS} FROM groups g WHERE g.id = ?1"),
        &[&id],
        group_row,
    )
}

/// The direct conversation with key `key` (see `dm_key`).
fn dm_on(sql: &mut Sql<'_>, key: &str) -> Result<Option<Group>> {
    sql.row(
        &format!("SELECT {GROUP_COLS} FROM groups g WHERE g.kind = 'dm' AND g.name_key = ?1"),
        &[&key],
        group_row,
    )
}

/// Whether a name (by look-alike key) is taken where `user_id` would see
/// it: by a public group, or by a private group of theirs; `except` is the
/// group being renamed.
fn name_taken(sql: &mut Sql<'_>, key: &str, user_id: i64, except: i64) -> Result<bool> {
    sql.value(
        "SELECT EXISTS (SELECT 1 FROM groups g WHERE g.kind = 'group' AND g.name_key = ?1 AND g.id != ?3
            AND (g.private = 0 OR EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = g.id AND m.user_id = ?2)))",
        &[&key, &user_id, &except],
    )
}

/// The member who becomes owner when the owner goes: the longest-standing
/// admin, else the longest-standing member.
pub(super) fn successor(sql: &mut Sql<'_>, group_id: i64) -> Result<Option<i64>> {
    sql.row(
        "SELECT user_id FROM memberships WHERE group_id = ?1 AND role != 'owner'
         ORDER BY CASE role WHEN 'admin' THEN 0 ELSE 1 END, joined_at, user_id LIMIT 1",
        &[&group_id],
        |r| r.get(0),
    )
}

/// What a leave (or a removal) changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Left {
    pub was_member: bool,
    /// Who became owner because the owner left.
    pub new_owner: Option<i64>,
    /// Nobody is left in the group.
    pub emptied: bool,
}

impl Store {
    /// Creates a group owned by `creator`; `NameTaken` when a group that
    /// looks like it is visible to them (any public one, or a private one
    /// of theirs).
    pub fn create_group(
        &self,
        name: &str,
        e2e: bool,
        private: bool,
        creator: i64,
        now: i64,
    ) -> Result<std::result::Result<Group, NameTaken>> {
        let key = group_name_key(name);
        let id = self.write(Part::Chat, |sql| {
            sql.begin()?;
            sql.serialize(&format!("group name {key}"))?;
            if name_taken(sql, &key, creator, 0)? {
                return Ok(None);
            }
            // A public name made meanwhile by another transaction (the
            // unique index) inserts nothing.
            let Some(id) = sql.row(
                "INSERT INTO groups (name, name_key, kind, e2e, private, created_by, created_at)
                 VALUES (?1, ?2, 'group', ?3, ?4, ?5, ?6)
                 ON CONFLICT DO NOTHING RETURNING id",
                &[&name, &key, &e2e, &private, &creator, &now],
                |r| r.get::<i64>(0),
            )?
            else {
                return Ok(None);
            };
            sql.exec(
                "INSERT INTO memberships (group_id, user_id, joined_at, role) VALUES (?1, ?2, ?3, 'owner')",
                &[&id, &creator, &now],
            )?;
            sql.commit()?;
            Ok(Some(id))
        })?;
        Ok(id
            .map(|id| Group {
                id,
                name: name.to_string(),
                is_dm: false,
                e2e,
                private,
                created_at: now,
                closed_at: None,
                member_count: 1,
            })
            .ok_or(NameTaken))
    }

    pub fn group(&self, id: i64) -> Result<Option<Group>> {
        self.read(Part::Chat, |sql| group_on(sql, id))
    }

    /// A group and `user_id`'s role in it, read in one statement (so that
    /// "no such group" and "not yours to see" cost the same).
    pub fn group_for(&self, user_id: i64, id: i64) -> Result<Option<(Group, Option<Role>)>> {
        self.read(Part::Chat, |sql| {
            sql.row(
                &format!(
                    "SELECT {GROUP_COLS}, m.role FROM groups g
                     LEFT JOIN memberships m ON m.group_id = g.id AND m.user_id = ?2
                     WHERE g.id = ?1"
                ),
                &[&id, &user_id],
                |r| Ok((group_row(r)?, role_col(r, GROUP_COLS_LEN)?)),
            )
        })
    }

    /// A group that is not a DM by its name (or one that looks like it),
    /// public ones first.
    pub fn group_by_name(&self, name: &str) -> Result<Option<Group>> {
        self.read(Part::Chat, |sql| {
            sql.row(
                &format!(
                    "SELECT {GROUP_COLS} FROM groups g WHERE g.kind = 'group' AND g.name_key = ?1
                     ORDER BY g.private, g.id LIMIT 1"
                ),
                &[&group_name_key(name)],
                group_row,
            )
        })
    }

    /// The groups `user_id` can see — every public one and the private
    /// ones they belong to — with their role, oldest first.
    pub fn list_groups(&self, user_id: i64) -> Result<Vec<(Group, Option<Role>)>> {
        self.read(Part::Chat, |sql| {
            sql.rows(
                &format!(
                    "SELECT {GROUP_COLS}, m.role FROM groups g
                     LEFT JOIN memberships m ON m.group_id = g.id AND m.user_id = ?1
                     WHERE g.kind = 'group' AND (g.private = 0 OR m.user_id IS NOT NULL)
                     ORDER BY g.id"
                ),
                &[&user_id],
                |r| Ok((group_row(r)?, role_col(r, GROUP_COLS_LEN)?)),
            )
        })
    }

    /// `user_id`'s role in a group, if they are a member.
    pub fn role_of(&self, group_id: i64, user_id: i64) -> Result<Option<Role>> {
        self.read(Part::Chat, |sql| {
            sql.row(
                "SELECT role FROM memberships WHERE group_id = ?1 AND user_id = ?2",
                &[&group_id, &user_id],
                |r| role_col(r, 0),
            )
            .map(Option::flatten)
        })
    }

    pub fn is_member(&self, group_id: i64, user_id: i64) -> Result<bool> {
        Ok(self.role_of(group_id, user_id)?.is_some())
    }

    /// A group's members, longest-standing first.
    pub fn members(&self, group_id: i64) -> Result<Vec<Member>> {
        self.read(Part::Chat, |sql| {
            sql.rows(
                "SELECT user_id, role, joined_at FROM memberships WHERE group_id = ?1
                 ORDER BY joined_at, user_id",
                &[&group_id],
                |r| {
                    Ok(Member {
                        user_id: r.get(0)?,
                        role: role_col(r, 1)?.unwrap_or(Role::Member),
                        joined_at: r.get(2)?,
                    })
                },
            )
        })
    }

    /// The user ids of a group's members.
    pub fn member_ids(&self, group_id: i64) -> Result<Vec<i64>> {
        Ok(self
            .members(group_id)?
            .into_iter()
            .map(|m| m.user_id)
            .collect())
    }

    /// Adds a member (idempotent); a group left without an owner gets the
    /// newcomer as its owner. Returns whether they were newly added.
    pub fn join(&self, group_id: i64, user_id: i64, now: i64) -> Result<bool> {
        let added = self.write(Part::Chat, |sql| {
            sql.begin()?;
            let added = add_member_on(sql, group_id, user_id, now)?;
            sql.commit()?;
            Ok(added)
        })?;
        if added {
            self.appended();
        }
        Ok(added)
    }

    /// Removes a member (leaving, or removed by a moderator). When the
    /// owner goes, the longest-standing admin (else member) becomes owner.
    pub fn leave(&self, group_id: i64, user_id: i64, now: i64) -> Result<Left> {
        let left = self.write(Part::Chat, |sql| {
            sql.begin()?;
            let role: Option<String> = sql.row(
                "DELETE FROM memberships WHERE group_id = ?1 AND user_id = ?2 RETURNING role",
                &[&group_id, &user_id],
                |r| r.get(0),
            )?;
            let Some(role) = role else {
                return Ok(Left::default());
            };
            events::append(sql, Event::MemberLeft { group_id, user_id }, now)?;
            let mut new_owner = None;
            if role == "owner" {
                new_owner = successor(sql, group_id)?;
                if let Some(next) = new_owner {
                    sql.exec(
                        "UPDATE memberships SET role = 'owner' WHERE group_id = ?1 AND user_id = ?2",
                        &[&group_id, &next],
                    )?;
                }
            }
            let remaining: i64 = sql.value(
                "SELECT count(*) FROM memberships WHERE group_id = ?1",
                &[&group_id],
            )?;
            sql.commit()?;
            Ok(Left {
                was_member: true,
                new_owner,
                emptied: remaining == 0,
            })
        })?;
        if left.was_member {
            self.appended();
        }
        Ok(left)
    }

    /// Sets a member's role (not to owner: see `transfer_ownership`).
    /// Returns whether they are a member.
    pub fn set_role(&self, group_id: i64, user_id: i64, role: Role) -> Result<bool> {
        self.write(Part::Chat, |sql| {
            sql.exec(
                "UPDATE memberships SET role = ?3 WHERE group_id = ?1 AND user_id = ?2 AND role != 'owner'",
                &[&group_id, &user_id, &role.as_str()],
            )
            .map(|n| n > 0)
        })
    }

    /// Makes `to` (a member) the owner; the old owner `from` becomes admin.
    pub fn transfer_ownership(&self, group_id: i64, from: i64, to: i64) -> Result<bool> {
        self.write(Part::Chat, |sql| {
            sql.begin()?;
            let n = sql.exec(
                "UPDATE memberships SET role = 'owner' WHERE group_id = ?1 AND user_id = ?2",
                &[&group_id, &to],
            )?;
            if n == 0 {
                return Ok(false);
            }
            sql.exec(
                "UPDATE memberships SET role = 'admin' WHERE group_id = ?1 AND user_id = ?2",
                &[&group_id, &from],
            )?;
            sql.commit()?;
            Ok(true)
        })
    }

    /// Renames a group, unless a look-alike name is visible to `by`
    /// (public groups, their private ones; for a public group, any public
    /// one).
    pub fn rename_group(
        &self,
        id: i64,
        name: &str,
        by: i64,
    ) -> Result<std::result::Result<(), NameTaken>> {
        let key = group_name_key(name);
        self.write(Part::Chat, |sql| {
            sql.begin()?;
            sql.serialize(&format!("group name {key}"))?;
            if name_taken(sql, &key, by, id)? {
                return Ok(Err(NameTaken));
            }
            match sql.exec(
                "UPDATE groups SET name = ?2, name_key = ?3 WHERE id = ?1",
                &[&id, &name, &key],
            ) {
                Ok(_) => {}
                // A public name taken meanwhile by another transaction (the
                // unique index): nothing runs after it but the rollback (an
                // UPDATE has no `ON CONFLICT`).
                Err(e) if sql::is_unique_violation(&e) => return Ok(Err(NameTaken)),
                Err(e) => return Err(e),
            }
            sql.commit()?;
            Ok(Ok(()))
        })
    }

    /// Deletes a group with its memberships, messages, files and invites; returns
    /// who its members were.
    pub fn delete_group(&self, id: i64, now: i64) -> Result<Vec<i64>> {
        let (members, hashes) = self.write(Part::Chat, |sql| {
            sql.begin()?;
            let hashes = super::files::hashes_of_group(sql, id)?;
            let members: Vec<i64> = sql.rows(
                "SELECT user_id FROM memberships WHERE group_id = ?1",
                &[&id],
                |r| r.get(0),
            )?;
            sql.exec("DELETE FROM groups WHERE id = ?1", &[&id])?;
            // Last: in PostgreSQL the log's turn is held from the first
            // append to the commit, so the long delete happens before it.
            for &user_id in &members {
                events::append(
                    sql,
                    Event::MemberLeft {
                        group_id: id,
                        user_id,
                    },
                    now,
                )?;
            }
            sql.commit()?;
            Ok((members, hashes))
        })?;
        self.release(&hashes);
        self.appended();
        Ok(members)
    }

    /// The direct conversation of exactly these people (two for a DM, up
    /// to ten for a group DM), created with all of them as members on first
    /// use — end-to-end encrypted or not, two rooms apart. Returns the room
    /// and whether it was just created.
    pub fn open_dm(&self, people: &[i64], e2e: bool, now: i64) -> Result<(Group, bool)> {
        let key = dm_key(people, e2e);
        let creator = people.first().copied().unwrap_or_default();
        self.write(Part::Chat, |sql| {
            sql.begin()?;
            if let Some(g) = dm_on(sql, &key)? {
                return Ok((g, false));
            }
            let inserted = sql.row(
                "INSERT INTO groups (name, name_key, kind, e2e, private, created_by, created_at)
                 VALUES (?1, ?2, 'dm', ?5, 1, ?3, ?4)
                 ON CONFLICT DO NOTHING RETURNING id",
                &[&DM_NAME, &key, &creator, &now, &e2e],
                |r| r.get::<i64>(0),
            )?;
            let Some(id) = inserted else {
                // Made meanwhile by another transaction (PostgreSQL: the
                // insert waited for it to commit), so a new look sees it.
                let g = dm_on(sql, &key)?.ok_or_else(|| {
                    StoreError::Mismatch("a DM that was just made is gone".to_string())
                })?;
                return Ok((g, false));
            };
            let mut member_count = 0;
            for user in people {
                member_count += sql.exec(
                    "INSERT INTO memberships (group_id, user_id, joined_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (group_id, user_id) DO NOTHING",
                    &[&id, user, &now],
                )?;
            }
            sql.commit()?;
            let g = Group {
                id,
                name: DM_NAME.to_string(),
                is_dm: true,
                e2e,
                private: true,
                created_at: now,
                closed_at: None,
                member_count: i64::try_from(member_count).unwrap_or(i64::MAX),
            };
            Ok((g, true))
        })
    }

    /// The direct conversation of exactly these people, if they have one.
    pub fn dm_of(&self, people: &[i64], e2e: bool) -> Result<Option<i64>> {
        self.read(Part::Chat, |sql| {
            sql.row(
                "SELECT id FROM groups WHERE kind = 'dm' AND name_key = ?1",
                &[&dm_key(people, e2e)],
                |r| r.get(0),
            )
        })
    }

    /// The E2E rooms (groups and DMs) a user is in, by id.
    pub fn e2e_rooms_of(&self, user_id: i64) -> Result<Vec<i64>> {
        self.read(Part::Chat, |sql| {
            sql.rows(
                "SELECT g.id FROM groups g
                 JOIN memberships m ON m.group_id = g.id AND m.user_id = ?1
                 WHERE g.e2e = 1 ORDER BY g.id",
                &[&user_id],
                |r| r.get(0),
            )
        })
    }

    /// The direct conversations of a user, oldest first.
    pub fn list_dms(&self, user_id: i64) -> Result<Vec<DmRow>> {
        // One row per other member (one with none for a DM left alone),
        // gathered here: no aggregate both engines spell alike.
        let rows = self.read(Part::Chat, |sql| {
            sql.rows(
                "SELECT g.id, g.name, g.closed_at IS NOT NULL, o.user_id, g.e2e
                 FROM groups g JOIN memberships me ON me.group_id = g.id AND me.user_id = ?1
                 LEFT JOIN memberships o ON o.group_id = g.id AND o.user_id != ?1
                 WHERE g.kind = 'dm' ORDER BY g.id, o.user_id",
                &[&user_id],
                |r| {
                    Ok((
                        DmRow {
                            group_id: r.get(0)?,
                            name: r.get(1)?,
                            closed: r.get(2)?,
                            e2e: r.get(4)?,
                            others: Vec::new(),
                        },
                        r.get::<Option<i64>>(3)?,
                    ))
                },
            )
        })?;
        let mut dms: Vec<DmRow> = Vec::new();
        for (dm, other) in rows {
            match dms.last_mut() {
                Some(last) if last.group_id == dm.group_id => last.others.extend(other),
                _ => dms.push(DmRow {
                    others: other.into_iter().collect(),
                    ..dm
                }),
            }
        }
        Ok(dms)
    }
}

/// Adds a member inside a transaction (with its event); a group without
/// an owner gets this member as owner.
pub(super) fn add_member_on(
    sql: &mut Sql<'_>,
    group_id: i64,
    user_id: i64,
    now: i64,
) -> Result<bool> {
    sql.serialize(&format!("owner of {group_id}"))?;
    let ownerless: bool = sql.value(
        "SELECT NOT EXISTS (SELECT 1 FROM memberships WHERE group_id = ?1 AND role = 'owner')
            AND (SELECT kind FROM groups WHERE id = ?1) = 'group'",
        &[&group_id],
    )?;
    let role = if ownerless { "owner" } else { "member" };
    let added = sql.exec(
        "INSERT INTO memberships (group_id, user_id, joined_at, role) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (group_id, user_id) DO NOTHING",
        &[&group_id, &user_id, &now, &role],
    )? > 0;
    if added {
        events::append(sql, Event::MemberJoined { group_id, user_id }, now)?;
        // A newcomer has read what was said before they came.
        sql.exec(
            "INSERT INTO read_state (user_id, group_id, last_read_id)
             SELECT ?2, ?1, coalesce(max(id), 0) FROM messages WHERE group_id = ?1
             ON CONFLICT (user_id, group_id) DO UPDATE SET last_read_id = excluded.last_read_id",
            &[&group_id, &user_id],
        )?;
    }
    Ok(added)
}

/// The key of a direct conversation: its people's ids, sorted.
fn dm_key(people: &[i64], e2e: bool) -> String {
    let mut ids = people.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    let kind = if e2e { "dm-e2e" } else { "dm" };
    format!("{kind}:{}", ids.join(":"))
}
