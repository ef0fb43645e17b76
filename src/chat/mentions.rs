//! Mentions: who a message calls. In plaintext groups the server reads
//! `@username` out of the content (a name that is not a member's is just
//! text: `@everyone`, an e-mail address); in E2E groups it cannot read the
//! content, so the sender's client lists the names in the frame's
//! `mentions` — metadata the server sees, and checks strictly: every name
//! listed must be a member's. The mentioned members away from the room get
//! a `mention` notice on `/ws`, and their mention count grows.

use std::collections::BTreeSet;

use super::protocol::MAX_MENTIONS;
use super::{Chat, Refusal};
use crate::store::Group;

fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// The `@name`s in a plaintext message, in order, each once: an `@` at
/// the start or after a character that cannot be in a username, followed
/// by a username (trailing dots and dashes, as in "thanks @bob.", are not
/// part of it). Usernames are ASCII, so this works on bytes.
pub fn named_in(content: &str) -> Vec<&str> {
    let bytes = content.as_bytes();
    let mut found: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'@' && (i == 0 || !name_byte(bytes[i - 1])) {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && name_byte(bytes[end]) {
                end += 1;
            }
            let mut name_end = end;
            while name_end > start && matches!(bytes[name_end - 1], b'.' | b'-') {
                name_end -= 1;
            }
            // Only ASCII bytes were taken: the slice is on char boundaries.
            let name = &content[start..name_end];
            if (3..=32).contains(&name.len()) && !found.contains(&name) {
                found.push(name);
                if found.len() == MAX_MENTIONS {
                    break;
                }
            }
            i = end.max(start);
        } else {
            i += 1;
        }
    }
    found
}

impl Chat {
    /// The members a message from `author_id` mentions, as (id, name):
    /// members named with `@` in plaintext `content` (others ignored), and
    /// every name in `listed`, which must all be members (else a
    /// `bad_request` naming the first that is not). The author is never
    /// their own mention.
    pub fn mentioned(
        &self,
        group: &Group,
        author_id: i64,
        content: Option<&str>,
        listed: Option<&[String]>,
    ) -> Result<Vec<(i64, String)>, Refusal> {
        let mut out: Vec<(i64, String)> = Vec::new();
        let mut seen = BTreeSet::new();
        for name in listed.unwrap_or_default() {
            let member = self.mentioned_member(group.id, name)?;
            let Some(id) = member else {
                return Err(Refusal::bad_request(format!(
                    "mentions: {} is not a member of this conversation.",
                    printable(name)
                )));
            };
            if id != author_id && seen.insert(id) {
                out.push((id, name.clone()));
            }
        }
        for name in content.map(named_in).unwrap_or_default() {
            if let Some(id) = self.mentioned_member(group.id, name)?
                && id != author_id
                && seen.insert(id)
            {
                out.push((id, name.to_string()));
            }
        }
        Ok(out)
    }

    /// The id of the member of `group_id` named `name`, if there is one.
    fn mentioned_member(&self, group_id: i64, name: &str) -> Result<Option<i64>, Refusal> {
        if crate::auth::validate_username(name).is_err() {
            return Ok(None);
        }
        let Some((user, _)) = self.store.user_by_name(name)? else {
            return Ok(None);
        };
        Ok(self.store.is_member(group_id, user.id)?.then_some(user.id))
    }
}

/// A name from a client, safe to repeat in an error: at most 32
/// characters, controls replaced.
fn printable(name: &str) -> String {
    name.chars()
        .take(32)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_names_are_found_once_and_in_order() {
        assert_eq!(named_in("@bob hi @carol, @bob"), ["bob", "carol"]);
        assert_eq!(named_in("thanks @bob.dev."), ["bob.dev"]);
        assert_eq!(named_in("(@alice)"), ["alice"]);
        assert_eq!(named_in("mail me at bob@example.com"), Vec::<&str>::new());
        assert_eq!(named_in("@ab @@dave é@erin"), ["dave", "erin"]);
        assert_eq!(named_in("@"), Vec::<&str>::new());
        assert_eq!(named_in(&"@x".repeat(10)), Vec::<&str>::new());
        let many: String = (0..80).map(|i| format!("@user{i} ")).collect();
        assert_eq!(named_in(&many).len(), MAX_MENTIONS);
    }
}
