//! The database of one test, from `KEYPORT_TEST_DATABASE`:
//!
//! * unset, empty or `sqlite`: a SQLite file in the test's temp folder;
//! * `postgres://USER@HOST:PORT/DB` (an admin URL): a fresh database
//!   `kp_<random>` created through it, dropped when the test ends (even by
//!   a panic), with every connection to it.
//!
//! The same tests run on both; the helpers here read and write whichever
//! it is, so no test needs to know.

use rand::RngCore;
use serde_json::{Map, Value};
use sqlx::{Column, Connection, Row, TypeInfo, ValueRef};
use std::path::Path;

pub const ENV: &str = "KEYPORT_TEST_DATABASE";

pub struct TestDb {
    url: String,
    pg: Option<Pg>,
}

struct Pg {
    admin: String,
    name: String,
    /// Login roles made for this test (see [`TestDb::login_role`]).
    roles: Vec<String>,
}

/// `kp_` and 16 random hex digits: a database or role name of this test.
fn random_name() -> String {
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!(
        "kp_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// The admin URL of the PostgreSQL server the tests use, if they use one.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var(ENV).unwrap_or_default().as_str() {
        "" | "sqlite" => None,
        url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Some(url.to_string())
        }
        other => panic!("{ENV}={other:?}: use sqlite or postgres://USER@HOST:PORT/DB"),
    }
}

/// `url` with its database (path) replaced, and its user if given.
fn with_database(url: &str, db: &str, user: Option<&str>) -> String {
    let mut u = reqwest::Url::parse(url).expect("a database URL");
    u.set_path(db);
    if let Some(user) = user {
        u.set_username(user).unwrap();
        u.set_password(None).unwrap();
    }
    u.to_string()
}

async fn admin_exec(admin: &str, sql: &str) {
    let mut c = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin} ({ENV}): {e}"));
    sqlx::raw_sql(sql)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = c.close().await;
}

impl TestDb {
    /// A fresh database: `dir/keyport.db`, or a new PostgreSQL database.
    pub async fn create(dir: &Path) -> Self {
        match postgres_admin_url() {
            None => TestDb {
                url: format!("sqlite://{}", dir.join("keyport.db").display()),
                pg: None,
            },
            Some(admin) => {
                let name = random_name();
                admin_exec(&admin, &format!("CREATE DATABASE {name}")).await;
                TestDb {
                    url: with_database(&admin, &name, None),
                    pg: Some(Pg {
                        admin,
                        name,
                        roles: vec![],
                    }),
                }
            }
        }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The query for one key's last use in ms (PostgreSQL keeps it in a
    /// table of its own).
    pub fn last_used_sql(&self, key_id: &str) -> String {
        if self.is_postgres() {
            format!("SELECT at FROM key_last_used WHERE key_id = '{key_id}'")
        } else {
            format!("SELECT last_used_at FROM api_keys WHERE id = '{key_id}'")
        }
    }

    /// The query counting keys with a recorded last use.
    pub fn keys_used_sql(&self) -> String {
        if self.is_postgres() {
            "SELECT COUNT(*) FROM key_last_used".into()
        } else {
            "SELECT COUNT(*) FROM api_keys WHERE last_used_at IS NOT NULL".into()
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// PostgreSQL only: the database's name.
    pub fn name(&self) -> &str {
        &self.pg.as_ref().expect("a PostgreSQL test database").name
    }

    /// PostgreSQL only: the admin URL (a superuser on another database).
    pub fn admin_url(&self) -> &str {
        &self.pg.as_ref().expect("a PostgreSQL test database").admin
    }

    /// PostgreSQL only: a new login role (not a superuser) that owns this
    /// database, and the URL connecting as it. Unlike the superuser, it is
    /// held to the database's CONNECTION LIMIT. Dropped with the database.
    pub async fn login_role(&mut self) -> String {
        let role = random_name();
        let pg = self.pg.as_mut().expect("a PostgreSQL test database");
        admin_exec(
            &pg.admin,
            &format!(
                "CREATE ROLE {role} LOGIN; ALTER DATABASE {} OWNER TO {role}",
                pg.name
            ),
        )
        .await;
        pg.roles.push(role.clone());
        with_database(&pg.admin, &pg.name, Some(&role))
    }

    /// Runs SQL that returns nothing (on the test's database).
    pub async fn execute(&self, sql: &str) {
        match &self.pg {
            Some(_) => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
                let _ = c.close().await;
            }
            None => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
                let _ = c.close().await;
            }
        }
    }

    /// Runs SQL on the admin connection (another database of the server).
    pub async fn admin(&self, sql: &str) {
        admin_exec(self.admin_url(), sql).await;
    }

    /// The rows of a query (portable SQL), each as a JSON object by column
    /// name. Integers are numbers; JSON columns come back as text only when
    /// the query says `CAST(col AS TEXT)` (PostgreSQL keeps them as JSONB).
    pub async fn query(&self, sql: &str) -> Vec<Map<String, Value>> {
        match &self.pg {
            Some(_) => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let rows: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT to_jsonb(q)::text FROM ({sql}) AS q"))
                        .fetch_all(&mut c)
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                let _ = c.close().await;
                rows.iter()
                    .map(|r| serde_json::from_str(r).unwrap())
                    .collect()
            }
            None => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sql)
                    .fetch_all(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                let _ = c.close().await;
                rows.iter().map(sqlite_row).collect()
            }
        }
    }

    /// The first column of the first row; null when there is no row.
    pub async fn scalar(&self, sql: &str) -> Value {
        let rows = self.query(sql).await;
        rows.first()
            .and_then(|row| row.values().next().cloned())
            .unwrap_or(Value::Null)
    }

    /// Every table of the database with every row, all columns as text:
    /// (table, rows). PostgreSQL renders each row itself (`t::text`).
    pub async fn dump(&self) -> Vec<(String, Vec<String>)> {
        let tables: Vec<String> = match &self.pg {
            Some(_) => {
                self.query(
                    "SELECT table_name::text AS t FROM information_schema.tables \
                     WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
                     AND table_type = 'BASE TABLE' ORDER BY 1",
                )
                .await
            }
            None => {
                self.query("SELECT name AS t FROM sqlite_master WHERE type = 'table' ORDER BY 1")
                    .await
            }
        }
        .into_iter()
        .map(|r| r["t"].as_str().unwrap().to_string())
        .collect();
        let mut out = Vec::new();
        for t in tables {
            let rows = match &self.pg {
                Some(_) => {
                    let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                    let rows: Vec<String> =
                        sqlx::query_scalar(&format!("SELECT r::text FROM \"{t}\" AS r"))
                            .fetch_all(&mut c)
                            .await
                            .unwrap();
                    let _ = c.close().await;
                    rows
                }
                None => self
                    .query(&format!("SELECT * FROM \"{t}\""))
                    .await
                    .into_iter()
                    .map(|r| Value::Object(r).to_string())
                    .collect(),
            };
            out.push((t, rows));
        }
        out
    }
}

fn sqlite_row(row: &sqlx::sqlite::SqliteRow) -> Map<String, Value> {
    let mut out = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i).unwrap();
        let v = if raw.is_null() {
            Value::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" => Value::from(row.get::<i64, _>(i)),
                "REAL" => Value::from(row.get::<f64, _>(i)),
                "BLOB" => {
                    Value::from(String::from_utf8_lossy(&row.get::<Vec<u8>, _>(i)).into_owned())
                }
                _ => Value::from(row.get::<String, _>(i)),
            }
        };
        out.insert(col.name().to_string(), v);
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(pg) = self.pg.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on async
        // work: a thread with a runtime of its own does it.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut c = match sqlx::PgConnection::connect(&pg.admin).await {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("cannot drop test database {}: {e}", pg.name);
                        return;
                    }
                };
                // One statement at a time: DROP DATABASE runs outside
                // any transaction, implicit ones included.
                let mut statements =
                    vec![format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.name)];
                statements.extend(pg.roles.iter().map(|r| format!("DROP ROLE IF EXISTS {r}")));
                for sql in statements {
                    if let Err(e) = sqlx::raw_sql(&sql).execute(&mut c).await {
                        eprintln!("{sql}: {e}");
                    }
                }
                let _ = c.close().await;
            });
        });
        let _ = done.join();
    }
}
