//! PostgreSQL, the second engine: its schema (`schema.rs`), the pool of
//! connections every query goes through (`pool.rs`) and the migration of
//! a SQLite data directory into it (`copy.rs`, `securechat migrate --to`).
//! The queries themselves are the store's own, written once for both
//! engines (see `sql.rs`).

mod bus;
mod copy;
mod pool;
mod schema;

pub use bus::{BEAT, Beat, DEAD_AFTER_MS, PresenceRow, SWEPT, Subscription};
pub use copy::Copied;

/// `url` with the password of its user info left out (for logs and output).
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "the database".into();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (auth, host),
        None => ("", rest),
    };
    let user = auth.split(':').next().unwrap_or("");
    let at = if user.is_empty() { "" } else { "@" };
    // A password can also come as a query parameter.
    let host = host.split('?').next().unwrap_or(host);
    format!("{scheme}://{user}{at}{host}")
}

pub use pool::{Conn, Pool};

/// Brings the schema of the database `conn` is connected to up to date.
pub fn migrate(conn: &mut Conn) -> crate::store::Result<()> {
    schema::migrate(conn.client())
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
        assert_eq!(w("postgres://db/chat?password=x"), "postgres://db/chat");
        assert_eq!(w("host=db password=x"), "the database");
    }
}
