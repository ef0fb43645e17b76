//! Full-text search over plaintext messages (SQLite FTS5, external-content
//! table kept by triggers; see `chat.rs`). The query comes in already
//! parsed (`SearchQuery`); each term is quoted into the FTS5 expression, so
//! nothing a user types is ever FTS5 syntax — no operator, no column
//! filter, no syntax error.

use rusqlite::params;

use super::{Message, Result, Store};

/// One thing a message must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A word, matched as a prefix (`deplo` finds "deploy", "deployed").
    Prefix(String),
    /// Words in this order, exactly.
    Phrase(Vec<String>),
}

/// Every term must match (AND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<Term>,
}

/// `"…"` with inner quotes doubled: an FTS5 string, never an operator.
fn quoted(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

impl SearchQuery {
    /// The FTS5 MATCH expression.
    pub fn fts5(&self) -> String {
        self.terms
            .iter()
            .map(|t| match t {
                Term::Prefix(w) => format!("{} *", quoted(w)),
                Term::Phrase(ws) => quoted(&ws.join(" ")),
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

impl Store {
    /// Messages matching `q` in the groups `user_id` belongs to (or in
    /// `group_id`, when given — the caller checked membership), newest
    /// first, below `before`; and whether there are more.
    pub fn search(
        &self,
        user_id: i64,
        q: &SearchQuery,
        group_id: Option<i64>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<Message>, bool)> {
        let expr = q.fts5();
        let ids: Vec<i64> = self.chat.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT m.id FROM messages_fts f JOIN messages m ON m.id = f.rowid
                 WHERE messages_fts MATCH ?1 AND f.rowid < ?2
                   AND m.deleted_at IS NULL
                   AND (?3 IS NULL OR m.group_id = ?3)
                   AND m.group_id IN (SELECT group_id FROM memberships WHERE user_id = ?4)
                 ORDER BY f.rowid DESC LIMIT ?5",
            )?;
            let rows = st.query_map(
                params![
                    expr,
                    before.unwrap_or(i64::MAX),
                    group_id,
                    user_id,
                    limit as i64 + 1
                ],
                |r| r.get(0),
            )?;
            rows.collect()
        })?;
        let more = ids.len() > limit;
        let mut out = Vec::with_capacity(limit);
        for id in ids.into_iter().take(limit) {
            if let Some(m) = self.message(id)? {
                out.push(m);
            }
        }
        Ok((out, more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_term_is_quoted() {
        let q = SearchQuery {
            terms: vec![
                Term::Prefix("deplo".into()),
                Term::Phrase(vec!["green".into(), "light".into()]),
                Term::Prefix("NEAR\"".into()),
            ],
        };
        assert_eq!(q.fts5(), r#""deplo" * AND "green light" AND "NEAR""" *"#);
    }
}
