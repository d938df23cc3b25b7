//! Which database engine is behind the pools, and the SQL that differs between them.

/// Which database engine is behind the pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in WAL mode (the default).
    Sqlite,
    /// PostgreSQL, for several perma processes on one state.
    Postgres,
}

impl Backend {
    /// The engine behind a connection of the pools.
    pub fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name().eq_ignore_ascii_case("postgresql") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// `rows` copies of `row` (say `(?, ?, NULL, ?)`), comma-separated, for a multi-row
    /// statement whose only placeholders they are, bound row by row in order. PostgreSQL
    /// gets the `?` numbered (`$1`, `$2`, …); SQLite keeps them anonymous, because it finds
    /// a numbered placeholder by a linear scan of the statement's names each time a value
    /// is bound: n numbered placeholders cost n² (a 500-row insert of 3,500 values spent
    /// more time there than in writing its rows).
    pub fn rows(self, row: &str, rows: usize) -> String {
        let mut out = String::with_capacity((row.len() + 8) * rows);
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                out.push_str(", ");
            }
            for c in row.chars() {
                match (c, self) {
                    ('?', Backend::Postgres) => {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    }
                    _ => out.push(c),
                }
            }
        }
        out
    }
}
