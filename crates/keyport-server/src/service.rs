//! The key service: management, verification and gateway admission. It owns
//! the in-memory verify cache (hash → key, write-through), the rate store
//! and the usage buffer, so the verify path touches no database.

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use keyport_core::restrict::{Facts, Refusal, Rules, Target};
use keyport_core::{
    utc_day, Decision, Environment, KeyHash, KeyPrefix, Plan, RateLimitOverride, Resource, Scope,
    ScopeSet, SecretKey,
};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::json;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

pub use crate::admin::{Admin, Reach};
use crate::alerts::AlertBook;
use crate::clock::{nanos, Clock};
use crate::detector::{Detector, DetectorConfig};
use crate::error::{Result, ServiceError, BAD_CREDENTIAL};
use crate::feed::{Cursor, FeedHealth, BATCH, START_MARGIN};
use crate::metrics::{Metrics, Route, Snapshot};
use crate::model::*;
use crate::rate::{IdMap, MemoryRates, RateCell, RateStore};
use crate::recorder::{Pending, UsageEvent, UsageRecorder, UsageSlot};
use crate::store::{Change, ChangeKind};
use crate::store::{Store, StoreError};
use crate::usage::UsageReports;
use keyport_core::alert::AlertKind;
use keyport_core::anomaly::{AnomalyConfig, AnomalyRules};
use keyport_core::request::check_date;
use keyport_core::rotation::RotationPolicy;
use keyport_core::webhook::EventType;
use keyport_core::Outcome;

mod restrict;
pub use restrict::Caller;

pub const MAX_PAGE: u32 = 100;
pub const DEFAULT_PAGE: u32 = 50;
const MAX_NAME: usize = 100;
const MAX_RESOURCES: usize = 50;

/// A request that passed verification, with its limiter decision.
#[derive(Debug, Clone)]
pub struct Verified {
    pub key: Arc<KeyRecord>,
    pub decision: Decision,
    /// Kept with the cached key for the caller to fill once: the HTTP layer
    /// keeps the unchanging part of the key's verify answer here. A changed
    /// key is a new cache entry, so the memo never outlives what it shows.
    pub memo: Memo,
    /// A report-only proposal would have refused this request (it is served
    /// all the same; the gateway counts it as `would_deny`).
    pub would_deny: bool,
    /// The key's usage counters, for what the caller records afterwards
    /// (the gateway: the upstream's outcome) without a lookup by id.
    pub usage: Option<crate::recorder::UsageSlot>,
}

/// Tunables of the service beyond storage and HTTP.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    pub prefix: KeyPrefix,
    /// Count usage per key (minute/outcome/endpoint/country). Off only for
    /// benchmarking its cost.
    pub record_usage: bool,
    pub anomaly: AnomalyConfig,
    /// Minute-resolution usage is kept this many days; hours and breakdowns
    /// `hour_retention_days`; day totals forever.
    pub minute_retention_days: u32,
    pub hour_retention_days: u32,
    /// Most active keys per enterprise account (other plans' caps are fixed).
    pub enterprise_key_cap: u32,
    /// With a change feed (PostgreSQL): how long the feed may go unread
    /// before this instance refuses to verify (it may have missed a revoke).
    pub feed_stale_after: std::time::Duration,
    /// How long a detector pass holds the cluster's detector lease.
    pub detector_lease: std::time::Duration,
    /// The longest rotation period per environment an account may choose.
    pub max_rotation_days: RotationPolicy,
    /// Hours an enrollment code is valid unless its creator says otherwise.
    pub enrollment_hours: u32,
    /// Where webhooks may go (private addresses only when allowed).
    pub webhook_destinations: crate::webhooks::Destinations,
}

/// The enterprise key cap unless the server sets another.
pub const DEFAULT_ENTERPRISE_KEY_CAP: u32 = 1_000;

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            prefix: KeyPrefix::default(),
            record_usage: true,
            anomaly: AnomalyConfig::default(),
            minute_retention_days: 90,
            hour_retention_days: 400,
            enterprise_key_cap: DEFAULT_ENTERPRISE_KEY_CAP,
            feed_stale_after: DEFAULT_FEED_STALE_AFTER,
            detector_lease: std::time::Duration::from_secs(180),
            max_rotation_days: RotationPolicy::UNBOUNDED,
            enrollment_hours: crate::operator::DEFAULT_ENROLLMENT_HOURS,
            webhook_destinations: crate::webhooks::Destinations::default(),
        }
    }
}

/// How long the change feed may go unread before verification stops.
pub const DEFAULT_FEED_STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// A verifiable key in memory: the record, and once the key has been used,
/// its account's limits, its rate cell and its usage slot (looked up once,
/// then held here; a key never changes account, and a change of its
/// account replaces the entry).
// Aligned so a cache entry (its 32-byte hash, then this) is 64 bytes on a
// 64-byte boundary: one cache line per lookup. Unaligned, at 48 bytes,
// half the entries straddle two lines, which costs more than the two Arcs
// this saves when a million keys are all cold.
#[derive(Clone)]
#[repr(align(32))]
pub(crate) struct Cached {
    pub(crate) key: Arc<KeyRecord>,
    state: Arc<KeyState>,
}

/// What a cached key carries besides its record, in one allocation: a
/// verify clones one `Arc` for all of it and reads it from one place (as
/// three, each was a cache miss per request with many keys).
#[derive(Default)]
pub(crate) struct KeyState {
    hot: OnceLock<Hot>,
    memo: OnceLock<Box<[u8]>>,
    /// GCRA state of a proposed lower rate (report-only; this instance's
    /// view of it, reset when the key changes).
    shadow_tat: AtomicI64,
}

/// A cached key's memo of its verify answer (see [`Verified::memo`]).
#[derive(Clone, Default)]
pub struct Memo(Arc<KeyState>);

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Memo")
            .field(&self.0.memo.get().is_some())
            .finish()
    }
}

impl std::ops::Deref for Memo {
    type Target = OnceLock<Box<[u8]>>;

    fn deref(&self) -> &Self::Target {
        &self.0.memo
    }
}

/// What a verify needs beyond the key record, so it does no other lookup.
/// Made from the account as it was when the key was cached: an account
/// change replaces its keys' entries (see [`KeyService::refresh_account`]).
struct Hot {
    /// The account's limits (plan and operator override).
    limits: keyport_core::Limits,
    suspended: bool,
    rate: Arc<dyn RateCell>,
    usage: UsageSlot,
}

impl Cached {
    /// A key as verification sees it: a quarantined key in its restricted
    /// form (read only, slowed), so no request path can forget to check.
    pub(crate) fn new(key: Arc<KeyRecord>) -> Self {
        let key = match key.quarantine {
            Some(_) => Arc::new(key.as_quarantined()),
            None => key,
        };
        Cached {
            key,
            state: Arc::default(),
        }
    }
}

pub struct KeyService {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    prefix: KeyPrefix,
    pub(crate) options: ServiceOptions,
    pub(crate) by_hash: DashMap<KeyHash, Cached, BuildHasherDefault<DigestHasher>>,
    pub(crate) accounts: IdMap<Arc<Account>>,
    rates: Arc<dyn RateStore>,
    recorder: UsageRecorder,
    detector: Detector,
    usage: UsageReports,
    alerts: AlertBook,
    webhooks: crate::webhooks::Webhooks,
    pub(crate) failed_logins: crate::authlog::FailedLogins,
    /// A usage batch whose write failed, with its id: written again as it
    /// is before anything newer (the lock also serialises flushes).
    unflushed: tokio::sync::Mutex<Option<(String, Pending)>>,
    /// Serialises management writes so the cache and the database agree.
    pub(crate) writes: tokio::sync::Mutex<()>,
    pub metrics: Metrics,
    /// When usage was last written to the database (unix ms).
    last_flush_ms: AtomicI64,
    /// Where this instance is in the change feed, when the store has one.
    feed: Option<Feed>,
}

/// Keys read per query while the cache is filled at start-up.
const LOAD_PAGE: u32 = 10_000;

/// This instance's place in the change feed (see `feed`).
struct Feed {
    cursor: tokio::sync::Mutex<Cursor>,
    health: FeedHealth,
    /// Real time since start, for the staleness bound (the service's clock
    /// is business time, which tests move by days).
    started: std::time::Instant,
}

impl Feed {
    fn now_ms(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }
}

/// Hashes a SHA-256 digest by its first 8 bytes: the digest is already
/// uniformly distributed, and nobody can choose it, so SipHash buys nothing
/// on the verify path.
#[derive(Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
}

/// A new live admin key with no limits: an account's first, or the
/// embedded portal's recovered one.
pub(crate) fn admin_key_record(
    account_id: &str,
    name: String,
    hash: KeyHash,
    last4: String,
    now: DateTime<Utc>,
) -> KeyRecord {
    KeyRecord {
        id: new_id("key"),
        account_id: account_id.to_string(),
        name,
        environment: Environment::Live,
        hash,
        last4,
        scopes: ScopeSet::new(vec![Scope::Admin]),
        resources: vec![],
        expires_at: None,
        rate_limit: RateLimitOverride::default(),
        created_at: now,
        revoked_at: None,
        last_used_at: None,
        replaces: None,
        replaced_by: None,
        quarantine: None,
        restrictions: Default::default(),
    }
}

pub(crate) fn new_id(kind: &str) -> String {
    let mut bytes = [0u8; 10];
    OsRng.fill_bytes(&mut bytes);
    format!("{kind}_{}", hex_lower(&bytes))
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl KeyService {
    /// Loads accounts, unrevoked keys, today's usage and known endpoints
    /// into memory; rate state in this process.
    pub async fn open(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        options: ServiceOptions,
    ) -> Result<Self> {
        Self::open_with_rates(store, Arc::new(MemoryRates::default()), clock, options).await
    }

    /// [`KeyService::open`] with rate state kept in `rates`.
    pub async fn open_with_rates(
        store: Arc<dyn Store>,
        rates: Arc<dyn RateStore>,
        clock: Arc<dyn Clock>,
        options: ServiceOptions,
    ) -> Result<Self> {
        let detector = Detector::new(
            store.clone(),
            clock.clone(),
            DetectorConfig {
                anomaly: options.anomaly.clone(),
                minute_retention_days: options.minute_retention_days,
                hour_retention_days: options.hour_retention_days,
                lease: options.detector_lease,
                max_rotation_days: options.max_rotation_days,
            },
        );
        // Read before the caches are filled, so a change made meanwhile is
        // applied after them.
        let feed = match store.has_change_feed() {
            true => Some(Feed {
                cursor: Cursor::starting_after(
                    (store.change_position().await? - START_MARGIN).max(0),
                )
                .into(),
                health: FeedHealth::new(options.feed_stale_after, 0),
                started: std::time::Instant::now(),
            }),
            false => None,
        };
        let svc = Self {
            feed,
            usage: UsageReports::new(store.clone()),
            alerts: AlertBook::new(store.clone(), clock.clone()),
            webhooks: crate::webhooks::Webhooks::new(
                store.clone(),
                clock.clone(),
                options.prefix.clone(),
                options.webhook_destinations,
            ),
            store,
            clock,
            detector,
            prefix: options.prefix.clone(),
            options,
            by_hash: DashMap::default(),
            accounts: Default::default(),
            rates,
            recorder: UsageRecorder::default(),
            failed_logins: Default::default(),
            unflushed: Default::default(),
            writes: tokio::sync::Mutex::new(()),
            metrics: Metrics::new(),
            last_flush_ms: AtomicI64::new(crate::clock::millis(Utc::now())),
        };
        for a in svc.store.accounts().await? {
            let a = svc.within_bounds(a).await?;
            svc.accounts.insert(a.id.clone(), Arc::new(a));
        }
        // A page at a time: with a million keys, every row and record at
        // once would double the start-up's peak memory.
        let mut cursor = None;
        loop {
            let page = svc.store.unrevoked_keys_page(cursor, LOAD_PAGE).await?;
            for k in page.items {
                svc.by_hash.insert(k.hash, Cached::new(Arc::new(k)));
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let today = utc_day(nanos(svc.clock.now()));
        let counts = svc.store.day_counts(today).await?;
        svc.rates.preload(&counts, today);
        svc.recorder
            .preload_endpoints(&svc.store.known_endpoints().await?);
        Ok(svc)
    }

    /// Shortens a rotation policy chosen before the vendor set a lower
    /// `--max-rotation-days`, and says so in the account's audit log.
    async fn within_bounds(&self, mut account: Account) -> Result<Account> {
        let max = &self.options.max_rotation_days;
        let chosen = account.settings.rotation_days;
        if chosen.validate_within(max).is_ok() {
            return Ok(account);
        }
        account.settings.rotation_days = chosen.capped(max);
        let audit = self.audit(
            Some(&account.id),
            "server",
            "account.update",
            None,
            None,
            json!({
                "rotation_days": account.settings.rotation_days,
                "reason": "the service's longest allowed rotation periods",
            }),
        );
        self.store.update_account_settings(&account, &audit).await?;
        Ok(account)
    }

    pub fn prefix(&self) -> &KeyPrefix {
        &self.prefix
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The current time at the database's precision (milliseconds), so a
    /// record reads back exactly as it was returned.
    pub(crate) fn stamp(&self) -> DateTime<Utc> {
        crate::clock::from_millis(crate::clock::millis(self.clock.now()))
    }

    /// The store (tools and tests read what it holds).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Rate state (tests look at how many keys it tracks).
    pub fn rates(&self) -> &dyn RateStore {
        self.rates.as_ref()
    }

    /// The usage write-behind buffer.
    pub fn recorder(&self) -> &UsageRecorder {
        &self.recorder
    }

    /// Usage series and totals, as flushed to the store.
    pub fn usage(&self) -> &UsageReports {
        &self.usage
    }

    /// Alerts and reminders, as the detector stored them.
    pub fn alerts(&self) -> &AlertBook {
        &self.alerts
    }

    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.webhooks
    }

    pub(crate) fn view(&self, k: &KeyRecord, account: &Account) -> KeyView {
        let mut v = k.view(&self.prefix, account, self.clock.now());
        // The database's last-used time lags by up to one flush; memory does not.
        if let Some(t) = self.recorder.last_used(&k.id) {
            v.last_used_at = Some(v.last_used_at.map_or(t, |d| d.max(t)));
        }
        v
    }

    /// A key event for webhooks: the key (masked), who acted, and `extra`.
    fn key_event(
        &self,
        event_type: EventType,
        key: &KeyRecord,
        admin: &Admin,
        extra: serde_json::Value,
    ) -> crate::store::WebhookEvent {
        let mut data = json!({"key": self.webhooks.key_summary(key), "actor": admin.key_id});
        if let (Some(d), serde_json::Value::Object(e)) = (data.as_object_mut(), extra) {
            d.extend(e);
        }
        crate::webhooks::new_event(&key.account_id, event_type, self.stamp(), data)
    }

    pub(crate) fn audit(
        &self,
        account: Option<&str>,
        actor: &str,
        action: &str,
        key_id: Option<&str>,
        source: Option<&str>,
        detail: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            id: 0,
            account_id: account.map(str::to_string),
            at: self.stamp(),
            actor: actor.to_string(),
            action: action.to_string(),
            key_id: key_id.map(str::to_string),
            source: source.map(str::to_string),
            detail,
            event: None,
        }
    }

    // ---- accounts ----

    /// Creates an account and its first admin key (returned once).
    pub async fn create_account(
        &self,
        name: &str,
        plan: Plan,
        source: &str,
    ) -> Result<(AccountView, KeyView, SecretKey)> {
        let name = clean_name(name)?;
        let now = self.stamp();
        let account = Account {
            id: new_id("acc"),
            name,
            plan,
            created_at: now,
            settings: AccountSettings::default(),
            operator: OperatorFields::default(),
        };
        let _w = self.writes.lock().await;
        let audit = self.audit(
            Some(&account.id),
            source,
            "account.create",
            None,
            Some(source),
            json!({"plan": plan.as_str()}),
        );
        self.store.create_account(&account, &audit).await?;
        let account = Arc::new(account);
        self.accounts.insert(account.id.clone(), account.clone());
        let secret = self.prefix.generate(Environment::Live, &mut OsRng);
        let parsed = self
            .prefix
            .parse(secret.expose())
            .expect("generated keys parse");
        let key = admin_key_record(
            &account.id,
            "Admin key".into(),
            parsed.hash,
            parsed.last4,
            now,
        );
        let audit = self.audit(
            Some(&account.id),
            source,
            "key.create",
            Some(&key.id),
            Some(source),
            json!({"name": key.name, "scopes": ["admin"]}),
        );
        self.store.insert_key(&key, &audit).await?;
        let view = self.view(&key, &account);
        let account_view = account.view(
            &key.id,
            KeyCount {
                cap: account.key_cap(self.options.enterprise_key_cap),
                active: 1,
            },
            &self.bounds(),
        );
        self.by_hash.insert(key.hash, Cached::new(Arc::new(key)));
        Ok((account_view, view, secret))
    }

    /// For the embedded portal, which owns its local account on this
    /// machine: a new unrestricted admin key, registered by hash (the portal
    /// generated it and keeps it in the keychain), when the keychain lost the
    /// old one. Answers the new key's admin principal, so what the portal
    /// does next (revoking the lost key) is recorded under the new key's id.
    pub async fn issue_local_admin_key(
        &self,
        account_id: &str,
        hash: KeyHash,
        last4: &str,
        name: &str,
        source: &str,
    ) -> Result<(Admin, KeyView)> {
        let account = match self.accounts.get(account_id) {
            Some(a) => a.clone(),
            None => Arc::new(
                self.store
                    .account(account_id)
                    .await?
                    .ok_or(ServiceError::NotFound("account"))?,
            ),
        };
        let key = admin_key_record(
            &account.id,
            clean_name(name)?,
            hash,
            last4.to_string(),
            self.stamp(),
        );
        let audit = self.audit(
            Some(&account.id),
            &key.id,
            "key.create",
            Some(&key.id),
            Some(source),
            json!({"name": key.name, "scopes": ["admin"], "generated_by": "client", "reason": "local admin key recovery"}),
        );
        let _w = self.writes.lock().await;
        self.store
            .insert_key(&key, &audit)
            .await
            .map_err(duplicate_hash)?;
        let view = self.view(&key, &account);
        let admin = Admin {
            account,
            key_id: key.id.clone(),
            source: Some(source.to_string()),
            reach: Reach::of(&key),
        };
        self.by_hash.insert(key.hash, Cached::new(Arc::new(key)));
        Ok((admin, view))
    }

    pub async fn account_view(&self, admin: &Admin) -> Result<AccountView> {
        let account = self.current_account(admin);
        let keys = self.key_count(&account).await?;
        Ok(account.view(&admin.key_id, keys, &self.bounds()))
    }

    /// What this server lets accounts choose.
    pub fn bounds(&self) -> ServerBounds {
        ServerBounds {
            alert_defaults: AnomalyRules::defaults_of(&self.options.anomaly),
            max_rotation_days: self.options.max_rotation_days,
        }
    }

    pub(crate) async fn key_count(&self, account: &Account) -> Result<KeyCount> {
        let now = crate::clock::millis(self.clock.now());
        Ok(KeyCount {
            cap: account.key_cap(self.options.enterprise_key_cap),
            active: self.store.count_active_keys(&account.id, now).await?,
        })
    }

    /// Refuses a new active key once the account holds its plan's cap.
    /// Call with the write lock held, so two creates cannot both pass.
    pub(crate) async fn check_key_cap(&self, account: &Account) -> Result<()> {
        let keys = self.key_count(account).await?;
        if keys.active >= keys.cap {
            return Err(ServiceError::LimitExceeded(format!(
                "the {} plan allows {} active keys and this account has {}; \
                 revoke a key you no longer use, or upgrade the plan",
                account.plan, keys.cap, keys.active
            )));
        }
        Ok(())
    }

    /// The newest settings of the admin's account: the cache holds them;
    /// `admin` may predate a PATCH.
    pub(crate) fn current_account(&self, admin: &Admin) -> Arc<Account> {
        self.accounts
            .get(&admin.account.id)
            .map(|a| a.clone())
            .unwrap_or_else(|| admin.account.clone())
    }

    /// Changes the account's rotation policy, business hours, allowed
    /// countries or alert rules.
    pub async fn update_account(
        &self,
        admin: &Admin,
        req: UpdateAccountRequest,
    ) -> Result<AccountView> {
        admin
            .reach
            .grant()
            .may_change_account()
            .map_err(|e| ServiceError::NotPermitted(e.to_string()))?;
        let _w = self.writes.lock().await;
        let mut account = (*self.current_account(admin)).clone();
        let mut changed = serde_json::Map::new();
        if let Some(p) = req.rotation_days {
            p.validate_within(&self.options.max_rotation_days)
                .map_err(ServiceError::Invalid)?;
            account.settings.rotation_days = p;
            changed.insert("rotation_days".into(), json!(p));
        }
        if let Some(h) = req.business_hours {
            h.schedule().map_err(ServiceError::Invalid)?;
            changed.insert("business_hours".into(), json!(h));
            account.settings.business_hours = h;
        }
        if let Some(list) = req.allowed_countries {
            let clean = clean_countries(&list)?;
            changed.insert("allowed_countries".into(), json!(clean));
            account.settings.allowed_countries = clean;
        }
        if let Some(rules) = req.anomaly_rules {
            rules.validate().map_err(ServiceError::Invalid)?;
            changed.insert("anomaly_rules".into(), json!(rules));
            account.settings.anomaly_rules = rules;
        }
        if let Some(policy) = req.leak_policy {
            changed.insert("leak_policy".into(), json!(policy));
            account.settings.leak_policy = policy;
        }
        if changed.is_empty() {
            return Err(ServiceError::Invalid(
                "nothing to change: send rotation_days, business_hours, allowed_countries, \
                 anomaly_rules or leak_policy"
                    .into(),
            ));
        }
        let audit = self.audit(
            Some(&account.id),
            &admin.key_id,
            "account.update",
            None,
            admin.source.as_deref(),
            changed.into(),
        );
        self.store.update_account_settings(&account, &audit).await?;
        let keys = self.key_count(&account).await?;
        let view = account.view(&admin.key_id, keys, &self.bounds());
        self.accounts.insert(account.id.clone(), Arc::new(account));
        Ok(view)
    }

    // ---- authentication ----

    /// Checks a bearer credential for management. Anything but an active
    /// admin key of a known account is the same 401, and is audited.
    pub async fn authenticate_admin(
        &self,
        bearer: Option<&SecretKey>,
        source: Option<&str>,
    ) -> Result<Admin> {
        let found = match bearer {
            Some(b) => self.active_key(b.expose()).await?,
            None => None,
        };
        let reason = match &found {
            None => "unknown",
            Some(k) if !k.scopes.grants(Scope::Admin) => "missing_admin_scope",
            Some(k) => match self.accounts.get(&k.account_id).map(|a| a.clone()) {
                Some(a) if a.operator.suspended.is_some() => {
                    return Err(self.suspended(&a.id));
                }
                Some(a) => {
                    // A management call is a use of the key too (the portal's
                    // own admin key would otherwise always say "never used").
                    self.recorder
                        .touch(&k.id, &k.account_id, nanos(self.clock.now()));
                    return Ok(Admin {
                        account: a,
                        key_id: k.id.clone(),
                        source: source.map(str::to_string),
                        reach: Reach::of(k),
                    });
                }
                None => "unknown_account",
            },
        };
        let minute = crate::clock::millis(self.clock.now()).div_euclid(60_000) * 60;
        let Some(k) = found.filter(|k| self.accounts.contains_key(&k.account_id)) else {
            // No account to tell: counted, and written once per minute and source.
            tracing::debug!(reason, source, "admin authentication failed");
            self.failed_logins.unknown(minute, source);
            return Err(ServiceError::Unauthorized(BAD_CREDENTIAL));
        };
        tracing::info!(reason, source, account = %k.account_id, "admin authentication failed");
        if self.failed_logins.account(&k.account_id, minute) {
            let detail =
                json!({"reason": reason, "presented": bearer.map(|b| mask_any(&self.prefix, b))});
            let audit = self.audit(
                Some(&k.account_id),
                &k.id,
                "auth.failed",
                Some(&k.id),
                source,
                detail,
            );
            if let Err(e) = self.store.append_audit(&audit).await {
                tracing::error!(error = %e, "could not write audit event");
            }
        }
        Err(ServiceError::Unauthorized(BAD_CREDENTIAL))
    }

    /// The key for a raw credential if it parses, exists, is not revoked and
    /// has not expired. Served from memory; a miss (a key another process
    /// such as `account create` added) costs one indexed read, never a write.
    async fn active_key(&self, raw: &str) -> Result<Option<Arc<KeyRecord>>> {
        Ok(self.active(raw).await?.map(|c| c.key))
    }

    /// [`KeyService::active_key`] with the key's rate cell and usage slot.
    async fn active(&self, raw: &str) -> Result<Option<Cached>> {
        let Ok(parsed) = self.prefix.parse(raw) else {
            return Ok(None);
        };
        let cached = self.by_hash.get(&parsed.hash).map(|k| k.clone());
        let found = match cached {
            Some(c) => c,
            None => match self.load_key(&parsed.hash).await? {
                Some(c) => c,
                None => return Ok(None),
            },
        };
        Ok((found.key.status(self.clock.now()) == KeyStatus::Active).then_some(found))
    }

    async fn load_key(&self, hash: &KeyHash) -> Result<Option<Cached>> {
        let Some(key) = self.store.unrevoked_key_by_hash(hash).await? else {
            return Ok(None);
        };
        if !self.accounts.contains_key(&key.account_id) {
            match self.store.account(&key.account_id).await? {
                Some(a) => {
                    self.accounts.insert(a.id.clone(), Arc::new(a));
                }
                None => return Ok(None),
            }
        }
        let cached = Cached::new(Arc::new(key));
        // A concurrent revoke holds `writes` and removes the entry after us
        // only if we inserted first; taking the lock keeps that order.
        let _w = self.writes.lock().await;
        if self.store.unrevoked_key_by_hash(hash).await?.is_none() {
            return Ok(None);
        }
        self.by_hash.insert(cached.key.hash, cached.clone());
        Ok(Some(cached))
    }

    // ---- verification ----

    /// Verifies a key for `scope` (and `resource`), counting the call against
    /// its limits. Order: credential (401), rate (429), scope/resource (403).
    pub async fn verify(
        &self,
        raw: &SecretKey,
        scope: Option<Scope>,
        resource: Option<&Resource>,
        caller: Caller<'_>,
    ) -> Result<Verified> {
        let event = UsageEvent {
            outcome: Outcome::Success,
            endpoint: None,
            country: caller.country,
            ip: caller.ip,
        };
        let target = Target::Verify { scope, resource };
        self.admit(Route::Verify, raw, event, true, Some(target))
            .await
    }

    /// Counts one request of a known key (memory only; flushed in batches).
    pub fn record(&self, verified: &Verified, event: UsageEvent<'_>) {
        if !self.options.record_usage {
            return;
        }
        let now = nanos(self.clock.now());
        match &verified.usage {
            Some(slot) => slot.note(now, false, Some(event)),
            None => {
                let key = &verified.key;
                self.recorder.record(&key.id, &key.account_id, now, event)
            }
        }
    }

    /// Gateway admission for `method path` (path already normalised). Refusals
    /// of a known key are counted with `event`'s endpoint and country; the
    /// caller records the upstream's outcome for admitted requests.
    pub async fn admit_gateway(
        &self,
        raw: &SecretKey,
        method: &str,
        path: &str,
        event: UsageEvent<'_>,
    ) -> Result<Verified> {
        let target = Target::Gateway { method, path };
        self.admit(Route::Gateway, raw, event, false, Some(target))
            .await
    }

    /// Admission with no scope or resource check, counting the request as
    /// `event` (the gateway's answer to a method it does not proxy).
    pub async fn admit_counted(&self, raw: &SecretKey, event: UsageEvent<'_>) -> Result<Verified> {
        self.admit(Route::Gateway, raw, event, true, None).await
    }

    /// Authenticates, rate-limits and checks the key's rules for `target`
    /// (none: no check). The request is counted right after the decision:
    /// a 429 as rate_limited, a 403 as denied, and an admitted request as
    /// `event` (or would_deny) when `count_admitted` (verify; the gateway
    /// counts the upstream's outcome).
    async fn admit(
        &self,
        route: Route,
        raw: &SecretKey,
        event: UsageEvent<'_>,
        count_admitted: bool,
        target: Option<Target<'_>>,
    ) -> Result<Verified> {
        let result = self.decide(raw, event, count_admitted, target).await;
        self.metrics.count(route, &result);
        result
    }

    async fn decide(
        &self,
        raw: &SecretKey,
        event: UsageEvent<'_>,
        count_admitted: bool,
        target: Option<Target<'_>>,
    ) -> Result<Verified> {
        if let Some(feed) = &self.feed {
            if feed.health.is_stale(feed.now_ms()) {
                return Err(ServiceError::Stale);
            }
        }
        let Cached { key, state } = self
            .active(raw.expose())
            .await?
            .ok_or(ServiceError::Unauthorized(BAD_CREDENTIAL))?;
        let now = nanos(self.clock.now());
        let hot = match state.hot.get() {
            Some(h) => h,
            None => {
                let (limits, suspended) = self
                    .accounts
                    .get(&key.account_id)
                    .map(|a| (a.limits(), a.operator.suspended.is_some()))
                    .ok_or(ServiceError::Unauthorized(BAD_CREDENTIAL))?;
                state.hot.get_or_init(|| Hot {
                    limits,
                    suspended,
                    rate: self.rates.cell(&key.id, &key.account_id, now),
                    usage: self.recorder.slot(&key.id, &key.account_id),
                })
            }
        };
        if hot.suspended {
            return Err(self.suspended(&key.account_id));
        }
        let facts = target.map(|target| Facts {
            target,
            ip: event.ip,
            country: event.country,
        });
        let refusal = facts.as_ref().and_then(|f| key_rules(&key).check(f));
        let (limits, account_cap) = (key.limits(hot.limits), hot.limits.per_day);
        let decision = match hot.rate.try_decide(limits, account_cap, now) {
            Some(d) => d,
            None => hot.rate.decide_remote(limits, account_cap, now).await,
        };
        let would = match (&facts, &refusal, decision.allowed) {
            (Some(f), None, true) => self.would_refuse(&key, f, &state.shadow_tat, now),
            _ => None,
        };
        let label = would.as_ref().map(Refusal::label);
        let counted = match (decision.allowed, &refusal, count_admitted) {
            _ if !self.options.record_usage => None,
            (false, _, _) => Some(Outcome::RateLimited),
            (true, Some(_), _) => Some(Outcome::Denied),
            (true, None, true) if would.is_some() => Some(Outcome::WouldDeny),
            (true, None, true) => Some(event.outcome),
            (true, None, false) => None,
        };
        let counted = counted.map(|outcome| UsageEvent { outcome, ..event });
        hot.usage.note(now, decision.allowed, counted);
        if let (Some(label), true) = (&label, self.options.record_usage) {
            hot.usage.note_reason(now, label);
        }
        if !decision.allowed {
            return Err(ServiceError::RateLimited(decision));
        }
        if let Some(refusal) = refusal {
            return Err(refused(&key, &refusal, decision));
        }
        let usage = Some(hot.usage.clone());
        Ok(Verified {
            key,
            decision,
            memo: Memo(state),
            would_deny: would.is_some(),
            usage,
        })
    }

    // ---- keys ----

    pub async fn list_keys(
        &self,
        admin: &Admin,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<KeyList> {
        let page = self
            .store
            .keys_page(&admin.account.id, parse_cursor(cursor)?, page_size(limit)?)
            .await?;
        Ok(KeyList {
            keys: page
                .items
                .iter()
                .map(|k| self.view(k, &admin.account))
                .collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        })
    }

    async fn own_key(&self, admin: &Admin, id: &str) -> Result<KeyRecord> {
        self.store
            .key(&admin.account.id, id)
            .await?
            .ok_or(ServiceError::NotFound("key"))
    }

    pub async fn get_key(&self, admin: &Admin, id: &str) -> Result<KeyView> {
        let key = self.own_key(admin, id).await?;
        Ok(self.view(&key, &admin.account))
    }

    pub async fn create_key(&self, admin: &Admin, req: CreateKeyRequest) -> Result<CreatedKey> {
        let account_limits = self.current_account(admin).limits();
        let name = clean_name(&req.name)?;
        let scopes = clean_scopes(&req.scopes)?;
        let resources = parse_resources(&req.resources)?;
        let now = self.stamp();
        let expires_at = clean_expiry(req.expires_at, now)?;
        let rate_limit = clean_rate_limit(req.rate_limit, account_limits)?;
        let restrictions = crate::restrictions::KeyRestrictions {
            allowed_ips: clean_allowlist(&req.allowed_ips)?.into(),
            allowed_countries: clean_key_countries(&req.allowed_countries)?,
            proposal: None,
        };
        let (hash, last4, secret) = self.key_material(
            req.environment,
            req.key_hash.as_deref(),
            req.last4.as_deref(),
        )?;
        let key = KeyRecord {
            id: new_id("key"),
            account_id: admin.account.id.clone(),
            name,
            environment: req.environment,
            hash,
            last4,
            scopes,
            resources,
            expires_at,
            rate_limit,
            created_at: now,
            revoked_at: None,
            last_used_at: None,
            replaces: None,
            replaced_by: None,
            quarantine: None,
            restrictions,
        };
        let detail = json!({
            "name": key.name, "environment": key.environment, "scopes": key.scopes.as_slice(),
            "resources": req.resources, "generated_by": if secret.is_some() { "server" } else { "client" },
            "allowed_ips": key.restrictions.ips(), "allowed_countries": key.restrictions.allowed_countries,
        });
        let audit = self
            .audit(
                Some(&admin.account.id),
                &admin.key_id,
                "key.create",
                Some(&key.id),
                admin.source.as_deref(),
                detail,
            )
            .announcing(self.key_event(EventType::KeyCreated, &key, admin, json!({})));
        admin.reach.covers(&key)?;
        let _w = self.writes.lock().await;
        self.check_key_cap(&self.current_account(admin)).await?;
        self.store
            .insert_key(&key, &audit)
            .await
            .map_err(duplicate_hash)?;
        tracing::info!(account = %key.account_id, key_id = %key.id, key = %self.prefix.mask(key.environment, &key.last4), "key created");
        let view = self.view(&key, &admin.account);
        self.by_hash.insert(key.hash, Cached::new(Arc::new(key)));
        self.webhooks.wake();
        Ok(CreatedKey {
            key: view,
            secret: secret.map(|s| s.expose().to_string()),
        })
    }

    /// The stored hash and last4 for a new key: the caller's, checked, or a
    /// fresh server-generated key (returned so it can be shown once).
    pub(crate) fn key_material(
        &self,
        env: Environment,
        hash: Option<&str>,
        last4: Option<&str>,
    ) -> Result<(KeyHash, String, Option<SecretKey>)> {
        match (hash, last4) {
            (Some(h), Some(l)) => {
                let hash = KeyHash::from_hex(h).ok_or_else(|| {
                    ServiceError::Invalid(
                        "key_hash must be 64 lowercase hex characters (SHA-256 of the key)".into(),
                    )
                })?;
                if l.len() != 4
                    || !l
                        .bytes()
                        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
                {
                    return Err(ServiceError::Invalid(
                        "last4 must be the key's last 4 characters (lowercase hex)".into(),
                    ));
                }
                Ok((hash, l.to_string(), None))
            }
            (None, None) => {
                let secret = self.prefix.generate(env, &mut OsRng);
                let parsed = self
                    .prefix
                    .parse(secret.expose())
                    .expect("generated keys parse");
                Ok((parsed.hash, parsed.last4, Some(secret)))
            }
            _ => Err(ServiceError::Invalid(
                "key_hash and last4 go together: send both or neither".into(),
            )),
        }
    }

    pub async fn update_key(
        &self,
        admin: &Admin,
        id: &str,
        req: UpdateKeyRequest,
    ) -> Result<KeyView> {
        let _w = self.writes.lock().await;
        let mut key = self.own_key(admin, id).await?;
        admin.reach.covers(&key)?;
        if key.revoked_at.is_some() {
            return Err(ServiceError::Conflict(
                "a revoked key cannot be changed".into(),
            ));
        }
        let mut changed = serde_json::Map::new();
        if let Some(name) = &req.name {
            key.name = clean_name(name)?;
            changed.insert("name".into(), json!(key.name));
        }
        if let Some(scopes) = &req.scopes {
            key.scopes = clean_scopes(scopes)?;
            changed.insert("scopes".into(), json!(key.scopes.as_slice()));
        }
        if let Some(resources) = &req.resources {
            key.resources = parse_resources(resources)?;
            changed.insert("resources".into(), json!(resources));
        }
        if let Some(rl) = req.rate_limit {
            key.rate_limit = clean_rate_limit(rl, self.current_account(admin).limits())?;
            changed.insert("rate_limit".into(), json!(rl));
        }
        if let Some(exp) = req.expires_at {
            key.expires_at = clean_expiry(exp, self.clock.now())?;
            changed.insert("expires_at".into(), json!(exp));
        }
        if let Some(ips) = &req.allowed_ips {
            key.restrictions.allowed_ips = clean_allowlist(ips)?.into();
            changed.insert("allowed_ips".into(), json!(key.restrictions.ips()));
        }
        if let Some(countries) = &req.allowed_countries {
            key.restrictions.allowed_countries = clean_key_countries(countries)?;
            changed.insert(
                "allowed_countries".into(),
                json!(key.restrictions.allowed_countries),
            );
        }
        if changed.is_empty() {
            return Err(ServiceError::Invalid(
                "nothing to change: send name, scopes, resources, rate_limit, expires_at, \
                 allowed_ips or allowed_countries"
                    .into(),
            ));
        }
        admin.reach.covers(&key)?;
        let audit = self.audit(
            Some(&admin.account.id),
            &admin.key_id,
            "key.update",
            Some(&key.id),
            admin.source.as_deref(),
            changed.into(),
        );
        self.store.update_key(&key, &audit).await?;
        let view = self.view(&key, &admin.account);
        self.by_hash.insert(key.hash, Cached::new(Arc::new(key)));
        Ok(view)
    }

    /// Revokes at once: the very next request with this key is refused.
    /// Revoking a revoked key changes nothing and answers the same.
    pub async fn revoke_key(&self, admin: &Admin, id: &str) -> Result<KeyView> {
        let _w = self.writes.lock().await;
        let mut key = self.own_key(admin, id).await?;
        admin.reach.covers(&key)?;
        if key.revoked_at.is_none() {
            key.revoked_at = Some(self.stamp());
            let audit = self
                .audit(
                    Some(&admin.account.id),
                    &admin.key_id,
                    "key.revoke",
                    Some(&key.id),
                    admin.source.as_deref(),
                    json!({"name": key.name}),
                )
                .announcing(self.key_event(EventType::KeyRevoked, &key, admin, json!({})));
            self.store.update_key(&key, &audit).await?;
            self.by_hash.remove(&key.hash);
            self.webhooks.wake();
            tracing::info!(account = %key.account_id, key_id = %key.id, key = %self.prefix.mask(key.environment, &key.last4), "key revoked");
        }
        Ok(self.view(&key, &admin.account))
    }

    /// Acts on a verified leak report: each token that is a live key of
    /// this service is quarantined or revoked at once (its account's
    /// `leak_policy`; admin keys are always revoked), with a `leak_reported`
    /// alert (and so a `leak.reported` webhook) naming where it was found.
    /// Anything else is only counted.
    pub async fn report_leaks(
        &self,
        reports: &[crate::leaks::LeakReport],
    ) -> Result<Vec<crate::leaks::LeakVerdict>> {
        let mut out = Vec::with_capacity(reports.len());
        let (mut live, mut other) = (0u64, 0u64);
        for r in reports {
            let hash = KeyHash::of(&r.token);
            let acted = match self.prefix.parse(&r.token) {
                Ok(parsed) => self.act_on_leak(&parsed.hash, r).await?,
                Err(_) => false,
            };
            if acted {
                live += 1;
            } else {
                other += 1;
            }
            out.push(crate::leaks::LeakVerdict {
                token_hash: hash.to_hex(),
                token_type: r.token_type.chars().take(100).collect(),
                label: if acted {
                    "true_positive"
                } else {
                    "false_positive"
                }
                .into(),
            });
        }
        self.metrics.leak_report(live, other);
        tracing::info!(live, other, "leak report handled");
        Ok(out)
    }

    /// Quarantines or revokes a reported key that still works; false when
    /// it is not a working key of this service.
    async fn act_on_leak(&self, hash: &KeyHash, r: &crate::leaks::LeakReport) -> Result<bool> {
        use crate::leaks::{evidence, Action};
        // Most reported tokens are not live keys: only a live one takes the
        // write lock (and is read again under it).
        let live = |k: KeyRecord| (k.status(self.clock.now()) == KeyStatus::Active).then_some(k);
        if self.store.key_by_hash(hash).await?.and_then(live).is_none() {
            return Ok(false);
        }
        let _w = self.writes.lock().await;
        let Some(mut key) = self.store.key_by_hash(hash).await?.and_then(live) else {
            return Ok(false);
        };
        let now = self.stamp();
        let Some(account) = self.store.account(&key.account_id).await? else {
            return Ok(false);
        };
        let revoke =
            account.settings.leak_policy == LeakPolicy::Revoke || key.scopes.grants(Scope::Admin);
        let place: String = r
            .url
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let action = if revoke {
            key.revoked_at = Some(now);
            let audit = self
                .audit(
                    Some(&account.id),
                    "leak-report",
                    "key.revoke",
                    Some(&key.id),
                    None,
                    json!({"name": key.name, "reason": "reported public", "url": place}),
                )
                .announcing(crate::webhooks::new_event(
                    &key.account_id,
                    EventType::KeyRevoked,
                    now,
                    json!({"key": self.webhooks.key_summary(&key), "actor": "leak-report"}),
                ));
            self.store.update_key(&key, &audit).await?;
            self.by_hash.remove(&key.hash);
            Action::Revoked
        } else {
            let reason = format!("reported public at {place}");
            let reason: String = reason.chars().take(300).collect();
            if key.quarantine.is_none() {
                self.set_quarantine(
                    &account,
                    key.clone(),
                    Some((reason, "leak_report")),
                    "leak-report",
                    None,
                )
                .await?;
            }
            Action::Quarantined
        };
        let masked = self.prefix.mask(key.environment, &key.last4);
        let alert = Alert {
            id: new_id("alt"),
            account_id: account.id.clone(),
            key_id: key.id.clone(),
            kind: AlertKind::LeakReported,
            category: AlertKind::LeakReported.category(),
            status: AlertStatus::Open,
            message: format!(
                "Key \u{201c}{}\u{201d} ({masked}) was found public at {place} and was {}: rotate it now",
                key.name,
                action.as_str()
            ),
            evidence: evidence(r, action, &masked, &key.name, now),
            created_at: now,
            acknowledged_at: None,
            resolved_at: None,
        };
        self.store.insert_alert(&alert).await?;
        tracing::warn!(account = %account.id, key_id = %key.id, key = %masked, action = action.as_str(), "a live key was reported public");
        self.webhooks.wake();
        Ok(true)
    }

    /// Which of `hashes` are keys of the caller's account (scanners send
    /// hashes, never keys).
    pub async fn lookup_keys(&self, admin: &Admin, req: KeyLookupRequest) -> Result<KeyLookup> {
        if req.hashes.is_empty() || req.hashes.len() > 500 {
            return Err(ServiceError::Invalid(
                "hashes must hold 1 to 500 SHA-256 digests".into(),
            ));
        }
        let mut keys = Vec::new();
        for h in &req.hashes {
            let hash = KeyHash::from_hex(h).ok_or_else(|| {
                ServiceError::Invalid("each hash must be 64 lowercase hex characters".into())
            })?;
            if let Some(k) = self.store.key_by_hash(&hash).await? {
                if k.account_id == admin.account.id {
                    keys.push(KeyMatch {
                        hash: h.clone(),
                        key: self.view(&k, &admin.account),
                    });
                }
            }
        }
        Ok(KeyLookup { keys })
    }

    /// Sets a key aside as possibly compromised: from the next request it
    /// may only read, at most [`QUARANTINE_PER_MINUTE`] a minute, until
    /// released or revoked. Quarantining a quarantined key changes nothing.
    pub async fn quarantine_key(
        &self,
        admin: &Admin,
        id: &str,
        req: QuarantineRequest,
    ) -> Result<KeyView> {
        let reason = clean_text(&req.reason, 300, "reason")?;
        let _w = self.writes.lock().await;
        let key = self.own_key(admin, id).await?;
        admin.reach.covers(&key)?;
        let source = admin.key_id.clone();
        self.set_quarantine(
            &admin.account,
            key,
            Some((reason, "manual")),
            &source,
            admin.source.as_deref(),
        )
        .await
    }

    /// Ends a key's quarantine: it works as before from the next request.
    pub async fn release_key(&self, admin: &Admin, id: &str) -> Result<KeyView> {
        let _w = self.writes.lock().await;
        let key = self.own_key(admin, id).await?;
        admin.reach.covers(&key)?;
        self.set_quarantine(
            &admin.account,
            key,
            None,
            &admin.key_id,
            admin.source.as_deref(),
        )
        .await
    }

    /// Quarantines (`Some((reason, source))`) or releases a key, audited,
    /// announced and applied to the cache. Call with `writes` held.
    pub(crate) async fn set_quarantine(
        &self,
        account: &Account,
        mut key: KeyRecord,
        to: Option<(String, &str)>,
        actor: &str,
        peer: Option<&str>,
    ) -> Result<KeyView> {
        if key.status(self.clock.now()) != KeyStatus::Active {
            return Err(ServiceError::Conflict(
                "only an active key can be quarantined or released".into(),
            ));
        }
        if to.is_some() && key.scopes.grants(Scope::Admin) {
            return Err(ServiceError::Conflict(
                "an admin key cannot be made read-only: revoke it (rotate first if it is this \
                 portal's)"
                    .into(),
            ));
        }
        if to.is_none() == key.quarantine.is_none() {
            return Ok(self.view(&key, account));
        }
        let (action, detail) = match &to {
            Some((reason, source)) => (
                "key.quarantine",
                json!({"name": key.name, "reason": reason, "source": source}),
            ),
            None => ("key.release", json!({"name": key.name})),
        };
        let (networks, countries) = match &to {
            Some(_) => self.known_places(&key).await?,
            None => Default::default(),
        };
        key.quarantine = to.map(|(reason, source)| Quarantine {
            at: self.stamp(),
            reason,
            source: source.to_string(),
            networks,
            countries,
        });
        let mut audit = self.audit(
            Some(&account.id),
            actor,
            action,
            Some(&key.id),
            peer,
            detail,
        );
        if let Some(q) = &key.quarantine {
            let data =
                json!({"key": self.webhooks.key_summary(&key), "quarantine": q, "actor": actor});
            audit = audit.announcing(crate::webhooks::new_event(
                &key.account_id,
                EventType::KeyQuarantined,
                self.stamp(),
                data,
            ));
        }
        self.store.update_key(&key, &audit).await?;
        tracing::info!(account = %key.account_id, key_id = %key.id, action, "key quarantine changed");
        let view = self.view(&key, account);
        self.by_hash.insert(key.hash, Cached::new(Arc::new(key)));
        self.webhooks.wake();
        Ok(view)
    }

    /// Creates the replacement with the same settings, linked both ways. The
    /// old key keeps working until it is revoked (zero-downtime rotation).
    pub async fn rotate_key(
        &self,
        admin: &Admin,
        id: &str,
        req: RotateKeyRequest,
    ) -> Result<CreatedKey> {
        let _w = self.writes.lock().await;
        let mut old = self.own_key(admin, id).await?;
        admin.reach.covers(&old)?;
        let now = self.stamp();
        if old.status(now) != KeyStatus::Active {
            return Err(ServiceError::Conflict(
                "only an active key can be rotated; create a new key instead".into(),
            ));
        }
        // A replacement that was revoked (an abandoned rotation) or has
        // expired does not block a new one.
        if let Some(next) = &old.replaced_by {
            let live = self.store.key(&admin.account.id, next).await?;
            if live.is_some_and(|k| k.status(now) == KeyStatus::Active) {
                return Err(ServiceError::Conflict(format!(
                    "this key was already rotated to {next}; rotate that key instead"
                )));
            }
        }
        // While the key this one replaced still works, a new rotation adds
        // an active key (see `Store::count_active_keys`): it needs room.
        if let Some(prev) = &old.replaces {
            let prev = self.store.key(&admin.account.id, prev).await?;
            if prev.is_some_and(|k| k.status(now) == KeyStatus::Active) {
                self.check_key_cap(&admin.account).await?;
            }
        }
        let (hash, last4, secret) = self.key_material(
            old.environment,
            req.key_hash.as_deref(),
            req.last4.as_deref(),
        )?;
        let new = KeyRecord {
            id: new_id("key"),
            hash,
            last4,
            created_at: now,
            // Same lifetime as the old key, counted from now (never past
            // the latest date the API accepts).
            expires_at: old.expires_at.map(|e| {
                now.checked_add_signed(e.signed_duration_since(old.created_at))
                    .map_or_else(keyport_core::request::latest, |t| {
                        t.min(keyport_core::request::latest())
                    })
            }),
            revoked_at: None,
            last_used_at: None,
            replaces: Some(old.id.clone()),
            replaced_by: None,
            // The replacement is the way out of quarantine.
            quarantine: None,
            ..old.clone()
        };
        old.replaced_by = Some(new.id.clone());
        let replacement = json!({"replacement": self.webhooks.key_summary(&new)});
        let audit = self
            .audit(
                Some(&admin.account.id),
                &admin.key_id,
                "key.rotate",
                Some(&old.id),
                admin.source.as_deref(),
                json!({"name": old.name, "replaced_by": new.id}),
            )
            .announcing(self.key_event(EventType::KeyRotated, &old, admin, replacement));
        self.store
            .rotate_key(&old, &new, &audit)
            .await
            .map_err(duplicate_hash)?;
        tracing::info!(account = %old.account_id, old = %old.id, new = %new.id, "key rotated");
        self.webhooks.wake();
        let view = self.view(&new, &admin.account);
        self.by_hash.insert(old.hash, Cached::new(Arc::new(old)));
        self.by_hash.insert(new.hash, Cached::new(Arc::new(new)));
        Ok(CreatedKey {
            key: view,
            secret: secret.map(|s| s.expose().to_string()),
        })
    }

    pub async fn audit_log(
        &self,
        admin: &Admin,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<AuditList> {
        let page = self
            .store
            .audit_page(&admin.account.id, parse_cursor(cursor)?, page_size(limit)?)
            .await?;
        Ok(AuditList {
            events: page.items.iter().map(AuditView::from).collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        })
    }

    // ---- the change feed ----

    /// Whether this instance follows a change feed (PostgreSQL).
    pub fn follows_changes(&self) -> bool {
        self.feed.is_some()
    }

    /// Whether this instance should take traffic: its database answers and
    /// its change feed (if any) is current.
    pub async fn readiness(&self) -> Readiness {
        let database = match self.store.ping().await {
            Ok(()) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, "readiness: database unavailable");
                "unavailable"
            }
        };
        let (change_feed, lag) = match &self.feed {
            None => ("not_used", None),
            Some(f) => {
                let now = f.now_ms();
                let state = if f.health.is_ready(now) {
                    "ok"
                } else {
                    "behind"
                };
                (state, Some(f.health.lag_ms(now)))
            }
        };
        let shared = self.rates.shared();
        let rate_limits = match shared {
            None => "local",
            Some(s) if s.up => "shared",
            Some(_) => "fallback",
        };
        Readiness {
            ready: database == "ok" && change_feed != "behind",
            database: database.into(),
            change_feed: change_feed.into(),
            change_feed_lag_ms: lag,
            rate_limits: rate_limits.into(),
            instances: shared.map(|s| s.instances),
        }
    }

    /// Reads the change feed to its end and reloads what changed into the
    /// caches. Returns the number of entries applied. On failure nothing is
    /// skipped: the next call reads again from where this one started.
    pub async fn catch_up(&self) -> Result<usize> {
        let Some(feed) = &self.feed else {
            return Ok(0);
        };
        let mut cursor = feed.cursor.lock().await;
        let mut applied = 0;
        loop {
            let started = feed.now_ms();
            let from = cursor.after();
            let read = self.store.changes_after(from, BATCH).await?;
            let more = read.len() == BATCH as usize;
            let fresh = cursor.take(read, started);
            if let Err(e) = self.apply_changes(&fresh).await {
                *cursor = Cursor::starting_after(from);
                return Err(e);
            }
            applied += fresh.len();
            if !more {
                feed.health.read_at(started);
                return Ok(applied);
            }
        }
    }

    /// Reloads the keys and accounts feed entries name. Keys are read and
    /// replaced under `writes`, like a cache miss, so the two cannot
    /// interleave into caching an old state; one query and one lock for the
    /// whole batch, so a burst of management writes cannot starve the feed.
    async fn apply_changes(&self, changes: &[Change]) -> Result<()> {
        let mut keys: Vec<(String, String)> = Vec::new();
        let own = changes.iter().filter(|c| c.own).count();
        self.metrics.feed_entries(own, changes.len() - own);
        // This instance's own writes updated its cache as they committed
        // (as on SQLite, where there is no feed): reloading them would only
        // take the write lock again, once per write.
        for c in changes.iter().filter(|c| !c.own) {
            match c.kind {
                ChangeKind::Account => {
                    if let Some(a) = self.store.account(&c.id).await? {
                        self.refresh_account(Arc::new(a));
                    }
                }
                ChangeKind::Key => keys.push((c.account_id.clone(), c.id.clone())),
            }
        }
        if keys.is_empty() {
            return Ok(());
        }
        keys.sort();
        keys.dedup();
        let _w = self.writes.lock().await;
        for key in self.store.keys_by_id(&keys).await? {
            if key.revoked_at.is_some() {
                self.by_hash.remove(&key.hash);
            } else {
                self.by_hash.insert(key.hash, Cached::new(Arc::new(key)));
            }
        }
        Ok(())
    }

    // ---- background ----

    /// Writes batched quota counts, usage and last-used times in one
    /// transaction. On failure they go back into memory for the next attempt.
    /// Writes what was counted since the last flush; returns how many keys
    /// it wrote usage for (what a flush's cost grows with).
    pub async fn flush(&self) -> Result<usize> {
        let minute = crate::clock::millis(self.clock.now()).div_euclid(60_000) * 60;
        self.flush_failed_logins(minute).await?;
        let keys = self.flush_usage().await?;
        self.last_flush_ms
            .store(crate::clock::millis(Utc::now()), Ordering::Relaxed);
        Ok(keys)
    }

    /// What a metrics scrape reads besides the counters.
    pub fn metrics_snapshot(&self) -> Snapshot {
        let now_ms = crate::clock::millis(Utc::now());
        Snapshot {
            change_feed_lag_ms: self.feed.as_ref().map(|f| f.health.lag_ms(f.now_ms())),
            flush_lag_ms: now_ms - self.last_flush_ms.load(Ordering::Relaxed),
            shared: self.rates.shared(),
            pool: Some(self.store.pool_stats()),
        }
    }

    /// One pass of the anomaly detector and reminders, over everything
    /// counted so far (this instance's memory is flushed first). Returns
    /// the number of alerts raised.
    pub async fn run_detector(&self) -> Result<usize> {
        Ok(self.detector_pass().await?.unwrap_or(0))
    }

    /// One detector pass if this instance holds the cluster's detector
    /// lease (always on SQLite); `None` when another instance runs it.
    pub async fn detector_pass(&self) -> Result<Option<usize>> {
        self.flush().await?;
        let raised = self.detector.run_if_leader().await?;
        if raised.is_some() {
            self.webhooks.prune().await?;
            self.webhooks.wake();
        }
        Ok(raised)
    }

    /// Gives up the detector lease (at shutdown).
    pub async fn release_detector(&self) -> Result<()> {
        self.detector.release().await
    }

    /// Writes everything still in memory, the current minute's rollups too
    /// (at shutdown).
    pub async fn flush_all(&self) -> Result<()> {
        self.flush_failed_logins(i64::MAX).await?;
        self.flush_usage().await.map(drop)
    }

    /// One audit row per rolled-up minute of failed logins (see `authlog`).
    async fn flush_failed_logins(&self, before: i64) -> Result<()> {
        let rows = self.failed_logins.drain(before);
        for (i, r) in rows.iter().enumerate() {
            let event = AuditEvent {
                id: 0,
                account_id: r.account_id.clone(),
                at: crate::clock::from_millis(r.minute.saturating_mul(1000)),
                actor: "unknown".into(),
                action: "auth.failed".into(),
                key_id: None,
                source: r.source.clone(),
                detail: r.detail.clone(),
                event: None,
            };
            if let Err(e) = self.store.append_audit(&event).await {
                self.failed_logins.restore(rows[i..].to_vec());
                return Err(e.into());
            }
        }
        if !rows.is_empty() {
            let total: u64 = rows.iter().filter_map(|r| r.detail["count"].as_u64()).sum();
            tracing::info!(
                rows = rows.len(),
                failed_logins = total,
                "failed logins rolled up"
            );
        }
        Ok(())
    }

    /// A failed batch is not merged back into memory: its COMMIT may have
    /// gone through with only the acknowledgement lost. It is kept aside
    /// and written again, same id and same rows, before anything newer; the
    /// store skips a batch id it has already recorded, so nothing counts
    /// twice.
    async fn flush_usage(&self) -> Result<usize> {
        let mut unflushed = self.unflushed.lock().await;
        if let Some((batch, pending)) = unflushed.take() {
            if let Err(e) = self
                .store
                .flush_usage(&batch, &pending.counts, &pending.last_used, &pending.usage)
                .await
            {
                *unflushed = Some((batch, pending));
                return Err(e.into());
            }
        }
        let started = std::time::Instant::now();
        let pending = self.recorder.take_pending();
        if pending.is_empty() {
            return Ok(0);
        }
        let taken = started.elapsed();
        let batch = crate::store::new_batch_id();
        if let Err(e) = self
            .store
            .flush_usage(&batch, &pending.counts, &pending.last_used, &pending.usage)
            .await
        {
            *unflushed = Some((batch, pending));
            return Err(e.into());
        }
        tracing::debug!(
            keys = pending.last_used.len(),
            minute_rows = pending.usage.minutes.len(),
            take_micros = taken.as_micros() as u64,
            micros = started.elapsed().as_micros() as u64,
            "usage flushed"
        );
        Ok(pending.last_used.len())
    }
}

/// The rules a key is held to on every request.
fn key_rules(key: &KeyRecord) -> Rules<'_> {
    Rules {
        scopes: Some(&key.scopes),
        resources: Some(&key.resources),
        allowed_ips: &key.restrictions.allowed_ips,
        allowed_countries: &key.restrictions.allowed_countries,
    }
}

/// A 403 for a broken rule, with its stable code; a quarantined key says
/// why it is held back.
fn refused(key: &KeyRecord, refusal: &Refusal, decision: Decision) -> ServiceError {
    let mut message = refusal.to_string();
    if let Some(q) = &key.quarantine {
        message = format!(
            "{message}: this key is quarantined ({}) and may only read, from where it was used \
             before, until its owner releases or revokes it",
            q.reason
        );
    }
    ServiceError::Forbidden {
        code: refusal.code(),
        message,
        decision,
    }
}

pub(crate) fn duplicate_hash(e: StoreError) -> ServiceError {
    match e {
        StoreError::DuplicateHash => {
            ServiceError::Conflict("a key with this key_hash already exists".into())
        }
        e => e.into(),
    }
}

/// Something safe to write about a presented credential: the masked key if it
/// is key-shaped, otherwise only its length.
fn mask_any(prefix: &KeyPrefix, raw: &SecretKey) -> String {
    match prefix.parse(raw.expose()) {
        Ok(p) => prefix.mask(p.environment, &p.last4),
        Err(_) => format!("<{} characters, not a key>", raw.expose().chars().count()),
    }
}

pub(crate) fn clean_name(name: &str) -> Result<String> {
    clean_text(name, MAX_NAME, "name")
}

/// Text a person reads (a name, a reason): trimmed, 1 to `max` characters,
/// no control, invisible or direction-changing characters.
pub(crate) fn clean_text(text: &str, max: usize, field: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(ServiceError::Invalid(format!(
            "{field} must be 1 to {max} printable characters"
        )));
    }
    if let Some(c) = text.chars().find(|c| invisible(*c)) {
        return Err(ServiceError::Invalid(format!(
            "{field} must not contain invisible or direction-changing characters (found U+{:04X})",
            c as u32
        )));
    }
    Ok(text.to_string())
}

/// Characters that make a name read differently from what it holds:
/// bidirectional overrides and isolates, zero-width and other invisible
/// format characters (Unicode category Cf, the ones that occur in text).
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}')
}

/// A new expiry: in the future and within the dates the API accepts.
fn clean_expiry(exp: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let Some(e) = exp else { return Ok(None) };
    let e = check_date(e).map_err(|m| ServiceError::Invalid(format!("expires_at: {m}")))?;
    if e <= now {
        return Err(ServiceError::Invalid(
            "expires_at must be in the future".into(),
        ));
    }
    Ok(Some(e))
}

fn clean_scopes(scopes: &[Scope]) -> Result<ScopeSet> {
    let set = ScopeSet::new(scopes.to_vec());
    if set.is_empty() {
        return Err(ServiceError::Invalid(
            "scopes must name at least one of read, write, admin".into(),
        ));
    }
    Ok(set)
}

fn parse_resources(list: &[String]) -> Result<Vec<Resource>> {
    if list.len() > MAX_RESOURCES {
        return Err(ServiceError::Invalid(format!(
            "at most {MAX_RESOURCES} resources per key"
        )));
    }
    let mut out = list
        .iter()
        .map(|r| {
            r.parse::<Resource>()
                .map_err(|e| ServiceError::Invalid(format!("resource {r:?}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn clean_allowlist(list: &[String]) -> Result<Vec<ipnet::IpNet>> {
    keyport_core::restrict::parse_allowlist(list)
        .map_err(|e| ServiceError::Invalid(format!("allowed_ips: {e}")))
}

fn clean_key_countries(list: &[String]) -> Result<Vec<String>> {
    keyport_core::restrict::parse_countries(list)
        .map_err(|e| ServiceError::Invalid(format!("allowed_countries: {e}")))
}

fn clean_rate_limit(
    view: Option<RateLimitView>,
    account: keyport_core::Limits,
) -> Result<RateLimitOverride> {
    let o: RateLimitOverride = view.map(Into::into).unwrap_or_default();
    o.validate(account)
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    Ok(o)
}

pub(crate) fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ServiceError::BadRequest("cursor is not one this API gave out".into()))
        })
        .transpose()
}

pub(crate) fn page_size(limit: Option<u32>) -> Result<u32> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ServiceError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE}"
        ))),
    }
}

/// Upper-cased, sorted, de-duplicated ISO country codes, or which one is not.
pub(crate) fn clean_countries(list: &[String]) -> Result<Vec<String>> {
    let mut clean = list
        .iter()
        .map(|c| {
            keyport_core::usage::clean_country(c).ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "allowed_countries: {c:?} is not a two-letter country code"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    clean.sort();
    clean.dedup();
    Ok(clean)
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    /// A key cache entry is one 64-byte cache line: a field added to
    /// `Cached` should go into `KeyState`, not widen every entry.
    #[test]
    fn a_key_cache_entry_fills_one_cache_line() {
        type Entry = (KeyHash, Cached);
        assert_eq!(std::mem::size_of::<Entry>(), 64);
        assert_eq!(std::mem::align_of::<Entry>(), 32);
    }
}
