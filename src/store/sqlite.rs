//! The SQLite engine: one writer connection behind a mutex and a small pool
//! of readers per database file, WAL mode, forward-only migrations tracked
//! by `PRAGMA user_version`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

use super::{Result, StoreError};
use crate::sync::lock;

/// Readers kept open for reuse; more are opened on demand under load.
const READER_POOL: usize = 8;

pub struct Db {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date. `migrations[i]` takes the schema from version `i`
    /// to `i + 1`.
    pub fn open(path: &Path, migrations: &[&str]) -> Result<Db> {
        let mut writer = open_conn(path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        migrate(path, &mut writer, migrations)?;
        Ok(Db {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Runs `f` on the writer connection. Keep it short: every writer waits.
    pub fn write<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        Ok(f(&mut lock(&self.writer))?)
    }

    /// Runs `f` on a reader connection.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = lock(&self.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        let result = f(&conn);
        let mut pool = lock(&self.readers);
        if pool.len() < READER_POOL {
            pool.push(conn);
        }
        Ok(result?)
    }

    /// Copies the WAL into the main file and truncates it.
    pub fn checkpoint(&self) -> Result<()> {
        lock(&self.readers).clear();
        self.write(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);"))
    }
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

fn migrate(path: &Path, conn: &mut Connection, migrations: &[&str]) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 0 || version as usize > migrations.len() {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            known: migrations.len(),
        });
    }
    for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Whether an error is a UNIQUE constraint violation.
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_refuse_newer_schemas() {
        let dir = std::env::temp_dir().join(format!("sc-db-{}", crate::util::random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.sqlite3");
        let m1 = ["CREATE TABLE a (x INTEGER);"];
        let db = Db::open(&path, &m1).unwrap();
        db.write(|c| c.execute("INSERT INTO a VALUES (1)", []))
            .unwrap();
        drop(db);
        let m2 = [
            "CREATE TABLE a (x INTEGER);",
            "ALTER TABLE a ADD COLUMN y TEXT;",
        ];
        let db = Db::open(&path, &m2).unwrap();
        let n: i64 = db
            .read(|c| c.query_row("SELECT count(*) FROM a", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, 1);
        drop(db);
        assert!(matches!(
            Db::open(&path, &m1),
            Err(StoreError::NewerSchema {
                found: 2,
                known: 1,
                ..
            })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
