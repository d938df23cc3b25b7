//! Reads of one stack's rows that many tables share: one row by a key within the stack,
//! and every row, oldest first.

use sqlx::any::AnyRow;

use super::Db;

impl Db {
    /// The row of a stack's `table` whose `column` (a key within the stack) is `value`,
    /// read by `map`.
    pub(super) async fn stack_row<T>(
        &self,
        table: &'static str,
        column: &'static str,
        (api_key, value): (&str, &str),
        map: fn(&AnyRow) -> sqlx::Result<T>,
    ) -> sqlx::Result<Option<T>> {
        sqlx::query(&format!(
            "SELECT * FROM {table} WHERE api_key = $1 AND {column} = $2"
        ))
        .bind(api_key)
        .bind(value)
        .fetch_optional(&self.read)
        .await?
        .map(|r| map(&r))
        .transpose()
    }

    /// Every row of a stack's `table`, oldest first, read by `map`.
    pub(super) async fn stack_rows<T>(
        &self,
        table: &'static str,
        api_key: &str,
        map: fn(&AnyRow) -> sqlx::Result<T>,
    ) -> sqlx::Result<Vec<T>> {
        sqlx::query(&format!(
            "SELECT * FROM {table} WHERE api_key = $1 ORDER BY created_at, uid"
        ))
        .bind(api_key)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(map)
        .collect()
    }
}
