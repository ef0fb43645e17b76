//! `securechat backup DEST_DIR` (a consistent online copy of both databases
//! through SQLite's backup API, safe while the server writes),
//! `securechat restore SRC_DIR` (server stopped), and
//! `securechat export GROUP` (a group's history as JSON Lines).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{Data, DirLock};
use crate::db::chat as store;

const FILES: [&str; 2] = ["users.sqlite3", "chat.sqlite3"];

/// Copies `from` into `to` in one step, so the copy is one consistent
/// snapshot even while other connections write.
fn copy_db(from: &Connection, to: &mut Connection) -> rusqlite::Result<()> {
    let b = Backup::new(from, to)?;
    for _ in 0..600 {
        match b.step(-1)? {
            StepResult::Done => return Ok(()),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("the database stayed busy for 30 s".into()),
    ))
}

fn integrity(conn: &Connection) -> rusqlite::Result<String> {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
}

pub fn backup(data: &Data, dest: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    for name in FILES {
        let target = dest.join(name);
        if target.exists() {
            return Err(format!(
                "{} exists; choose an empty directory",
                target.display()
            ));
        }
    }
    for (name, db) in FILES.iter().zip([&data.users, &data.chat]) {
        let target = dest.join(name);
        let mut to = Connection::open(&target).map_err(|e| e.to_string())?;
        db.read(|from| copy_db(from, &mut to))
            .map_err(|e| format!("{name}: {e}"))?;
        let check = integrity(&to).map_err(|e| e.to_string())?;
        if check != "ok" {
            return Err(format!(
                "{name}: the copy failed its integrity check: {check}"
            ));
        }
        let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
        println!("{}  {size} bytes  integrity ok", target.display());
    }
    Ok(())
}

pub fn restore(src: &Path, data_dir: &Path) -> Result<(), String> {
    let _lock = DirLock::acquire(data_dir).map_err(|e| format!("{e}; stop it before restoring"))?;
    let mut sources = Vec::new();
    for name in FILES {
        let path = src.join(name);
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let check = integrity(&conn).map_err(|e| format!("{}: {e}", path.display()))?;
        if check != "ok" {
            return Err(format!(
                "{}: not a sound database ({check})",
                path.display()
            ));
        }
        sources.push(conn);
    }
    // Both sources are sound; now replace the data, file by file.
    let data = Data::open(data_dir)?;
    for ((name, db), from) in FILES.iter().zip([&data.users, &data.chat]).zip(&sources) {
        db.write(|to| copy_db(from, to))
            .map_err(|e| format!("{name}: {e}"))?;
        db.checkpoint().map_err(|e| format!("{name}: {e}"))?;
        println!("restored {}", data_dir.join(name).display());
    }
    Ok(())
}

/// Writes every live message of a group (by id or exact name), oldest
/// first, one JSON object per line.
pub fn export(data: &Data, group: &str) -> Result<(), String> {
    let found = match crate::http::router::parse_id(group) {
        Some(id) => store::get_group(&data.chat, id).map_err(|e| e.to_string())?,
        None => data
            .chat
            .read(|c| {
                use rusqlite::OptionalExtension;
                c.query_row(
                    "SELECT id FROM groups WHERE kind = 'group' AND name_key = ?1",
                    [group.to_lowercase()],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
            })
            .map_err(|e| e.to_string())?
            .map(|id| store::get_group(&data.chat, id))
            .transpose()
            .map_err(|e| e.to_string())?
            .flatten(),
    };
    let g = found.ok_or_else(|| format!("no group {group:?}"))?;
    let out = std::io::stdout();
    let mut out = out.lock();
    let mut after = 0;
    loop {
        let page = store::after(&data.chat, g.id, after, 1000).map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for m in &page {
            writeln!(out, "{}", m.to_json()).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
