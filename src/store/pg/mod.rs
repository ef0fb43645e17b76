//! PostgreSQL, the second engine: its schema (`schema.rs`), the pool of
//! connections every query goes through (`pool.rs`) and the migration of
//! a SQLite data directory into it (`copy.rs`, `securechat migrate --to`).
//! The queries themselves are the store's own, written once for both
//! engines (see `sql.rs`).

mod copy;
mod pool;
mod schema;

pub use copy::Copied;
pub use pool::{Conn, Pool};

/// Brings the schema of the database `conn` is connected to up to date.
pub fn migrate(conn: &mut Conn) -> crate::store::Result<()> {
    schema::migrate(conn.client())
}
