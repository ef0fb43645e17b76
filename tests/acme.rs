//! ACME against a real ACME server (pebble, `common::pebble`): so far the
//! account — made once with a key kept 0600, found again with it.

mod common;

use common::pebble::{Pebble, free_port};
use common::*;
use securechat::tls::acme::client::{AcmeError, Client};
use securechat::tls::acme::jws::AccountKey;

#[test]
fn an_account_is_made_once_and_found_again_with_its_key() {
    let pebble = Pebble::start(free_port(), free_port());
    let dir = TempDir::new("acme");
    let key_path = dir.path().join("acme").join("account.key");
    let key = AccountKey::load_or_create(&key_path).unwrap();
    let mut client = Client::new(&pebble.directory, Some(&pebble.https_ca)).unwrap();
    let first = client.account(&key, "admin@example.org").unwrap();
    assert!(first.starts_with("https://127.0.0.1:"), "{first}");
    // A second start: the same key finds the same account.
    let again = AccountKey::load_or_create(&key_path).unwrap();
    let mut client = Client::new(&pebble.directory, Some(&pebble.https_ca)).unwrap();
    assert_eq!(client.account(&again, "admin@example.org").unwrap(), first);
    // Another key is another account.
    let other = AccountKey::load_or_create(&dir.path().join("other.key")).unwrap();
    assert_ne!(client.account(&other, "admin@example.org").unwrap(), first);
}

#[test]
fn a_directory_that_is_not_trusted_or_not_there_is_a_clear_error() {
    let pebble = Pebble::start(free_port(), free_port());
    // Pebble's certificate is not among the system's roots.
    match Client::new(&pebble.directory, None) {
        Err(AcmeError::Http(e)) => assert!(!e.is_empty()),
        other => panic!("trusted an unknown CA: {:?}", other.err()),
    }
    let port = free_port();
    assert!(matches!(
        Client::new(
            &format!("https://127.0.0.1:{port}/dir"),
            Some(&pebble.https_ca)
        ),
        Err(AcmeError::Http(_))
    ));
}
