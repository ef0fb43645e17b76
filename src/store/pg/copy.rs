//! `securechat migrate --to postgres://…`: a SQLite data directory copied
//! into an empty PostgreSQL database, table by table in the order their
//! references need, ids kept (identities set past the highest id SQLite
//! ever gave, so none is reused), all in one transaction that commits only
//! if every table's count matches its source.

use std::io::Write;

use postgres::{Client, NoTls, Transaction};
use rusqlite::types::Value;

use super::schema;
use crate::store::{Db, Result, Store, StoreError};

/// Which SQLite file a table lives in.
#[derive(Clone, Copy)]
enum File {
    Users,
    Chat,
}

/// Every table that is copied, in an order that satisfies its references.
const TABLES: &[(&str, File)] = &[
    ("users", File::Users),
    ("sessions", File::Users),
    ("device_keys", File::Users),
    ("server_invites", File::Users),
    ("reset_links", File::Users),
    ("settings", File::Users),
    ("groups", File::Chat),
    ("memberships", File::Chat),
    ("messages", File::Chat),
    ("invites", File::Chat),
    ("reactions", File::Chat),
    ("read_state", File::Chat),
    ("mentions", File::Chat),
    ("files", File::Chat),
];

/// What one table's copy did.
pub struct Copied {
    pub table: &'static str,
    pub rows: i64,
}

impl Store {
    /// Copies this data directory into the empty database at `url` (see
    /// the module doc). The caller holds the data directory's lock.
    pub fn migrate_to_postgres(&self, url: &str) -> Result<Vec<Copied>> {
        let lite = self.lite().ok_or(StoreError::Unsupported(
            "migrate copies a SQLite data directory: run it without --database",
        ))?;
        let mut client = Client::connect(url, NoTls)?;
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                &[],
            )?
            .get(0);
        if tables > 0 {
            return Err(StoreError::NotEmpty { tables });
        }
        schema::migrate(&mut client)?;
        let mut tx = client.transaction()?;
        let mut done = Vec::new();
        for &(table, file) in TABLES {
            let db = match file {
                File::Users => &lite.users,
                File::Chat => &lite.chat,
            };
            let rows = copy_table(db, &mut tx, table)?;
            done.push(Copied { table, rows });
        }
        tx.commit()?;
        Ok(done)
    }
}

/// Copies one table; returns its row count (checked against the source).
fn copy_table(db: &Db, tx: &mut Transaction<'_>, table: &'static str) -> Result<i64> {
    // The target's columns, minus generated ones (the search vector), and
    // whether its `id` is an identity (its counter is set after the copy).
    let described = tx.query(
        "SELECT column_name, is_identity = 'YES' FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'
         ORDER BY ordinal_position",
        &[&table],
    )?;
    let columns: Vec<String> = described.iter().map(|r| r.get(0)).collect();
    let identity = described
        .iter()
        .any(|r| r.get::<_, String>(0) == "id" && r.get::<_, bool>(1));
    let list = columns.join(", ");
    // COPY: one stream per table (a statement per row was ~11,000 rows/s
    // on loopback, waiting for each answer). COPY writes identity columns
    // with the values given, as INSERT's OVERRIDING SYSTEM VALUE would.
    let mut failed: Option<std::io::Error> = None;
    let mut out = tx.copy_in(&format!("COPY {table} ({list}) FROM STDIN"))?;
    let source: i64 = db.read(|c| {
        let mut st = c.prepare(&format!("SELECT {list} FROM {table}"))?;
        let n = st.column_count();
        let mut rows = st.query([])?;
        let mut line = String::new();
        let mut count = 0;
        while let Some(r) = rows.next()? {
            line.clear();
            for i in 0..n {
                if i > 0 {
                    line.push('\t');
                }
                field(&r.get::<_, Value>(i)?, &mut line);
            }
            line.push('\n');
            if let Err(e) = out.write_all(line.as_bytes()) {
                failed = Some(e);
                break;
            }
            count += 1;
        }
        Ok(count)
    })?;
    if let Some(e) = failed {
        return Err(StoreError::Io {
            path: format!("COPY {table}").into(),
            error: e,
        });
    }
    out.finish()?;
    if identity {
        // Past the highest id ever given (SQLite's AUTOINCREMENT counter
        // remembers deleted ones), so no id is handed out twice.
        let given: i64 = db.read(|c| {
            c.query_row(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0),
                            coalesce((SELECT max(id) FROM main.{table}), 0))"
                    .replace("{table}", table)
                    .as_str(),
                [table],
                |r| r.get(0),
            )
        })?;
        if given > 0 {
            tx.execute(
                "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)",
                &[&table, &given],
            )?;
        }
    }
    let copied: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])?
        .get(0);
    if copied != source {
        return Err(StoreError::Miscounted {
            table,
            source,
            copied,
        });
    }
    Ok(copied)
}

/// A SQLite value in COPY's text format: `\N` for NULL, backslash, tab,
/// newline and carriage return escaped.
fn field(v: &Value, line: &mut String) {
    use std::fmt::Write;
    match v {
        Value::Null => line.push_str("\\N"),
        Value::Integer(i) => {
            let _ = write!(line, "{i}");
        }
        Value::Real(r) => {
            let _ = write!(line, "{r}");
        }
        Value::Text(t) => escape(t, line),
        Value::Blob(b) => escape(&String::from_utf8_lossy(b), line),
    }
}

fn escape(t: &str, line: &mut String) {
    for ch in t.chars() {
        match ch {
            '\\' => line.push_str("\\\\"),
            '\t' => line.push_str("\\t"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c => line.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_fields_escape_what_copy_reads_specially() {
        let mut line = String::new();
        field(&Value::Text("a\tb\nc\\d\re".into()), &mut line);
        assert_eq!(line, "a\\tb\\nc\\\\d\\re");
        line.clear();
        field(&Value::Null, &mut line);
        field(&Value::Integer(-7), &mut line);
        assert_eq!(line, "\\N-7");
    }
}
