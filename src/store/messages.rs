//! Messages (SQLite's `chat.sqlite3`, or PostgreSQL): storing one (only by a member, only in a
//! group that takes messages, a reply only to a live message of the same
//! group — all checked in the insert itself), history pages, edits and
//! deletions (soft: the body is erased), system lines, reactions, each
//! user's read position per group, and what changed since a reconnecting
//! client left.

use std::collections::HashMap;

use super::sql::{Row, Sql};
use super::{Body, Message, NotStored, Part, Reactions, ReplyRef, Result, Store, StoreError};

/// Longest excerpt of a replied-to message.
pub const EXCERPT_CHARS: usize = 100;
/// Unread counts stop counting here (a badge says "999+").
pub const UNREAD_CAP: i64 = 1000;

const MSG_COLS: &str = "m.id, m.group_id, m.author_id, m.author, m.content, m.envelope,
    m.created_at, m.edited_at, m.system, m.mentions,
    r.id, r.author, r.content, r.deleted_at";

/// `FROM` with the replied-to message joined in.
const MSG_FROM: &str = "messages m LEFT JOIN messages r ON r.id = m.reply_to";

fn message_row(row: &Row<'_>) -> Result<Message> {
    let content: Option<String> = row.get(4)?;
    let envelope: Option<String> = row.get(5)?;
    let mentions: Option<String> = row.get(9)?;
    let reply_to = match row.get::<Option<i64>>(10)? {
        None => None,
        Some(id) => {
            let gone = row.get::<Option<i64>>(13)?.is_some();
            let excerpt = row
                .get::<Option<String>>(12)?
                .filter(|_| !gone)
                .map(|c| excerpt(&c));
            Some(ReplyRef {
                id,
                author: row.get(11)?,
                excerpt,
            })
        }
    };
    Ok(Message {
        id: row.get(0)?,
        group_id: row.get(1)?,
        author_id: row.get(2)?,
        author: row.get(3)?,
        body: match (content, envelope) {
            (_, Some(e)) => Body::Envelope(e),
            (c, None) => Body::Content(c.unwrap_or_default()),
        },
        created_at: row.get(6)?,
        edited_at: row.get(7)?,
        system: row.get(8)?,
        reply_to,
        mentions: mentions
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default(),
        reactions: Vec::new(),
        attachments: Vec::new(),
    })
}

/// The first `EXCERPT_CHARS` characters, on one line.
pub fn excerpt(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(EXCERPT_CHARS + 1)
        .collect();
    if one_line.chars().count() > EXCERPT_CHARS {
        let cut: String = one_line.chars().take(EXCERPT_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        one_line
    }
}

fn body_columns(body: &Body) -> (Option<&str>, Option<&str>) {
    match body {
        Body::Content(c) => (Some(c.as_str()), None),
        Body::Envelope(e) => (None, Some(e.as_str())),
    }
}

/// The reactions of these messages: emoji → usernames, in the order they
/// first reacted.
fn reactions_of(sql: &mut Sql<'_>, ids: &[i64]) -> Result<HashMap<i64, Reactions>> {
    let mut out: HashMap<i64, Reactions> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let rows = sql.rows(
        &format!(
            "SELECT message_id, emoji, username FROM reactions WHERE message_id IN ({list})
             ORDER BY message_id, created_at, emoji, username"
        ),
        &[],
        |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<String>(2)?)),
    )?;
    for (id, emoji, who) in rows {
        let of = out.entry(id).or_default();
        match of.iter_mut().find(|(e, _)| *e == emoji) {
            Some((_, names)) => names.push(who),
            None => of.push((emoji, vec![who])),
        }
    }
    Ok(out)
}

/// Fills in the reactions and attachments of `msgs`.
fn with_reactions(sql: &mut Sql<'_>, mut msgs: Vec<Message>) -> Result<Vec<Message>> {
    let ids: Vec<i64> = msgs.iter().map(|m| m.id).collect();
    let mut all = reactions_of(sql, &ids)?;
    let mut files = super::files::attachments_of(sql, &ids)?;
    for m in &mut msgs {
        m.reactions = all.remove(&m.id).unwrap_or_default();
        m.attachments = files.remove(&m.id).unwrap_or_default();
    }
    Ok(msgs)
}

fn one(sql: &mut Sql<'_>, id: i64) -> Result<Option<Message>> {
    let m = sql.row(
        &format!("SELECT {MSG_COLS} FROM {MSG_FROM} WHERE m.id = ?1 AND m.deleted_at IS NULL"),
        &[&id],
        message_row,
    )?;
    Ok(match m {
        Some(m) => with_reactions(sql, vec![m])?.pop(),
        None => None,
    })
}

/// A message this call has just stored was not found.
fn vanished() -> StoreError {
    StoreError::Mismatch("a message just stored was not found".to_string())
}

/// What a new message carries besides its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras<'a> {
    pub reply_to: Option<i64>,
    /// Members mentioned: (user id, username).
    pub mentions: &'a [(i64, String)],
    /// The author's unattached uploads to the group that go with it.
    pub attachments: &'a [i64],
    /// The sender's own id for it: a second message with the same one (a
    /// resend after a lost ack, to this instance or another) is not stored.
    pub client_id: Option<&'a str>,
}

/// A user's place in a group: the last message they read, how many
/// messages by others came after it, and how many of those mention them
/// (both at most `UNREAD_CAP`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadState {
    pub last_read_id: i64,
    pub unread: i64,
    pub mentions: i64,
}

/// A message's changes a reconnecting client missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Edited(Box<Message>),
    Deleted { id: i64, by: Option<String> },
    Reactions { id: i64, reactions: Reactions },
}

/// A row of `changes_since`'s query.
struct Changed {
    id: i64,
    deleted_at: Option<i64>,
    by: Option<String>,
    edited_at: Option<i64>,
    reacted_at: Option<i64>,
}

impl Store {
    /// Stores a message, if its author is a member of the group, the group
    /// takes messages and a replied-to message is a live one of the same
    /// group — checked in the same statement as the insert, so no leave,
    /// removal or deletion committed before it can be missed.
    pub fn insert_message(
        &self,
        group_id: i64,
        author_id: i64,
        author: &str,
        body: &Body,
        extras: &Extras<'_>,
        now: i64,
    ) -> Result<std::result::Result<Message, NotStored>> {
        let (content, envelope) = body_columns(body);
        let names: Vec<&str> = extras.mentions.iter().map(|(_, n)| n.as_str()).collect();
        let mentions =
            (!names.is_empty()).then(|| serde_json::to_string(&names).unwrap_or_default());
        self.write(Part::Chat, |sql| {
            sql.begin()?;
            // PostgreSQL gives the SELECT's parameters the types of the
            // columns they go into, but cannot infer ?7's (it stops at
            // `?7 IS NULL`): hence its CAST.
            let id = sql.row(
                "INSERT INTO messages (group_id, author_id, author, content, envelope, created_at, reply_to, mentions, client_id)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, CAST(?7 AS BIGINT), ?8, ?9
                 WHERE EXISTS (SELECT 1 FROM memberships WHERE group_id = ?1 AND user_id = ?2)
                   AND EXISTS (SELECT 1 FROM groups WHERE id = ?1 AND closed_at IS NULL)
                   AND (?7 IS NULL OR EXISTS (SELECT 1 FROM messages p
                        WHERE p.id = ?7 AND p.group_id = ?1 AND p.deleted_at IS NULL))
                 ON CONFLICT (group_id, author_id, client_id) WHERE client_id IS NOT NULL DO NOTHING
                 RETURNING id",
                &[&group_id, &author_id, &author, &content, &envelope, &now, &extras.reply_to, &mentions, &extras.client_id],
                |r| r.get::<i64>(0),
            )?;
            let Some(id) = id else {
                if let Some(cid) = extras.client_id {
                    let earlier = sql.row(
                        "SELECT id FROM messages WHERE group_id = ?1 AND author_id = ?2 AND client_id = ?3",
                        &[&group_id, &author_id, &cid],
                        |r| r.get::<i64>(0),
                    )?;
                    if let Some(id) = earlier {
                        return Ok(Err(NotStored::Resent(id)));
                    }
                }
                let member: bool = sql.value(
                    "SELECT EXISTS (SELECT 1 FROM memberships WHERE group_id = ?1 AND user_id = ?2)",
                    &[&group_id, &author_id],
                )?;
                let open: bool = sql.value(
                    "SELECT EXISTS (SELECT 1 FROM groups WHERE id = ?1 AND closed_at IS NULL)",
                    &[&group_id],
                )?;
                return Ok(Err(match (member, open) {
                    (false, _) => NotStored::NotMember,
                    (true, false) => NotStored::Closed,
                    (true, true) => NotStored::BadReply,
                }));
            };
            if !super::files::attach(sql, id, group_id, author_id, extras.attachments)? {
                return Ok(Err(NotStored::BadAttachment));
            }
            for (user_id, _) in extras.mentions {
                sql.exec(
                    "INSERT INTO mentions (user_id, group_id, message_id) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    &[user_id, &group_id, &id],
                )?;
            }
            // A new message has no reactions: one read, not two.
            let mut m = sql
                .row(
                    &format!("SELECT {MSG_COLS} FROM {MSG_FROM} WHERE m.id = ?1"),
                    &[&id],
                    message_row,
                )?
                .ok_or_else(vanished)?;
            if !extras.attachments.is_empty() {
                m.attachments = super::files::attachments_of(sql, &[id])?
                    .remove(&id)
                    .unwrap_or_default();
            }
            sql.commit()?;
            Ok(Ok(m))
        })
        .inspect(|stored| {
            if stored.is_ok() {
                self.new_messages();
            }
        })
    }

    /// Stores a system line (what `actor` did, as text) in a group.
    pub fn insert_system(
        &self,
        group_id: i64,
        actor_id: i64,
        actor: &str,
        text: &str,
        now: i64,
    ) -> Result<Message> {
        self.write(Part::Chat, |sql| {
            let id: i64 = sql.value(
                "INSERT INTO messages (group_id, author_id, author, content, created_at, system)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1)
                 RETURNING id",
                &[&group_id, &actor_id, &actor, &text, &now],
            )?;
            one(sql, id)?.ok_or_else(vanished)
        })
    }

    /// A page of history, newest first, below `before` (or from the newest).
    /// Returns the messages and whether older ones exist.
    pub fn history(
        &self,
        group_id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<Message>, bool)> {
        self.read(Part::Chat, |sql| {
            let mut msgs = sql.rows(
                &format!(
                    "SELECT {MSG_COLS} FROM {MSG_FROM}
                     WHERE m.group_id = ?1 AND m.id < ?2 AND m.deleted_at IS NULL
                     ORDER BY m.id DESC LIMIT ?3"
                ),
                &[
                    &group_id,
                    &before.unwrap_or(i64::MAX),
                    &limit.saturating_add(1),
                ],
                message_row,
            )?;
            let more = msgs.len() > limit;
            msgs.truncate(limit);
            Ok((with_reactions(sql, msgs)?, more))
        })
    }

    /// Messages with id above `after`, oldest first, at most `limit`.
    pub fn messages_after(&self, group_id: i64, after: i64, limit: usize) -> Result<Vec<Message>> {
        self.read(Part::Chat, |sql| {
            let msgs = sql.rows(
                &format!(
                    "SELECT {MSG_COLS} FROM {MSG_FROM}
                     WHERE m.group_id = ?1 AND m.id > ?2 AND m.deleted_at IS NULL
                     ORDER BY m.id ASC LIMIT ?3"
                ),
                &[&group_id, &after, &limit],
                message_row,
            )?;
            with_reactions(sql, msgs)
        })
    }

    /// What changed at or after `since` (Unix ms) among a group's messages
    /// up to `upto`: edits, deletions, reactions — oldest change first, at
    /// most `limit` messages.
    pub fn changes_since(
        &self,
        group_id: i64,
        upto: i64,
        since: i64,
        limit: usize,
    ) -> Result<Vec<Change>> {
        self.read(Part::Chat, |sql| {
            let rows = sql.rows(
                "SELECT id, deleted_at, deleted_by, edited_at, reacted_at FROM messages
                 WHERE group_id = ?1 AND changed_at >= ?2 AND id <= ?3
                 ORDER BY changed_at, id LIMIT ?4",
                &[&group_id, &since, &upto, &limit],
                |r| {
                    Ok(Changed {
                        id: r.get(0)?,
                        deleted_at: r.get(1)?,
                        by: r.get(2)?,
                        edited_at: r.get(3)?,
                        reacted_at: r.get(4)?,
                    })
                },
            )?;
            let mut out = Vec::new();
            for Changed {
                id,
                deleted_at,
                by,
                edited_at,
                reacted_at,
            } in rows
            {
                if deleted_at.is_some() {
                    out.push(Change::Deleted { id, by });
                    continue;
                }
                let Some(m) = one(sql, id)? else { continue };
                if edited_at.is_some_and(|t| t >= since) {
                    out.push(Change::Edited(Box::new(m)));
                } else if reacted_at.is_some_and(|t| t >= since) {
                    out.push(Change::Reactions {
                        id,
                        reactions: m.reactions,
                    });
                }
            }
            Ok(out)
        })
    }

    /// A live (not deleted) message by id.
    pub fn message(&self, id: i64) -> Result<Option<Message>> {
        self.read(Part::Chat, |sql| one(sql, id))
    }

    /// The live messages among `ids`, in the order given.
    pub fn messages_by_id(&self, ids: &[i64]) -> Result<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        self.read(Part::Chat, |sql| {
            let mut found: HashMap<i64, Message> = sql
                .rows(
                    &format!(
                        "SELECT {MSG_COLS} FROM {MSG_FROM} WHERE m.id IN ({list}) AND m.deleted_at IS NULL"
                    ),
                    &[],
                    message_row,
                )?
                .into_iter()
                .map(|m| (m.id, m))
                .collect();
            let ordered: Vec<Message> = ids.iter().filter_map(|id| found.remove(id)).collect();
            with_reactions(sql, ordered)
        })
    }

    /// Replaces a message's body (the caller checked authorship).
    pub fn edit_message(&self, id: i64, body: &Body, now: i64) -> Result<Option<Message>> {
        let (content, envelope) = body_columns(body);
        self.write(Part::Chat, |sql| {
            sql.exec(
                "UPDATE messages SET content = ?2, envelope = ?3, edited_at = ?4, changed_at = ?4
                 WHERE id = ?1 AND deleted_at IS NULL",
                &[&id, &content, &envelope, &now],
            )?;
            one(sql, id)
        })
        .inspect(|_| self.new_messages())
    }

    /// Soft-deletes a message and forgets its body and its files; `by`
    /// names a moderator who deleted someone else's. Returns whether it
    /// was live.
    pub fn delete_message(&self, id: i64, now: i64, by: Option<&str>) -> Result<bool> {
        let (live, hashes) = self.write(Part::Chat, |sql| {
            sql.begin()?;
            let n = sql.exec(
                "UPDATE messages SET deleted_at = ?2, changed_at = ?2, deleted_by = ?3,
                    content = NULL, envelope = NULL
                 WHERE id = ?1 AND deleted_at IS NULL",
                &[&id, &now, &by],
            )?;
            let hashes = super::files::detach_message(sql, id)?;
            sql.commit()?;
            Ok((n > 0, hashes))
        })?;
        self.release(&hashes);
        self.new_messages();
        Ok(live)
    }

    /// Adds (`on`) or removes a user's (id, name) reaction to a live message; returns
    /// the message's reactions after it, or `None` when the message is
    /// gone or a 21st distinct emoji was asked for (`TooMany`).
    pub fn react(
        &self,
        message_id: i64,
        emoji: &str,
        (user_id, username): (i64, &str),
        on: bool,
        max_distinct: usize,
        now: i64,
    ) -> Result<std::result::Result<Reactions, NotReacted>> {
        self.write(Part::Chat, |sql| {
            sql.begin()?;
            // PostgreSQL: the message's row stays locked to the end, so
            // reactions to it take turns for the distinct-emoji count as
            // they do behind SQLite's one writer.
            let lock = if sql.pg() { " FOR UPDATE" } else { "" };
            let live = sql
                .row(
                    &format!(
                        "SELECT id FROM messages WHERE id = ?1 AND deleted_at IS NULL AND system = 0{lock}"
                    ),
                    &[&message_id],
                    |_| Ok(()),
                )?
                .is_some();
            if !live {
                return Ok(Err(NotReacted::NoMessage));
            }
            let changed = if on {
                let distinct: i64 = sql.value(
                    "SELECT count(DISTINCT emoji) FROM reactions WHERE message_id = ?1 AND emoji != ?2",
                    &[&message_id, &emoji],
                )?;
                let exists: bool = sql.value(
                    "SELECT EXISTS (SELECT 1 FROM reactions WHERE message_id = ?1 AND emoji = ?2)",
                    &[&message_id, &emoji],
                )?;
                if !exists && distinct as usize >= max_distinct {
                    return Ok(Err(NotReacted::TooMany));
                }
                sql.exec(
                    "INSERT INTO reactions (message_id, emoji, user_id, username, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT DO NOTHING",
                    &[&message_id, &emoji, &user_id, &username, &now],
                )?
            } else {
                sql.exec(
                    "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3",
                    &[&message_id, &emoji, &user_id],
                )?
            };
            if changed > 0 {
                sql.exec(
                    "UPDATE messages SET reacted_at = ?2, changed_at = ?2 WHERE id = ?1",
                    &[&message_id, &now],
                )?;
            }
            let reactions = reactions_of(sql, &[message_id])?
                .remove(&message_id)
                .unwrap_or_default();
            sql.commit()?;
            Ok(Ok(reactions))
        })
    }

    /// Moves `user_id`'s read position in a group forward to `id` (never
    /// back, never past the newest message); returns the state after it
    /// and whether it moved.
    pub fn mark_read(&self, user_id: i64, group_id: i64, id: i64) -> Result<(ReadState, bool)> {
        self.write(Part::Chat, |sql| {
            sql.begin()?;
            let before = read_state_on(sql, user_id, group_id)?.last_read_id;
            // Scalar min and max are least and greatest in PostgreSQL.
            let (least, greatest) = if sql.pg() {
                ("least", "greatest")
            } else {
                ("min", "max")
            };
            sql.exec(
                &format!(
                    "INSERT INTO read_state (user_id, group_id, last_read_id)
                     VALUES (?1, ?2, {least}(?3, (SELECT coalesce(max(id), 0) FROM messages WHERE group_id = ?2)))
                     ON CONFLICT (user_id, group_id) DO UPDATE
                     SET last_read_id = {greatest}(read_state.last_read_id, excluded.last_read_id)"
                ),
                &[&user_id, &group_id, &id],
            )?;
            let after = read_state_on(sql, user_id, group_id)?;
            sql.commit()?;
            Ok((after, after.last_read_id > before))
        })
    }

    /// `user_id`'s read position in a group.
    pub fn read_state(&self, user_id: i64, group_id: i64) -> Result<ReadState> {
        self.read(Part::Chat, |sql| read_state_on(sql, user_id, group_id))
    }

    /// The newest message id of a group (0 when it has none).
    pub fn latest_id(&self, group_id: i64) -> Result<i64> {
        self.read(Part::Chat, |sql| {
            sql.value(
                "SELECT coalesce(max(id), 0) FROM messages WHERE group_id = ?1",
                &[&group_id],
            )
        })
    }
}

pub(super) fn read_state_on(sql: &mut Sql<'_>, user_id: i64, group_id: i64) -> Result<ReadState> {
    let last_read_id: i64 = sql
        .row(
            "SELECT last_read_id FROM read_state WHERE user_id = ?1 AND group_id = ?2",
            &[&user_id, &group_id],
            |r| r.get(0),
        )?
        .unwrap_or(0);
    let unread: i64 = sql.value(
        "SELECT count(*) FROM (SELECT 1 FROM messages WHERE group_id = ?1 AND id > ?2
            AND author_id != ?3 AND system = 0 AND deleted_at IS NULL LIMIT ?4) AS capped",
        &[&group_id, &last_read_id, &user_id, &UNREAD_CAP],
    )?;
    let mentions: i64 = if unread == 0 {
        0
    } else {
        sql.value(
            "SELECT count(*) FROM (SELECT 1 FROM mentions n JOIN messages m ON m.id = n.message_id
                WHERE n.user_id = ?1 AND n.group_id = ?2 AND n.message_id > ?3
                  AND m.deleted_at IS NULL LIMIT ?4) AS capped",
            &[&user_id, &group_id, &last_read_id, &UNREAD_CAP],
        )?
    };
    Ok(ReadState {
        last_read_id,
        unread,
        mentions,
    })
}

/// Why a reaction was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReacted {
    /// The message does not exist, was deleted, or is a system line.
    NoMessage,
    /// The message already has the most distinct emoji allowed.
    TooMany,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_on_one_line() {
        assert_eq!(excerpt("hi\nthere"), "hi there");
        let long = "x".repeat(150);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt(&"é".repeat(100)), "é".repeat(100));
    }
}
