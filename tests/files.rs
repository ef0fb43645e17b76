//! Files through the real server: uploads streamed to disk (and every way
//! an upload can go wrong: empty, too large, over quota, a lying or broken
//! body, a full disk, a kill mid-body), safe serving (members only, type
//! from the bytes, inline only for images, nosniff, sandbox, Range, ETag),
//! attachments on messages (only the sender's own new uploads to that
//! group), and the lifecycle (deleted with their message or group,
//! content-addressed once, unattached uploads expire, backup/restore and
//! export carry them, /metrics counts them). Over HTTPS: `tls.rs`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::ws::*;
use common::*;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(3);

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--msg-rate", "0", "--group-rate", "0", "--socket-rate", "0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// A PNG header of `w`×`h` followed by `extra` filler bytes.
fn png(w: u32, h: u32, extra: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0]);
    b.extend((0..extra).map(|i| (i * 7 % 251) as u8));
    b
}

/// Uploads `bytes` to a group; returns the response.
fn upload(c: &mut Client, group: i64, name: &str, ctype: &str, bytes: &[u8]) -> Resp {
    let csrf = c.csrf.clone().unwrap_or_default();
    let fname = urlencode(name).replace('+', "%20");
    c.request(
        "POST",
        &format!("/api/groups/{group}/files"),
        &[
            ("X-CSRF-Token", &csrf),
            ("Content-Type", ctype),
            ("X-Filename", &fname),
        ],
        bytes,
    )
}

fn uploaded(c: &mut Client, group: i64, name: &str, bytes: &[u8]) -> Value {
    let r = upload(c, group, name, "application/octet-stream", bytes);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

/// Posts a message with attachments on a socket; the ack's id, or the error.
fn post(ws: &mut Ws, content: Option<&str>, files: &[i64]) -> Result<i64, Value> {
    let mut f =
        json!({"type": "message", "client_id": format!("c{}", rand_id()), "attachments": files});
    if let Some(c) = content {
        f["content"] = json!(c);
    }
    send(ws, f);
    let v = wait_for(ws, T, |v| v["type"] == "ack" || v["type"] == "error").unwrap();
    if v["type"] == "ack" {
        Ok(v["id"].as_i64().unwrap())
    } else {
        Err(v)
    }
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The stored blobs (not temporary files) in a files directory.
/// The files' bytes on disk (not the temporary directory, nor the lock a
/// server holds on a files directory outside its data directory).
fn blobs(files_dir: &Path) -> Vec<std::path::PathBuf> {
    files_under(files_dir)
        .into_iter()
        .filter(|p| !p.starts_with(files_dir.join("tmp")))
        .filter(|p| p.file_name().is_none_or(|n| n != "securechat.lock"))
        .collect()
}

fn tmp_files(files_dir: &Path) -> Vec<std::path::PathBuf> {
    files_under(&files_dir.join("tmp"))
}

#[test]
fn an_image_is_shared_and_served_safely_to_members_only() {
    let s = server(&[]);
    let mut alice = user(&s, "alice");
    alice.load_csrf();
    let mut bob = user(&s, "bob");
    bob.load_csrf();
    let mut eve = user(&s, "eve");
    eve.load_csrf();
    let g = create_group(&mut alice, "photos");
    join(&mut bob, g);

    let bytes = png(640, 480, 5000);
    let r = upload(&mut alice, g, "holiday pic.png", "text/plain", &bytes);
    assert_eq!(r.status, 201, "{}", r.text());
    let f = r.json();
    assert_eq!(f["name"], "holiday pic.png");
    assert_eq!(f["size"], bytes.len() as u64);
    // The type comes from the bytes, not from what the client said.
    assert_eq!(f["content_type"], "image/png");
    assert_eq!(
        (f["width"].clone(), f["height"].clone()),
        (json!(640), json!(480))
    );
    let id = f["id"].as_i64().unwrap();
    assert_eq!(f["url"], format!("/files/{id}/holiday%20pic.png"));

    // A message carries it (no text needed); bob sees it live.
    let (mut wa, _) = open_group(&alice, g);
    let (mut wb, _) = open_group(&bob, g);
    let mid = post(&mut wa, None, &[id]).unwrap();
    let m = wait_for(&mut wb, T, |v| v["type"] == "message").unwrap();
    assert_eq!(m["id"], mid);
    assert_eq!(m["attachments"][0]["id"], id);
    assert_eq!(m["attachments"][0]["width"], 640);
    // And history carries it.
    let h = bob.get(&format!("/api/groups/{g}/messages")).json();
    assert_eq!(h["messages"][0]["attachments"][0]["url"], f["url"]);

    // Bob downloads it: inline, sandboxed, not sniffed, privately cached.
    let url = f["url"].as_str().unwrap();
    let r = bob.get(url);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, bytes);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("inline")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("content-security-policy"), Some("sandbox"));
    assert!(r.header("cache-control").unwrap().contains("private"));
    let etag = r.header("etag").unwrap().to_string();
    let r = bob.request("GET", url, &[("If-None-Match", &etag)], b"");
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    // Ranges: a slice, a suffix, and one past the end.
    let r = bob.request("GET", url, &[("Range", "bytes=8-15")], b"");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &bytes[8..16]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 8-15/{}", bytes.len()).as_str())
    );
    let r = bob.request("GET", url, &[("Range", "bytes=-10")], b"");
    assert_eq!((r.status, &r.body[..]), (206, &bytes[bytes.len() - 10..]));
    let past = format!("bytes={}-", bytes.len());
    assert_eq!(
        bob.request("GET", url, &[("Range", &past)], b"").status,
        416
    );
    // HEAD: the headers, no body.
    let head = format!(
        "HEAD {url} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nConnection: close\r\n\r\n",
        s.addr,
        bob.cookie_header()
    );
    let out = String::from_utf8_lossy(&raw(s.addr, head.as_bytes(), T)).into_owned();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.contains(&format!("Content-Length: {}\r\n", bytes.len())),
        "{out}"
    );
    assert!(
        out.ends_with("\r\n\r\n"),
        "a HEAD answer has no body: {out}"
    );

    // Eve (not a member), a logged-out visitor and a made-up id: the same 404.
    assert_eq!(eve.get(url).status, 404);
    assert_eq!(s.client().get(url).status, 404);
    assert_eq!(bob.get(&format!("/files/{}/x", id + 100)).status, 404);
    // The log shows neither the file's name nor its bytes.
    let log = s.log_text();
    assert!(log.contains("GET /files/"), "{log}");
    assert!(!log.contains("holiday"), "{log}");
    // Eve cannot upload to the group either, nor without CSRF.
    assert_eq!(upload(&mut eve, g, "x.bin", "a/b", b"xyz").status, 403);
    let csrf = bob.csrf.take();
    assert_eq!(upload(&mut bob, g, "x.bin", "a/b", b"xyz").status, 403);
    bob.csrf = csrf;
}

#[test]
fn only_images_recognised_by_their_bytes_are_inline() {
    let s = server(&[]);
    let mut a = user(&s, "alice");
    a.load_csrf();
    let g = create_group(&mut a, "docs");
    let cases: [(&str, &str, &[u8]); 4] = [
        (
            "page.html",
            "text/html",
            b"<!doctype html><script>alert(1)</script>",
        ),
        (
            "logo.svg",
            "image/svg+xml",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        ),
        ("fake.png", "image/png", b"<html>not a png at all</html>"),
        ("notes.pdf", "application/pdf", b"%PDF-1.4 fake"),
    ];
    for (name, ctype, bytes) in cases {
        let r = upload(&mut a, g, name, ctype, bytes);
        assert_eq!(r.status, 201, "{name}: {}", r.text());
        let f = r.json();
        assert_eq!(f["width"], Value::Null, "{name}");
        assert_ne!(f["content_type"], "image/png", "{name}");
        let got = a.get(f["url"].as_str().unwrap());
        assert_eq!(got.status, 200);
        assert_eq!(got.body, bytes);
        assert_eq!(
            got.header("content-type"),
            Some("application/octet-stream"),
            "{name}"
        );
        let disp = got.header("content-disposition").unwrap();
        assert!(disp.starts_with("attachment"), "{name}: {disp}");
        assert_eq!(got.header("content-security-policy"), Some("sandbox"));
    }
    // The declared type is kept for display when it is a plain type.
    let f = uploaded(&mut a, g, "a.pdf", b"%PDF");
    assert_eq!(f["content_type"], "application/octet-stream");
    let r = upload(&mut a, g, "b.pdf", "application/pdf", b"%PDF");
    assert_eq!(r.json()["content_type"], "application/pdf");
}

/// Sends only the head of an upload of `len` bytes (asking to be told
/// before sending the body) and reads the answer.
fn head_only(s: &Server, c: &Client, group: i64, len: usize) -> Resp {
    let mut sock = TcpStream::connect(s.addr).unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    let head = format!(
        "POST /api/groups/{group}/files HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n\r\n",
        s.addr,
        c.cookie_header(),
        c.csrf.clone().unwrap(),
    );
    sock.write_all(head.as_bytes()).unwrap();
    read_response(&mut sock).unwrap()
}

#[test]
fn bad_uploads_are_refused_clearly_and_leave_nothing() {
    let s = server(&["--max-upload", "64KiB", "--max-storage-per-user", "100KiB"]);
    let files_dir = s.data.join("files");
    let mut a = user(&s, "alice");
    a.load_csrf();
    let g = create_group(&mut a, "g");

    // Empty.
    let r = upload(&mut a, g, "empty.txt", "text/plain", b"");
    assert_eq!(r.status, 400, "{}", r.text());
    // Too large: refused from the head, before the body is sent.
    let r = head_only(&s, &a, g, 10 * 1024 * 1024);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("at most 64"), "{}", r.text());
    // No Content-Length at all.
    let head = format!(
        "POST /api/groups/{g}/files HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\n\r\n",
        s.addr,
        a.cookie_header(),
        a.csrf.clone().unwrap()
    );
    let r = parse_response(&raw(s.addr, head.as_bytes(), T));
    assert_eq!(r.status, 411);
    // Over the quota: says how much is left.
    for i in 0..3 {
        assert_eq!(
            upload(
                &mut a,
                g,
                &format!("{i}.bin"),
                "a/b",
                &vec![i as u8; 30 * 1024]
            )
            .status,
            201
        );
    }
    let r = head_only(&s, &a, g, 20 * 1024);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("10 KiB left"), "{}", r.text());
    // To a group that does not exist.
    assert_eq!(upload(&mut a, g + 50, "x", "a/b", b"x").status, 404);

    // Names that try to be paths or to deceive are shown safely.
    for (raw_name, shown) in [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..", "file"),
        ("a\u{0}b\r\nc.txt", "abc.txt"),
        ("invoice\u{202e}fdp.exe", "invoicefdp.exe"),
    ] {
        let mut b = user(&s, &format!("name{}", rand_id()));
        b.load_csrf();
        let gb = create_group(&mut b, &format!("names{}", rand_id()));
        let f = uploaded(&mut b, gb, raw_name, b"hello");
        assert_eq!(f["name"], shown, "{raw_name:?}");
        let got = b.get(f["url"].as_str().unwrap());
        assert_eq!((got.status, &got.body[..]), (200, &b"hello"[..]));
    }
    assert!(tmp_files(&files_dir).is_empty());
    // Nothing outside the files directory appeared.
    assert!(!s.data.join("etc").exists());
    assert!(!s.data.parent().unwrap().join("etc").exists());
}

#[test]
fn lying_and_broken_bodies_store_nothing_and_the_server_carries_on() {
    let s = server(&[]);
    let files_dir = s.data.join("files");
    let mut a = user(&s, "alice");
    a.load_csrf();
    let g = create_group(&mut a, "g");
    let head = |len: usize| {
        format!(
            "POST /api/groups/{g}/files HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\nX-Filename: x.bin\r\nContent-Length: {len}\r\n\r\n",
            s.addr,
            a.cookie_header(),
            a.csrf.clone().unwrap()
        )
    };
    // Short: says 100000, sends 1000, then closes.
    let mut req = head(100_000).into_bytes();
    req.extend_from_slice(&[1u8; 1000]);
    {
        let mut sock = TcpStream::connect(s.addr).unwrap();
        sock.write_all(&req).unwrap();
        sock.shutdown(std::net::Shutdown::Write).unwrap();
        let mut sink = Vec::new();
        sock.set_read_timeout(Some(T)).unwrap();
        let _ = sock.read_to_end(&mut sink);
    }
    // Stops mid-body and stays silent: given up on after the stall limit?
    // Too slow for a test; instead the client vanishes mid-body.
    {
        let mut sock = TcpStream::connect(s.addr).unwrap();
        let mut req = head(1_000_000).into_bytes();
        req.extend_from_slice(&[2u8; 300_000]);
        sock.write_all(&req).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        drop(sock);
    }
    // Long: says 10, sends 10 and then more: the file has 10 bytes, and the
    // rest is read as the next request (which is not one: 400).
    let mut req = head(10).into_bytes();
    req.extend_from_slice(b"0123456789GARBAGE\r\n\r\n");
    let out = String::from_utf8_lossy(&raw(s.addr, &req, T)).into_owned();
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
    assert!(out.contains("\"size\":10"), "{out}");
    assert!(out.contains("HTTP/1.1 400"), "{out}");
    // Only that one file exists; no partial one anywhere.
    let deadline = Instant::now() + T;
    while !tmp_files(&files_dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        tmp_files(&files_dir).is_empty(),
        "{:?}",
        tmp_files(&files_dir)
    );
    assert_eq!(blobs(&files_dir).len(), 1, "{:?}", blobs(&files_dir));
    assert_eq!(std::fs::read(&blobs(&files_dir)[0]).unwrap(), b"0123456789");
    // And the server still serves.
    assert_eq!(a.get("/api/me").status, 200);
    assert_eq!(uploaded(&mut a, g, "ok.txt", b"fine")["size"], 4);
}

#[test]
fn attachments_are_only_the_senders_new_uploads_to_that_group() {
    let s = server(&[]);
    let mut a = user(&s, "alice");
    a.load_csrf();
    let mut b = user(&s, "bob");
    b.load_csrf();
    let g = create_group(&mut a, "g");
    let other = create_group(&mut a, "other");
    join(&mut b, g);
    let mine = uploaded(&mut a, g, "a.txt", b"alice's")["id"]
        .as_i64()
        .unwrap();
    let bobs = uploaded(&mut b, g, "b.txt", b"bob's")["id"]
        .as_i64()
        .unwrap();
    let elsewhere = uploaded(&mut a, other, "c.txt", b"other group")["id"]
        .as_i64()
        .unwrap();
    let (mut wa, _) = open_group(&a, g);
    for (files, why) in [
        (vec![bobs], "someone else's upload"),
        (vec![elsewhere], "an upload to another group"),
        (vec![mine, bobs], "one good, one not"),
        (vec![9999], "no such upload"),
        (vec![mine, mine], "the same twice"),
        ((1..=11).collect(), "more than ten"),
    ] {
        let e = post(&mut wa, Some("see"), &files).unwrap_err();
        assert_eq!(e["code"], "bad_request", "{why}: {e}");
    }
    // None of that stored a message or used up the good upload.
    assert!(
        a.get(&format!("/api/groups/{g}/messages")).json()["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let first = post(&mut wa, Some("here"), &[mine]).unwrap();
    // An upload goes with one message only.
    let e = post(&mut wa, Some("again"), &[mine]).unwrap_err();
    assert_eq!(e["code"], "bad_request");
    // An empty message with no attachment is still refused.
    assert_eq!(
        post(&mut wa, Some(" "), &[]).unwrap_err()["code"],
        "bad_request"
    );
    let h = a.get(&format!("/api/groups/{g}/messages")).json();
    assert_eq!(h["messages"].as_array().unwrap().len(), 1);
    assert_eq!(h["messages"][0]["id"], first);
    // A file id guessed across groups is a 404, like any other.
    let mut eve = user(&s, "eve");
    let og = create_group(&mut eve, "eves");
    let _ = og;
    assert_eq!(eve.get(&format!("/files/{mine}/a.txt")).status, 404);
}

#[test]
fn files_go_with_their_message_and_group_and_identical_bytes_are_kept_once() {
    let s = server(&[]);
    let files_dir = s.data.join("files");
    let mut a = user(&s, "alice");
    a.load_csrf();
    let mut b = user(&s, "bob");
    b.load_csrf();
    let g1 = create_group(&mut a, "one");
    let g2 = create_group(&mut b, "two");
    let same = png(10, 10, 3000);
    let f1 = uploaded(&mut a, g1, "x.png", &same);
    let f2 = uploaded(&mut b, g2, "y.png", &same);
    // Stored once...
    assert_eq!(blobs(&files_dir).len(), 1);
    // ...but each readable only where it was shared.
    let u1 = f1["url"].as_str().unwrap().to_string();
    let u2 = f2["url"].as_str().unwrap().to_string();
    assert_eq!(a.get(&u1).status, 200);
    assert_eq!(a.get(&u2).status, 404);
    assert_eq!(b.get(&u1).status, 404);
    assert_eq!(b.get(&u2).status, 200);

    let (mut wa, _) = open_group(&a, g1);
    let mid = post(&mut wa, Some("pic"), &[f1["id"].as_i64().unwrap()]).unwrap();
    let r = a.request(
        "DELETE",
        &format!("/api/messages/{mid}"),
        &[("X-CSRF-Token", &a.csrf.clone().unwrap())],
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(a.get(&u1).status, 404);
    // Bob's copy still names the bytes.
    assert_eq!(b.get(&u2).body, same);
    assert_eq!(blobs(&files_dir).len(), 1);

    // Deleting bob's group takes its files (and the last copy of the bytes).
    let other = uploaded(&mut b, g2, "z.bin", b"only in two");
    let r = b.request(
        "DELETE",
        &format!("/api/groups/{g2}"),
        &[("X-CSRF-Token", &b.csrf.clone().unwrap())],
        b"",
    );
    assert!(r.status == 200 || r.status == 204, "{}", r.text());
    assert_eq!(b.get(&u2).status, 404);
    assert_eq!(b.get(other["url"].as_str().unwrap()).status, 404);
    // In PostgreSQL mode the bytes wait for the hourly sweep of what is no
    // longer named (another instance may be naming the same bytes).
    if !on_postgres() {
        assert!(blobs(&files_dir).is_empty(), "{:?}", blobs(&files_dir));
    }
}

#[test]
fn uploads_never_attached_expire() {
    let s = Server::start_env(&["--msg-rate", "0"], &[("SECURECHAT_UNATTACHED_TTL", "1")]);
    let files_dir = s.data.join("files");
    let mut a = user(&s, "alice");
    a.load_csrf();
    let g = create_group(&mut a, "g");
    let kept = uploaded(&mut a, g, "kept.txt", b"attached");
    let lost = uploaded(&mut a, g, "lost.txt", b"never attached");
    let (mut wa, _) = open_group(&a, g);
    post(&mut wa, None, &[kept["id"].as_i64().unwrap()]).unwrap();
    // Housekeeping runs every 10 s.
    let deadline = Instant::now() + Duration::from_secs(25);
    while a.get(lost["url"].as_str().unwrap()).status == 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(a.get(lost["url"].as_str().unwrap()).status, 404);
    assert_eq!(a.get(kept["url"].as_str().unwrap()).body, b"attached");
    // (In PostgreSQL mode the bytes wait for the hourly sweep.)
    if !on_postgres() {
        assert_eq!(blobs(&files_dir).len(), 1);
    }
}

#[test]
fn a_full_disk_fails_the_upload_clearly_and_leaves_no_partial_file() {
    let dir = TempDir::new("files-full");
    let disk = Tmpfs::mount(&dir.path().join("disk"), "2m");
    let files_dir = disk.0.join("files");
    let data = dir.path().join("data");
    let fd = files_dir.display().to_string();
    let s = Server::start_in(&data, dir.path(), &["--files-dir", &fd, "--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    a.load_csrf();
    let g = create_group(&mut a, "g");
    let r = upload(&mut a, g, "big.bin", "a/b", &vec![7u8; 3 * 1024 * 1024]);
    assert_eq!(r.status, 507, "{}", r.text());
    assert_eq!(r.json()["error"], "storage_full");
    assert!(
        tmp_files(&files_dir).is_empty(),
        "{:?}",
        tmp_files(&files_dir)
    );
    assert!(blobs(&files_dir).is_empty());
    // The server keeps serving, and a file that fits is stored.
    assert_eq!(a.get("/api/me").status, 200);
    let f = uploaded(&mut a, g, "small.bin", &[1u8; 1000]);
    assert_eq!(a.get(f["url"].as_str().unwrap()).body, vec![1u8; 1000]);
}

#[test]
fn a_kill_mid_upload_leaves_no_orphan_after_restart() {
    // In PostgreSQL mode the shared files directory is swept only past an hour.
    crate::sqlite_only!();
    let dir = TempDir::new("files-kill");
    let data = dir.path().join("data");
    let files_dir = data.join("files");
    let mut s = Server::start_in(&data, dir.path(), &["--msg-rate", "0"]);
    let mut a = user(&s, "alice");
    a.load_csrf();
    let g = create_group(&mut a, "g");
    let head = format!(
        "POST /api/groups/{g}/files HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\nContent-Length: 5000000\r\n\r\n",
        s.addr,
        a.cookie_header(),
        a.csrf.clone().unwrap()
    );
    let mut sock = TcpStream::connect(s.addr).unwrap();
    sock.write_all(head.as_bytes()).unwrap();
    sock.write_all(&vec![3u8; 1_000_000]).unwrap();
    let deadline = Instant::now() + T;
    while tmp_files(&files_dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(tmp_files(&files_dir).len(), 1, "the upload is under way");
    unsafe_kill(s.child.id(), 9);
    let _ = wait_timeout(&mut s.child, T);
    drop(sock);
    let s2 = Server::start_in(&data, dir.path(), &["--msg-rate", "0"]);
    assert!(tmp_files(&files_dir).is_empty());
    assert!(blobs(&files_dir).is_empty());
    let mut a2 = s2.client();
    assert_eq!(a2.login("alice", "correct horse battery").status, 303);
    a2.load_csrf();
    assert_eq!(a2.get("/files/1/x").status, 404);
    assert_eq!(uploaded(&mut a2, g, "after.txt", b"ok")["size"], 2);
}

#[test]
fn backup_restore_and_export_carry_the_files_and_metrics_count_them() {
    // backup/restore copy SQLite data directories (pg_dump in PostgreSQL mode).
    crate::sqlite_only!();
    let dir = TempDir::new("files-backup");
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, dir.path(), &["--msg-rate", "0", "--metrics"]);
    let mut a = user(&s, "alice");
    a.load_csrf();
    let g = create_group(&mut a, "g");
    let bytes = png(2, 2, 100);
    let f = uploaded(&mut a, g, "p.png", &bytes);
    let (mut wa, _) = open_group(&a, g);
    post(&mut wa, Some("look"), &[f["id"].as_i64().unwrap()]).unwrap();
    let metrics = a.get("/metrics").text();
    assert!(
        metrics.contains(&format!("securechat_files_stored_bytes {}", bytes.len())),
        "{metrics}"
    );
    let backup = dir.path().join("backup");
    ok(admin(&data, &["backup", &backup.display().to_string()], ""));
    // Export: the message line carries the attachment; the file is copied.
    let out_dir = dir.path().join("export");
    let lines = ok(admin(
        &data,
        &["export", "g", &out_dir.display().to_string()],
        "",
    ));
    let line: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(line["attachments"][0]["name"], "p.png");
    let id = f["id"].as_i64().unwrap();
    assert_eq!(
        std::fs::read(out_dir.join(format!("{id}-p.png"))).unwrap(),
        bytes
    );
    s.terminate();

    // Lose the files, then restore: they come back.
    std::fs::remove_dir_all(data.join("files")).unwrap();
    ok(admin(
        &data,
        &["restore", &backup.display().to_string()],
        "",
    ));
    let s2 = Server::start_in(&data, dir.path(), &["--msg-rate", "0"]);
    let mut a2 = s2.client();
    assert_eq!(a2.login("alice", "correct horse battery").status, 303);
    assert_eq!(a2.get(f["url"].as_str().unwrap()).body, bytes);
}

#[test]
fn a_files_directory_outside_the_data_directory_is_one_servers_alone() {
    // The lock of SQLite mode (PostgreSQL mode shares the files directory).
    crate::sqlite_only!();
    let dir = TempDir::new("files-shared");
    let shared = dir.path().join("shared-files");
    let fd = shared.display().to_string();
    let s = Server::start_in(&dir.path().join("a"), dir.path(), &["--files-dir", &fd]);
    let mut a = user(&s, "alice");
    a.load_csrf();
    let g = create_group(&mut a, "g");
    let f = uploaded(&mut a, g, "kept.bin", b"alice's bytes");
    // A second server with a data directory of its own on the same files:
    // its database names none of them, so it would take them all for what
    // interrupted uploads left, and remove them. It must refuse to start.
    let mut b = std::process::Command::new(bin())
        .args(["--host", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(dir.path().join("b"))
        .args(["--files-dir", &fd])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = b.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > until {
            let _ = b.kill();
            let _ = b.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    let _ = b.stderr.take().unwrap().read_to_string(&mut err);
    let status = status.unwrap_or_else(|| panic!("a second server runs on the same files: {err}"));
    assert!(!status.success(), "{err}");
    assert!(err.contains(&fd) && err.contains("in use"), "{err}");
    // The first server and its file are untouched.
    assert_eq!(blobs(&shared).len(), 1);
    assert_eq!(a.get(f["url"].as_str().unwrap()).body, b"alice's bytes");
}
