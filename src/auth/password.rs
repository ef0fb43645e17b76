//! argon2id password hashing with OWASP parameters (19 MiB, t=2, p=1).
//! Hashing is slow and memory-hungry on purpose, so at most a few run at
//! once (each waits for a slot, never holding any other lock), and unknown
//! users are checked against a dummy hash so timing does not reveal them.

use std::sync::{Condvar, Mutex, OnceLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::sync::{lock, wait};

pub struct Passwords {
    in_use: Mutex<usize>,
    freed: Condvar,
    max: usize,
    /// A hash to check unknown users against, computed once in the
    /// background at start so start-up does not wait for it.
    dummy: OnceLock<String>,
}

impl Passwords {
    /// `max` hashes may run at once.
    pub fn new(max: usize) -> Passwords {
        Passwords {
            in_use: Mutex::new(0),
            freed: Condvar::new(),
            max: max.max(1),
            dummy: OnceLock::new(),
        }
    }

    fn dummy(&self) -> &str {
        self.dummy
            .get_or_init(|| self.hash("dummy password for timing"))
    }

    /// Computes the dummy hash now (call from a background thread at start).
    pub fn warm_up(&self) {
        self.dummy();
    }

    /// A PHC string for `password` with a fresh random salt.
    pub fn hash(&self, password: &str) -> String {
        let mut salt = [0u8; 16];
        crate::util::random_bytes(&mut salt);
        self.with_slot(|| {
            Argon2::default()
                .hash_password_with_salt(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                // Only fails for out-of-range parameters, which are fixed here.
                .expect("argon2 with default parameters")
        })
    }

    /// Whether `password` matches `phc`. With no stored hash (unknown user)
    /// it checks against a dummy so the time taken is the same, and fails.
    pub fn verify(&self, password: &str, phc: Option<&str>) -> bool {
        let target = phc.unwrap_or_else(|| self.dummy());
        let ok = self.with_slot(|| {
            Argon2::default()
                .verify_password(password.as_bytes(), target)
                .is_ok()
        });
        ok && phc.is_some()
    }

    fn with_slot<T>(&self, f: impl FnOnce() -> T) -> T {
        {
            let mut n = lock(&self.in_use);
            while *n >= self.max {
                n = wait(&self.freed, n);
            }
            *n += 1;
        }
        struct Release<'a>(&'a Passwords);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let mut n = lock(&self.0.in_use);
                *n -= 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let p = Passwords::new(2);
        let h = p.hash("correct horse");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(p.verify("correct horse", Some(&h)));
        assert!(!p.verify("wrong horse", Some(&h)));
        assert!(!p.verify("dummy password for timing", None));
        assert!(!p.verify("x", Some("not a phc string")));
    }
}
