//! `securechat migrate --to postgres://…` against a real PostgreSQL (a
//! throwaway cluster, `common::pg`): a data directory with users, a group,
//! messages, a reaction and a file arrives whole, every table's count and a
//! sample of its rows as SQLite has them, ids never handed out again; an
//! empty target only; never beside a running server; the URL's password
//! never printed.

mod common;

use common::pg::Pg;
use common::ws::*;
use common::*;
use serde_json::Value;

const SPECIAL: &str = "a tab\there, a new line\nthere, a backslash \\N and \\ too";

/// `SELECT count(*)` of each table in SQLite (the file it lives in) and
/// in PostgreSQL.
fn counts(data: &std::path::Path, pg: &mut postgres::Client) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    for (file, tables) in [
        (
            "users",
            &[
                "users",
                "sessions",
                "device_keys",
                "server_invites",
                "reset_links",
                "settings",
            ][..],
        ),
        (
            "chat",
            &[
                "groups",
                "memberships",
                "messages",
                "invites",
                "reactions",
                "read_state",
                "mentions",
                "files",
            ][..],
        ),
    ] {
        let c = rusqlite::Connection::open(data.join(format!("{file}.sqlite3"))).unwrap();
        for t in tables {
            let sqlite: i64 = c
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap();
            let copied: i64 = pg
                .query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .unwrap()
                .get(0);
            out.push((t.to_string(), sqlite, copied));
        }
    }
    out
}

#[test]
fn a_data_directory_moves_into_an_empty_postgres_whole() {
    // Migrates a SQLite data directory (it starts its own cluster).
    crate::sqlite_only!();
    let pg = Pg::start();
    let url = pg.create_db("chat");
    let dir = TempDir::new("migrate");
    let data = dir.path().join("data");
    {
        let s = Server::start_in(&data, dir.path(), &["--msg-rate", "0"]);
        let mut a = user(&s, "alice");
        let mut b = user(&s, "bob");
        let g = create_group(&mut a, "Rust");
        join(&mut b, g);
        let (mut ws, _) = open_group(&a, g);
        for i in 0..30 {
            let text = match i {
                // What COPY's text format must escape.
                5 => SPECIAL.to_string(),
                _ => format!("message {i} — ünïcödé"),
            };
            send_text(&mut ws, &text, &format!("c{i}"));
            expect(&mut ws, "ack");
        }
        let r = b.json(
            "PUT",
            "/api/messages/1/reactions/%F0%9F%91%8D",
            &Value::Null,
        );
        assert!(r.status < 300, "{}", r.text());
        // A deleted newest message: its id must never be handed out again.
        let r = a.json("DELETE", "/api/messages/30", &Value::Null);
        assert!(r.status < 300, "{}", r.text());
    }
    // Beside a running server: refused.
    {
        let _s = Server::start_in(&data, dir.path(), &[]);
        let out = admin(&data, &["migrate", "--to", &url], "");
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("in use"),
            "{out:?}"
        );
    }
    // A password in the URL is never printed.
    let with_password = url.replace("securechat@", "securechat:hunter2@");
    let out = admin(&data, &["migrate", "--to", &with_password], "");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
    assert!(said.contains("copied"), "{said}");

    let mut c = pg.client("chat");
    for (table, sqlite, copied) in counts(&data, &mut c) {
        assert_eq!(sqlite, copied, "{table}");
    }
    let sqlite = rusqlite::Connection::open(data.join("users.sqlite3")).unwrap();
    let hash: String = sqlite
        .query_row(
            "SELECT password_hash FROM users WHERE username = 'alice'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let row = c
        .query_one(
            "SELECT password_hash FROM users WHERE username = 'alice'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), hash);
    let row = c
        .query_one("SELECT content FROM messages WHERE id = 12", &[])
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("message 11 — ünïcödé")
    );
    let n: i64 = c
        .query_one("SELECT count(*) FROM reactions WHERE emoji = '👍'", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // Search works on the copied text.
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM messages WHERE search @@ to_tsquery('simple', 'message & 7')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // Ids go on past the highest SQLite ever gave (30 was deleted).
    let id: i64 = c
        .query_one(
            "INSERT INTO messages (group_id, author_id, author, content, created_at)
             SELECT group_id, author_id, author, 'new', 0 FROM messages WHERE id = 1 RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(id > 30, "id {id} reused");

    // Only into an empty database.
    let again = admin(&data, &["migrate", "--to", &url], "");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{again:?}"
    );
}

#[test]
fn migrate_refuses_clearly_what_it_cannot_do() {
    let dir = TempDir::new("migrate-bad");
    let data = dir.path().join("data");
    drop(Server::start_in(&data, dir.path(), &[]));
    // No URL, a URL of another kind, a database nobody serves.
    for args in [
        &["migrate"][..],
        &["migrate", "--to", "mysql://x@127.0.0.1/db"][..],
        &["migrate", "--to", "postgres://x@127.0.0.1:1/db"][..],
    ] {
        let out = admin(&data, args, "");
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.is_empty() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    // --to belongs to migrate alone.
    let out = admin(&data, &["user", "list", "--to", "postgres://x@h/db"], "");
    assert!(!out.status.success());
}
