//! Reactions: a member toggles an emoji on a message without writing a new
//! one. The emoji must be exactly one emoji of Unicode's list — skin tones,
//! flags, keycaps and ZWJ sequences included — stored in its
//! fully-qualified form so that "❤" and "❤️" are one reaction; a message
//! takes at most `MAX_DISTINCT` different ones. The room hears the
//! message's new reactions in the order the change was stored.
//!
//! The list is `emoji.txt` (every fully-qualified emoji, one a line, 40 KB
//! in the binary). It is the `emojis` crate's list, which a test checks it
//! against; the crate itself is only a dev-dependency, because linking it
//! (with its names, shortcodes and groups) cost the binary 1 MB.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::protocol::{ReactionMap, ServerFrame};
use super::{Action, Chat, Refusal};
use crate::store::{NotReacted, Reactions, User};
use crate::util;

/// Most different emoji on one message.
pub const MAX_DISTINCT: usize = 20;

/// Every fully-qualified emoji, one a line.
const LIST: &str = include_str!("emoji.txt");

/// An emoji without its variation selectors (U+FE0F), which is how
/// minimally-qualified forms ("❤") and fully-qualified ones ("❤️") meet.
fn key(text: &str) -> String {
    text.chars().filter(|&c| c != '\u{FE0F}').collect()
}

/// The list by key.
fn by_key() -> &'static HashMap<String, &'static str> {
    static MAP: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    MAP.get_or_init(|| LIST.lines().map(|e| (key(e), e)).collect())
}

/// The canonical form of `text` if it is exactly one emoji.
pub fn one_emoji(text: &str) -> Option<&'static str> {
    // The longest emoji (a family, or a flag of a subdivision) is 35 bytes.
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    by_key().get(&key(text)).copied()
}

impl Chat {
    /// Adds (`on`) or takes back `user`'s `emoji` on message `id`; returns
    /// the message's reactions after it.
    pub fn react(&self, user: &User, id: i64, emoji: &str, on: bool) -> Result<Reactions, Refusal> {
        let emoji = one_emoji(emoji)
            .ok_or_else(|| Refusal::bad_request("A reaction must be exactly one emoji."))?;
        let (_, g, _) = self.message_in_my_group(user, id)?;
        if g.closed_at.is_some() {
            return Err(Refusal::forbidden(
                "This conversation is closed: the other account was deleted.",
            ));
        }
        self.take(user.id, Action::Write)?;
        let changed = self.hub.change(g.id, || {
            let result = self.store.react(
                id,
                emoji,
                (user.id, &user.username),
                on,
                MAX_DISTINCT,
                util::now_ms(),
            );
            let frame = match &result {
                Ok(Ok(reactions)) => Some(
                    ServerFrame::Reactions {
                        id,
                        reactions: ReactionMap(reactions),
                    }
                    .encode(),
                ),
                _ => None,
            };
            (result, frame)
        });
        match changed? {
            Ok(reactions) => Ok(reactions),
            Err(NotReacted::NoMessage) => Err(Refusal::not_found("No such message.")),
            Err(NotReacted::TooMany) => Err(Refusal::bad_request(format!(
                "A message takes at most {MAX_DISTINCT} different reactions."
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_of_any_kind_and_nothing_else() {
        for ok in ["👍", "🎉", "👍🏽", "🇫🇷", "1️⃣", "👩‍👩‍👧‍👦", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "❤️"]
        {
            assert_eq!(one_emoji(ok), Some(ok), "{ok}");
        }
        assert_eq!(one_emoji("❤"), Some("❤️"));
        for bad in ["", "a", "👍👍", "👍 ", ":+1:", "1", "\u{200d}", "\0", "<b>"] {
            assert_eq!(one_emoji(bad), None, "{bad:?}");
        }
        assert_eq!(one_emoji(&"👍".repeat(100)), None);
    }

    /// Every emoji of the `emojis` crate, skin tones included, in its order.
    fn unicode_list() -> Vec<&'static str> {
        let mut all: Vec<&'static str> = Vec::new();
        for e in emojis::iter() {
            all.push(e.as_str());
            for t in e.skin_tones().into_iter().flatten() {
                if !all.contains(&t.as_str()) {
                    all.push(t.as_str());
                }
            }
        }
        all
    }

    /// `SECURECHAT_WRITE_EMOJI=1 cargo test emoji_txt` writes the file anew
    /// (after updating the `emojis` dev-dependency).
    #[test]
    fn emoji_txt_is_unicodes_list_and_every_form_is_accepted() {
        let all = unicode_list();
        let text: String = all.iter().map(|e| format!("{e}\n")).collect();
        if std::env::var_os("SECURECHAT_WRITE_EMOJI").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/chat/emoji.txt");
            std::fs::write(path, &text).unwrap();
        }
        assert!(
            LIST == text,
            "src/chat/emoji.txt is not the emojis crate's list"
        );
        assert_eq!(by_key().len(), all.len(), "no two emoji share a key");
        for e in &all {
            assert_eq!(one_emoji(e), Some(*e));
            // Whatever form the crate knows it by is the same reaction.
            assert_eq!(
                emojis::get(&key(e)).map(|x| x.as_str()).is_some(),
                one_emoji(&key(e)).is_some()
            );
        }
    }
}
