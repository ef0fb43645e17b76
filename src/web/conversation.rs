//! The conversation features' API: reactions, read positions and search.
//! Like the rest of `/api`, each handler reads its session (401) and, for a
//! change, its CSRF token (403), decodes its fields and asks the chat.

use serde_json::Value;

use super::api::{bad, json_object, ok};
use super::session::{reader, writer};
use super::{Web, WebError};
use crate::chat::protocol::{
    MessageView, ReactionMap, ReactionsChanged, ReadChanged, SearchResults,
};
use crate::chat::search::MAX_RESULTS;
use crate::http::router::parse_id;
use crate::http::{Request, Response};

type Result<T> = std::result::Result<T, WebError>;

/// `PUT` (`on`) or `DELETE /api/messages/{id}/reactions/{emoji}`
pub fn react(web: &Web, req: &Request, id: i64, emoji: &str, on: bool) -> Result<Response> {
    let s = writer(web, req)?;
    let reactions = web.chat.react(&s.user, id, emoji, on)?;
    ok(
        200,
        &ReactionsChanged {
            id,
            reactions: ReactionMap(&reactions),
        },
    )
}

/// `PUT /api/groups/{id}/read` `{"last_read_id"}`
pub fn mark_read(web: &Web, req: &Request, group_id: i64) -> Result<Response> {
    let s = writer(web, req)?;
    let v = json_object(req)?;
    let last = v
        .get("last_read_id")
        .and_then(Value::as_i64)
        .filter(|id| *id >= 0)
        .ok_or_else(|| bad("last_read_id must be a message id."))?;
    let state = web.chat.mark_read(&s.user, group_id, last)?;
    ok(
        200,
        &ReadChanged {
            group_id,
            read: state.into(),
        },
    )
}

/// `GET /api/search?q=TEXT[&group_id=ID][&before=ID][&limit=N]`
pub fn search(web: &Web, req: &Request) -> Result<Response> {
    let s = reader(web, req)?;
    let q = req
        .query_param("q")
        .ok_or_else(|| bad("Search: q (what to look for) is missing."))?;
    let id = |name: &str, why: &'static str| -> Result<Option<i64>> {
        match req.query_param(name) {
            None => Ok(None),
            Some(v) => parse_id(&v).map(Some).ok_or_else(|| bad(why)),
        }
    };
    let group_id = id("group_id", "group_id must be a group id.")?;
    let before = id("before", "before must be a message id.")?;
    let limit = match req.query_param("limit") {
        None => 20,
        Some(l) => match l.parse::<usize>() {
            Ok(n @ 1..=MAX_RESULTS) => n,
            _ => return Err(bad("limit must be 1 to 50.")),
        },
    };
    let (found, has_more) = web.chat.search(&s.user, &q, group_id, before, limit)?;
    let results = found.iter().map(MessageView::new).collect();
    ok(200, &SearchResults { results, has_more })
}
