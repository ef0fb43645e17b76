//! The server side of end-to-end encrypted groups: device key registration
//! and lookup, envelope validation, and ciphertext-only storage.

mod common;

use std::time::Duration;

use common::ws::*;
use common::*;
use serde_json::json;

/// Two RSA-2048 SubjectPublicKeyInfo keys (public; generated for tests).
const KEY_A: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyc2QGhPBHqJsYh2wLG+uCRS0gn4/GMNvjfsdC6FVwPrbXD/PACq+DCwgxAFYLjKKYWXoHqu+rpinBnu7I6xVBdusV/7tfgU92tAaiSqdUJ2vfIQf/Pfw19m5xSNph5xhOOgjSeWz0z7H+y3hXU/mNKTCB7c6t6TlXRxVWsDL5IBs52inJ1KILifZrMed1NA41VxVPgg3zNI0y7r9ESsMWOfJ3rLyvm7wf+q/q0eAbx9DOvVIRrkjf3jfSC2QpSKrldJx2vRQYzZSTabByRS2Vp7FuP3q3+ifCzfLHwn59FHFRiPs+oXiroq4BAtFVs2vHY4/qeB0ZtepfWJQZt1WxwIDAQAB";
const KEY_B: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAw2HgyNzYaFhxczhdxZX16dZmfVddiOUgLPrgG4aKrJEsfvTXFwZcA6bCKbRauqV8tRY7ZCm2O/0+1Ig8tkKmZzikdG8nzrtwQ9Op0CpRbBrwcPwW0HJvOgNVN5ni8Ki2N3MjnH7fHHDg1Y1p3vjGRMMIlOlAQlD5pC8cmJbEk4+NuwxOb8+tCaDutQSxcYFjpnGyFv73i47QzGUmGVIT+pjmWombukulVrlmnoPCco5Ubgl7rf5ti+cVJum+B8sYL1PkOFcuYIesRUnZpfQIkW3vibX1RtfY/r9N/2xWmLrU/rtNIjrBGWA3OcY+/ycraIlBL0T8A0Xq3dCwjKMLDwIDAQAB";
/// A third RSA-2048 key (alice's second device).
const KEY_C: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu5K1DxqvSR07xVOtgnd28RjCPuGeVNwmwpLnUGTn52WUcW65OPJDSNl/JG3VuU/GhenD2tbe1dFAjm9JzbqP0A28XsvTMbmqyXNuKgqPbBwZbyDPPNgxVSCZlzfpCUCB7UIkad5czw+YRntJ2fCCtfYeR7sGGRoDeo+aoFxn9qNgWEX27bBQofIqAF8+Az2exqBQhjSh9TDJEUOQ/O9HxcGwOOwCSBrG5Yoz6/+Ju4tLWl0f6VNGWFEvyrCawS8Sk08mQH26qioF9tBh2RChicQt8fla99yZ6qJDmKeCrg1OoCQz14cm1la9+n3WUcIX9XPBDWIHUtMfhys1vn1TAQIDAQAB";
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

/// A well-formed envelope around `ciphertext` (base64 of 16+ bytes).
fn envelope_of(ciphertext: &str) -> serde_json::Value {
    json!({ "iv": IV, "ciphertext": ciphertext, "keys": { "ab".repeat(32): WRAPPED } })
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
    let envelope = envelope_of("c2VjcmV0IGJ5dGVzLCBlbm91Z2ggZm9yIGEgdGFn");
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
    let env2 = envelope_of("bmV3IGJ5dGVzLCBlbm91Z2ggZm9yIGEgdGFn");
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
