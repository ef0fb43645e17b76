//! One way to speak SQL to either engine, so every query of the store is
//! written once. A query is plain SQL that both SQLite and PostgreSQL read
//! alike, with numbered parameters `?1`, `?2`, … (rewritten to `$1` for
//! PostgreSQL); values go in as `Param`s and come out through `Col`, which
//! accepts what either engine returns for the same expression (SQLite's
//! 0/1 for a boolean, PostgreSQL's `bool`; its `int4` for a literal).
//!
//! Rules the queries follow (the reasons are PostgreSQL's):
//! - a constraint error aborts a PostgreSQL transaction, so nothing catches
//!   one and goes on: `ON CONFLICT … DO NOTHING` and `RETURNING` say what
//!   happened instead;
//! - a parameter whose type PostgreSQL cannot infer (`SELECT ?1` feeding an
//!   `INSERT`, `?1 IS NULL` alone) is written `CAST(?1 AS BIGINT)` / `TEXT`;
//! - where the dialects differ (scalar `max` vs `greatest`), `Sql::pg`
//!   picks the spelling.
//!
//! Transactions: `begin` and `commit` on the connection a `Store` call was
//! given; one that is still open when the call returns is rolled back (an
//! early `return` undoes its writes, as dropping a rusqlite transaction did).

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::pg::Conn;
use super::{Result, StoreError};

/// A connection of either engine, lent for one `Store` call.
pub enum Sql<'c> {
    Lite(&'c rusqlite::Connection),
    Pg(&'c mut Conn),
}

/// A value for a parameter.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Anything that can be a parameter.
pub trait Param {
    fn value(&self) -> Value<'_>;
}

impl Param for i64 {
    fn value(&self) -> Value<'_> {
        Value::Int(*self)
    }
}

impl Param for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl Param for usize {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Param for u64 {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        match self {
            Some(v) => v.value(),
            None => Value::Null,
        }
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(i),
            Value::Real(r) => ValueRef::Real(r),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl ToSql for Value<'_> {
    /// Written as the type PostgreSQL inferred for the parameter: an
    /// integer goes into `int8`, `int4` (checked) or `bool` alike.
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let int = [Type::INT8, Type::INT4, Type::BOOL].contains(ty);
        let text = [Type::TEXT, Type::VARCHAR].contains(ty);
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) if *ty == Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
            Value::Int(i) if *ty == Type::BOOL => (i != 0).to_sql(ty, out),
            Value::Int(i) if int => i.to_sql(ty, out),
            Value::Real(r) if *ty == Type::FLOAT8 => r.to_sql(ty, out),
            Value::Text(s) if text => s.to_sql(ty, out),
            Value::Blob(b) if *ty == Type::BYTEA => b.to_sql(ty, out),
            // A parameter of another type than its column: refused, never
            // written as the bits of another.
            other => Err(format!("{other:?} cannot be written as {ty}").into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::INT8,
            Type::INT4,
            Type::FLOAT8,
            Type::BOOL,
            Type::TEXT,
            Type::VARCHAR,
            Type::BYTEA,
        ]
        .contains(ty)
    }

    to_sql_checked!();
}

/// One result row.
pub enum Row<'r> {
    Lite(&'r rusqlite::Row<'r>),
    Pg(&'r postgres::Row),
}

impl Row<'_> {
    /// Column `i`, as `T`.
    pub fn get<T: Col>(&self, i: usize) -> Result<T> {
        match self {
            Row::Lite(r) => T::lite(r.get_ref(i)?),
            Row::Pg(r) => T::pg(r, i),
        }
    }
}

/// A type a column can be read as.
pub trait Col: Sized {
    fn lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self>;
    fn pg(row: &postgres::Row, i: usize) -> Result<Self>;
}

fn mismatch(what: &str) -> StoreError {
    StoreError::Mismatch(what.to_string())
}

impl Col for Option<i64> {
    fn lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self> {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(i) => Ok(Some(i)),
            _ => Err(mismatch("an integer column holds another type")),
        }
    }

    fn pg(row: &postgres::Row, i: usize) -> Result<Self> {
        let ty = row
            .columns()
            .get(i)
            .ok_or_else(|| mismatch("no such column"))?
            .type_()
            .clone();
        Ok(if ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?
        } else if ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?.map(i64::from)
        } else if ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?.map(i64::from)
        } else if ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?.map(i64::from)
        } else {
            return Err(mismatch("an integer column is of another type"));
        })
    }
}

impl Col for i64 {
    fn lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self> {
        Option::<i64>::lite(v)?.ok_or_else(|| mismatch("an integer column is NULL"))
    }

    fn pg(row: &postgres::Row, i: usize) -> Result<Self> {
        Option::<i64>::pg(row, i)?.ok_or_else(|| mismatch("an integer column is NULL"))
    }
}

impl Col for bool {
    fn lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self> {
        i64::lite(v).map(|i| i != 0)
    }

    fn pg(row: &postgres::Row, i: usize) -> Result<Self> {
        i64::pg(row, i).map(|i| i != 0)
    }
}

impl Col for Option<bool> {
    fn lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self> {
        Option::<i64>::lite(v).map(|i| i.map(|i| i != 0))
    }

    fn pg(row: &postgres::Row, i: usize) -> Result<Self> {
        Option::<i64>::pg(row, i).map(|i| i.map(|i| i != 0))
    }
}

impl Col for Option<f64> {
    fn lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self> {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Ok(None),
            ValueRef::Real(r) => Ok(Some(r)),
            ValueRef::Integer(i) => Ok(Some(i as f64)),
            _ => Err(mismatch("a number column holds another type")),
        }
    }

    fn pg(row: &postgres::Row, i: usize) -> Result<Self> {
        Ok(row.try_get::<_, Option<f64>>(i)?)
    }
}

impl Col for f64 {
    fn lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self> {
        Option::<f64>::lite(v)?.ok_or_else(|| mismatch("a number column is NULL"))
    }

    fn pg(row: &postgres::Row, i: usize) -> Result<Self> {
        Option::<f64>::pg(row, i)?.ok_or_else(|| mismatch("a number column is NULL"))
    }
}

impl Col for Option<String> {
    fn lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self> {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => String::from_utf8(t.to_vec())
                .map(Some)
                .map_err(|_| mismatch("a text column is not UTF-8")),
            ValueRef::Integer(i) => Ok(Some(i.to_string())),
            _ => Err(mismatch("a text column holds another type")),
        }
    }

    fn pg(row: &postgres::Row, i: usize) -> Result<Self> {
        Ok(row.try_get::<_, Option<String>>(i)?)
    }
}

impl Col for String {
    fn lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self> {
        Option::<String>::lite(v)?.ok_or_else(|| mismatch("a text column is NULL"))
    }

    fn pg(row: &postgres::Row, i: usize) -> Result<Self> {
        Option::<String>::pg(row, i)?.ok_or_else(|| mismatch("a text column is NULL"))
    }
}

impl Col for Option<Vec<u8>> {
    fn lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self> {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(b) | ValueRef::Text(b) => Ok(Some(b.to_vec())),
            _ => Err(mismatch("a blob column holds another type")),
        }
    }

    fn pg(row: &postgres::Row, i: usize) -> Result<Self> {
        Ok(row.try_get::<_, Option<Vec<u8>>>(i)?)
    }
}

impl Col for Vec<u8> {
    fn lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self> {
        Option::<Vec<u8>>::lite(v)?.ok_or_else(|| mismatch("a blob column is NULL"))
    }

    fn pg(row: &postgres::Row, i: usize) -> Result<Self> {
        Option::<Vec<u8>>::pg(row, i)?.ok_or_else(|| mismatch("a blob column is NULL"))
    }
}

impl Sql<'_> {
    /// Whether this is PostgreSQL (for the few spellings that differ).
    pub fn pg(&self) -> bool {
        matches!(self, Sql::Pg(_))
    }

    /// Runs a statement; returns the rows it changed.
    pub fn exec(&mut self, sql: &str, params: &[&dyn Param]) -> Result<u64> {
        let values: Vec<Value<'_>> = params.iter().map(|p| p.value()).collect();
        match self {
            Sql::Lite(c) => {
                let n = c
                    .prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(values.iter()))?;
                Ok(n as u64)
            }
            Sql::Pg(c) => c.execute(sql, &values),
        }
    }

    /// Runs statements without parameters, one after another.
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Sql::Lite(c) => Ok(c.execute_batch(sql)?),
            Sql::Pg(c) => c.batch(sql),
        }
    }

    /// Every row of a query, each read by `f`.
    pub fn rows<T>(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let values: Vec<Value<'_>> = params.iter().map(|p| p.value()).collect();
        match self {
            Sql::Lite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let mut rows = st.query(rusqlite::params_from_iter(values.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Lite(r))?);
                }
                Ok(out)
            }
            Sql::Pg(c) => c
                .query(sql, &values)?
                .iter()
                .map(|r| f(&Row::Pg(r)))
                .collect(),
        }
    }

    /// The first row of a query, if any, read by `f`.
    pub fn row<T>(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let values: Vec<Value<'_>> = params.iter().map(|p| p.value()).collect();
        match self {
            Sql::Lite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let mut rows = st.query(rusqlite::params_from_iter(values.iter()))?;
                match rows.next()? {
                    Some(r) => f(&Row::Lite(r)).map(Some),
                    None => Ok(None),
                }
            }
            Sql::Pg(c) => match c.query(sql, &values)?.first() {
                Some(r) => f(&Row::Pg(r)).map(Some),
                None => Ok(None),
            },
        }
    }

    /// The first column of the first row of a query that always returns
    /// one (a count, `EXISTS`, an insert's `RETURNING id`).
    pub fn value<T: Col>(&mut self, sql: &str, params: &[&dyn Param]) -> Result<T> {
        self.row(sql, params, |r| r.get(0))?
            .ok_or_else(|| mismatch("a query that returns a row returned none"))
    }

    /// In PostgreSQL, makes the open transaction wait for any other holding
    /// `what` (until commit): for a check and a write that SQLite's single
    /// writer kept together — the last admin, a group's owner, a name.
    pub fn serialize(&mut self, what: &str) -> Result<()> {
        if self.pg() {
            self.exec("SELECT pg_advisory_xact_lock(hashtext(?1))", &[&what])?;
        }
        Ok(())
    }

    /// Starts a transaction (see the module doc for how it ends).
    pub fn begin(&mut self) -> Result<()> {
        self.batch("BEGIN")
    }

    /// Commits the open transaction.
    pub fn commit(&mut self) -> Result<()> {
        self.batch("COMMIT")
    }

    /// Whether a transaction is open.
    fn in_transaction(&self) -> bool {
        match self {
            Sql::Lite(c) => !c.is_autocommit(),
            Sql::Pg(c) => c.in_transaction(),
        }
    }

    /// Rolls back a transaction the call left open.
    pub fn finish(&mut self) -> Result<()> {
        if self.in_transaction() {
            self.batch("ROLLBACK")?;
        }
        Ok(())
    }
}

/// `sql` with `?N` placeholders written `$N`, as PostgreSQL reads them
/// (none of our queries holds a `?` inside a string literal; one that did
/// would be left alone).
pub fn dollar_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_quote = false;
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => {
                in_quote = !in_quote;
                out.push(ch);
            }
            '?' if !in_quote && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(ch),
        }
    }
    out
}

/// Whether an error is a UNIQUE or PRIMARY KEY violation (for statements
/// outside a transaction; inside one, see the module doc).
pub fn is_unique_violation(e: &StoreError) -> bool {
    match e {
        StoreError::Engine(e) => super::sqlite::is_unique_violation(e),
        StoreError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_outside_string_literals_only() {
        assert_eq!(
            dollar_params("SELECT ?1, '?2', x FROM t WHERE a = ?12 AND b = ?"),
            "SELECT $1, '?2', x FROM t WHERE a = $12 AND b = ?"
        );
    }

    #[test]
    fn sqlite_rows_read_through_the_common_types() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let mut sql = Sql::Lite(&c);
        sql.batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, flag INTEGER)")
            .unwrap();
        let none: Option<i64> = None;
        let id: i64 = sql
            .value(
                "INSERT INTO t (name, flag) VALUES (?1, ?2) RETURNING id",
                &[&"a", &true],
            )
            .unwrap();
        sql.exec("INSERT INTO t (name, flag) VALUES (?1, ?2)", &[&"b", &none])
            .unwrap();
        let rows = sql
            .rows("SELECT id, name, flag FROM t ORDER BY id", &[], |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<String>(1)?,
                    r.get::<Option<bool>>(2)?,
                ))
            })
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (id, "a".to_string(), Some(true)),
                (id + 1, "b".to_string(), None)
            ]
        );
        assert!(
            sql.value::<bool>("SELECT EXISTS (SELECT 1 FROM t)", &[])
                .unwrap()
        );
        sql.begin().unwrap();
        sql.exec("DELETE FROM t", &[]).unwrap();
        sql.finish().unwrap();
        assert_eq!(
            sql.value::<i64>("SELECT count(*) FROM t", &[]).unwrap(),
            2,
            "an unfinished transaction is rolled back"
        );
    }
}
