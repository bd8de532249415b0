//! Behaviour both stores share, checked on each: a temp SQLite file always,
//! and a fresh PostgreSQL database (created through the admin URL in
//! `KEYPORT_TEST_DATABASE`, dropped afterwards) when that names one.

use super::*;
use keyport_core::Outcome;
use std::sync::Arc;

/// A store under test, and what to clean up after it.
struct TestStore {
    name: &'static str,
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<DropDatabase>,
}

/// A PostgreSQL test database (admin URL, name), dropped with this.
struct DropDatabase(Option<(String, String)>);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let Some((admin, db)) = self.0.take() else {
            return;
        };
        // Drop cannot await: a thread with its own runtime drops the
        // database (and every connection to it).
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(admin_exec(
                &admin,
                &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            ));
        })
        .join();
    }
}

async fn admin_exec(admin: &str, sql: &str) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin}: {e}"));
    sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    let _ = c.close().await;
}

/// SQLite, and PostgreSQL when `KEYPORT_TEST_DATABASE` names a server.
async fn stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let mut out = vec![TestStore {
        name: "sqlite",
        store: open(&url).await.unwrap(),
        _dir: Some(dir),
        _pg: None,
    }];
    let admin = std::env::var("KEYPORT_TEST_DATABASE").unwrap_or_default();
    if admin.starts_with("postgres://") || admin.starts_with("postgresql://") {
        let db = format!("kp_{}", &new_batch_id()[..16]);
        admin_exec(&admin, &format!("CREATE DATABASE {db}")).await;
        let mut url = reqwest::Url::parse(&admin).unwrap();
        url.set_path(&db);
        // Registered first, so the database is dropped even if opening fails.
        let mut t = TestStore {
            name: "postgres",
            store: out[0].store.clone(),
            _dir: None,
            _pg: Some(DropDatabase(Some((admin, db)))),
        };
        t.store = open(url.as_str()).await.unwrap();
        out.push(t);
    }
    out
}

const T: i64 = 1_773_144_000; // 2026-03-10 12:00 UTC, a minute start
const DAY: i64 = T / 86_400;

fn counts(success: u64, denied: u64) -> Counts {
    let mut c = Counts::default();
    c.0[Outcome::Success.index()] = success;
    c.0[Outcome::Denied.index()] = denied;
    c
}

fn batch(key: &str, n: u64) -> (Vec<DayCount>, UsageBatch) {
    let counts_row = DayCount {
        key_id: key.into(),
        account_id: "acc_1".into(),
        day: DAY,
        count: n,
    };
    let usage = UsageBatch {
        minutes: vec![
            UsageRow {
                key_id: key.into(),
                account_id: "acc_1".into(),
                t: T,
                counts: counts(n, 1),
            },
            UsageRow {
                key_id: key.into(),
                account_id: "acc_1".into(),
                t: T + 60,
                counts: counts(n, 0),
            },
        ],
        endpoints: vec![
            DimensionRow {
                key_id: key.into(),
                t: T,
                value: "GET /items".into(),
                count: n,
            },
            DimensionRow {
                key_id: key.into(),
                t: T + 60,
                value: "GET /items".into(),
                count: n,
            },
        ],
        countries: vec![DimensionRow {
            key_id: key.into(),
            t: T + 60,
            value: "DE".into(),
            count: n,
        }],
        networks: vec![DimensionRow {
            key_id: key.into(),
            t: T,
            value: "198.51.100.0/24".into(),
            count: n,
        }],
        reasons: vec![DimensionRow {
            key_id: key.into(),
            t: T,
            value: "ip 198.51.100.0/24".into(),
            count: 1,
        }],
    };
    (vec![counts_row], usage)
}

/// (day count, hour success, hour denied, endpoint count) of one key.
async fn totals(store: &dyn Store, key: &str) -> (u64, u64, u64, u64) {
    let day = store
        .day_counts(DAY)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.key_id == key)
        .map_or(0, |c| c.count);
    let hours = store
        .usage_series(key, Step::Hour, T - 3600, T + 3600)
        .await
        .unwrap();
    let (ok, denied) = hours.iter().fold((0, 0), |(a, b), (_, c)| {
        (a + c.get(Outcome::Success), b + c.get(Outcome::Denied))
    });
    let endpoint = store
        .dimension_history(key, Dimension::Endpoint)
        .await
        .unwrap()
        .iter()
        .map(|s| s.count)
        .sum();
    (day, ok, denied, endpoint)
}

#[tokio::test]
async fn a_batch_already_written_is_skipped() {
    for t in stores().await {
        let s = t.store.as_ref();
        let (day, usage) = batch("key_a", 3);
        let first = new_batch_id();
        s.flush_usage(&first, &day, &[], &usage).await.unwrap();
        let once = totals(s, "key_a").await;
        assert_eq!(once, (3, 6, 1, 6), "{}", t.name);
        // The same batch again (a retry after an unacknowledged COMMIT),
        // after a retention pass: a recent batch id is kept.
        s.prune_usage(0, 0).await.unwrap();
        s.flush_usage(&first, &day, &[], &usage).await.unwrap();
        assert_eq!(totals(s, "key_a").await, once, "{}: counted twice", t.name);
        // A new batch with the same rows counts.
        s.flush_usage(&new_batch_id(), &day, &[], &usage)
            .await
            .unwrap();
        assert_eq!(totals(s, "key_a").await, (6, 12, 2, 12), "{}", t.name);
        let seen = s
            .dimension_history("key_a", Dimension::Country)
            .await
            .unwrap();
        assert_eq!(
            seen,
            vec![Seen {
                value: "DE".into(),
                first_seen: T + 60,
                last_seen: T + 60,
                count: 6
            }],
            "{}",
            t.name
        );
        // Callers' networks and would-deny reasons are hourly breakdowns too.
        let hour = T.div_euclid(3600) * 3600;
        let hours = |d| s.dimension_hours("key_a", d, 0, T + 3600);
        assert_eq!(
            hours(Dimension::Network).await.unwrap(),
            vec![(hour, "198.51.100.0/24".to_string(), 6)],
            "{}",
            t.name
        );
        assert_eq!(
            hours(Dimension::Reason).await.unwrap(),
            vec![(hour, "ip 198.51.100.0/24".to_string(), 2)],
            "{}",
            t.name
        );
    }
}

/// Usage written so far, summed as the hour and day reads should see it.
#[derive(Default)]
struct UsageModel(Vec<UsageRow>);

impl UsageModel {
    fn bucketed(&self, step: Step, pick: impl Fn(&UsageRow) -> bool) -> Vec<(i64, Counts)> {
        let s = step.seconds();
        let mut m: std::collections::BTreeMap<i64, Counts> = Default::default();
        for r in self.0.iter().filter(|r| pick(r)) {
            m.entry(r.t.div_euclid(s) * s).or_default().add(&r.counts);
        }
        m.into_iter().collect()
    }

    fn totals(&self, step: Step, from: i64, to: i64) -> Vec<(String, Counts)> {
        let s = step.seconds();
        let mut m: std::collections::BTreeMap<String, Counts> = Default::default();
        for r in &self.0 {
            let b = r.t.div_euclid(s) * s;
            if b >= from && b < to {
                m.entry(r.key_id.clone()).or_default().add(&r.counts);
            }
        }
        m.into_iter().collect()
    }
}

/// Every hour and day read of `model`'s keys agrees with it, over the
/// whole span and over windows that start and end inside it.
async fn reads_agree(s: &dyn Store, model: &UsageModel, name: &str, when: &str) {
    let day0 = T.div_euclid(86_400) * 86_400;
    let windows = [
        (day0 - 86_400, day0 + 5 * 86_400),
        (day0 + 86_400, day0 + 86_400 + 3600),
        (day0 + 3600, day0 + 2 * 86_400),
    ];
    for step in [Step::Hour, Step::Day] {
        let sz = step.seconds();
        for (from, to) in windows {
            let (from, to) = (from.div_euclid(sz) * sz, to.div_euclid(sz) * sz);
            let inside = |r: &UsageRow| {
                let b = r.t.div_euclid(sz) * sz;
                b >= from && b < to
            };
            for key in ["key_r1", "key_r2"] {
                let got = s.usage_series(key, step, from, to).await.unwrap();
                let want = model.bucketed(step, |r| r.key_id == key && inside(r));
                assert_eq!(got, want, "{name}, {when}: {key} {step:?} [{from}, {to})");
            }
            let got = s.account_series("acc_r", step, from, to).await.unwrap();
            let want = model.bucketed(step, |r| r.account_id == "acc_r" && inside(r));
            assert_eq!(got, want, "{name}, {when}: account {step:?} [{from}, {to})");
            let mut got = s.usage_totals("acc_r", step, from, to).await.unwrap();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            let want = model.totals(step, from, to);
            assert_eq!(got, want, "{name}, {when}: totals {step:?} [{from}, {to})");
        }
    }
}

/// Flushes minute rows `(key, minutes after day 0 starts, successes)` and
/// adds them to the model.
async fn flush_minutes(s: &dyn Store, model: &mut UsageModel, rows: &[(&str, i64, u64)]) {
    let day0 = T.div_euclid(86_400) * 86_400;
    let usage = UsageBatch {
        minutes: rows
            .iter()
            .map(|&(key, minute, n)| UsageRow {
                key_id: key.into(),
                account_id: "acc_r".into(),
                t: day0 + minute * 60,
                counts: counts(n, n % 3),
            })
            .collect(),
        ..Default::default()
    };
    s.flush_usage(&new_batch_id(), &[], &[], &usage)
        .await
        .unwrap();
    model.0.extend(usage.minutes);
}

#[tokio::test]
async fn hour_and_day_reads_are_the_same_before_and_after_roll_ups() {
    let day0 = T.div_euclid(86_400) * 86_400;
    let minute = |m: i64| day0 + m * 60;
    for t in stores().await {
        let (s, name) = (t.store.as_ref(), t.name);
        let mut model = UsageModel::default();
        // Across a day boundary and several hours, two keys.
        flush_minutes(
            s,
            &mut model,
            &[
                ("key_r1", 1438, 1),
                ("key_r1", 1439, 2),
                ("key_r2", 1439, 4),
                ("key_r1", 1440, 8),
                ("key_r2", 1441, 16),
                ("key_r1", 1501, 32),
                ("key_r2", 2000, 64),
            ],
        )
        .await;
        reads_agree(s, &model, name, "nothing rolled up").await;
        // To a day boundary, then to the middle of an hour (taken down to
        // its minute), then back (nothing happens).
        s.roll_up_usage(minute(1440) + 30).await.unwrap();
        reads_agree(s, &model, name, "rolled up to a day's start").await;
        s.roll_up_usage(minute(1441) + 59).await.unwrap();
        reads_agree(s, &model, name, "rolled up into an hour").await;
        s.roll_up_usage(minute(10)).await.unwrap();
        reads_agree(s, &model, name, "a mark that does not move back").await;
        // Late minutes (before the mark) and new ones, some in buckets the
        // roll-up has half done.
        flush_minutes(
            s,
            &mut model,
            &[
                ("key_r1", 1439, 128),
                ("key_r2", 1440, 256),
                ("key_r1", 1441, 512),
                ("key_r2", 1442, 1024),
                ("key_r1", 3000, 2048),
            ],
        )
        .await;
        reads_agree(s, &model, name, "late minutes flushed").await;
        s.roll_up_usage(minute(3 * 1440)).await.unwrap();
        reads_agree(s, &model, name, "everything rolled up").await;
        s.roll_up_usage(minute(3 * 1440)).await.unwrap();
        reads_agree(s, &model, name, "the same roll-up again").await;
        // Minutes past their retention go; the rolled-up rows stay.
        s.prune_usage(minute(10 * 1440), 0).await.unwrap();
        assert!(s.minutes_since(0).await.unwrap().is_empty(), "{name}");
        reads_agree(s, &model, name, "minutes pruned").await;
        // Minutes not rolled up yet are kept whatever the retention says.
        flush_minutes(s, &mut model, &[("key_r2", 3 * 1440 + 5, 4096)]).await;
        s.prune_usage(minute(10 * 1440), 0).await.unwrap();
        assert_eq!(s.minutes_since(0).await.unwrap().len(), 1, "{name}");
        reads_agree(s, &model, name, "unrolled minutes kept").await;
    }
}

/// The statements an earlier version's flushes amounted to: each minute
/// row, and its hour and day rows summed.
fn legacy_usage(rows: &[(&str, i64, u64)], model: &mut UsageModel) -> String {
    let day0 = T.div_euclid(86_400) * 86_400;
    let mut sql = String::new();
    let mut rolled: std::collections::BTreeMap<(&str, &str, i64), (u64, u64)> = Default::default();
    for &(key, minute, n) in rows {
        let t = day0 + minute * 60;
        sql += &format!(
            "INSERT INTO usage_minutes (key_id, account_id, t, success, denied) \
             VALUES ('{key}', 'acc_r', {t}, {n}, {});\n",
            n % 3
        );
        for (table, s) in [("usage_hours", 3600), ("usage_days", 86_400)] {
            let e = rolled.entry((table, key, t.div_euclid(s) * s)).or_default();
            *e = (e.0 + n, e.1 + n % 3);
        }
        model.0.push(UsageRow {
            key_id: key.into(),
            account_id: "acc_r".into(),
            t,
            counts: counts(n, n % 3),
        });
    }
    for ((table, key, t), (ok, denied)) in rolled {
        sql += &format!(
            "INSERT INTO {table} (key_id, account_id, t, success, denied) \
             VALUES ('{key}', 'acc_r', {t}, {ok}, {denied});\n"
        );
    }
    sql
}

/// The migrations of `dialect` before the roll-up mark's, in a folder of
/// their own.
fn migrations_before_the_mark(dialect: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.contains("usage_rollup") {
            std::fs::copy(&path, dir.path().join(name)).unwrap();
        }
    }
    dir
}

#[tokio::test]
async fn usage_written_before_the_roll_up_mark_reads_the_same_after_it() {
    use sqlx::migrate::Migrator;
    // Usage up to the middle of day 1, hours and days written by every flush.
    let legacy = [
        ("key_r1", 1438, 1),
        ("key_r2", 1439, 2),
        ("key_r1", 1440, 4),
        ("key_r1", 1441, 8),
        ("key_r2", 1500, 16),
    ];
    let admin = std::env::var("KEYPORT_TEST_DATABASE").unwrap_or_default();
    let mut backends = vec!["sqlite"];
    if admin.starts_with("postgres://") || admin.starts_with("postgresql://") {
        backends.push("postgres");
    }
    // Also with every minute pruned already (hours and days kept longer).
    for (name, pruned) in backends.into_iter().flat_map(|b| [(b, false), (b, true)]) {
        let mut model = UsageModel::default();
        let mut sql = legacy_usage(&legacy, &mut model);
        if pruned {
            sql += "DELETE FROM usage_minutes;";
        }
        let name = if pruned {
            format!("{name}, minutes pruned")
        } else {
            name.to_string()
        };
        let migrations = migrations_before_the_mark(if name.starts_with("sqlite") {
            "sqlite"
        } else {
            "postgres"
        });
        let earlier = Migrator::new(migrations.path()).await.unwrap();
        let file = tempfile::tempdir().unwrap();
        let mut cleanup = None;
        let url = if name.starts_with("sqlite") {
            let url = format!("sqlite://{}?mode=rwc", file.path().join("old.db").display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            earlier.run(&pool).await.unwrap();
            sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
            pool.close().await;
            url
        } else {
            let db = format!("kp_{}", &new_batch_id()[..16]);
            admin_exec(&admin, &format!("CREATE DATABASE {db}")).await;
            let mut url = reqwest::Url::parse(&admin).unwrap();
            url.set_path(&db);
            cleanup = Some(DropDatabase(Some((admin.clone(), db))));
            let pool = sqlx::PgPool::connect(url.as_str()).await.unwrap();
            earlier.run(&pool).await.unwrap();
            sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
            pool.close().await;
            url.to_string()
        };
        // Opening runs the mark's migration.
        let store = open(&url).await.unwrap();
        let s = store.as_ref();
        let name = name.as_str();
        reads_agree(s, &model, name, "migrated").await;
        // A minute before the newest one written (before the mark: late),
        // one after it, then roll-ups past both.
        flush_minutes(s, &mut model, &[("key_r2", 1499, 32), ("key_r1", 1600, 64)]).await;
        reads_agree(s, &model, name, "flushed after migrating").await;
        let day0 = T.div_euclid(86_400) * 86_400;
        s.roll_up_usage(day0 + 1550 * 60).await.unwrap();
        reads_agree(s, &model, name, "rolled up halfway").await;
        s.roll_up_usage(day0 + 3 * 86_400).await.unwrap();
        reads_agree(s, &model, name, "rolled up").await;
        drop(store);
        drop(cleanup);
    }
}

#[tokio::test]
async fn rows_of_one_bucket_in_one_batch_are_summed() {
    for t in stores().await {
        let s = t.store.as_ref();
        let (mut day, mut usage) = batch("key_b", 2);
        // Duplicates of every kind in one batch (a restored batch has them).
        let (day2, usage2) = batch("key_b", 5);
        day.extend(day2);
        usage.minutes.extend(usage2.minutes);
        usage.endpoints.extend(usage2.endpoints);
        usage.countries.extend(usage2.countries);
        s.flush_usage(&new_batch_id(), &day, &[], &usage)
            .await
            .unwrap();
        assert_eq!(totals(s, "key_b").await, (7, 14, 2, 14), "{}", t.name);
        let minutes = s.minutes_since(T).await.unwrap();
        assert_eq!(minutes.len(), 2, "{}", t.name);
        let top = s
            .usage_top("key_b", Dimension::Endpoint, T, T + 3600, 10)
            .await
            .unwrap();
        assert_eq!(top, vec![("GET /items".to_string(), 14)], "{}", t.name);
    }
}

/// Many flushes at once over the same keys, each listing them in another
/// order: all succeed (no deadlock on PostgreSQL: rows are written sorted)
/// and every count lands once.
#[tokio::test]
async fn concurrent_flushes_over_the_same_keys_all_land() {
    for t in stores().await {
        let keys: Vec<String> = (0..60).map(|i| format!("key_{i:03}")).collect();
        let mut tasks = Vec::new();
        for f in 0..8usize {
            let store = t.store.clone();
            let mut order = keys.clone();
            order.rotate_left(f * 7);
            if f % 2 == 1 {
                order.reverse();
            }
            tasks.push(tokio::spawn(async move {
                let mut day = Vec::new();
                let mut usage = UsageBatch::default();
                for k in &order {
                    let (d, u) = batch(k, 1);
                    day.extend(d);
                    usage.minutes.extend(u.minutes);
                    usage.endpoints.extend(u.endpoints);
                    usage.countries.extend(u.countries);
                }
                store.flush_usage(&new_batch_id(), &day, &[], &usage).await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        for k in &keys {
            assert_eq!(
                totals(t.store.as_ref(), k).await,
                (8, 16, 8, 16),
                "{}",
                t.name
            );
        }
    }
}

/// One flush of more rows than one statement takes, in a count that is no
/// sum of equal statements (347 keys, 694 minute rows): every row lands
/// once, with its own counts.
#[tokio::test]
async fn a_flush_larger_than_one_statement_writes_every_row() {
    for t in stores().await {
        let keys: Vec<String> = (0..347).map(|i| format!("key_{i:03}")).collect();
        let mut day = Vec::new();
        let mut usage = UsageBatch::default();
        for (i, k) in keys.iter().enumerate() {
            let (d, u) = batch(k, i as u64 + 1);
            day.extend(d);
            usage.minutes.extend(u.minutes);
            usage.endpoints.extend(u.endpoints);
            usage.countries.extend(u.countries);
        }
        t.store
            .flush_usage(&new_batch_id(), &day, &[], &usage)
            .await
            .unwrap();
        assert_eq!(t.store.day_counts(DAY).await.unwrap().len(), 347);
        for (i, k) in keys.iter().enumerate() {
            let n = i as u64 + 1;
            assert_eq!(
                totals(t.store.as_ref(), k).await,
                (n, 2 * n, 1, 2 * n),
                "{} {k}",
                t.name
            );
        }
    }
}

#[test]
fn connection_errors_are_unavailable_and_statement_errors_are_not() {
    assert!(matches!(
        StoreError::from(sqlx::Error::PoolTimedOut),
        StoreError::Unavailable(_)
    ));
    assert!(matches!(
        StoreError::from(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))),
        StoreError::Unavailable(_)
    ));
    assert!(matches!(
        StoreError::from(sqlx::Error::RowNotFound),
        StoreError::Database(_)
    ));
}

/// A key service on `store` whose clock stands at `T`.
async fn service_at_t(store: &Arc<dyn Store>) -> crate::service::KeyService {
    use chrono::TimeZone;
    let clock = Arc::new(crate::clock::ManualClock::new(
        Utc.timestamp_opt(T, 0).unwrap(),
    ));
    crate::service::KeyService::open(store.clone(), clock, Default::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn unrevoked_keys_are_walked_page_by_page_newest_first() {
    for t in stores().await {
        let service = service_at_t(&t.store).await;
        let mut made = Vec::new();
        for i in 0..5 {
            let (account, key, _) = service
                .create_account(&format!("A{i}"), keyport_core::Plan::Free, "test")
                .await
                .unwrap();
            made.push(t.store.key(&account.id, &key.id).await.unwrap().unwrap());
        }
        let mut gone = made.remove(2);
        gone.revoked_at = Some(gone.created_at);
        let audit = AuditEvent {
            id: 0,
            account_id: Some(gone.account_id.clone()),
            at: gone.created_at,
            actor: "test".into(),
            action: "key.revoked".into(),
            key_id: Some(gone.id.clone()),
            source: None,
            detail: serde_json::json!({}),
            event: None,
        };
        t.store.update_key(&gone, &audit).await.unwrap();
        let (mut seen, mut cursor, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = t.store.unrevoked_keys_page(cursor, 2).await.unwrap();
            assert!(page.items.len() <= 2, "{}", t.name);
            seen.extend(page.items.into_iter().map(|k| k.id));
            pages += 1;
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let newest_first: Vec<_> = made.iter().rev().map(|k| k.id.clone()).collect();
        assert_eq!(seen, newest_first, "{}", t.name);
        assert_eq!(pages, 2, "{}", t.name);
        // By id (the change feed's reload): revoked ones too, unknown ones left out.
        let ids = vec![
            (gone.account_id.clone(), gone.id.clone()),
            (made[0].account_id.clone(), made[0].id.clone()),
            (made[0].account_id.clone(), "key_unknown".to_string()),
            (gone.account_id.clone(), made[0].id.clone()),
        ];
        let mut found = t.store.keys_by_id(&ids).await.unwrap();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        let mut want = vec![gone.clone(), made[0].clone()];
        want.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(found, want, "{}", t.name);
    }
}

/// A flush raises a key's last use and never lowers it; ids the store
/// holds no key for are skipped without failing the batch; a key inserted
/// with a last use keeps it.
#[tokio::test]
async fn last_use_is_raised_never_lowered_and_unknown_ids_are_skipped() {
    for t in stores().await {
        let service = service_at_t(&t.store).await;
        let (account, key, _) = service
            .create_account("A", keyport_core::Plan::Free, "test")
            .await
            .unwrap();
        use chrono::TimeZone;
        let at = |s: i64| Utc.timestamp_opt(T + s, 0).unwrap();
        let last_used = |store: &Arc<dyn Store>| {
            let (store, account, key) = (store.clone(), account.id.clone(), key.id.clone());
            async move {
                store
                    .key(&account, &key)
                    .await
                    .unwrap()
                    .unwrap()
                    .last_used_at
            }
        };
        let flush = |uses: Vec<(String, DateTime<Utc>)>| {
            let store = t.store.clone();
            async move {
                store
                    .flush_usage(&new_batch_id(), &[], &uses, &UsageBatch::default())
                    .await
            }
        };
        flush(vec![
            (key.id.clone(), at(20)),
            ("key_unknown".into(), at(20)),
        ])
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert_eq!(last_used(&t.store).await, Some(at(20)), "{}", t.name);
        flush(vec![(key.id.clone(), at(10))]).await.unwrap();
        assert_eq!(
            last_used(&t.store).await,
            Some(at(20)),
            "{}: lowered",
            t.name
        );
        flush(vec![(key.id.clone(), at(30))]).await.unwrap();
        assert_eq!(last_used(&t.store).await, Some(at(30)), "{}", t.name);

        let mut copy = t.store.key(&account.id, &key.id).await.unwrap().unwrap();
        copy.id = "key_with_a_past".into();
        copy.hash = keyport_core::KeyHash::from_hex(&"ab".repeat(32)).unwrap();
        let audit = AuditEvent {
            id: 0,
            account_id: Some(account.id.clone()),
            at: at(40),
            actor: "test".into(),
            action: "key.created".into(),
            key_id: Some(copy.id.clone()),
            source: None,
            detail: serde_json::json!({}),
            event: None,
        };
        t.store.insert_key(&copy, &audit).await.unwrap();
        let stored = t.store.key(&account.id, &copy.id).await.unwrap().unwrap();
        assert_eq!(stored.last_used_at, Some(at(30)), "{}", t.name);
    }
}

fn open_alert(id: &str, key: &str) -> Alert {
    use chrono::TimeZone;
    Alert {
        id: id.into(),
        account_id: "acct_1".into(),
        key_id: key.into(),
        kind: AlertKind::VolumeSpike,
        category: AlertKind::VolumeSpike.category(),
        status: crate::model::AlertStatus::Open,
        message: "m".into(),
        evidence: serde_json::json!({}),
        created_at: Utc.timestamp_opt(T, 0).unwrap(),
        acknowledged_at: None,
        resolved_at: None,
    }
}

/// Two instances raising the same alert at once: the store keeps one open
/// alert per key and kind; once it is resolved, a new one may open.
#[tokio::test]
async fn one_open_alert_per_key_and_kind() {
    for t in stores().await {
        let s = &t.store;
        assert!(s.insert_alert(&open_alert("alt_1", "key_1")).await.unwrap());
        assert!(
            !s.insert_alert(&open_alert("alt_2", "key_1")).await.unwrap(),
            "{}",
            t.name
        );
        assert!(s.insert_alert(&open_alert("alt_3", "key_2")).await.unwrap());
        let mut first = s.alert("acct_1", "alt_1").await.unwrap().unwrap();
        first.status = crate::model::AlertStatus::Resolved;
        first.resolved_at = Some(first.created_at);
        s.set_alert_status(&first).await.unwrap();
        assert!(
            s.insert_alert(&open_alert("alt_4", "key_1")).await.unwrap(),
            "{}",
            t.name
        );
        assert_eq!(s.alerts("acct_1", true, 10).await.unwrap().len(), 2);
    }
}

/// The detector's lease: one holder at a time, renewed by its holder, free
/// once given up (PostgreSQL; SQLite has one instance and always grants it).
/// A customer's settings and an operator's fields are written by different
/// instances from copies read before the other's change: neither write
/// may undo the other.
#[tokio::test]
async fn settings_and_operator_fields_do_not_overwrite_each_other() {
    use crate::model::{AccountSettings, OperatorFields, Suspension};
    for t in stores().await {
        let s = &t.store;
        let at = crate::clock::from_millis(1_700_000_000_000);
        let audit = |action: &str| AuditEvent {
            id: 0,
            account_id: Some("acc_race".into()),
            at,
            actor: "test".into(),
            action: action.into(),
            key_id: None,
            source: None,
            detail: serde_json::json!({}),
            event: None,
        };
        let read = Account {
            id: "acc_race".into(),
            name: "Race".into(),
            plan: keyport_core::Plan::Free,
            created_at: at,
            settings: AccountSettings::default(),
            operator: OperatorFields::default(),
        };
        s.create_account(&read, &audit("account.create"))
            .await
            .unwrap();
        let mut by_operator = read.clone();
        by_operator.plan = keyport_core::Plan::Professional;
        by_operator.operator.suspended = Some(Suspension {
            at,
            reason: "unpaid".into(),
        });
        s.save_operator_fields(&by_operator, &audit("account.suspend"))
            .await
            .unwrap();
        let mut by_customer = read.clone();
        by_customer.settings.allowed_countries = vec!["DE".into()];
        s.update_account_settings(&by_customer, &audit("account.update"))
            .await
            .unwrap();
        let stored = s.account("acc_race").await.unwrap().unwrap();
        assert_eq!(stored.plan, keyport_core::Plan::Professional, "{}", t.name);
        assert_eq!(stored.operator, by_operator.operator, "{}", t.name);
        assert_eq!(stored.settings, by_customer.settings, "{}", t.name);
    }
}

#[tokio::test]
async fn a_lease_has_one_holder_at_a_time() {
    for t in stores().await {
        let s = &t.store;
        assert!(s.take_lease("job", "a", 60_000).await.unwrap());
        if t.name == "sqlite" {
            assert!(s.take_lease("job", "b", 60_000).await.unwrap());
            continue;
        }
        assert!(!s.take_lease("job", "b", 60_000).await.unwrap());
        assert!(s.take_lease("job", "a", 60_000).await.unwrap(), "renewed");
        assert!(s.take_lease("other", "b", 60_000).await.unwrap());
        s.release_lease("job", "b").await.unwrap();
        assert!(
            !s.take_lease("job", "b", 60_000).await.unwrap(),
            "not b's to give up"
        );
        s.release_lease("job", "a").await.unwrap();
        assert!(s.take_lease("job", "b", 60_000).await.unwrap());
        // One that ran out is taken over.
        assert!(s.take_lease("short", "a", -1).await.unwrap());
        assert!(s.take_lease("short", "b", 60_000).await.unwrap());
    }
}

/// An event is written in the transaction of its change (a change that
/// fails leaves no event), to the enabled endpoints subscribed to its type,
/// and an event with a dedup name once.
#[tokio::test]
async fn webhook_events_go_with_their_change_to_subscribers_once() {
    use crate::clock::ManualClock;
    use crate::service::KeyService;
    use crate::webhooks::new_event;
    use chrono::TimeZone;
    use keyport_core::webhook::EventType;
    for t in stores().await {
        let s = &t.store;
        let now = Utc.timestamp_opt(T, 0).unwrap();
        let service = KeyService::open(
            s.clone(),
            Arc::new(ManualClock::new(now)),
            Default::default(),
        )
        .await
        .unwrap();
        let (account, key, _) = service
            .create_account("Hooks", keyport_core::Plan::Free, "test")
            .await
            .unwrap();
        let key = s.key(&account.id, &key.id).await.unwrap().unwrap();
        let endpoint = |id: &str, events: Vec<EventType>, enabled: bool| WebhookRecord {
            id: id.into(),
            account_id: account.id.clone(),
            url: "https://hooks.example.com/".into(),
            description: String::new(),
            events,
            enabled,
            disabled_reason: None,
            secret: "whsec_QUJD".into(),
            created_at: now,
        };
        let audit = |action: &str| AuditEvent {
            id: 0,
            account_id: Some(account.id.clone()),
            at: now,
            actor: "test".into(),
            action: action.into(),
            key_id: None,
            source: None,
            detail: serde_json::json!({}),
            event: None,
        };
        s.insert_webhook(
            &endpoint(
                "wh_all",
                vec![EventType::KeyCreated, EventType::KeyRevoked],
                true,
            ),
            &audit("webhook.create"),
        )
        .await
        .unwrap();
        s.insert_webhook(
            &endpoint("wh_revokes", vec![EventType::KeyRevoked], true),
            &audit("webhook.create"),
        )
        .await
        .unwrap();
        s.insert_webhook(
            &endpoint("wh_off", vec![EventType::KeyCreated], false),
            &audit("webhook.create"),
        )
        .await
        .unwrap();
        let created = |data| new_event(&account.id, EventType::KeyCreated, now, data);

        // A key whose insert fails (its hash is taken) announces nothing.
        let twin = KeyRecord {
            id: "key_twin".into(),
            ..key.clone()
        };
        let failed = s
            .insert_key(
                &twin,
                &audit("key.create").announcing(created(serde_json::json!({}))),
            )
            .await;
        assert!(
            matches!(failed, Err(StoreError::DuplicateHash)),
            "{}",
            t.name
        );
        for ep in ["wh_all", "wh_revokes", "wh_off"] {
            assert!(
                s.deliveries(ep, 10).await.unwrap().is_empty(),
                "{} {ep}",
                t.name
            );
        }

        let mut other = key.clone();
        other.id = "key_other".into();
        other.hash = keyport_core::KeyHash::of("to_live_other");
        s.insert_key(
            &other,
            &audit("key.create").announcing(created(serde_json::json!({}))),
        )
        .await
        .unwrap();
        assert_eq!(
            s.deliveries("wh_all", 10).await.unwrap().len(),
            1,
            "{}",
            t.name
        );
        assert!(
            s.deliveries("wh_revokes", 10).await.unwrap().is_empty(),
            "{}",
            t.name
        );
        assert!(
            s.deliveries("wh_off", 10).await.unwrap().is_empty(),
            "{}",
            t.name
        );
        let due = s.due_deliveries(now, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{}", t.name);
        assert_eq!(due[0].endpoint_id, "wh_all");

        let mut quota = new_event(
            &account.id,
            EventType::KeyRevoked,
            now,
            serde_json::json!({}),
        );
        quota.dedup = Some("once".into());
        assert!(s.insert_event(&quota, None).await.unwrap(), "{}", t.name);
        quota.id = "msg_again".into();
        assert!(!s.insert_event(&quota, None).await.unwrap(), "{}", t.name);
        assert_eq!(
            s.deliveries("wh_revokes", 10).await.unwrap().len(),
            1,
            "{}",
            t.name
        );
    }
}

/// Failed attempts count in fixed windows per source; concurrent counts
/// (several instances) all land; old windows are forgotten.
#[tokio::test]
async fn failed_attempts_count_per_source_and_window() {
    for t in stores().await {
        let s = &t.store;
        assert_eq!(s.failed_attempts("a").await.unwrap(), None);
        for _ in 0..3 {
            s.add_failed_attempt("a", 1_000, 900).await.unwrap();
        }
        let adds = (0..20).map(|_| s.add_failed_attempt("a", 1_100, 900));
        for r in futures_util::future::join_all(adds).await {
            r.unwrap();
        }
        assert_eq!(
            s.failed_attempts("a").await.unwrap(),
            Some((1_000, 23)),
            "{}",
            t.name
        );
        assert_eq!(s.failed_attempts("b").await.unwrap(), None);
        // The window is over: a new one starts.
        s.add_failed_attempt("a", 1_900, 900).await.unwrap();
        assert_eq!(
            s.failed_attempts("a").await.unwrap(),
            Some((1_900, 1)),
            "{}",
            t.name
        );
        s.add_failed_attempt("b", 1_000, 900).await.unwrap();
        s.prune_failed_attempts(1_500).await.unwrap();
        assert_eq!(s.failed_attempts("b").await.unwrap(), None, "{}", t.name);
        assert!(s.failed_attempts("a").await.unwrap().is_some());
    }
}

/// A store whose first `fail` usage flushes commit and then report a lost
/// connection, as when the COMMIT's acknowledgement never arrives.
struct LostAck {
    inner: Arc<dyn Store>,
    fail: std::sync::atomic::AtomicUsize,
    batches: parking_lot::Mutex<Vec<String>>,
}

#[async_trait]
impl super::WebhookStore for LostAck {
    async fn subscribed_accounts(
        &self,
        event_type: keyport_core::webhook::EventType,
    ) -> Result<Vec<String>> {
        self.inner.subscribed_accounts(event_type).await
    }
    async fn insert_webhook(&self, w: &super::WebhookRecord, audit: &AuditEvent) -> Result<()> {
        self.inner.insert_webhook(w, audit).await
    }
    async fn webhooks(&self, account_id: &str) -> Result<Vec<super::WebhookRecord>> {
        self.inner.webhooks(account_id).await
    }
    async fn webhook(&self, account_id: &str, id: &str) -> Result<Option<super::WebhookRecord>> {
        self.inner.webhook(account_id, id).await
    }
    async fn update_webhook(&self, w: &super::WebhookRecord, audit: &AuditEvent) -> Result<()> {
        self.inner.update_webhook(w, audit).await
    }
    async fn delete_webhook(&self, account_id: &str, id: &str, audit: &AuditEvent) -> Result<bool> {
        self.inner.delete_webhook(account_id, id, audit).await
    }
    async fn insert_event(&self, e: &super::WebhookEvent, only: Option<&str>) -> Result<bool> {
        self.inner.insert_event(e, only).await
    }
    async fn deliveries(
        &self,
        endpoint_id: &str,
        limit: u32,
    ) -> Result<Vec<crate::model::WebhookDelivery>> {
        self.inner.deliveries(endpoint_id, limit).await
    }
    async fn delivery(
        &self,
        endpoint_id: &str,
        id: i64,
    ) -> Result<Option<crate::model::WebhookDelivery>> {
        self.inner.delivery(endpoint_id, id).await
    }
    async fn retry_delivery(&self, endpoint_id: &str, id: i64, at: DateTime<Utc>) -> Result<bool> {
        self.inner.retry_delivery(endpoint_id, id, at).await
    }
    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<super::DueDelivery>> {
        self.inner.due_deliveries(now, limit).await
    }
    async fn record_attempt(&self, a: &super::Attempt) -> Result<()> {
        self.inner.record_attempt(a).await
    }
    async fn delivered_since(&self, endpoint_id: &str, since: DateTime<Utc>) -> Result<bool> {
        self.inner.delivered_since(endpoint_id, since).await
    }
    async fn disable_webhook(
        &self,
        endpoint_id: &str,
        reason: &str,
        alert: &Alert,
    ) -> Result<bool> {
        self.inner.disable_webhook(endpoint_id, reason, alert).await
    }
    async fn prune_webhooks(&self, before: DateTime<Utc>) -> Result<()> {
        self.inner.prune_webhooks(before).await
    }
}

#[async_trait]
impl Store for LostAck {
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    fn pool_stats(&self) -> (u32, u32) {
        self.inner.pool_stats()
    }
    async fn create_account(&self, a: &Account, audit: &AuditEvent) -> Result<()> {
        self.inner.create_account(a, audit).await
    }
    async fn accounts(&self) -> Result<Vec<Account>> {
        self.inner.accounts().await
    }
    async fn account(&self, id: &str) -> Result<Option<Account>> {
        self.inner.account(id).await
    }
    async fn insert_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        self.inner.insert_key(key, audit).await
    }
    async fn update_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        self.inner.update_key(key, audit).await
    }
    async fn rotate_key(&self, old: &KeyRecord, new: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        self.inner.rotate_key(old, new, audit).await
    }
    async fn key(&self, account_id: &str, key_id: &str) -> Result<Option<KeyRecord>> {
        self.inner.key(account_id, key_id).await
    }
    async fn keys_page(
        &self,
        account_id: &str,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<KeyRecord>> {
        self.inner.keys_page(account_id, cursor, limit).await
    }
    async fn unrevoked_key_by_hash(
        &self,
        hash: &keyport_core::KeyHash,
    ) -> Result<Option<KeyRecord>> {
        self.inner.unrevoked_key_by_hash(hash).await
    }
    async fn key_names(&self, account_id: &str) -> Result<Vec<(String, String)>> {
        self.inner.key_names(account_id).await
    }
    async fn key_by_hash(&self, hash: &keyport_core::KeyHash) -> Result<Option<KeyRecord>> {
        self.inner.key_by_hash(hash).await
    }
    async fn failed_attempts(&self, source: &str) -> Result<Option<(i64, u32)>> {
        self.inner.failed_attempts(source).await
    }
    async fn add_failed_attempt(&self, source: &str, now: i64, window: i64) -> Result<()> {
        self.inner.add_failed_attempt(source, now, window).await
    }
    async fn prune_failed_attempts(&self, before: i64) -> Result<()> {
        self.inner.prune_failed_attempts(before).await
    }
    async fn count_active_keys(&self, account_id: &str, now: i64) -> Result<u32> {
        self.inner.count_active_keys(account_id, now).await
    }
    async fn unrevoked_keys_page(
        &self,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<KeyRecord>> {
        self.inner.unrevoked_keys_page(cursor, limit).await
    }
    async fn append_audit(&self, audit: &AuditEvent) -> Result<()> {
        self.inner.append_audit(audit).await
    }
    async fn audit_page(
        &self,
        account_id: &str,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<AuditEvent>> {
        self.inner.audit_page(account_id, cursor, limit).await
    }
    async fn active_admin_keys(&self, account_id: &str, now: i64) -> Result<Vec<KeyRecord>> {
        self.inner.active_admin_keys(account_id, now).await
    }
    async fn update_account_settings(&self, account: &Account, audit: &AuditEvent) -> Result<()> {
        self.inner.update_account_settings(account, audit).await
    }
    async fn save_operator_fields(&self, account: &Account, audit: &AuditEvent) -> Result<()> {
        self.inner.save_operator_fields(account, audit).await
    }
    async fn delete_account(&self, account: &Account, audit: &AuditEvent) -> Result<u32> {
        self.inner.delete_account(account, audit).await
    }
    async fn insert_operator_token(&self, t: &OperatorToken, audit: &AuditEvent) -> Result<()> {
        self.inner.insert_operator_token(t, audit).await
    }
    async fn operator_tokens(&self) -> Result<Vec<OperatorToken>> {
        self.inner.operator_tokens().await
    }
    async fn operator_token_by_hash(
        &self,
        hash: &keyport_core::KeyHash,
    ) -> Result<Option<OperatorToken>> {
        self.inner.operator_token_by_hash(hash).await
    }
    async fn revoke_operator_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool> {
        self.inner.revoke_operator_token(id, at, audit).await
    }
    async fn insert_enrollment(&self, e: &Enrollment, audit: &AuditEvent) -> Result<()> {
        self.inner.insert_enrollment(e, audit).await
    }
    async fn enrollment_by_hash(&self, hash: &keyport_core::KeyHash) -> Result<Option<Enrollment>> {
        self.inner.enrollment_by_hash(hash).await
    }
    async fn redeem_enrollment(&self, r: &Redemption<'_>) -> Result<bool> {
        self.inner.redeem_enrollment(r).await
    }
    async fn flush_usage(
        &self,
        batch: &str,
        counts: &[DayCount],
        last_used: &[(String, DateTime<Utc>)],
        usage: &UsageBatch,
    ) -> Result<()> {
        self.batches.lock().push(batch.to_string());
        self.inner
            .flush_usage(batch, counts, last_used, usage)
            .await?;
        let left = self.fail.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.fail
                .store(left - 1, std::sync::atomic::Ordering::SeqCst);
            return Err(StoreError::Unavailable(sqlx::Error::Io(
                std::io::Error::from(std::io::ErrorKind::ConnectionReset),
            )));
        }
        Ok(())
    }
    async fn known_endpoints(&self) -> Result<Vec<(String, String, String)>> {
        self.inner.known_endpoints().await
    }
    async fn usage_series(
        &self,
        key_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Counts)>> {
        self.inner.usage_series(key_id, step, from, to).await
    }
    async fn usage_top(
        &self,
        key_id: &str,
        dim: Dimension,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<(String, u64)>> {
        self.inner.usage_top(key_id, dim, from, to, limit).await
    }
    async fn dimension_hours(
        &self,
        key_id: &str,
        dim: Dimension,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String, u64)>> {
        self.inner.dimension_hours(key_id, dim, from, to).await
    }
    async fn account_series(
        &self,
        account_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Counts)>> {
        self.inner.account_series(account_id, step, from, to).await
    }
    async fn usage_totals(
        &self,
        account_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, Counts)>> {
        self.inner.usage_totals(account_id, step, from, to).await
    }
    async fn minutes_since(&self, since: i64) -> Result<Vec<UsageRow>> {
        self.inner.minutes_since(since).await
    }
    async fn dimension_history(&self, key_id: &str, dim: Dimension) -> Result<Vec<Seen>> {
        self.inner.dimension_history(key_id, dim).await
    }
    async fn prune_usage(&self, minutes_before: i64, hours_before: i64) -> Result<()> {
        self.inner.prune_usage(minutes_before, hours_before).await
    }
    async fn roll_up_usage(&self, upto: i64) -> Result<()> {
        self.inner.roll_up_usage(upto).await
    }
    async fn prune_strangers_audit(&self, before: i64) -> Result<()> {
        self.inner.prune_strangers_audit(before).await
    }
    async fn latest_alert(&self, key_id: &str, kind: AlertKind) -> Result<Option<Alert>> {
        self.inner.latest_alert(key_id, kind).await
    }
    async fn insert_alert(&self, alert: &Alert) -> Result<bool> {
        self.inner.insert_alert(alert).await
    }
    async fn alerts(&self, account_id: &str, open_only: bool, limit: u32) -> Result<Vec<Alert>> {
        self.inner.alerts(account_id, open_only, limit).await
    }
    async fn alert(&self, account_id: &str, id: &str) -> Result<Option<Alert>> {
        self.inner.alert(account_id, id).await
    }
    async fn set_alert_status(&self, alert: &Alert) -> Result<()> {
        self.inner.set_alert_status(alert).await
    }
    async fn open_alerts(&self) -> Result<Vec<Alert>> {
        self.inner.open_alerts().await
    }
    async fn day_counts(&self, day: i64) -> Result<Vec<DayCount>> {
        self.inner.day_counts(day).await
    }
}

/// The service keeps a batch whose write failed aside and writes it again,
/// same id and rows, before newer counts; a batch that had in fact been
/// committed is then skipped by the store, so nothing counts twice.
#[tokio::test]
async fn a_flush_whose_commit_was_not_acknowledged_counts_once() {
    use crate::clock::ManualClock;
    use crate::service::KeyService;
    use chrono::TimeZone;
    for t in stores().await {
        let store = Arc::new(LostAck {
            inner: t.store.clone(),
            fail: 2.into(),
            batches: Default::default(),
        });
        let now = Utc.timestamp_opt(T, 0).unwrap();
        let service = KeyService::open(
            store.clone(),
            Arc::new(ManualClock::new(now)),
            Default::default(),
        )
        .await
        .unwrap();
        let (_, key, secret) = service
            .create_account("A", keyport_core::Plan::Enterprise, "test")
            .await
            .unwrap();
        for _ in 0..3 {
            service
                .verify(&secret, None, None, Default::default())
                .await
                .unwrap();
        }
        // Committed, reported lost: kept aside.
        assert!(matches!(
            service.flush().await,
            Err(crate::error::ServiceError::Unavailable(_))
        ));
        for _ in 0..2 {
            service
                .verify(&secret, None, None, Default::default())
                .await
                .unwrap();
        }
        // The retry: committed before, so skipped; reported lost again.
        assert!(service.flush().await.is_err());
        // The retry once more (skipped, acknowledged), then the newer counts.
        service.flush().await.unwrap();
        let ids = store.batches.lock().clone();
        assert_eq!(ids.len(), 4, "{}: {ids:?}", t.name);
        assert!(ids[0] == ids[1] && ids[1] == ids[2], "{}: {ids:?}", t.name);
        assert_ne!(ids[3], ids[0], "{}", t.name);
        let day = t
            .store
            .day_counts(DAY)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.key_id == key.id)
            .map(|c| c.count);
        assert_eq!(day, Some(5), "{}: every verify counted once", t.name);
    }
}
