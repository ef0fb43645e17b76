//! The `search` scenario's queries: a fixed mix of the kinds of search
//! people type (and the worst cases the API allows), asked one after the
//! other over a kept-alive connection, timed, and every answer checked —
//! only the searcher's groups, newest first, below `before`, each result
//! containing what was asked for, found when it must be.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::{Value, json};

use crate::client::{Ep, KeepAlive};
use crate::corpus::{Rng, Vocab, words};
use crate::error::BenchError;
use crate::room::User;
use crate::stats::quantile;

/// Results per page (the API's default).
const PAGE: usize = 20;

/// The kinds of query, how many of every 100 asked, and what each is.
pub const CLASSES: &[(&str, usize, &str)] = &[
    (
        "common",
        14,
        "one of the 60 most frequent words (3+ letters)",
    ),
    ("mid", 10, "a word of frequency rank 200-1000"),
    ("rare", 10, "a word of rank 2500+ (a few hundred messages)"),
    ("prefix2", 8, "the first 2 letters of a word (as typed)"),
    ("prefix1", 4, "the first letter of a word (as typed)"),
    ("and2", 12, "two words (3+ letters) of one stored message"),
    (
        "phrase",
        12,
        "a quoted 2-3 word phrase of one stored message",
    ),
    ("in_group", 12, "a common or mid word, with group_id"),
    ("paged", 12, "a common or mid word, with a random before"),
    ("miss", 6, "a word that is in no message"),
];

/// One term as the server parses it: a prefix, or an exact phrase.
#[derive(Clone)]
enum Term {
    Prefix(String),
    Phrase(Vec<String>),
}

/// A query to ask, and what its answer must be like.
pub struct Query {
    class: &'static str,
    terms: Vec<Term>,
    group: Option<i64>,
    before: Option<i64>,
    /// A stored message the searcher can see matches it.
    must_find: bool,
    /// Nothing matches it.
    must_miss: bool,
}

impl Query {
    fn q(&self) -> String {
        self.terms
            .iter()
            .map(|t| match t {
                Term::Prefix(w) => w.clone(),
                Term::Phrase(ws) => format!("\"{}\"", ws.join(" ")),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn path(&self) -> String {
        let mut p = format!("/api/search?q={}", urlencode(&self.q()));
        if let Some(g) = self.group {
            p.push_str(&format!("&group_id={g}"));
        }
        if let Some(b) = self.before {
            p.push_str(&format!("&before={b}"));
        }
        p
    }

    /// Whether `content` has every term.
    fn matches(&self, content: &str) -> bool {
        let ws = words(content);
        self.terms.iter().all(|t| match t {
            Term::Prefix(p) => ws.iter().any(|w| w.starts_with(p.as_str())),
            Term::Phrase(ph) => ws.windows(ph.len()).any(|win| win == ph.as_slice()),
        })
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the queries are asked about.
pub struct World<'a> {
    pub vocab: &'a Vocab,
    /// The searcher's groups.
    pub mine: &'a [i64],
    /// Groups the searcher is not in.
    pub others: &'a [i64],
    /// Stored messages in the searcher's groups: (group, content).
    pub sample: &'a [(i64, String)],
    /// The seeded messages' id range.
    pub ids: (i64, i64),
}

/// A word drawn by frequency among those of at least `min_len` letters.
fn zipf_word<'a>(w: &World<'a>, rng: &mut Rng, min_len: usize) -> &'a str {
    loop {
        let word = &w.vocab.words[w.vocab.rank(rng)];
        if word.len() >= min_len {
            return word;
        }
    }
}

fn ranked<'a>(w: &World<'a>, rng: &mut Rng, lo: usize, hi: usize, min_len: usize) -> &'a str {
    let hi = hi.min(w.vocab.words.len() - 1);
    loop {
        let word = &w.vocab.words[rng.between(lo.min(hi), hi)];
        if word.len() >= min_len {
            return word;
        }
    }
}

/// The words of one sampled message.
fn sampled(w: &World<'_>, rng: &mut Rng) -> Vec<String> {
    words(&rng.pick(w.sample).1)
}

fn query(w: &World<'_>, class: &'static str, rng: &mut Rng) -> Query {
    let prefix = |s: &str| Term::Prefix(s.to_string());
    let mut q = Query {
        class,
        terms: Vec::new(),
        group: None,
        before: None,
        must_find: false,
        must_miss: false,
    };
    let common_or_mid = |rng: &mut Rng| {
        if rng.below(2) == 0 {
            ranked(w, rng, 0, 59, 3)
        } else {
            ranked(w, rng, 200, 1000, 3)
        }
    };
    match class {
        "common" => {
            q.terms = vec![prefix(ranked(w, rng, 0, 59, 3))];
            q.must_find = true;
        }
        "mid" => q.terms = vec![prefix(ranked(w, rng, 200, 1000, 3))],
        "rare" => q.terms = vec![prefix(ranked(w, rng, 2500, usize::MAX, 3))],
        "prefix2" => q.terms = vec![prefix(&zipf_word(w, rng, 2)[..2])],
        "prefix1" => q.terms = vec![prefix(&zipf_word(w, rng, 1)[..1])],
        "and2" => {
            let ws: Vec<String> = sampled(w, rng)
                .into_iter()
                .filter(|x| x.len() >= 3)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let mut ws = ws;
            ws.sort();
            if ws.len() >= 2 {
                let a = rng.below(ws.len());
                let b = (a + 1 + rng.below(ws.len() - 1)) % ws.len();
                q.terms = vec![prefix(&ws[a]), prefix(&ws[b])];
                q.must_find = true;
            } else {
                q.terms = vec![prefix(common_or_mid(rng))];
            }
        }
        "phrase" => {
            let ws = sampled(w, rng);
            let len = rng.between(2, 3).min(ws.len());
            let at = rng.below(ws.len() - len + 1);
            q.terms = vec![Term::Phrase(ws[at..at + len].to_vec())];
            q.must_find = true;
        }
        "in_group" => {
            q.terms = vec![prefix(common_or_mid(rng))];
            q.group = Some(*rng.pick(w.mine));
        }
        "paged" => {
            q.terms = vec![prefix(common_or_mid(rng))];
            q.before = Some(w.ids.0 + rng.below((w.ids.1 - w.ids.0).max(1) as usize) as i64);
        }
        _ => {
            // "miss": letters no generated word has (no 'q'/'x' onset).
            let tail: String = (0..4)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect();
            q.terms = vec![prefix(&format!("qx{tail}"))];
            q.must_miss = true;
        }
    }
    q
}

/// `n` queries in the class mix, shuffled so the kinds interleave in time.
pub fn mix(w: &World<'_>, n: usize, seed: u64) -> Vec<Query> {
    let mut rng = Rng::new(seed);
    let per100: usize = CLASSES.iter().map(|c| c.1).sum();
    let mut classes: Vec<&'static str> = Vec::with_capacity(n);
    for &(name, share, _) in CLASSES {
        classes.extend(std::iter::repeat_n(name, (n * share).div_ceil(per100)));
    }
    // Fisher–Yates.
    for i in (1..classes.len()).rev() {
        classes.swap(i, rng.below(i + 1));
    }
    classes.truncate(n);
    classes.into_iter().map(|c| query(w, c, &mut rng)).collect()
}

/// The answers' faults: how many, and the first few.
#[derive(Default)]
pub struct Faults {
    pub count: usize,
    pub examples: Vec<String>,
}

impl Faults {
    fn add(&mut self, q: &Query, what: String) {
        self.count += 1;
        if self.examples.len() < 5 {
            self.examples
                .push(format!("{} q={:?}: {what}", q.class, q.path()));
        }
    }
}

/// One asked query: its class, path, milliseconds, results, has_more.
pub struct Timed {
    pub class: &'static str,
    pub path: String,
    pub ms: f64,
    pub results: usize,
    pub has_more: bool,
}

/// Checks one answer against what the query asked.
fn check(q: &Query, status: u16, body: &Value, mine: &HashSet<i64>, faults: &mut Faults) {
    if status != 200 {
        return faults.add(q, format!("status {status}: {body}"));
    }
    let Some(results) = body["results"].as_array() else {
        return faults.add(q, "no results array".into());
    };
    if results.len() > PAGE {
        faults.add(q, format!("{} results on a page of {PAGE}", results.len()));
    }
    if q.must_find && results.is_empty() {
        faults.add(q, "nothing found, though a visible message matches".into());
    }
    if q.must_miss && !results.is_empty() {
        faults.add(
            q,
            format!("{} results for a word no message has", results.len()),
        );
    }
    let mut last = i64::MAX;
    for m in results {
        let id = m["id"].as_i64().unwrap_or(0);
        let group = m["group_id"].as_i64().unwrap_or(0);
        let content = m["content"].as_str().unwrap_or("");
        if id >= last {
            faults.add(q, format!("id {id} after {last}: not newest first"));
        }
        last = id;
        if !mine.contains(&group) {
            faults.add(
                q,
                format!("message {id} of group {group}, not one of the searcher's"),
            );
        }
        if q.group.is_some_and(|g| g != group) {
            faults.add(q, format!("message {id} of group {group} outside group_id"));
        }
        if q.before.is_some_and(|b| id >= b) {
            faults.add(q, format!("message {id} not below before"));
        }
        if !q.matches(content) {
            faults.add(q, format!("message {id} does not match: {content:?}"));
        }
    }
}

/// Asks `queries` in order as `user` on one kept-alive connection; returns
/// the timings and the faults found in the answers.
pub fn ask(
    ep: &Ep,
    user: &User,
    queries: &[Query],
    mine: &[i64],
) -> Result<(Vec<Timed>, Faults, usize), BenchError> {
    let cookie = format!("session={}", user.session);
    let headers = [("Cookie", cookie.as_str())];
    let mine: HashSet<i64> = mine.iter().copied().collect();
    let mut conn = KeepAlive::new(ep);
    let mut faults = Faults::default();
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let path = q.path();
        let t = Instant::now();
        let r = conn.get(&path, &headers)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        check(q, r.status, &body, &mine, &mut faults);
        out.push(Timed {
            class: q.class,
            path,
            ms,
            results: body["results"].as_array().map_or(0, Vec::len),
            has_more: body["has_more"].as_bool().unwrap_or(false),
        });
    }
    Ok((out, faults, conn.connects))
}

/// Searches in groups the searcher is not in: every one must be refused.
pub fn foreign(ep: &Ep, user: &User, w: &World<'_>, rng: &mut Rng) -> Result<usize, BenchError> {
    let cookie = format!("session={}", user.session);
    let mut conn = KeepAlive::new(ep);
    let mut refused = 0;
    for &g in w.others.iter().take(5) {
        let word = ranked(w, rng, 0, 59, 3);
        let r = conn.get(
            &format!("/api/search?q={word}&group_id={g}"),
            &[("Cookie", &cookie)],
        )?;
        if r.status == 200 {
            return Err(BenchError::Wrong {
                check: "search in a group the searcher is not in",
                detail: format!("group {g} answered 200: {}", r.body),
            });
        }
        refused += 1;
    }
    Ok(refused)
}

/// p50/p99/max/mean of some timings, with their results and the slowest.
pub fn stats(t: &[&Timed]) -> Value {
    let mut ms: Vec<f64> = t.iter().map(|x| x.ms).collect();
    ms.sort_by(f64::total_cmp);
    let n = t.len().max(1) as f64;
    let slowest = t.iter().max_by(|a, b| a.ms.total_cmp(&b.ms));
    json!({
        "slowest": slowest.map(|s| json!({ "path": s.path, "ms": s.ms })),
        "n": t.len(),
        "p50_ms": quantile(&ms, 0.50),
        "p99_ms": quantile(&ms, 0.99),
        "max_ms": quantile(&ms, 1.0),
        "mean_ms": ms.iter().sum::<f64>() / n,
        "mean_results": t.iter().map(|x| x.results).sum::<usize>() as f64 / n,
        "has_more_share": t.iter().filter(|x| x.has_more).count() as f64 / n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(terms: Vec<Term>) -> Query {
        Query {
            class: "test",
            terms,
            group: Some(7),
            before: None,
            must_find: false,
            must_miss: false,
        }
    }

    #[test]
    fn answers_are_checked_as_the_server_matches() {
        let q = query(vec![
            Term::Prefix("deplo".into()),
            Term::Phrase(vec!["green".into(), "light".into()]),
        ]);
        assert_eq!(
            q.path(),
            "/api/search?q=deplo%20%22green%20light%22&group_id=7"
        );
        assert!(q.matches("Deployed it, green light."));
        assert!(!q.matches("Deployed it, light green."));
        assert!(!q.matches("We redeploy: green light."));
    }
}
