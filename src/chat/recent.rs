//! Recently stored `client_id`s per user and group, so that a client which
//! resends a message after losing the ack (a reconnect at the wrong moment)
//! gets the same id back instead of a duplicate. Bounded in size and age.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// How long a `client_id` is remembered.
const KEEP: Duration = Duration::from_secs(15 * 60);
/// Most ids remembered; beyond this the oldest are dropped first.
const MAX: usize = 50_000;

type Key = (i64, i64, String);

#[derive(Default)]
pub struct RecentIds {
    map: Mutex<HashMap<Key, (i64, Instant)>>,
}

impl RecentIds {
    /// The message id already stored for this user, group and client id.
    pub fn get(&self, user: i64, group: i64, client_id: &str) -> Option<i64> {
        let map = lock(&self.map);
        map.get(&(user, group, client_id.to_string()))
            .filter(|(_, at)| at.elapsed() < KEEP)
            .map(|(id, _)| *id)
    }

    pub fn insert(&self, user: i64, group: i64, client_id: &str, message_id: i64) {
        let mut map = lock(&self.map);
        if map.len() >= MAX {
            map.retain(|_, (_, at)| at.elapsed() < KEEP);
            if map.len() >= MAX {
                // Still full: forget the oldest half.
                let mut ages: Vec<Instant> = map.values().map(|(_, at)| *at).collect();
                ages.sort_unstable();
                let cutoff = ages[ages.len() / 2];
                map.retain(|_, (_, at)| *at > cutoff);
            }
        }
        map.insert(
            (user, group, client_id.to_string()),
            (message_id, Instant::now()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_user_and_group() {
        let r = RecentIds::default();
        r.insert(1, 2, "abc", 99);
        assert_eq!(r.get(1, 2, "abc"), Some(99));
        assert_eq!(r.get(1, 3, "abc"), None);
        assert_eq!(r.get(2, 2, "abc"), None);
    }

    #[test]
    fn stays_bounded() {
        let r = RecentIds::default();
        for i in 0..(MAX as i64 + 10) {
            r.insert(1, 1, &i.to_string(), i);
        }
        assert!(r.map.lock().unwrap().len() <= MAX);
        assert_eq!(
            r.get(1, 1, &(MAX as i64 + 9).to_string()),
            Some(MAX as i64 + 9)
        );
    }
}
