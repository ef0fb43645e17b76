//! `securechat migrate --to postgres://…`: copies this data directory into
//! an empty PostgreSQL database (see `store::pg`), beside no running server,
//! and says what it copied. The URL's password is never printed.

use std::path::Path;

use super::Result;
use crate::store::{DirLock, Store};

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

/// `url` with the password of its user info left out.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "the database".into();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (auth, host),
        None => ("", rest),
    };
    let user = auth.split(':').next().unwrap_or("");
    let at = if user.is_empty() { "" } else { "@" };
    format!("{scheme}://{user}{at}{host}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_password_is_left_out() {
        let w = super::without_password;
        assert_eq!(
            w("postgres://bob:s3cret@db:5432/chat"),
            "postgres://bob@db:5432/chat"
        );
        assert_eq!(w("postgres://db/chat"), "postgres://db/chat");
        assert_eq!(w("postgres://bob@db/chat"), "postgres://bob@db/chat");
        assert_eq!(w("host=db password=x"), "the database");
    }
}
