//! Reactions: a member toggles an emoji on a message without writing a new
//! one. The emoji must be exactly one emoji (Unicode's emoji list, with
//! skin tones, flags, keycaps and ZWJ sequences, from the `emojis` crate),
//! stored in its fully-qualified form so that "❤" and "❤️" are one
//! reaction; a message takes at most `MAX_DISTINCT` different ones. The
//! room hears the message's new reactions in the order the change was
//! stored.

use super::protocol::{ReactionMap, ServerFrame};
use super::{Action, Chat, Refusal};
use crate::store::{NotReacted, Reactions, User};
use crate::util;

/// Most different emoji on one message.
pub const MAX_DISTINCT: usize = 20;

/// The canonical form of `text` if it is exactly one emoji.
pub fn one_emoji(text: &str) -> Option<&'static str> {
    // The longest emoji (a family, or a flag of a subdivision) is 35 bytes.
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    emojis::get(text).map(|e| e.as_str())
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
}
