//! Search as people type it: words match by prefix (`deplo` finds
//! "deployed"; a single letter matches only itself), `"quoted phrases"`
//! match exactly, every term must match.
//! Whatever else is typed — `*`, `-`, `NEAR`, `AND`, column filters,
//! parentheses — is plain text: the terms reach the index quoted (see
//! `store::search`). A query that cannot mean anything (empty, an
//! unclosed quote, too long, control characters) is a 400 that says why.
//! Only plaintext conversations are searched: E2E messages are ciphertext
//! here, and the browser searches what it has decrypted.

use super::{Chat, Refusal};
use crate::store::{Message, SearchQuery, Term, User};

/// Longest query, in characters.
pub const MAX_QUERY: usize = 256;
/// Most terms in one query.
pub const MAX_TERMS: usize = 16;
/// Most results per page.
pub const MAX_RESULTS: usize = 50;

/// The index's words in `text`: runs of letters and digits (as its
/// `unicode61` tokenizer splits them), lowercased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A typed word: a prefix, except a single character, which is matched
/// whole (as a prefix it would match nearly every message, slowly).
fn word(w: String) -> Term {
    if w.chars().nth(1).is_some() {
        Term::Prefix(w)
    } else {
        Term::Word(w)
    }
}

/// Parses what a user typed into terms.
pub fn parse(q: &str) -> Result<SearchQuery, Refusal> {
    let fail = |why: &str| Err(Refusal::bad_request(format!("Search: {why}")));
    if q.chars().count() > MAX_QUERY {
        return fail("at most 256 characters.");
    }
    if q.chars().any(char::is_control) {
        return fail("control characters are not allowed.");
    }
    let mut terms = Vec::new();
    let mut rest = q;
    while let Some(start) = rest.find('"') {
        let (before, after) = (&rest[..start], &rest[start + 1..]);
        terms.extend(words(before).into_iter().map(word));
        let Some(end) = after.find('"') else {
            return fail("a quote is not closed.");
        };
        let phrase = words(&after[..end]);
        if !phrase.is_empty() {
            terms.push(Term::Phrase(phrase));
        }
        rest = &after[end + 1..];
    }
    terms.extend(words(rest).into_iter().map(word));
    if terms.is_empty() {
        return fail("type at least one word (letters or digits).");
    }
    if terms.len() > MAX_TERMS {
        return fail("at most 16 words or phrases.");
    }
    Ok(SearchQuery { terms })
}

impl Chat {
    /// Messages matching `q` in the plaintext conversations `user` belongs
    /// to (only `group_id`, when given), newest first, below `before`.
    pub fn search(
        &self,
        user: &User,
        q: &str,
        group_id: Option<i64>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<Message>, bool), Refusal> {
        if !self.search_on {
            return Err(Refusal::not_found("Search is turned off on this server."));
        }
        let query = parse(q)?;
        if let Some(id) = group_id {
            self.member_group(user, id)?;
        }
        Ok(self.store.search(
            user.id,
            &query,
            group_id,
            before,
            limit.clamp(1, MAX_RESULTS),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(q: &str) -> Vec<Term> {
        parse(q).unwrap().terms
    }

    #[test]
    fn words_are_prefixes_and_quotes_are_phrases() {
        assert_eq!(
            terms(r#"Deplo "green LIGHT" friday"#),
            vec![
                Term::Prefix("deplo".into()),
                Term::Phrase(vec!["green".into(), "light".into()]),
                Term::Prefix("friday".into()),
            ]
        );
        // FTS5 syntax is text: operators become words, punctuation goes.
        assert_eq!(
            terms("NEAR(ab cd) -xy* content:yz"),
            ["near", "ab", "cd", "xy", "content", "yz"]
                .map(|w| Term::Prefix(w.into()))
                .to_vec()
        );
        assert_eq!(
            terms("don't"),
            vec![Term::Prefix("don".into()), Term::Word("t".into())]
        );
        assert_eq!(terms("“ünïcode”"), vec![Term::Prefix("ünïcode".into())]);
    }

    #[test]
    fn malformed_queries_say_why() {
        for bad in ["", "   ", "*", "\"\"", "-", "\"open", "a\0b", "a\nb"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code(), "bad_request", "{bad:?}");
        }
        assert!(parse(&"a".repeat(257)).is_err());
        assert!(parse(&"a ".repeat(17)).is_err());
        assert!(parse(&"a".repeat(256)).is_ok());
    }
}
