//! Abusive clients: per-IP connection caps, slow bodies, thousands of idle
//! connections that must not stop a normal user from being served and must
//! leave no threads behind, and throttled registrations and login attempts.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

fn proc_status(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn timed_health(addr: SocketAddr) -> (u16, Duration) {
    let t0 = Instant::now();
    let status = Client::new(addr).get("/healthz").status;
    (status, t0.elapsed())
}

#[test]
fn per_ip_connection_cap() {
    let s = Server::start(&["--max-per-ip", "5"]);
    let held: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused = raw(
        s.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(
        refused.starts_with(b"HTTP/1.1 429"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    // Another address is not affected.
    let mut other = connect_from("127.0.0.2", s.addr);
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut other).unwrap().status, 200);
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        timed_health(s.addr).0,
        200,
        "slots are freed when connections close"
    );
}

#[test]
fn slow_body_is_cut_off() {
    let s = Server::start(&[]);
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t0 = Instant::now();
    let resp = read_response(&mut c);
    let waited = t0.elapsed();
    assert_eq!(resp.unwrap().status, 408);
    assert!(
        waited >= Duration::from_secs(8) && waited <= Duration::from_secs(15),
        "{waited:?}"
    );
}

#[test]
fn thousands_of_idle_connections_then_back_to_baseline() {
    let s = Server::start(&["--max-per-ip", "0"]);
    let pid = s.child.id();
    assert_eq!(timed_health(s.addr).0, 200);
    std::thread::sleep(Duration::from_millis(300));
    let base_threads = proc_status(pid, "Threads:");
    let n = 2000;
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = TcpStream::connect(s.addr).unwrap();
        if i % 2 == 0 {
            // Half send a partial head, the rest nothing at all.
            let _ = c.write_all(b"GET / HTTP/1.1\r\nX-Slow: ");
        }
        held.push(c);
    }
    std::thread::sleep(Duration::from_millis(500));
    let busy_threads = proc_status(pid, "Threads:");
    assert!(
        busy_threads >= base_threads + n as u64 / 2,
        "{busy_threads} threads for {n} connections"
    );
    let (status, took) = timed_health(s.addr);
    assert_eq!(status, 200);
    assert!(
        took < Duration::from_secs(1),
        "a normal user waited {took:?}"
    );
    println!(
        "{n} idle connections: {busy_threads} threads (baseline {base_threads}); /healthz in {took:?}; RSS {} KiB",
        proc_status(pid, "VmRSS:")
    );
    drop(held);
    let until = Instant::now() + Duration::from_secs(10);
    let mut now = proc_status(pid, "Threads:");
    while now > base_threads + 2 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
        now = proc_status(pid, "Threads:");
    }
    assert!(
        now <= base_threads + 2,
        "threads back to {now}, baseline {base_threads}"
    );
    // Slowloris clients that keep trickling are cut at the 10 s deadline
    // (counted from the head's first byte) with a 408, then closed.
    let mut slow = TcpStream::connect(s.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 256];
    let mut answered = Vec::new();
    let mut closed = false;
    while t0.elapsed() < Duration::from_secs(15) {
        if slow.write_all(b"a").is_err() {
            break;
        }
        match slow.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(k) => answered.extend_from_slice(&buf[..k]),
            Err(_) => {}
        }
        if !answered.is_empty() {
            break;
        }
    }
    let cut = t0.elapsed();
    assert!(
        answered.starts_with(b"HTTP/1.1 408"),
        "no 408 after {cut:?} (closed without an answer: {closed}): {:?}",
        String::from_utf8_lossy(&answered)
    );
    assert!(
        cut >= Duration::from_millis(9500) && cut <= Duration::from_secs(12),
        "cut off after {cut:?}, not at the 10 s deadline"
    );
    // The rest of the answer, then EOF: the server closes.
    slow.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let end = slow.read_to_end(&mut answered);
    assert!(
        end.is_ok(),
        "still open after the 408: {end:?}, got {:?}",
        String::from_utf8_lossy(&answered)
    );
    assert_eq!(read_response(&mut &answered[..]).unwrap().status, 408);
}

#[test]
fn registrations_are_throttled_per_ip() {
    let s = Server::start(&["--register-rate", "1"]);
    let mut statuses = Vec::new();
    for i in 0..52 {
        let mut c = s.client();
        statuses.push(
            c.register(&format!("user{i}"), "correct horse battery")
                .status,
        );
    }
    assert!(statuses[..50].iter().all(|&s| s == 303), "{statuses:?}");
    assert_eq!(statuses[51], 429);
}

#[test]
fn login_attempts_are_throttled_per_ip_and_username() {
    let s = Server::start(&[]);
    user(&s, "alice");
    // Login attempts per IP and username.
    let mut c = s.client();
    let mut last = 0;
    for _ in 0..12 {
        last = c.login("alice", "wrong password").status;
        if last == 429 {
            break;
        }
    }
    assert_eq!(last, 429);
    let token = c.form_token("/login");
    let r = c.post_form(
        "/login",
        &[
            ("username", "alice"),
            ("password", "wrong password"),
            ("csrf_token", &token),
        ],
    );
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);
    // Another username from the same IP is not affected.
    assert_eq!(c.login("nobody", "wrong password").status, 401);
}
