//! End-to-end encryption's public half: registering a device's key and
//! listing the keys of a group's members (members only). The server never
//! sees a private key or a message key.

use super::{Action, Chat, Refusal};
use crate::auth::keys;
use crate::store::{DeviceKey, KeyPut, User};
use crate::util;

impl Chat {
    /// Registers (or refreshes) one of `user`'s device keys; returns its
    /// fingerprint.
    pub fn register_key(&self, user: &User, public_key: &str) -> Result<String, Refusal> {
        let key = keys::parse_public_key(public_key).map_err(Refusal::bad_request)?;
        self.take(user.id, Action::Write)?;
        let put =
            self.store
                .put_device_key(user.id, &key.fingerprint, &key.base64, util::now_ms())?;
        match put {
            KeyPut::Stored => Ok(key.fingerprint),
            KeyPut::TakenByOther => Err(Refusal::conflict(
                "key_taken",
                "This key is registered to another account.",
            )),
        }
    }

    /// The device keys of every member of a group of `user`'s.
    pub fn group_keys(&self, user: &User, id: i64) -> Result<Vec<(String, DeviceKey)>, Refusal> {
        self.member_group(user, id)?;
        let mut keys = Vec::new();
        for uid in self.store.member_ids(id)? {
            if let Some(found) = self.store.device_keys(uid)? {
                keys.extend(found.keys.into_iter().map(|k| (found.username.clone(), k)));
            }
        }
        Ok(keys)
    }
}
