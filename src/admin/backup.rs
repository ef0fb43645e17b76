//! `securechat backup DEST_DIR` (a consistent online copy of both databases,
//! and the files, safe while the server writes), `securechat restore
//! SRC_DIR` (server stopped), and `securechat export GROUP [DIR]` (a
//! group's history as JSON Lines, in the protocol's message shape, and its
//! files into DIR).

use std::io::Write;
use std::path::Path;

use super::{AdminError, Result};
use crate::chat::protocol::MessageView;
use crate::store::{Location, Store};

pub fn backup(store: &Store, dest: &Path) -> Result<()> {
    for f in store.backup_to(dest)? {
        println!("{}  {} bytes  integrity ok", f.path.display(), f.bytes);
    }
    Ok(())
}

pub fn restore(src: &Path, location: &Location) -> Result<()> {
    let _locks = location.lock()?;
    let store = location.open()?;
    for path in store.restore_from(src)? {
        println!("restored {}", path.display());
    }
    Ok(())
}

/// Writes every live message of a group (by id or exact name), oldest
/// first, one JSON object per line; with `files_to`, copies the files its
/// messages carry there, as `ID-NAME`.
pub fn export(store: &Store, group: &str, files_to: Option<&Path>) -> Result<()> {
    let found = match crate::http::router::parse_id(group) {
        Some(id) => store.group(id)?,
        None => store.group_by_name(group)?,
    };
    let g = found.ok_or_else(|| AdminError::NoSuchGroup(group.to_string()))?;
    let out = std::io::stdout();
    let mut out = out.lock();
    let mut after = 0;
    loop {
        let page = store.messages_after(g.id, after, 1000)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for m in &page {
            let line = serde_json::to_string(&MessageView::new(m))
                .map_err(|e| AdminError::Io(e.into()))?;
            writeln!(out, "{line}")?;
        }
    }
    if let Some(dir) = files_to {
        std::fs::create_dir_all(dir)?;
        for f in store.group_files(g.id)? {
            let mut from = store.open_file(&f)?;
            let mut to = std::fs::File::create_new(dir.join(format!("{}-{}", f.id, f.name)))?;
            std::io::copy(&mut from, &mut to)?;
        }
    }
    Ok(())
}
