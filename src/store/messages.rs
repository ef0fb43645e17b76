//! Messages in `chat.sqlite3`: storing one (only by a member, only in a
//! group that takes messages, a reply only to a live message of the same
//! group — all checked in the insert itself), history pages, edits and
//! deletions (soft: the body is erased), system lines, reactions, each
//! user's read position per group, and what changed since a reconnecting
//! client left.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Body, Message, NotStored, Reactions, ReplyRef, Result, Store};

/// Longest excerpt of a replied-to message.
pub const EXCERPT_CHARS: usize = 100;
/// Unread counts stop counting here (a badge says "999+").
pub const UNREAD_CAP: i64 = 1000;

const MSG_COLS: &str = "m.id, m.group_id, m.author_id, m.author, m.content, m.envelope,
    m.created_at, m.edited_at, m.system, m.mentions,
    r.id, r.author, r.content, r.deleted_at";

/// `FROM` with the replied-to message joined in.
const MSG_FROM: &str = "messages m LEFT JOIN messages r ON r.id = m.reply_to";

fn message_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    let content: Option<String> = row.get(4)?;
    let envelope: Option<String> = row.get(5)?;
    let mentions: Option<String> = row.get(9)?;
    let reply_to = match row.get::<_, Option<i64>>(10)? {
        None => None,
        Some(id) => {
            let gone = row.get::<_, Option<i64>>(13)?.is_some();
            let excerpt = row
                .get::<_, Option<String>>(12)?
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
fn reactions_of(c: &Connection, ids: &[i64]) -> rusqlite::Result<HashMap<i64, Reactions>> {
    let mut out: HashMap<i64, Reactions> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let mut st = c.prepare(&format!(
        "SELECT message_id, emoji, username FROM reactions WHERE message_id IN ({list})
         ORDER BY message_id, created_at, emoji, username"
    ))?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (id, emoji, who): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let of = out.entry(id).or_default();
        match of.iter_mut().find(|(e, _)| *e == emoji) {
            Some((_, names)) => names.push(who),
            None => of.push((emoji, vec![who])),
        }
    }
    Ok(out)
}

/// Fills in the reactions and attachments of `msgs`.
fn with_reactions(c: &Connection, mut msgs: Vec<Message>) -> rusqlite::Result<Vec<Message>> {
    let ids: Vec<i64> = msgs.iter().map(|m| m.id).collect();
    let mut all = reactions_of(c, &ids)?;
    let mut files = super::files::attachments_of(c, &ids)?;
    for m in &mut msgs {
        m.reactions = all.remove(&m.id).unwrap_or_default();
        m.attachments = files.remove(&m.id).unwrap_or_default();
    }
    Ok(msgs)
}

fn one(c: &Connection, id: i64) -> rusqlite::Result<Option<Message>> {
    let m = c
        .query_row(
            &format!("SELECT {MSG_COLS} FROM {MSG_FROM} WHERE m.id = ?1 AND m.deleted_at IS NULL"),
            [id],
            message_row,
        )
        .optional()?;
    Ok(match m {
        Some(m) => with_reactions(c, vec![m])?.pop(),
        None => None,
    })
}

/// What a new message carries besides its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras<'a> {
    pub reply_to: Option<i64>,
    /// Members mentioned: (user id, username).
    pub mentions: &'a [(i64, String)],
    /// The author's unattached uploads to the group that go with it.
    pub attachments: &'a [i64],
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
        self.sqlite_only().chat.write(|c| {
            let tx = c.transaction()?;
            let n = tx
                .prepare_cached(
                    "INSERT INTO messages (group_id, author_id, author, content, envelope, created_at, reply_to, mentions)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
                     WHERE EXISTS (SELECT 1 FROM memberships WHERE group_id = ?1 AND user_id = ?2)
                       AND EXISTS (SELECT 1 FROM groups WHERE id = ?1 AND closed_at IS NULL)
                       AND (?7 IS NULL OR EXISTS (SELECT 1 FROM messages p
                            WHERE p.id = ?7 AND p.group_id = ?1 AND p.deleted_at IS NULL))",
                )?
                .execute(params![group_id, author_id, author, content, envelope, now, extras.reply_to, mentions])?;
            if n == 0 {
                let member: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM memberships WHERE group_id = ?1 AND user_id = ?2)",
                    params![group_id, author_id],
                    |r| r.get(0),
                )?;
                let open: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM groups WHERE id = ?1 AND closed_at IS NULL)",
                    [group_id],
                    |r| r.get(0),
                )?;
                return Ok(Err(match (member, open) {
                    (false, _) => NotStored::NotMember,
                    (true, false) => NotStored::Closed,
                    (true, true) => NotStored::BadReply,
                }));
            }
            let id = tx.last_insert_rowid();
            if !super::files::attach(&tx, id, group_id, author_id, extras.attachments)? {
                return Ok(Err(NotStored::BadAttachment));
            }
            for (user_id, _) in extras.mentions {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO mentions (user_id, group_id, message_id) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![user_id, group_id, id])?;
            }
            // A new message has no reactions: one read, not two.
            let mut m = tx
                .prepare_cached(&format!("SELECT {MSG_COLS} FROM {MSG_FROM} WHERE m.id = ?1"))?
                .query_row([id], message_row)?;
            if !extras.attachments.is_empty() {
                m.attachments = super::files::attachments_of(&tx, &[id])?
                    .remove(&id)
                    .unwrap_or_default();
            }
            tx.commit()?;
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
        self.sqlite_only().chat.write(|c| {
            c.prepare_cached(
                "INSERT INTO messages (group_id, author_id, author, content, created_at, system)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1)",
            )?
            .execute(params![group_id, actor_id, actor, text, now])?;
            let id = c.last_insert_rowid();
            one(c, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
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
        self.sqlite_only().chat.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {MSG_COLS} FROM {MSG_FROM}
                 WHERE m.group_id = ?1 AND m.id < ?2 AND m.deleted_at IS NULL
                 ORDER BY m.id DESC LIMIT ?3"
            ))?;
            let rows = st.query_map(
                params![group_id, before.unwrap_or(i64::MAX), limit as i64 + 1],
                message_row,
            )?;
            let mut msgs: Vec<Message> = rows.collect::<rusqlite::Result<_>>()?;
            let more = msgs.len() > limit;
            msgs.truncate(limit);
            Ok((with_reactions(c, msgs)?, more))
        })
    }

    /// Messages with id above `after`, oldest first, at most `limit`.
    pub fn messages_after(&self, group_id: i64, after: i64, limit: usize) -> Result<Vec<Message>> {
        self.sqlite_only().chat.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {MSG_COLS} FROM {MSG_FROM}
                 WHERE m.group_id = ?1 AND m.id > ?2 AND m.deleted_at IS NULL
                 ORDER BY m.id ASC LIMIT ?3"
            ))?;
            let rows = st.query_map(params![group_id, after, limit as i64], message_row)?;
            with_reactions(c, rows.collect::<rusqlite::Result<_>>()?)
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
        self.sqlite_only().chat.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, deleted_at, deleted_by, edited_at, reacted_at FROM messages
                 WHERE group_id = ?1 AND changed_at >= ?2 AND id <= ?3
                 ORDER BY changed_at, id LIMIT ?4",
            )?;
            let rows: Vec<Changed> = st
                .query_map(params![group_id, since, upto, limit as i64], |r| {
                    Ok(Changed {
                        id: r.get(0)?,
                        deleted_at: r.get(1)?,
                        by: r.get(2)?,
                        edited_at: r.get(3)?,
                        reacted_at: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
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
                let Some(m) = one(c, id)? else { continue };
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
        self.sqlite_only().chat.read(|c| one(c, id))
    }

    /// The live messages among `ids`, in the order given.
    pub fn messages_by_id(&self, ids: &[i64]) -> Result<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        self.sqlite_only().chat.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {MSG_COLS} FROM {MSG_FROM} WHERE m.id IN ({list}) AND m.deleted_at IS NULL"
            ))?;
            let mut found: HashMap<i64, Message> = st
                .query_map([], message_row)?
                .map(|m| m.map(|m| (m.id, m)))
                .collect::<rusqlite::Result<_>>()?;
            let ordered: Vec<Message> = ids.iter().filter_map(|id| found.remove(id)).collect();
            with_reactions(c, ordered)
        })
    }

    /// Replaces a message's body (the caller checked authorship).
    pub fn edit_message(&self, id: i64, body: &Body, now: i64) -> Result<Option<Message>> {
        let (content, envelope) = body_columns(body);
        self.sqlite_only()
            .chat
            .write(|c| {
                c.execute(
                "UPDATE messages SET content = ?2, envelope = ?3, edited_at = ?4, changed_at = ?4
                 WHERE id = ?1 AND deleted_at IS NULL",
                params![id, content, envelope, now],
            )?;
                one(c, id)
            })
            .inspect(|_| self.new_messages())
    }

    /// Soft-deletes a message and forgets its body and its files; `by`
    /// names a moderator who deleted someone else's. Returns whether it
    /// was live.
    pub fn delete_message(&self, id: i64, now: i64, by: Option<&str>) -> Result<bool> {
        let (live, hashes) = self.sqlite_only().chat.write(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE messages SET deleted_at = ?2, changed_at = ?2, deleted_by = ?3,
                    content = NULL, envelope = NULL
                 WHERE id = ?1 AND deleted_at IS NULL",
                params![id, now, by],
            )?;
            let hashes = super::files::detach_message(&tx, id)?;
            tx.commit()?;
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
        self.sqlite_only().chat.write(|c| {
            let tx = c.transaction()?;
            let live: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1 AND deleted_at IS NULL AND system = 0)",
                [message_id],
                |r| r.get(0),
            )?;
            if !live {
                return Ok(Err(NotReacted::NoMessage));
            }
            let changed = if on {
                let distinct: i64 = tx.query_row(
                    "SELECT count(DISTINCT emoji) FROM reactions WHERE message_id = ?1 AND emoji != ?2",
                    params![message_id, emoji],
                    |r| r.get(0),
                )?;
                let exists: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM reactions WHERE message_id = ?1 AND emoji = ?2)",
                    params![message_id, emoji],
                    |r| r.get(0),
                )?;
                if !exists && distinct as usize >= max_distinct {
                    return Ok(Err(NotReacted::TooMany));
                }
                tx.execute(
                    "INSERT OR IGNORE INTO reactions (message_id, emoji, user_id, username, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![message_id, emoji, user_id, username, now],
                )?
            } else {
                tx.execute(
                    "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3",
                    params![message_id, emoji, user_id],
                )?
            };
            if changed > 0 {
                tx.execute(
                    "UPDATE messages SET reacted_at = ?2, changed_at = ?2 WHERE id = ?1",
                    params![message_id, now],
                )?;
            }
            let reactions = reactions_of(&tx, &[message_id])?.remove(&message_id).unwrap_or_default();
            tx.commit()?;
            Ok(Ok(reactions))
        })
    }

    /// Moves `user_id`'s read position in a group forward to `id` (never
    /// back, never past the newest message); returns the state after it
    /// and whether it moved.
    pub fn mark_read(&self, user_id: i64, group_id: i64, id: i64) -> Result<(ReadState, bool)> {
        self.sqlite_only().chat.write(|c| {
            let tx = c.transaction()?;
            let before = read_state_on(&tx, user_id, group_id)?.last_read_id;
            tx.prepare_cached(
                "INSERT INTO read_state (user_id, group_id, last_read_id)
                 VALUES (?1, ?2, min(?3, (SELECT coalesce(max(id), 0) FROM messages WHERE group_id = ?2)))
                 ON CONFLICT (user_id, group_id) DO UPDATE
                 SET last_read_id = max(last_read_id, excluded.last_read_id)",
            )?
            .execute(params![user_id, group_id, id])?;
            let after = read_state_on(&tx, user_id, group_id)?;
            tx.commit()?;
            Ok((after, after.last_read_id > before))
        })
    }

    /// `user_id`'s read position in a group.
    pub fn read_state(&self, user_id: i64, group_id: i64) -> Result<ReadState> {
        self.sqlite_only()
            .chat
            .read(|c| read_state_on(c, user_id, group_id))
    }

    /// The newest message id of a group (0 when it has none).
    pub fn latest_id(&self, group_id: i64) -> Result<i64> {
        self.sqlite_only().chat.read(|c| {
            c.query_row(
                "SELECT coalesce(max(id), 0) FROM messages WHERE group_id = ?1",
                [group_id],
                |r| r.get(0),
            )
        })
    }
}

pub(super) fn read_state_on(
    c: &Connection,
    user_id: i64,
    group_id: i64,
) -> rusqlite::Result<ReadState> {
    let last_read_id: i64 = c
        .prepare_cached("SELECT last_read_id FROM read_state WHERE user_id = ?1 AND group_id = ?2")?
        .query_row(params![user_id, group_id], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let unread: i64 = c
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM messages WHERE group_id = ?1 AND id > ?2
                AND author_id != ?3 AND system = 0 AND deleted_at IS NULL LIMIT ?4)",
        )?
        .query_row(params![group_id, last_read_id, user_id, UNREAD_CAP], |r| {
            r.get(0)
        })?;
    let mentions: i64 =
        if unread == 0 {
            0
        } else {
            c.prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM mentions n JOIN messages m ON m.id = n.message_id
                WHERE n.user_id = ?1 AND n.group_id = ?2 AND n.message_id > ?3
                  AND m.deleted_at IS NULL LIMIT ?4)",
        )?
        .query_row(params![user_id, group_id, last_read_id, UNREAD_CAP], |r| r.get(0))?
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
