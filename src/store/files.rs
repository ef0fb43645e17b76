//! Uploaded files' metadata (SQLite's `chat.sqlite3`, or PostgreSQL) beside
//! their bytes in the
//! content-addressed directory (`blobs.rs`): a row per upload (group,
//! uploader, display name, type, size, image dimensions, hash, and the
//! message it was attached to), so identical bytes shared in two groups are
//! stored once yet readable only by members of a group where they were
//! shared. Rows go with their message and their group; uploads never
//! attached expire. A blob is removed when the last row naming it goes.

use std::collections::HashMap;

use super::blobs::Written;
use super::sql::{Row, Sql};
use super::{Part, Result, Store, StoreError};

pub const TABLE: &str = "
CREATE TABLE files (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id     INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    uploader_id  INTEGER NOT NULL,
    message_id   INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    width        INTEGER,
    height       INTEGER,
    inline       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX files_message ON files(message_id);
CREATE INDEX files_group ON files(group_id);
CREATE INDEX files_sha256 ON files(sha256);
CREATE INDEX files_uploader ON files(uploader_id);
CREATE INDEX files_unattached ON files(created_at) WHERE message_id IS NULL;";

/// A stored file's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub id: i64,
    pub group_id: i64,
    pub uploader_id: i64,
    pub message_id: Option<i64>,
    /// A safe display name (never a path).
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// PNG, JPEG, GIF or WebP by its bytes: shown inline.
    pub inline: bool,
    pub created_at: i64,
}

/// What the uploader and the bytes say about a new file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub group_id: i64,
    pub uploader_id: i64,
    pub name: String,
    pub content_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub inline: bool,
}

/// Why an upload was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotKept {
    NotMember,
    /// It would take the uploader past their quota; `left` bytes remain.
    OverQuota {
        left: u64,
    },
}

const COLS: &str = "f.id, f.group_id, f.uploader_id, f.message_id, f.name, f.content_type,
    f.size, f.sha256, f.width, f.height, f.inline, f.created_at";

fn file_row(r: &Row<'_>) -> Result<StoredFile> {
    Ok(StoredFile {
        id: r.get(0)?,
        group_id: r.get(1)?,
        uploader_id: r.get(2)?,
        message_id: r.get(3)?,
        name: r.get(4)?,
        content_type: r.get(5)?,
        size: r.get::<i64>(6)?.max(0) as u64,
        sha256: r.get(7)?,
        width: dimension(r, 8)?,
        height: dimension(r, 9)?,
        inline: r.get(10)?,
        created_at: r.get(11)?,
    })
}

/// An image's width or height (the columns are 64-bit in both engines).
fn dimension(r: &Row<'_>, i: usize) -> Result<Option<u32>> {
    r.get::<Option<i64>>(i)?
        .map(|n| {
            u32::try_from(n)
                .map_err(|_| StoreError::Mismatch(format!("an image dimension is {n} pixels")))
        })
        .transpose()
}

/// The attachments of these messages, in the order they were uploaded.
pub(super) fn attachments_of(
    sql: &mut Sql<'_>,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<StoredFile>>> {
    let mut out: HashMap<i64, Vec<StoredFile>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let files = sql.rows(
        &format!("SELECT {COLS} FROM files f WHERE f.message_id IN ({list}) ORDER BY f.id"),
        &[],
        file_row,
    )?;
    for f in files {
        if let Some(m) = f.message_id {
            out.entry(m).or_default().push(f);
        }
    }
    Ok(out)
}

/// Attaches the author's unattached uploads `ids` in `group_id` to a new
/// message; false (nothing changed by the caller's rollback) when any of
/// them is not such an upload.
pub(super) fn attach(
    sql: &mut Sql<'_>,
    message_id: i64,
    group_id: i64,
    uploader_id: i64,
    ids: &[i64],
) -> Result<bool> {
    let mut n = 0;
    for id in ids {
        n += sql.exec(
            "UPDATE files SET message_id = ?1
             WHERE id = ?2 AND group_id = ?3 AND uploader_id = ?4 AND message_id IS NULL",
            &[&message_id, id, &group_id, &uploader_id],
        )?;
    }
    Ok(n == ids.len() as u64)
}

/// Removes the files of a message; returns their hashes for `release`.
pub(super) fn detach_message(sql: &mut Sql<'_>, message_id: i64) -> Result<Vec<String>> {
    sql.rows(
        "DELETE FROM files WHERE message_id = ?1 RETURNING sha256",
        &[&message_id],
        |r| r.get(0),
    )
}

/// The hashes of a group's files (read before the group goes).
pub(super) fn hashes_of_group(sql: &mut Sql<'_>, group_id: i64) -> Result<Vec<String>> {
    sql.rows(
        "SELECT DISTINCT sha256 FROM files WHERE group_id = ?1",
        &[&group_id],
        |r| r.get(0),
    )
}

fn used_by(sql: &mut Sql<'_>, uploader_id: i64) -> Result<u64> {
    sql.value::<i64>(
        "SELECT CAST(coalesce(sum(size), 0) AS BIGINT) FROM files WHERE uploader_id = ?1",
        &[&uploader_id],
    )
    .map(|n| n.max(0) as u64)
}

/// In a files directory several instances share, leftovers younger than
/// this are left alone (see `sweep_files`).
pub const SHARED_SWEEP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

impl Store {
    /// How many bytes a user may still upload under `quota`.
    pub fn storage_left(&self, uploader_id: i64, quota: u64) -> Result<u64> {
        let used = self.read(Part::Chat, |sql| used_by(sql, uploader_id))?;
        Ok(quota.saturating_sub(used))
    }

    /// Keeps a written upload: its bytes under their hash, its row — if
    /// the uploader is still a member of the group and within `quota`.
    /// The bytes get their name first (renamed and synced outside the
    /// database's write lock, which every message waits for), then the row
    /// commits; both under the link lock, so a deletion of the same bytes
    /// cannot come between. Bytes whose row is refused are released again.
    pub fn keep_file(
        &self,
        new: &NewFile,
        written: Written,
        quota: u64,
        now: i64,
    ) -> Result<std::result::Result<StoredFile, NotKept>> {
        let _linking = crate::sync::lock(&self.blobs.link);
        let sha256 = written.sha256.clone();
        let size = written.size;
        self.blobs.keep(written).map_err(|e| io_failure(self, e))?;
        let kept = self.write(Part::Chat, |sql| {
            sql.begin()?;
            sql.serialize(&format!("quota of {}", new.uploader_id))?;
            let member: bool = sql.value(
                "SELECT EXISTS (SELECT 1 FROM memberships WHERE group_id = ?1 AND user_id = ?2)",
                &[&new.group_id, &new.uploader_id],
            )?;
            if !member {
                return Ok(Err(NotKept::NotMember));
            }
            let left = quota.saturating_sub(used_by(sql, new.uploader_id)?);
            if size > left {
                return Ok(Err(NotKept::OverQuota { left }));
            }
            let f = sql
                .row(
                    INSERT,
                    &[
                        &new.group_id,
                        &new.uploader_id,
                        &new.name,
                        &new.content_type,
                        &size,
                        &sha256,
                        &new.width.map(i64::from),
                        &new.height.map(i64::from),
                        &new.inline,
                        &now,
                    ],
                    file_row,
                )?
                .ok_or_else(|| StoreError::Mismatch("an insert returned no row".to_string()))?;
            sql.commit()?;
            Ok(Ok(f))
        });
        if !matches!(kept, Ok(Ok(_))) {
            // The bytes were named for a row that did not commit.
            self.release_locked(&[sha256]);
        }
        kept
    }

    /// Removes the blobs among `hashes` that no row names any more.
    pub(super) fn release(&self, hashes: &[String]) {
        if hashes.is_empty() {
            return;
        }
        let _linking = crate::sync::lock(&self.blobs.link);
        self.release_locked(hashes);
    }

    /// In PostgreSQL mode the bytes stay for the sweep (`sweep_files`, every
    /// hour): another instance may be naming the same bytes right now, and
    /// `link` is this process's alone.
    fn release_locked(&self, hashes: &[String]) {
        if self.is_postgres() {
            return;
        }
        for h in hashes {
            let named = self.read(Part::Chat, |sql| {
                sql.value::<bool>(
                    "SELECT EXISTS (SELECT 1 FROM files WHERE sha256 = ?1)",
                    &[h],
                )
            });
            if let Ok(false) = named {
                self.blobs.remove(h);
            }
        }
    }

    /// A file, if `user_id` is a member of its group (else as if missing).
    pub fn file_for(&self, user_id: i64, file_id: i64) -> Result<Option<StoredFile>> {
        self.read(Part::Chat, |sql| {
            sql.row(
                &format!(
                    "SELECT {COLS} FROM files f
                     JOIN memberships m ON m.group_id = f.group_id AND m.user_id = ?2
                     WHERE f.id = ?1"
                ),
                &[&file_id, &user_id],
                file_row,
            )
        })
    }

    /// Opens a stored file's bytes.
    pub fn open_file(&self, f: &StoredFile) -> std::io::Result<std::fs::File> {
        self.blobs.open_blob(&f.sha256)
    }

    /// Removes uploads never attached to a message since before `cutoff`.
    /// Returns how many.
    pub fn expire_unattached(&self, cutoff: i64) -> Result<usize> {
        let hashes: Vec<String> = self.write(Part::Chat, |sql| {
            sql.rows(
                "DELETE FROM files WHERE message_id IS NULL AND created_at < ?1 RETURNING sha256",
                &[&cutoff],
                |r| r.get(0),
            )
        })?;
        self.release(&hashes);
        Ok(hashes.len())
    }

    /// Removes what interrupted uploads left: their temporary files, and
    /// blobs no row names (a crash between naming the bytes and committing
    /// the row, or a restore that replaced the rows). Only for the process
    /// holding the data directory (the server at start, `restore`): another
    /// process's upload in flight would look like leftovers. In PostgreSQL
    /// mode the files directory is every instance's, so only what is older
    /// than `SHARED_SWEEP_AGE` goes (no upload takes that long between its
    /// first byte and its row).
    pub fn sweep_files(&self) -> Result<usize> {
        let before = self
            .is_postgres()
            .then(|| std::time::SystemTime::now() - SHARED_SWEEP_AGE);
        let _linking = crate::sync::lock(&self.blobs.link);
        let mut removed = self
            .blobs
            .clear_tmp(before)
            .map_err(|e| io_failure(self, e))?;
        let on_disk = self.blobs.all(before).map_err(|e| io_failure(self, e))?;
        let named: std::collections::HashSet<String> = self
            .read(Part::Chat, |sql| {
                sql.rows("SELECT DISTINCT sha256 FROM files", &[], |r| r.get(0))
            })?
            .into_iter()
            .collect();
        for h in on_disk.iter().filter(|h| !named.contains(*h)) {
            self.blobs.remove(h);
            removed += 1;
        }
        Ok(removed)
    }

    /// Bytes on disk: each distinct blob once.
    pub fn stored_bytes(&self) -> Result<u64> {
        self.read(Part::Chat, |sql| {
            sql.value::<i64>(
                "SELECT CAST(coalesce(sum(size), 0) AS BIGINT)
                 FROM (SELECT sha256, max(size) AS size FROM files GROUP BY sha256) AS blobs",
                &[],
            )
            .map(|n| n.max(0) as u64)
        })
    }

    /// Every file row (for backups and exports), oldest first.
    pub fn all_files(&self) -> Result<Vec<StoredFile>> {
        self.read(Part::Chat, |sql| {
            sql.rows(
                &format!("SELECT {COLS} FROM files f ORDER BY f.id"),
                &[],
                file_row,
            )
        })
    }

    /// The attached files of a group, oldest first (for export).
    pub fn group_files(&self, group_id: i64) -> Result<Vec<StoredFile>> {
        self.read(Part::Chat, |sql| {
            sql.rows(
                &format!(
                    "SELECT {COLS} FROM files f WHERE f.group_id = ?1 AND f.message_id IS NOT NULL ORDER BY f.id"
                ),
                &[&group_id],
                file_row,
            )
        })
    }

    /// A file-system failure while writing an upload, as a `StoreError`.
    pub fn file_error(&self, error: std::io::Error) -> StoreError {
        io_failure(self, error)
    }

    /// Starts writing an upload's bytes (see `blobs.rs`).
    pub fn new_upload(&self) -> Result<super::blobs::Incoming> {
        self.blobs.create().map_err(|e| io_failure(self, e))
    }

    /// Where the blobs live.
    pub fn files_dir(&self) -> &std::path::Path {
        self.blobs.root()
    }
}

const INSERT: &str = "INSERT INTO files (group_id, uploader_id, name, content_type, size, sha256,
        width, height, inline, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
     RETURNING id, group_id, uploader_id, message_id, name, content_type,
        size, sha256, width, height, inline, created_at";

/// A file-system failure as a `StoreError` (a full disk or quota is `Full`).
pub(super) fn io_failure(store: &Store, error: std::io::Error) -> StoreError {
    if error.raw_os_error() == Some(libc::ENOSPC) || error.raw_os_error() == Some(libc::EDQUOT) {
        super::full::noted();
        return StoreError::Full;
    }
    StoreError::Io {
        path: store.files_dir().to_path_buf(),
        error,
    }
}
