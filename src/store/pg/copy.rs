//! `securechat migrate --to postgres://…`: a SQLite data directory copied
//! into an empty PostgreSQL database, table by table in the order their
//! references need, ids kept (identities set past the highest id SQLite
//! ever gave, so none is reused), all in one transaction that commits only
//! if every table's count matches its source.

use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Transaction};
use rusqlite::types::Value;

use super::schema;
use crate::store::{Db, Result, Store, StoreError};

/// Which file a table lives in.
#[derive(Clone, Copy)]
enum From {
    Users,
    Chat,
}

/// Every table that is copied, in an order that satisfies its references,
/// and whether its `id` is an identity.
const TABLES: &[(&str, From, bool)] = &[
    ("users", From::Users, true),
    ("sessions", From::Users, false),
    ("device_keys", From::Users, true),
    ("server_invites", From::Users, false),
    ("reset_links", From::Users, false),
    ("settings", From::Users, false),
    ("groups", From::Chat, true),
    ("memberships", From::Chat, false),
    ("messages", From::Chat, true),
    ("invites", From::Chat, false),
    ("reactions", From::Chat, false),
    ("read_state", From::Chat, false),
    ("mentions", From::Chat, false),
    ("files", From::Chat, true),
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
        for &(table, from, identity) in TABLES {
            let db = match from {
                From::Users => &self.users,
                From::Chat => &self.chat,
            };
            let rows = copy_table(db, &mut tx, table, identity)?;
            done.push(Copied { table, rows });
        }
        tx.commit()?;
        Ok(done)
    }
}

/// Copies one table; returns its row count (checked against the source).
fn copy_table(
    db: &Db,
    tx: &mut Transaction<'_>,
    table: &'static str,
    identity: bool,
) -> Result<i64> {
    // The target's columns, minus generated ones (the search vector).
    let columns: Vec<String> = tx
        .query(
            "SELECT column_name FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'
             ORDER BY ordinal_position",
            &[&table],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let list = columns.join(", ");
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let overriding = if identity {
        "OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let insert = tx.prepare(&format!(
        "INSERT INTO {table} ({list}) {overriding} VALUES ({})",
        marks.join(", ")
    ))?;
    let types = insert.params().to_vec();
    // Streamed: each row goes out as it is read (a million messages are
    // never in memory at once).
    let mut failed: Option<postgres::Error> = None;
    let source: i64 = db.read(|c| {
        let mut st = c.prepare(&format!("SELECT {list} FROM {table}"))?;
        let n = st.column_count();
        let mut rows = st.query([])?;
        let mut count = 0;
        while let Some(r) = rows.next()? {
            let params: Vec<Box<dyn ToSql + Sync>> = (0..n)
                .zip(&types)
                .map(|(i, ty)| r.get::<_, Value>(i).map(|v| param(&v, ty)))
                .collect::<rusqlite::Result<_>>()?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
            if let Err(e) = tx.execute(&insert, &refs) {
                failed = Some(e);
                break;
            }
            count += 1;
        }
        Ok(count)
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
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

/// A SQLite value as the parameter the target column takes.
fn param(v: &Value, ty: &Type) -> Box<dyn ToSql + Sync> {
    match (v, *ty == Type::TEXT) {
        (Value::Integer(i), false) => Box::new(*i),
        (Value::Integer(i), true) => Box::new(i.to_string()),
        (Value::Real(r), false) => Box::new(*r as i64),
        (Value::Real(r), true) => Box::new(r.to_string()),
        (Value::Text(t), true) => Box::new(t.clone()),
        (Value::Text(t), false) => Box::new(t.parse::<i64>().ok()),
        (Value::Blob(b), true) => Box::new(String::from_utf8_lossy(b).into_owned()),
        (Value::Blob(_), false) | (Value::Null, false) => Box::new(None::<i64>),
        (Value::Null, true) => Box::new(None::<String>),
    }
}
