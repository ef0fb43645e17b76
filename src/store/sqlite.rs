//! The SQLite engine: one writer connection behind a mutex and a small pool
//! of readers per database file, WAL mode, forward-only migrations tracked
//! by `PRAGMA user_version`, files readable by their owner only, and a
//! watcher connection whose `PRAGMA data_version` tells, cheaply, whether
//! any other connection (this process's writer or another process) has
//! committed since the last look.

use std::fs::{OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, Transaction};

use super::{Result, StoreError};
use crate::sync::lock;

/// Readers kept open for reuse; more are opened on demand under load.
const READER_POOL: usize = 8;

/// Database files (and their -wal and -shm) are the owner's alone.
pub const FILE_MODE: u32 = 0o600;

/// One step of a schema's history.
pub enum Migration {
    /// Plain SQL.
    Sql(&'static str),
    /// SQL that rebuilds tables (to change a column's definition): run with
    /// foreign keys off, as SQLite prescribes, and checked before commit.
    Rebuild(&'static str),
    /// A data fix SQL alone cannot express.
    Code(fn(&Transaction<'_>) -> rusqlite::Result<()>),
}

pub struct Db {
    path: PathBuf,
    /// Another database every connection attaches, under this schema name.
    attach: Option<(PathBuf, &'static str)>,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// A connection of its own for `data_version`, with the last value seen.
    watcher: Mutex<Option<(Connection, i64)>>,
    /// The schema version found on disk before this open migrated it.
    pub found_version: usize,
}

impl Db {
    /// Opens (creating if needed, mode 0600) the database at `path` and
    /// brings its schema up to date: `migrations[i]` takes it from version
    /// `i` to `i + 1`.
    pub fn open(path: &Path, migrations: &[Migration]) -> Result<Db> {
        Db::open_attached(path, migrations, None)
    }

    /// Like `open`, with the database at `attach.0` attached to every
    /// connection as schema `attach.1` (so one statement, and one
    /// transaction, can read both files).
    pub fn open_attached(
        path: &Path,
        migrations: &[Migration],
        attach: Option<(PathBuf, &'static str)>,
    ) -> Result<Db> {
        create_private(path)?;
        let mut writer = open_conn(path, attach.as_ref())?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        let found_version = migrate(path, &mut writer, migrations)?;
        // The -wal and -shm files take the database file's mode when SQLite
        // creates them; older ones may predate that.
        for suffix in ["-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let p = PathBuf::from(p);
            if p.exists() {
                set_private(&p)?;
            }
        }
        Ok(Db {
            path: path.to_path_buf(),
            attach,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            watcher: Mutex::new(None),
            found_version,
        })
    }

    /// Runs `f` on the writer connection. Keep it short: every writer waits.
    pub fn write<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        Ok(f(&mut lock(&self.writer))?)
    }

    /// Runs `f` on the writer connection, through the common SQL layer.
    pub fn write_sql<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        f(&lock(&self.writer))
    }

    /// Runs `f` on a reader connection, through the common SQL layer (one
    /// left in a transaction is not kept).
    pub fn read_sql<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path, self.attach.as_ref())?,
        };
        let result = f(&conn);
        let mut pool = lock(&self.readers);
        if pool.len() < READER_POOL && conn.is_autocommit() {
            pool.push(conn);
        }
        result
    }

    /// Runs `f` on a reader connection (rusqlite's own types, for what only
    /// SQLite has: backups, its search index, the migration's copy).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.read_sql(|c| Ok(f(c)?))
    }

    /// Runs `f` on the watcher connection when another connection has
    /// committed since the last call (always on the first call).
    pub fn if_changed<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<Option<T>> {
        let mut w = lock(&self.watcher);
        if w.is_none() {
            *w = Some((open_conn(&self.path, self.attach.as_ref())?, -1));
        }
        let Some((conn, seen)) = w.as_mut() else {
            return Ok(None);
        };
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if version == *seen {
            return Ok(None);
        }
        // Read first, then remember: a failed read is retried next time.
        let out = f(conn)?;
        *seen = version;
        Ok(Some(out))
    }

    /// Copies the WAL into the main file and truncates it.
    pub fn checkpoint(&self) -> Result<()> {
        lock(&self.readers).clear();
        self.write(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);"))
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Creates `path` empty with mode 0600 unless it exists; tightens it to
/// 0600 if it does.
fn create_private(path: &Path) -> Result<()> {
    if path.exists() {
        return set_private(path);
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map(drop)
        .map_err(io_error(path))
}

fn set_private(path: &Path) -> Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE)).map_err(io_error(path))
}

fn open_conn(
    path: &Path,
    attach: Option<&(PathBuf, &'static str)>,
) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;",
    )?;
    if let Some((other, schema)) = attach {
        let other = other.to_string_lossy();
        conn.execute(&format!("ATTACH DATABASE ?1 AS {schema}"), [other])?;
    }
    Ok(conn)
}

/// Runs the migrations the file has not had yet; returns the version found.
fn migrate(path: &Path, conn: &mut Connection, migrations: &[Migration]) -> Result<usize> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 0 || version as usize > migrations.len() {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            known: migrations.len(),
        });
    }
    for (i, step) in migrations.iter().enumerate().skip(version as usize) {
        let rebuild = matches!(step, Migration::Rebuild(_));
        if rebuild {
            // Only outside a transaction does this take effect.
            conn.execute_batch("PRAGMA foreign_keys = OFF;")?;
        }
        let result = (|| {
            let tx = conn.transaction()?;
            match step {
                Migration::Sql(sql) | Migration::Rebuild(sql) => tx.execute_batch(sql)?,
                Migration::Code(f) => f(&tx)?,
            }
            if rebuild {
                let broken: i64 =
                    tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                        r.get(0)
                    })?;
                if broken > 0 {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                        Some(format!(
                            "migration {} leaves {broken} broken references",
                            i + 1
                        )),
                    ));
                }
            }
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()
        })();
        if rebuild {
            conn.execute_batch("PRAGMA foreign_keys = ON;")?;
        }
        result?;
    }
    Ok(version as usize)
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

    fn temp(name: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("sc-db-{}", crate::util::random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        (dir, path)
    }

    #[test]
    fn migrations_run_once_and_refuse_newer_schemas() {
        let (dir, path) = temp("t.sqlite3");
        let m1 = [Migration::Sql("CREATE TABLE a (x INTEGER);")];
        let db = Db::open(&path, &m1).unwrap();
        assert_eq!(db.found_version, 0);
        db.write(|c| c.execute("INSERT INTO a VALUES (1)", []))
            .unwrap();
        drop(db);
        let m2 = [
            Migration::Sql("CREATE TABLE a (x INTEGER);"),
            Migration::Sql("ALTER TABLE a ADD COLUMN y TEXT;"),
        ];
        let db = Db::open(&path, &m2).unwrap();
        assert_eq!(db.found_version, 1);
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

    #[test]
    fn a_rebuild_keeps_the_rows_that_reference_the_rebuilt_table() {
        let (dir, path) = temp("r.sqlite3");
        let v1 = [Migration::Sql(
            "CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE c (p INTEGER REFERENCES p(id) ON DELETE CASCADE);",
        )];
        let db = Db::open(&path, &v1).unwrap();
        db.write(|c| c.execute_batch("INSERT INTO p VALUES (1); INSERT INTO c VALUES (1);"))
            .unwrap();
        drop(db);
        let v2 = [
            v1.into_iter().next().unwrap(),
            Migration::Rebuild(
                "CREATE TABLE p2 (id INTEGER PRIMARY KEY AUTOINCREMENT);
                 INSERT INTO p2 SELECT id FROM p; DROP TABLE p; ALTER TABLE p2 RENAME TO p;",
            ),
        ];
        let db = Db::open(&path, &v2).unwrap();
        let children: i64 = db
            .read(|c| c.query_row("SELECT count(*) FROM c", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(children, 1, "dropping the old table did not cascade");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, FILE_MODE);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_watcher_sees_commits_of_other_connections() {
        let (dir, path) = temp("w.sqlite3");
        let db = Db::open(&path, &[Migration::Sql("CREATE TABLE a (x INTEGER);")]).unwrap();
        let count =
            |c: &Connection| Ok(c.query_row("SELECT count(*) FROM a", [], |r| r.get::<_, i64>(0))?);
        assert_eq!(
            db.if_changed(count).unwrap(),
            Some(0),
            "the first look reads"
        );
        assert_eq!(
            db.if_changed(count).unwrap(),
            None,
            "nothing committed since"
        );
        db.write(|c| c.execute("INSERT INTO a VALUES (1)", []))
            .unwrap();
        assert_eq!(
            db.if_changed(count).unwrap(),
            Some(1),
            "this process's writer"
        );
        let other = Connection::open(&path).unwrap();
        other.execute("INSERT INTO a VALUES (2)", []).unwrap();
        assert_eq!(db.if_changed(count).unwrap(), Some(2), "another process");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
