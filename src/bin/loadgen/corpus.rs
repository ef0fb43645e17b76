//! The text the `search` scenario stores and looks for, made up but shaped
//! like chat: a vocabulary of a few thousand words whose frequencies follow
//! Zipf's law (real common English words first, so `th` or `the` prefix
//! many words as they do in English; made-up pronounceable words for the
//! long tail), and messages of 8–20 of them. Everything comes from a small
//! seeded xorshift generator, so every run stores and asks the same things.

use std::collections::HashSet;

/// The most frequent words, most frequent first (ranks 0..).
const COMMON: &str = "the to and a i you it of is that in we for on this be have
    with not but are so can just at was do if my all me what they get will
    your one up no about there out like its think now time know from
    or an good as then when how would should could yes ok thanks here need
    today go see new work let make people also more some back any first
    still been which them because other want only into over after before got
    please check looks build deploy test tests fix fixed issue issues branch
    review merge release server client update change changes meeting
    tomorrow week friday monday morning lunch coffee problem error logs
    config thing things sure right well really maybe probably already again
    done doing something someone anyone everyone nothing working works
    broken green light team call later soon yesterday night last next
    ticket plan idea ideas question answer send sent read write said say
    data user users page pages file files run running start started stop";

/// Distinct tail words made from these, one to four syllables.
const ONSETS: &[&str] = &[
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br",
    "ch", "cl", "cr", "dr", "fl", "gr", "pl", "pr", "sh", "sl", "st", "th", "tr",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "ee"];
const CODAS: &[&str] = &["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck"];

/// Zipf–Mandelbrot exponent and offset: word `r` has weight 1 / (r + Q)^S.
const S: f64 = 1.0;
const Q: f64 = 2.7;

/// xorshift64* (Vigna): small, fast, and the same sequence everywhere.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed: never zero, and nearby seeds diverge.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 11) as u128 * n as u128) >> 53) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// The words, most frequent first, and their cumulative Zipf weights.
pub struct Vocab {
    pub words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Vocab {
    /// `size` words (at least the common ones), the tail made from `seed`.
    pub fn new(size: usize, seed: u64) -> Vocab {
        let mut words: Vec<String> = Vec::with_capacity(size);
        let mut seen: HashSet<String> = HashSet::new();
        for w in COMMON.split_whitespace() {
            if seen.insert(w.to_string()) {
                words.push(w.to_string());
            }
        }
        let mut rng = Rng::new(seed);
        while words.len() < size {
            // Rarer words run longer, as in real text.
            let rank = words.len();
            let syllables = 1 + usize::from(rank > 600) + usize::from(rank > 2500) + rng.below(2);
            let mut w = String::new();
            for _ in 0..syllables {
                w.push_str(rng.pick::<&str>(ONSETS));
                w.push_str(rng.pick::<&str>(VOWELS));
            }
            w.push_str(rng.pick::<&str>(CODAS));
            if w.len() >= 3 && seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let mut total = 0.0;
        let cumulative = (0..words.len())
            .map(|r| {
                total += 1.0 / (r as f64 + Q).powf(S);
                total
            })
            .collect();
        Vocab { words, cumulative }
    }

    /// A word's rank drawn by frequency.
    pub fn rank(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.unit() * total;
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.words.len() - 1)
    }

    /// Writes one message of 8–20 words into `out` (cleared first): a
    /// capital letter, the odd comma, a full stop or question mark.
    pub fn message(&self, rng: &mut Rng, out: &mut String) {
        out.clear();
        let n = rng.between(8, 20);
        for i in 0..n {
            let w = &self.words[self.rank(rng)];
            if i == 0 {
                let mut c = w.chars();
                if let Some(f) = c.next() {
                    out.extend(f.to_uppercase());
                    out.push_str(c.as_str());
                }
            } else {
                out.push(' ');
                out.push_str(w);
            }
            if i + 1 < n && rng.below(12) == 0 {
                out.push(',');
            }
        }
        out.push(if rng.below(5) == 0 { '?' } else { '.' });
    }
}

/// The index's words in `text` (as its `unicode61` tokenizer splits them:
/// runs of letters and digits), lowercased.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Vocab {
        /// The share of all words in the text that are word `rank`.
        fn frequency(&self, rank: usize) -> f64 {
            let total = self.cumulative.last().copied().unwrap_or(1.0);
            1.0 / (rank as f64 + Q).powf(S) / total
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_text() {
        let v = Vocab::new(3000, 7);
        assert_eq!(v.words.len(), 3000);
        let (mut a, mut b) = (Rng::new(1), Rng::new(1));
        let (mut x, mut y) = (String::new(), String::new());
        for _ in 0..100 {
            v.message(&mut a, &mut x);
            v.message(&mut b, &mut y);
            assert_eq!(x, y);
            let n = words(&x).len();
            assert!((8..=20).contains(&n), "{x}");
        }
    }

    #[test]
    fn frequent_words_come_first() {
        let v = Vocab::new(3000, 7);
        let mut rng = Rng::new(3);
        let mut counts = vec![0usize; v.words.len()];
        for _ in 0..200_000 {
            counts[v.rank(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[10] && counts[10] > counts[1000]);
        let share = counts[0] as f64 / 200_000.0;
        assert!((share - v.frequency(0)).abs() < 0.01, "{share}");
        assert!(v.frequency(0) > 0.05 && v.frequency(2999) < 0.0002);
    }
}
