//! Fuzzes what people type into the conversation features: search
//! queries (every query that parses must be valid FTS5 — checked against a
//! real FTS5 table shaped like the server's — and nothing else may reach
//! it), client frames with replies and mentions, @-mention scanning and
//! reaction emoji.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use rusqlite::Connection;
use securechat::chat::protocol::ClientFrame;
use securechat::chat::{mentions, reactions, search};

fn index() -> &'static Mutex<Connection> {
    static DB: OnceLock<Mutex<Connection>> = OnceLock::new();
    DB.get_or_init(|| {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content = '',
                contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2',
                prefix = '2 3');
             INSERT INTO messages_fts (rowid, content) VALUES (1, 'the green build'), (2, 'NEAR AND OR');",
        )
        .unwrap();
        Mutex::new(c)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = search::parse(text) {
        let expr = q.fts5();
        let db = index().lock().unwrap();
        let n: rusqlite::Result<i64> = db.query_row(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1",
            [&expr],
            |r| r.get(0),
        );
        assert!(n.is_ok(), "{expr:?}: {n:?}");
    }
    let _ = ClientFrame::decode(text);
    for name in mentions::named_in(text) {
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)));
    }
    if let Some(e) = reactions::one_emoji(text) {
        assert_eq!(reactions::one_emoji(e), Some(e));
    }
});
