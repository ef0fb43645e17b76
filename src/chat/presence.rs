//! Who is here: counts of open sockets per user and IP, updated in O(log n)
//! per socket, listed as PROTOCOL's `[{"username","ips"}]`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

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

#[derive(Default)]
pub struct Presence {
    users: HashMap<i64, (String, BTreeMap<IpAddr, usize>)>,
}

impl Presence {
    pub fn add(&mut self, who: &Identity) -> Change {
        let entry = self
            .users
            .entry(who.user_id)
            .or_insert_with(|| (who.username.clone(), BTreeMap::new()));
        let user = entry.1.is_empty();
        let n = entry.1.entry(who.ip).or_insert(0);
        *n += 1;
        Change {
            user,
            list: *n == 1,
        }
    }

    pub fn remove(&mut self, who: &Identity) -> Change {
        let Some(entry) = self.users.get_mut(&who.user_id) else {
            return Change::default();
        };
        let Some(n) = entry.1.get_mut(&who.ip) else {
            return Change::default();
        };
        *n -= 1;
        if *n > 0 {
            return Change::default();
        }
        entry.1.remove(&who.ip);
        let user = entry.1.is_empty();
        if user {
            self.users.remove(&who.user_id);
        }
        Change { user, list: true }
    }

    pub fn has_user(&self, user_id: i64) -> bool {
        self.users.contains_key(&user_id)
    }

    /// Sorted by username; IPs sorted.
    pub fn list(&self) -> Vec<OnlineUser> {
        let mut list: Vec<OnlineUser> = self
            .users
            .values()
            .map(|(name, ips)| OnlineUser {
                username: name.clone(),
                ips: ips.keys().copied().collect(),
            })
            .collect();
        list.sort_by_cached_key(|u| u.username.to_lowercase());
        list
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
}
