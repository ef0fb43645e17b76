//! Rate limits every instance shares (PostgreSQL mode): a user's token
//! bucket is a row, refilled and taken from in one statement, so N
//! instances allow what one does, not N times as much. SQLite mode has one
//! process, and its buckets stay in memory (`crate::limits`).

use std::time::Duration;

use super::{Part, Result, Store};

/// Now, in Unix ms, by the database's clock (instances on hosts whose
/// clocks disagree share the buckets fairly).
const NOW: &str = "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)";

/// The refill the bucket holds now: `?3` burst, `?4` rate per second, from
/// the row's `tokens` and `at`.
fn refilled() -> String {
    format!(
        "least(CAST(?3 AS DOUBLE PRECISION), buckets.tokens + ({NOW} - buckets.at) * CAST(?4 AS DOUBLE PRECISION) / 1000.0)"
    )
}

impl Store {
    /// `take_shared_token` for a bucket named by text (an address and a
    /// name, say): the row is keyed by the first 8 bytes of its SHA-256.
    pub fn take_shared_token_named(
        &self,
        kind: &str,
        key: &str,
        rate: f64,
        burst: f64,
    ) -> Result<std::result::Result<(), Duration>> {
        let digest = crate::util::sha256(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let subject = i64::from_be_bytes(first);
        self.take_shared_token(kind, subject, rate, burst)
    }

    /// Takes one token of `subject`'s `kind` bucket (`rate` tokens a
    /// second, at most `burst`); `Err(wait)` when none is left, with how
    /// long until one is.
    pub fn take_shared_token(
        &self,
        kind: &str,
        subject: i64,
        rate: f64,
        burst: f64,
    ) -> Result<std::result::Result<(), Duration>> {
        let refilled = refilled();
        self.write(Part::Users, |sql| {
            let taken = sql.row(
                &format!(
                    "INSERT INTO buckets (kind, subject, tokens, at)
                     VALUES (?1, ?2, CAST(?3 AS DOUBLE PRECISION) - 1, {NOW})
                     ON CONFLICT (kind, subject) DO UPDATE SET tokens = {refilled} - 1, at = {NOW}
                     WHERE {refilled} >= 1
                     RETURNING tokens"
                ),
                &[&kind, &subject, &burst, &rate],
                |r| r.get::<f64>(0),
            )?;
            if taken.is_some() {
                return Ok(Ok(()));
            }
            let left: f64 = sql
                .row(
                    &format!("SELECT {refilled} FROM buckets WHERE kind = ?1 AND subject = ?2"),
                    &[&kind, &subject, &burst, &rate],
                    |r| r.get(0),
                )?
                .unwrap_or(0.0);
            Ok(Err(Duration::from_secs_f64(
                ((1.0 - left) / rate.max(f64::MIN_POSITIVE)).clamp(0.001, 3600.0),
            )))
        })
    }
}
