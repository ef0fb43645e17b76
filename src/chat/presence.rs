//! Who is here: counts of open sockets per user and IP, updated in O(log n)
//! per socket, listed as PROTOCOL's `[{"username","ips"}]`, and — for
//! rooms of more than `DELTA_ABOVE` online users, where a list per change
//! would cost every member O(room) bytes — what one change did, as a
//! `Delta` (O(1) bytes), merged with later ones while it waits to be sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use serde_json::value::RawValue;

use super::protocol::OnlineUser;
use crate::ws::peer::Identity;

/// What one socket's arrival or departure changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The user's first socket arrived, or their last one left.
    pub user: bool,
    /// The visible list (users and their IPs) changed.
    pub list: bool,
}

/// Rooms with more online users than this get deltas instead of lists.
pub const DELTA_ABOVE: usize = 100;

/// A change of a room's online list: users whose entry is now as given
/// (they arrived, or their addresses changed), and users who left. Applying
/// deltas is idempotent and later ones win, so two waiting deltas merge
/// into one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub joined: BTreeMap<String, Vec<IpAddr>>,
    pub left: BTreeSet<String>,
}

impl Delta {
    /// `later` applied after this one.
    pub fn merge(&mut self, later: Delta) {
        for (name, ips) in later.joined {
            self.left.remove(&name);
            self.joined.insert(name, ips);
        }
        for name in later.left {
            self.joined.remove(&name);
            self.left.insert(name);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty()
    }

    /// The `presence_delta` frame.
    /// As a room's `presence_delta`.
    pub fn encode(&self) -> crate::ws::frame::Frame {
        self.encode_as(false)
    }

    /// As `/ws`'s `online_delta` (the server's whole online list).
    pub fn encode_online(&self) -> crate::ws::frame::Frame {
        self.encode_as(true)
    }

    fn encode_as(&self, online: bool) -> crate::ws::frame::Frame {
        let joined: Vec<OnlineUser> = self
            .joined
            .iter()
            .map(|(name, ips)| OnlineUser {
                username: name.clone(),
                ips: ips.clone(),
            })
            .collect();
        let left: Vec<&str> = self.left.iter().map(String::as_str).collect();
        let (joined, left) = (&joined[..], &left[..]);
        if online {
            super::protocol::ServerFrame::OnlineDelta { joined, left }.encode()
        } else {
            super::protocol::ServerFrame::PresenceDelta { joined, left }.encode()
        }
    }
}

#[derive(Default)]
pub struct Presence {
    /// User id → where their entry sits in `entries`.
    keys: HashMap<i64, SortKey>,
    entries: BTreeMap<SortKey, Entry>,
}

/// (lowercased name, user id).
type SortKey = (String, i64);

struct Entry {
    name: String,
    /// Sockets per address.
    ips: BTreeMap<IpAddr, usize>,
    /// The entry as JSON (kept current: a `hello` copies it as it is).
    json: Box<RawValue>,
}

impl Entry {
    fn user(&self) -> OnlineUser {
        OnlineUser {
            username: self.name.clone(),
            ips: self.ips.keys().copied().collect(),
        }
    }

    fn reencode(&mut self) {
        self.json = self.user().encoded();
    }
}

impl Presence {
    pub fn add(&mut self, who: &Identity) -> Change {
        let key = self
            .keys
            .entry(who.user_id)
            .or_insert_with(|| (who.username.to_lowercase(), who.user_id));
        let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
            name: who.username.clone(),
            ips: BTreeMap::new(),
            json: RawValue::NULL.to_owned(),
        });
        let user = entry.ips.is_empty();
        let n = entry.ips.entry(who.ip).or_insert(0);
        *n += 1;
        let list = *n == 1;
        if list {
            entry.reencode();
        }
        Change { user, list }
    }

    pub fn remove(&mut self, who: &Identity) -> Change {
        let Some(key) = self.keys.get(&who.user_id) else {
            return Change::default();
        };
        let Some(entry) = self.entries.get_mut(key) else {
            return Change::default();
        };
        let Some(n) = entry.ips.get_mut(&who.ip) else {
            return Change::default();
        };
        *n -= 1;
        if *n > 0 {
            return Change::default();
        }
        entry.ips.remove(&who.ip);
        let user = entry.ips.is_empty();
        if user {
            if let Some(key) = self.keys.remove(&who.user_id) {
                self.entries.remove(&key);
            }
        } else {
            entry.reencode();
        }
        Change { user, list: true }
    }

    pub fn has_user(&self, user_id: i64) -> bool {
        self.keys.contains_key(&user_id)
    }

    /// How many users are here.
    pub fn user_count(&self) -> usize {
        self.keys.len()
    }

    /// What the list now says of `who`'s user: their entry, or that they
    /// left.
    pub fn delta_for(&self, who: &Identity) -> Delta {
        let mut d = Delta::default();
        match self
            .keys
            .get(&who.user_id)
            .and_then(|k| self.entries.get(k))
        {
            Some(e) => {
                d.joined
                    .insert(e.name.clone(), e.ips.keys().copied().collect());
            }
            None => {
                d.left.insert(who.username.clone());
            }
        }
        d
    }

    /// Sorted by username (case-insensitively); IPs sorted.
    pub fn list(&self) -> Vec<OnlineUser> {
        self.entries.values().map(Entry::user).collect()
    }

    /// [`list`](Presence::list) as the JSON of each entry, borrowed.
    pub fn encoded(&self) -> Vec<&RawValue> {
        self.entries.values().map(|e| &*e.json).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(id: i64, name: &str, ip: [u8; 4]) -> Identity {
        Identity {
            user_id: id,
            username: name.into(),
            ip: ip.into(),
            session: "s".into(),
            expires_at: i64::MAX,
        }
    }

    #[test]
    fn deltas_merge_with_later_changes_winning() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        let joined = |n: &str| Delta {
            joined: [(n.to_string(), vec![ip])].into(),
            ..Delta::default()
        };
        let left = |n: &str| Delta {
            left: [n.to_string()].into(),
            ..Delta::default()
        };
        let mut d = joined("a");
        d.merge(left("a"));
        d.merge(joined("b"));
        assert_eq!(d.joined.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(d.left.iter().collect::<Vec<_>>(), ["a"]);
        d.merge(joined("a"));
        assert!(d.left.is_empty() && d.joined.len() == 2);
        let text = String::from_utf8_lossy(&d.encode()[2..]).into_owned();
        assert!(text.contains(r#""type":"presence_delta""#), "{text}");
        assert!(text.contains(r#""left":[]"#), "{text}");
    }

    #[test]
    fn counts_sockets_per_user_and_ip() {
        let mut p = Presence::default();
        let a1 = who(1, "alice", [127, 0, 0, 1]);
        let a2 = who(1, "alice", [127, 0, 0, 2]);
        assert_eq!(
            p.add(&a1),
            Change {
                user: true,
                list: true
            }
        );
        assert_eq!(
            p.add(&a1),
            Change {
                user: false,
                list: false
            }
        );
        assert_eq!(
            p.add(&a2),
            Change {
                user: false,
                list: true
            }
        );
        p.add(&who(2, "Bob", [10, 0, 0, 1]));
        let list = p.list();
        let names: Vec<(&str, Vec<String>)> = list
            .iter()
            .map(|u| {
                (
                    u.username.as_str(),
                    u.ips.iter().map(ToString::to_string).collect(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                (
                    "alice",
                    vec!["127.0.0.1".to_string(), "127.0.0.2".to_string()]
                ),
                ("Bob", vec!["10.0.0.1".to_string()])
            ]
        );
        assert_eq!(p.remove(&a1), Change::default());
        assert_eq!(
            p.remove(&a1),
            Change {
                user: false,
                list: true
            }
        );
        assert_eq!(
            p.remove(&a2),
            Change {
                user: true,
                list: true
            }
        );
        assert!(!p.has_user(1));
        assert_eq!(p.remove(&a2), Change::default());
    }

    #[test]
    fn encoded_entries_follow_every_change() {
        let mut p = Presence::default();
        let same = |p: &Presence| {
            let encoded: Vec<String> = p.encoded().iter().map(|r| r.get().to_string()).collect();
            let listed: Vec<String> = p
                .list()
                .iter()
                .map(|u| serde_json::to_string(u).unwrap())
                .collect();
            assert_eq!(encoded, listed);
        };
        let a1 = who(1, "alice", [127, 0, 0, 1]);
        let a2 = who(1, "alice", [127, 0, 0, 2]);
        let bob = who(2, "Bob", [10, 0, 0, 1]);
        p.add(&a1);
        same(&p);
        p.add(&a2);
        same(&p);
        p.add(&bob);
        same(&p);
        p.remove(&a1);
        same(&p);
        p.remove(&a2);
        same(&p);
        assert_eq!(p.encoded().len(), 1);
    }
}
