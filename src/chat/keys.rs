//! End-to-end encryption's public half: registering a device's key and
//! signing key, listing the keys of a group's members (members only), a
//! user's own devices, and removing one. The server never sees a private
//! key or a message key. Whoever shares an E2E room with the user hears
//! of a new or removed device (`keys_changed`, to the rooms and to `/ws`),
//! so their browsers fetch the keys again and raise the key-change alert.

use super::protocol::ServerFrame;
use super::relay::{Among, Who};
use super::{Action, Chat, Refusal};
use crate::auth::keys;
use crate::store::{DeviceKey, KeyPut, NewDeviceKey, User};
use crate::util;

impl Chat {
    /// Registers (or refreshes) one of `user`'s device keys with its
    /// signing key; returns its fingerprint.
    pub fn register_key(
        &self,
        user: &User,
        public_key: &str,
        signing_key: Option<&str>,
    ) -> Result<String, Refusal> {
        let key = keys::parse_public_key(public_key).map_err(Refusal::bad_request)?;
        let signing = signing_key
            .map(keys::parse_signing_key)
            .transpose()
            .map_err(Refusal::bad_request)?;
        self.take(user.id, Action::Write)?;
        let new = NewDeviceKey {
            fingerprint: &key.fingerprint,
            public_key: &key.base64,
            signing_key: signing.as_deref(),
        };
        match self.store.put_device_key(user.id, &new, util::now_ms())? {
            KeyPut::Stored => {
                self.keys_changed(user)?;
                Ok(key.fingerprint)
            }
            KeyPut::Refreshed => Ok(key.fingerprint),
            KeyPut::TakenByOther => Err(Refusal::conflict(
                "key_taken",
                "This key is registered to another account.",
            )),
            KeyPut::Removed => Err(Refusal::conflict(
                "device_removed",
                "This device was removed from your account: make a new key.",
            )),
            KeyPut::SigningKeyFixed => Err(Refusal::conflict(
                "signing_key_mismatch",
                "This device already has another signing key; a device's signing key never changes.",
            )),
        }
    }

    /// `user`'s devices in use, oldest first.
    pub fn devices(&self, user: &User) -> Result<Vec<DeviceKey>, Refusal> {
        Ok(self
            .store
            .device_keys(user.id)?
            .map(|k| k.keys)
            .unwrap_or_default())
    }

    /// Removes one of `user`'s devices: no longer handed out, so no new
    /// message is encrypted for it, and never registered again.
    pub fn remove_device(&self, user: &User, fingerprint: &str) -> Result<(), Refusal> {
        if !keys::is_fingerprint(fingerprint) {
            return Err(Refusal::not_found("No such device."));
        }
        self.take(user.id, Action::Write)?;
        if !self
            .store
            .remove_device_key(user.id, fingerprint, util::now_ms())?
        {
            return Err(Refusal::not_found("No such device."));
        }
        self.keys_changed(user)
    }

    /// Tells everyone who shares an E2E room with `user` that their keys
    /// changed: each such room, and its members' `/ws`.
    fn keys_changed(&self, user: &User) -> Result<(), Refusal> {
        let frame = ServerFrame::KeysChanged {
            username: &user.username,
        }
        .encode();
        let mut members = std::collections::BTreeSet::new();
        for group_id in self.store.e2e_rooms_of(user.id)? {
            let room = self.hub.existing_room(group_id);
            self.hub
                .to_room(group_id, room.as_deref(), Among::All, &frame);
            members.extend(self.store.member_ids(group_id)?);
        }
        if !members.is_empty() {
            self.hub
                .notify(&Who::Only(members.into_iter().collect()), &frame);
        }
        Ok(())
    }

    /// Whether `fingerprint` may sign `user`'s messages: one of their
    /// devices in use, with a signing key (noted as used).
    pub fn may_sign(&self, user_id: i64, fingerprint: &str) -> Result<bool, Refusal> {
        Ok(keys::is_fingerprint(fingerprint)
            && self
                .store
                .signing_device(user_id, fingerprint, util::now_ms())?)
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
