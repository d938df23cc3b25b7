//! Statements run straight on a test server's database, on either backend: for what the API
//! cannot arrange (a deletion days ago, thousands of versions, a schema from before a
//! migration).

use sqlx::Connection;

use crate::support::TestApp;

/// A value bound to a statement.
pub(crate) enum Arg<'a> {
    Text(&'a str),
    Int(i64),
}

fn bound<'q>(
    sql: &'q str,
    args: &'q [Arg<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(*s),
            Arg::Int(n) => q.bind(*n),
        };
    }
    q
}

/// Runs `sql` once per row of `rows` (several statements at once when `rows` is empty),
/// over one connection to the app's database.
pub(crate) async fn run_sql(t: &TestApp, sql: &str, rows: &[Vec<Arg<'_>>]) {
    sqlx::any::install_default_drivers();
    let url = t.app.config.database_url();
    let mut c = sqlx::AnyConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    if rows.is_empty() {
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        return;
    }
    for args in rows {
        bound(sql, args).execute(&mut c).await.unwrap();
    }
}
