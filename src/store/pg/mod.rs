//! PostgreSQL, the second engine (issue [7/9]). So far: its schema
//! (`schema.rs`) and the migration of a SQLite data directory into it
//! (`copy.rs`, `securechat migrate --to`). Serving from it comes next.

mod copy;
mod schema;

pub use copy::Copied;
