//! `securechat migrate --to postgres://…`: copies this data directory into
//! an empty PostgreSQL database (see `store::pg`), beside no running server,
//! and says what it copied. The URL's password is never printed.

use std::path::Path;

use super::Result;
use crate::store::{DirLock, Store, without_password};

pub fn migrate(data_dir: &Path, files_dir: &Path, url: &str) -> Result<()> {
    let _locks = DirLock::acquire_with_files(data_dir, files_dir)?;
    let store = Store::open_with_files(data_dir, files_dir)?;
    let copied = store.migrate_to_postgres(url)?;
    for c in &copied {
        println!("{:<15} {:>9} rows", c.table, c.rows);
    }
    let total: i64 = copied.iter().map(|c| c.rows).sum();
    println!("copied {total} rows into {}", without_password(url));
    println!(
        "uploaded files' bytes stay in {}: give every instance that --files-dir",
        files_dir.display()
    );
    Ok(())
}
