//! The server side of end-to-end encrypted groups: device key registration
//! and lookup, envelope validation, and ciphertext-only storage.

mod common;

use std::time::Duration;

use common::e2e::{KEY_A, KEY_B, KEY_C, device, signed, signing_key};
use common::ws::*;
use common::*;
use serde_json::json;

/// RSA keys the server must refuse: 1024 bits, and exponent 3.
const KEY_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDRh/kUY/LqdEQ03o5nmRLrkmQ36MNZC3XArI1yg3aShsEq6E6TUY/YKUtJtgHaeV85khWyoti0hWuqNsGKkpSbL80Nj5X9DdPQLR1XN3YG7hCQgyOhaWc41xjjniRtAPNFOl8XWm1P98oRfHcEIYoTQAlHg8n/dyI6tlRToihjhwIDAQAB";
const KEY_E3: &str = "MIIBIDANBgkqhkiG9w0BAQEFAAOCAQ0AMIIBCAKCAQEAwZ4vEW8gkGD8b6t7Dx7W0ZBfGa+vX/qNNMgn7m9r22Psx7zfVuxs8y4AzearxJ1kY35Jx7UOKb8bCTJPUSkpafkIL6tTh2r5Ic2UCMhVidzO5cki+ek+blCV//UO8fx83da2Vr6x1f/RFcuHseBbdhWoGC43UGk5m/AKxPg6S11Fqb81h4ew602c8atHw7fQove8afq6S1WnbVXweF9bIXKzAc5AbjhYaIpNloqGMXlb8Ihfxr75QVU3jTKtaz3JVElbWBkC8A7EnjJ6qwzUtKRMuKq/L0adBvMSoETeQKdupfJ7oVQy729tlx+asIn2Nqsiwu92miued14E/91AlQIBAw==";
/// A 4096-bit key: accepted.
const KEY_4096: &str = "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAjssRI5bJz4bJ1cmJxviEZT/XFlwK23t9so4ZUyo4gf3VnyCA+OL1L/Vdl7uoZzA7lYT9oGdiOQ7CxC9SMCJxIjKsTQzHnmmBSjqTOwvcn5ROG/sBqJzco3N3nnIDkFs5E6vorwjrUDRIrNGJ3mhzQ+skbib9aViibJFTZXSnY0yuUoBg1mLZnNC3XNIbVjNRklUdodbrOyzstWswIpg0EYkfN9QmV1sJh4NucRhgLhE9BRl38bsclk2dgwFFCqiFJXi9QZpNfuqK7SYNihjvxxykLRczWNUIztaK9A4OUaBPoRj98hjtwXXyrpplrAbP0cfe49N0cN2CN/5fD31IH0QkZ0LnSP2iEN6p9dygbw0JJy+BFRBBZgBzZ7dZsOrtSfxPL/zLCKS5i7lrnB2P2EuCPTnK0ubONQN8wEg/cS8j22Eu/csmrfU6wONORP0RfOv4k3xdFrjiMws4caS092f6auTuCz1Mba1QxUs/9i7hE+dJni1WNsctwH1W2z90QnqY5zWYdT+eZrYzRkuisMbTbrybDWusaRMrEVfvr8FTVFQPAQtZdWMYY9vxvJWzz5DCVozfykCPcJpSTv0VDMVLfBEf7YqSLU4f0jfItUqdtLlM9cTozKBdQEuXAV3IaJ3SbR8SChFcVTiU/CXrENrQmdwPlJcyn0V3uVBNUHECAwEAAQ==";
/// An EC P-256 key: not RSA-OAEP, refused.
const EC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzmoVg7/prH/PI5ZGn8y13PhSU3eUwMBQCdtO/RvGM680x3D64X+P94g4WUB+c6ZPlbQihDiswvmLlYVgz/iEkw==";

/// A 12-byte AES-GCM iv, and a 256-byte RSA-OAEP-wrapped key (base64).
const IV: &str = "AAECAwQFBgcICQoL";
const WRAPPED: &str = "d3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBrZXkgYnl0ZXMgd3JhcHBlZCBr";

/// A well-formed envelope around `ciphertext` (base64 of 16+ bytes),
/// signed by the device `signer`.
fn envelope_of(ciphertext: &str, signer: &str) -> serde_json::Value {
    signed(
        json!({ "iv": IV, "ciphertext": ciphertext, "keys": { "ab".repeat(32): WRAPPED } }),
        signer,
    )
}

fn sha256_hex(b64: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("echo {b64} | base64 -d | sha256sum"))
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn device_keys_register_and_list_for_members_only() {
    let s = Server::start(&[]);
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let mut eve = user(&s, "eve");
    let r = a.json("PUT", "/api/keys", &json!({ "public_key": KEY_A }));
    assert_eq!(r.status, 200, "{}", r.text());
    let fp_a = r.json()["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(
        fp_a,
        sha256_hex(KEY_A),
        "fingerprint is SHA-256 of the SPKI"
    );
    // Idempotent; a second device gets its own entry.
    assert_eq!(
        a.json("PUT", "/api/keys", &json!({ "public_key": KEY_A }))
            .json()["fingerprint"],
        fp_a
    );
    let fp_b = b
        .json("PUT", "/api/keys", &json!({ "public_key": KEY_B }))
        .json()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a.json("PUT", "/api/keys", &json!({ "public_key": KEY_C }));
    assert_eq!(r.status, 200, "alice's second device");
    let fp_c = r.json()["fingerprint"].as_str().unwrap().to_string();
    // A key registered to one account cannot be registered to another.
    let r = a.json("PUT", "/api/keys", &json!({ "public_key": KEY_B }));
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"], "key_taken");

    let g = a
        .json(
            "POST",
            "/api/groups",
            &json!({ "name": "vault", "e2e": true }),
        )
        .json();
    assert_eq!(g["e2e"], true);
    let id = g["id"].as_i64().unwrap();
    join(&mut b, id);
    let keys = b.get(&format!("/api/groups/{id}/keys")).json()["keys"].clone();
    let mut got: Vec<(String, String)> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["username"].as_str().unwrap().to_string(),
                k["fingerprint"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = vec![
        ("alice".into(), fp_a.clone()),
        ("alice".into(), fp_c.clone()),
        ("bob".into(), fp_b.clone()),
    ];
    want.sort();
    assert_eq!(got, want);
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .all(|k| k["public_key"].as_str().unwrap().len() > 300)
    );
    // Outsiders and anonymous users see nothing.
    assert_eq!(eve.get(&format!("/api/groups/{id}/keys")).status, 403);
    assert_eq!(
        s.client().get(&format!("/api/groups/{id}/keys")).status,
        401
    );
    assert_eq!(eve.get("/api/groups/999/keys").status, 404);
    // Bad keys and missing CSRF are refused.
    for bad in [
        json!({}),
        json!({"public_key": 5}),
        json!({"public_key": "not base64!"}),
        json!({"public_key": EC_KEY}),
        json!({"public_key": "QUJD"}),
        json!({"public_key": KEY_1024}),
        json!({"public_key": KEY_E3}),
    ] {
        assert_eq!(eve.json("PUT", "/api/keys", &bad).status, 400, "{bad}");
    }
    assert_eq!(
        eve.json("PUT", "/api/keys", &json!({ "public_key": KEY_4096 }))
            .status,
        200,
        "4096 bits is fine"
    );
    let mut no_csrf = eve.clone();
    no_csrf.csrf = None;
    assert_eq!(
        no_csrf
            .json("PUT", "/api/keys", &json!({ "public_key": KEY_A }))
            .status,
        403
    );
    // Keys register only for the session's own user, and eve cannot take
    // alice's key for herself.
    assert_eq!(
        eve.json("PUT", "/api/keys", &json!({ "public_key": KEY_A }))
            .status,
        409
    );
    join(&mut eve, id);
    let keys = a.get(&format!("/api/groups/{id}/keys")).json()["keys"].clone();
    let alice_keys = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["username"] == "alice")
        .count();
    assert_eq!(alice_keys, 2);
}

#[test]
fn envelopes_are_validated_stored_verbatim_and_never_plaintext() {
    let s = Server::start(&["--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    let id = a
        .json(
            "POST",
            "/api/groups",
            &json!({ "name": "cipher", "e2e": true }),
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    let mut ws = connect(&a, &format!("/ws/chat/{id}"));
    expect(&mut ws, "hello");
    let dev = device(&mut a, KEY_A);
    let envelope = envelope_of("c2VjcmV0IGJ5dGVzLCBlbm91Z2ggZm9yIGEgdGFn", &dev);
    send(
        &mut ws,
        json!({ "type": "message", "envelope": envelope, "client_id": "e1" }),
    );
    let id1 = expect(&mut ws, "ack")["id"].as_i64().unwrap();
    let m = expect(&mut ws, "message");
    assert_eq!(m["envelope"], envelope);
    assert!(
        m.get("content").is_none(),
        "no content field in E2E messages: {m}"
    );
    let hist = a.get(&format!("/api/groups/{id}/messages")).json();
    assert_eq!(hist["messages"][0]["envelope"], envelope);
    assert!(hist["messages"][0].get("content").is_none());
    // Shape checks: each refused with an error frame; the socket stays usable.
    let with = |field: &str, value: serde_json::Value| {
        let mut e = envelope.clone();
        e[field] = value;
        json!({ "type": "message", "envelope": e })
    };
    let fp = "ab".repeat(32);
    let bad = [
        json!({ "type": "message", "content": "plaintext" }),
        json!({ "type": "message", "envelope": "str" }),
        json!({ "type": "message", "envelope": { "iv": IV, "ciphertext": "AA" } }),
        with("keys", json!({})),
        with("ciphertext", json!("<script>")),
        with("keys", json!({ fp.clone(): 1 })),
        with("extra", json!(1)),
        // Named by something that is not a fingerprint.
        with("keys", json!({ "f": WRAPPED })),
        with("keys", json!({ fp.to_uppercase(): WRAPPED })),
        // Lengths no AES-GCM or RSA-OAEP output has.
        with("iv", json!("AAAA")),
        with("ciphertext", json!("AAAA")),
        with("keys", json!({ fp.clone(): "d3JhcA==" })),
        with("iv", json!("not base64!")),
        // Unsigned, signed by something that is not a device, a signature
        // of another length.
        with("signer", json!(null)),
        with("sig", json!(null)),
        with("signer", json!("alice")),
        with("sig", json!("AAAA")),
        // Signed by a device that is not the author's (nobody's here).
        with("signer", json!("cd".repeat(32))),
    ];
    for b in bad {
        send(&mut ws, b.clone());
        assert_eq!(expect(&mut ws, "error")["code"], "bad_request", "{b}");
    }
    let big = with("ciphertext", json!("A".repeat(64 * 1024)));
    send(&mut ws, big);
    assert_eq!(expect(&mut ws, "error")["code"], "too_large");
    // Edits re-encrypt: an envelope is required, plaintext refused.
    let path = format!("/api/messages/{id1}");
    assert_eq!(
        a.json("PATCH", &path, &json!({ "content": "plain edit" }))
            .status,
        400
    );
    let env2 = envelope_of("bmV3IGJ5dGVzLCBlbm91Z2ggZm9yIGEgdGFn", &dev);
    let r = a.json("PATCH", &path, &json!({ "envelope": env2 }));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(expect(&mut ws, "edited")["envelope"], env2);
    // The e2e flag cannot be changed: there is no route for it, and a
    // plaintext group refuses envelopes.
    let plain = create_group(&mut a, "open");
    let mut wp = connect(&a, &format!("/ws/chat/{plain}"));
    expect(&mut wp, "hello");
    send(&mut wp, json!({ "type": "message", "envelope": env2 }));
    assert_eq!(expect(&mut wp, "error")["code"], "bad_request");
    // Nothing but ciphertext reached the database or the log.
    let _ = drain(&mut ws, Duration::from_millis(200));
    drop(ws);
    let hay = stored_bodies(&s.data);
    assert!(hay.contains("bmV3IGJ5dGVz"), "the envelope is stored");
    assert!(!hay.contains("plaintext") && !hay.contains("plain edit"));
    assert!(
        !s.log_text().contains("bmV3IGJ5dGVz"),
        "envelopes are never logged"
    );
}

#[test]
fn signing_keys_devices_and_removal() {
    let s = Server::start(&["--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let fp_a = device(&mut a, KEY_A);
    // Signing keys must be P-256 SPKIs.
    for bad in [json!(KEY_C), json!("not base64!"), json!(5)] {
        let r = a.json(
            "PUT",
            "/api/keys",
            &json!({ "public_key": KEY_C, "signing_key": bad }),
        );
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    // Bob's device never sent a signing key (a browser from before).
    let r = b.json("PUT", "/api/keys", &json!({ "public_key": KEY_B }));
    let fp_b = r.json()["fingerprint"].as_str().unwrap().to_string();
    let id = a
        .json(
            "POST",
            "/api/groups",
            &json!({ "name": "signed", "e2e": true }),
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    join(&mut b, id);
    let mut bob_ws = connect(&b, "/ws");
    let mut bob_room = connect(&b, &format!("/ws/chat/{id}"));
    expect(&mut bob_room, "hello");
    let mut ws = connect(&a, &format!("/ws/chat/{id}"));
    expect(&mut ws, "hello");

    // A second device for alice: whoever shares an E2E room hears of it.
    let fp_c = device(&mut a, KEY_C);
    for w in [&mut bob_ws, &mut bob_room] {
        let f = wait_for(w, Duration::from_secs(5), |v| v["type"] == "keys_changed").unwrap();
        assert_eq!(f["username"], "alice");
    }
    let keys = b.get(&format!("/api/groups/{id}/keys")).json()["keys"].clone();
    let entry = |fp: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["fingerprint"] == fp)
            .cloned()
    };
    assert!(
        entry(&fp_a).unwrap()["signing_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("MFkw"))
    );
    assert!(entry(&fp_c).is_some());
    assert_eq!(
        entry(&fp_b).unwrap()["signing_key"],
        serde_json::Value::Null
    );
    // A device's signing key never changes once registered (another one
    // would verify as that device).
    let r = a.json(
        "PUT",
        "/api/keys",
        &json!({ "public_key": KEY_A, "signing_key": signing_key() }),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"], "signing_key_mismatch");
    // A refresh of a known device is no news.
    device_refresh(&mut a);
    assert!(
        wait_for(&mut bob_room, Duration::from_millis(500), |v| v["type"]
            == "keys_changed")
        .is_none()
    );

    let env = |signer: &str| {
        signed(
            json!({ "iv": IV, "ciphertext": "c2lnbmVkIGJ5dGVzLCBlbm91Z2ggZm9yIGEgdGFn", "keys": { fp_b.clone(): WRAPPED } }),
            signer,
        )
    };
    // Signed by one of the author's devices: stored; by someone else's,
    // by a device without a signing key: refused.
    send(
        &mut ws,
        json!({ "type": "message", "envelope": env(&fp_c) }),
    );
    expect(&mut ws, "message");
    send(
        &mut ws,
        json!({ "type": "message", "envelope": env(&fp_b) }),
    );
    let e = expect(&mut ws, "error");
    assert_eq!(e["code"], "bad_request");
    assert!(e["message"].as_str().unwrap().contains("signer"), "{e}");
    send(
        &mut bob_room,
        json!({ "type": "message", "envelope": env(&fp_b) }),
    );
    assert_eq!(
        wait_for(&mut bob_room, Duration::from_secs(5), |v| v["type"]
            == "error")
        .unwrap()["code"],
        "bad_request"
    );
    // A device without one may get its first (then it is fixed too).
    let first_of_b = signing_key();
    let r = b.json(
        "PUT",
        "/api/keys",
        &json!({ "public_key": KEY_B, "signing_key": first_of_b }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = b.json(
        "PUT",
        "/api/keys",
        &json!({ "public_key": KEY_B, "signing_key": signing_key() }),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let listed = b.get("/api/keys").json()["devices"][0]["signing_key"].clone();
    assert_eq!(listed, first_of_b.as_str());
    // (The first one is news to those who share a room with bob.)
    for w in [&mut bob_ws, &mut bob_room] {
        let f = wait_for(w, Duration::from_secs(5), |v| v["type"] == "keys_changed").unwrap();
        assert_eq!(f["username"], "bob");
    }

    // Alice's devices, with when they were first seen and last used.
    let list = a.get("/api/keys").json()["devices"].clone();
    let mine: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(mine, [fp_a.as_str(), fp_c.as_str()]);
    for d in list.as_array().unwrap() {
        assert!(
            d["created_at"].as_i64().unwrap() > 0 && d["last_used_at"].as_i64().is_some(),
            "{d}"
        );
    }
    assert_eq!(
        b.get("/api/keys").json()["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Removing a device: gone from every key list, no longer a signer,
    // never registered again; members hear of it.
    let r = a.json(
        "DELETE",
        &format!("/api/keys/{fp_c}"),
        &serde_json::Value::Null,
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let f = wait_for(&mut bob_room, Duration::from_secs(5), |v| {
        v["type"] == "keys_changed"
    })
    .unwrap();
    assert_eq!(f["username"], "alice");
    let keys = b.get(&format!("/api/groups/{id}/keys")).json()["keys"].clone();
    assert!(!keys.to_string().contains(&fp_c));
    send(
        &mut ws,
        json!({ "type": "message", "envelope": env(&fp_c) }),
    );
    assert_eq!(expect(&mut ws, "error")["code"], "bad_request");
    let r = a.json(
        "PUT",
        "/api/keys",
        &json!({ "public_key": KEY_C, "signing_key": common::e2e::signing_key() }),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"], "device_removed");
    // Only your own devices, once.
    for fp in [fp_c.clone(), fp_b.clone(), "zz".into()] {
        let r = a.json(
            "DELETE",
            &format!("/api/keys/{fp}"),
            &serde_json::Value::Null,
        );
        assert_eq!(r.status, 404, "{fp}");
    }
    // Without the CSRF token: refused.
    let r = a.request("DELETE", &format!("/api/keys/{fp_a}"), &[], b"");
    assert_eq!(r.status, 403);
    assert_eq!(
        a.get("/api/keys").json()["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    /// Registers alice's first key again as it is.
    fn device_refresh(a: &mut Client) {
        let key = a.get("/api/keys").json()["devices"][0]["signing_key"]
            .as_str()
            .unwrap()
            .to_string();
        let r = a.json(
            "PUT",
            "/api/keys",
            &json!({ "public_key": KEY_A, "signing_key": key }),
        );
        assert_eq!(r.status, 200);
    }
}

#[test]
fn e2e_dms_are_a_room_apart_from_the_plaintext_one() {
    let s = Server::start(&["--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    let mut b = user(&s, "bob");
    let _c = user(&s, "carol");
    let fp = device(&mut a, KEY_A);
    let mut bob_ws = connect(&b, "/ws");
    let dm = |c: &mut Client, body: serde_json::Value| {
        let r = c.json("POST", "/api/dm", &body);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["group_id"].as_i64().unwrap()
    };
    let plain = dm(&mut a, json!({ "username": "bob" }));
    let sealed = dm(&mut a, json!({ "username": "bob", "e2e": true }));
    assert_ne!(plain, sealed);
    assert_eq!(
        dm(&mut a, json!({ "username": "bob", "e2e": true })),
        sealed,
        "reused"
    );
    assert_eq!(
        dm(&mut b, json!({ "username": "alice", "e2e": true })),
        sealed,
        "either side"
    );
    assert_eq!(
        dm(&mut a, json!({ "username": "bob", "e2e": false })),
        plain
    );
    let group = dm(
        &mut a,
        json!({ "usernames": ["bob", "carol"], "e2e": true }),
    );
    assert!(![plain, sealed].contains(&group));
    assert_eq!(
        a.json(
            "POST",
            "/api/dm",
            &json!({ "username": "bob", "e2e": "yes" })
        )
        .status,
        400
    );
    // Bob heard of each new one.
    let mut heard = Vec::new();
    while let Some(f) = wait_for(&mut bob_ws, Duration::from_secs(2), |v| v["type"] == "dm") {
        heard.push(f["group_id"].as_i64().unwrap());
    }
    heard.sort();
    assert_eq!(heard, {
        let mut w = vec![plain, sealed, group];
        w.sort();
        w
    });
    let list = b.get("/api/dms").json()["dms"].clone();
    let e2e_of = |id: i64| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|d| d["group_id"] == id)
            .unwrap()["e2e"]
            .clone()
    };
    assert_eq!(
        (e2e_of(plain), e2e_of(sealed), e2e_of(group)),
        (json!(false), json!(true), json!(true))
    );
    // Like an E2E group: envelopes only, keys for its members.
    let (mut ws, hello) = open_group(&a, sealed);
    assert_eq!(hello["group"]["e2e"], true, "{hello}");
    send(
        &mut ws,
        json!({ "type": "message", "content": "plaintext" }),
    );
    assert_eq!(expect(&mut ws, "error")["code"], "bad_request");
    let env = signed(
        json!({ "iv": IV, "ciphertext": "ZG0gYnl0ZXMsIGVub3VnaCBmb3IgYSB0YWc=", "keys": { fp.clone(): WRAPPED } }),
        &fp,
    );
    send(&mut ws, json!({ "type": "message", "envelope": env }));
    assert_eq!(expect(&mut ws, "message")["envelope"], env);
    assert!(
        b.get(&format!("/api/groups/{sealed}/keys")).json()["keys"]
            .to_string()
            .contains(&fp)
    );
    let (mut wp, _) = open_group(&a, plain);
    send(&mut wp, json!({ "type": "message", "envelope": env }));
    assert_eq!(expect(&mut wp, "error")["code"], "bad_request");
    assert!(!stored_bodies(&s.data).contains("plaintext"));
}
