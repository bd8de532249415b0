//! The vendor's side of the service: operator tokens, accounts and plans
//! (`/v1/operator/…`), and enrollment codes that let a customer's portal
//! register an admin key it made itself, so no admin secret ever leaves the
//! customer's machine.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use keyport_core::{enrollment, KeyHash, Outcome, Scope};
use rand::rngs::OsRng;
use serde_json::json;
use std::sync::Arc;

use crate::error::{Result, ServiceError};
use crate::model::*;
use crate::service::{
    admin_key_record, clean_name, clean_text, duplicate_hash, new_id, page_size, KeyService,
    MAX_PAGE,
};
use crate::store::{Enrollment, OperatorToken, Redemption, StoreError};

/// Enrollment codes are valid this long unless the server or the call
/// says otherwise.
pub const DEFAULT_ENROLLMENT_HOURS: u32 = 24;
pub const MAX_ENROLLMENT_HOURS: u32 = 720;
/// Failed enrollment attempts one source may make per window; then it
/// waits for the window to end.
pub const ATTEMPTS_PER_WINDOW: u32 = 10;
pub const ATTEMPT_WINDOW_SECS: i64 = 15 * 60;
const MAX_EXTERNAL_ID: usize = 200;
const MAX_REASON: usize = 300;
const BAD_OPERATOR: &str = "missing, unknown or revoked operator token";

/// Who is calling an operator endpoint.
#[derive(Debug, Clone)]
pub struct Operator {
    pub token_id: String,
    pub name: String,
    pub source: Option<String>,
}

/// Who made an account or a code: an operator token or the CLI.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Operator(&'a Operator),
    Cli,
}

impl Actor<'_> {
    fn id(&self) -> &str {
        match self {
            Actor::Operator(o) => &o.token_id,
            Actor::Cli => "cli",
        }
    }

    fn source(&self) -> Option<&str> {
        match self {
            Actor::Operator(o) => o.source.as_deref(),
            Actor::Cli => Some("cli"),
        }
    }

    fn detail(&self, mut detail: serde_json::Value) -> serde_json::Value {
        if let (Actor::Operator(o), Some(map)) = (self, detail.as_object_mut()) {
            map.insert("operator".into(), json!(o.name));
        }
        detail
    }
}

/// An account's usage over `[from, to)` from the day totals.
fn summary(totals: &[(String, keyport_core::Counts)]) -> UsageSummary {
    let mut s = UsageSummary::default();
    for (_, c) in totals {
        let total: u64 = c.0.iter().sum();
        let limited = c.0[Outcome::RateLimited.index()];
        s.total += total;
        s.rate_limited += limited;
        s.denied += c.0[Outcome::Denied.index()];
        s.admitted += total - limited;
    }
    s
}

fn start_of_month(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// `{created_at ms}.{account id}`, as `operator_accounts` gives out.
fn parse_account_cursor(c: &str) -> Result<(i64, &str)> {
    let bad = || ServiceError::BadRequest("cursor is not one this API gave out".into());
    let (ms, id) = c.split_once('.').ok_or_else(bad)?;
    Ok((ms.parse().map_err(|_| bad())?, id))
}

/// A billing system's id: 1 to 200 printable ASCII characters, no spaces.
fn clean_external_id(id: &str) -> Result<String> {
    if id.is_empty() || id.len() > MAX_EXTERNAL_ID || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ServiceError::Invalid(format!(
            "external_id must be 1 to {MAX_EXTERNAL_ID} printable ASCII characters without spaces"
        )));
    }
    Ok(id.to_string())
}

fn enrollment_hours(hours: Option<u32>, default: u32) -> Result<u32> {
    match hours.unwrap_or(default) {
        h @ 1..=MAX_ENROLLMENT_HOURS => Ok(h),
        h => Err(ServiceError::Invalid(format!(
            "an enrollment code lasts 1 to {MAX_ENROLLMENT_HOURS} hours, not {h}"
        ))),
    }
}

fn duplicate_external_id(e: StoreError) -> ServiceError {
    match e {
        StoreError::DuplicateExternalId => {
            ServiceError::Conflict("another account has this external_id".into())
        }
        e => e.into(),
    }
}

fn code_error(message: String) -> ServiceError {
    ServiceError::Enrollment(message)
}

impl KeyService {
    // ---- the cache of accounts ----

    /// Puts a changed account in the cache and replaces its keys' entries,
    /// so their next request uses its new plan, limits or suspension.
    /// A change that leaves both alone (the customer's settings) only
    /// updates the account.
    pub(crate) fn refresh_account(&self, account: Arc<Account>) {
        let id = account.id.clone();
        let hot = |a: &Account| (a.limits(), a.operator.suspended.is_some());
        let unchanged = self
            .accounts
            .insert(id.clone(), account.clone())
            .is_some_and(|old| hot(&old) == hot(&account));
        if unchanged {
            return;
        }
        for mut entry in self.by_hash.iter_mut() {
            if entry.key.account_id == id {
                *entry = crate::service::Cached::new(entry.key.clone());
            }
        }
    }

    /// The refusal for a key or admin of a suspended account.
    pub(crate) fn suspended(&self, account_id: &str) -> ServiceError {
        let reason = self
            .accounts
            .get(account_id)
            .and_then(|a| a.operator.suspended.as_ref().map(|s| s.reason.clone()))
            .unwrap_or_default();
        ServiceError::Suspended(reason)
    }

    // ---- operator tokens ----

    /// Checks an operator token. Account keys, unknown and revoked tokens
    /// are the same 401 (counted like failed logins).
    pub async fn authenticate_operator(
        &self,
        bearer: Option<&keyport_core::SecretKey>,
        source: Option<&str>,
    ) -> Result<Operator> {
        let hash = bearer.and_then(|b| self.prefix().parse_operator(b.expose()).ok());
        let token = match hash {
            Some((_, hash)) => self.store.operator_token_by_hash(&hash).await?,
            None => None,
        };
        match token {
            Some(t) if t.revoked_at.is_none() => Ok(Operator {
                token_id: t.id,
                name: t.name,
                source: source.map(str::to_string),
            }),
            _ => {
                let minute = crate::clock::millis(self.now()).div_euclid(60_000) * 60;
                self.failed_logins.unknown(minute, source);
                tracing::debug!(source, "operator authentication failed");
                Err(ServiceError::Unauthorized(BAD_OPERATOR))
            }
        }
    }

    /// A new operator token (CLI): printed once, its hash stored.
    pub async fn create_operator_token(
        &self,
        name: &str,
    ) -> Result<(OperatorToken, keyport_core::SecretKey)> {
        let name = clean_name(name)?;
        let secret = self.prefix().generate_operator(&mut OsRng);
        let (last4, hash) = self
            .prefix()
            .parse_operator(secret.expose())
            .expect("generated tokens parse");
        let token = OperatorToken {
            id: new_id("opr"),
            name,
            hash,
            last4,
            created_at: self.stamp(),
            revoked_at: None,
        };
        let audit = self.audit(
            None,
            "cli",
            "operator_token.create",
            None,
            Some("cli"),
            json!({"token_id": token.id, "name": token.name}),
        );
        self.store.insert_operator_token(&token, &audit).await?;
        Ok((token, secret))
    }

    pub async fn operator_tokens(&self) -> Result<Vec<OperatorToken>> {
        Ok(self.store.operator_tokens().await?)
    }

    pub async fn revoke_operator_token(&self, id: &str) -> Result<()> {
        let audit = self.audit(
            None,
            "cli",
            "operator_token.revoke",
            None,
            Some("cli"),
            json!({"token_id": id}),
        );
        match self
            .store
            .revoke_operator_token(id, self.stamp(), &audit)
            .await?
        {
            true => Ok(()),
            false => Err(ServiceError::NotFound("unrevoked operator token")),
        }
    }

    // ---- accounts ----

    /// An account that is not deleted, fresh from the store.
    async fn live_account(&self, id: &str) -> Result<Account> {
        self.store
            .account(id)
            .await?
            .filter(|a| a.operator.deleted_at.is_none())
            .ok_or(ServiceError::NotFound("account"))
    }

    /// The account as the operator sees it: limits, keys, usage.
    pub async fn operator_view(&self, a: &Account) -> Result<OperatorAccount> {
        let now = self.now();
        let keys = self.key_count(a).await?;
        let admin_keys = self
            .store
            .active_admin_keys(&a.id, crate::clock::millis(now))
            .await?
            .len() as u32;
        let day = now.timestamp().div_euclid(86_400) * 86_400;
        let tomorrow = day + 86_400;
        let today = self
            .store
            .usage_totals(&a.id, Step::Day, day, tomorrow)
            .await?;
        let month = self
            .store
            .usage_totals(&a.id, Step::Day, start_of_month(now).timestamp(), tomorrow)
            .await?;
        Ok(OperatorAccount {
            id: a.id.clone(),
            name: a.name.clone(),
            plan: a.plan,
            external_id: a.operator.external_id.clone(),
            created_at: a.created_at,
            suspended: a.operator.suspended.clone(),
            limits: a.limits().into(),
            rate_limit: (!a.operator.rate_limit.is_empty()).then(|| a.operator.rate_limit.into()),
            key_cap: keys.cap,
            key_cap_override: a.operator.key_cap,
            active_keys: keys.active,
            admin_keys,
            usage_today: summary(&today),
            usage_month: summary(&month),
        })
    }

    /// Creates an account with no key, and its first enrollment code.
    pub async fn create_enrolled_account(
        &self,
        actor: Actor<'_>,
        req: CreateAccountRequest,
        service_url: &str,
    ) -> Result<CreatedAccount> {
        let name = clean_name(&req.name)?;
        let external_id = req
            .external_id
            .as_deref()
            .map(clean_external_id)
            .transpose()?;
        let hours = enrollment_hours(req.enrollment_hours, self.options.enrollment_hours)?;
        let account = Account {
            id: new_id("acc"),
            name,
            plan: req.plan,
            created_at: self.stamp(),
            settings: AccountSettings::default(),
            operator: OperatorFields {
                external_id,
                ..Default::default()
            },
        };
        let audit = self.audit(
            Some(&account.id),
            actor.id(),
            "account.create",
            None,
            actor.source(),
            actor.detail(json!({"plan": account.plan.as_str(), "name": account.name,
                "external_id": account.operator.external_id})),
        );
        {
            let _w = self.writes.lock().await;
            self.store
                .create_account(&account, &audit)
                .await
                .map_err(duplicate_external_id)?;
            self.accounts
                .insert(account.id.clone(), Arc::new(account.clone()));
        }
        tracing::info!(account = %account.id, plan = %account.plan, "account created");
        let enrollment = self
            .issue_enrollment(actor, &account, hours, service_url)
            .await?;
        Ok(CreatedAccount {
            account: self.operator_view(&account).await?,
            enrollment,
        })
    }

    /// Accounts, newest first, optionally those whose name or external id
    /// contains `search` (case-insensitive). Deleted accounts are left out.
    pub async fn operator_accounts(
        &self,
        search: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<OperatorAccountList> {
        let limit = page_size(limit)?.min(MAX_PAGE) as usize;
        let needle = search
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        let mut all: Vec<Account> = self
            .store
            .accounts()
            .await?
            .into_iter()
            .filter(|a| a.operator.deleted_at.is_none())
            .filter(|a| match &needle {
                None => true,
                Some(n) => {
                    a.name.to_lowercase().contains(n)
                        || a.operator
                            .external_id
                            .as_deref()
                            .is_some_and(|e| e.to_lowercase().contains(n))
                }
            })
            .collect();
        all.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        // The cursor is the last account's place (creation time and id), not
        // its index: a page is right even when accounts came or went since.
        let start = match cursor.filter(|c| !c.is_empty()) {
            None => 0,
            Some(c) => {
                let (ms, id) = parse_account_cursor(c)?;
                all.partition_point(|a| {
                    (crate::clock::millis(a.created_at), a.id.as_str()) >= (ms, id)
                })
            }
        };
        let page: Vec<&Account> = all.iter().skip(start).take(limit).collect();
        let next_cursor = (start + page.len() < all.len())
            .then(|| {
                page.last()
                    .map(|a| format!("{}.{}", crate::clock::millis(a.created_at), a.id))
            })
            .flatten();
        let mut accounts = Vec::with_capacity(page.len());
        for a in page {
            accounts.push(self.operator_view(a).await?);
        }
        Ok(OperatorAccountList {
            accounts,
            next_cursor,
        })
    }

    pub async fn operator_account(&self, id: &str) -> Result<OperatorAccount> {
        let account = self.live_account(id).await?;
        self.operator_view(&account).await
    }

    /// Changes an account's plan, name, external id, limits, key cap or
    /// suspension; effective on the very next request.
    pub async fn operator_update_account(
        &self,
        op: &Operator,
        id: &str,
        req: UpdateOperatorAccount,
    ) -> Result<OperatorAccount> {
        let _w = self.writes.lock().await;
        let before = self.live_account(id).await?;
        let mut a = before.clone();
        let mut changed = serde_json::Map::new();
        if let Some(name) = &req.name {
            a.name = clean_name(name)?;
            changed.insert("name".into(), json!(a.name));
        }
        if let Some(plan) = req.plan {
            a.plan = plan;
            changed.insert("plan".into(), json!({"from": before.plan, "to": plan}));
        }
        if let Some(ext) = &req.external_id {
            a.operator.external_id = ext.as_deref().map(clean_external_id).transpose()?;
            changed.insert("external_id".into(), json!(a.operator.external_id));
        }
        if let Some(rl) = req.rate_limit {
            let o: keyport_core::RateLimitOverride = rl.map(Into::into).unwrap_or_default();
            o.validate_account()
                .map_err(|e| ServiceError::Invalid(e.to_string()))?;
            a.operator.rate_limit = o;
            changed.insert("rate_limit".into(), json!(rl));
        }
        if let Some(cap) = req.key_cap {
            if cap.is_some_and(|c| !(1..=1_000_000).contains(&c)) {
                return Err(ServiceError::Invalid(
                    "key_cap must be 1 to 1000000, or null for the plan's".into(),
                ));
            }
            a.operator.key_cap = cap;
            changed.insert("key_cap".into(), json!(cap));
        }
        match (req.suspended, &req.suspension_reason) {
            (Some(true), reason) => {
                let Some(reason) = reason.as_deref() else {
                    return Err(ServiceError::Invalid(format!(
                        "suspending needs a suspension_reason of 1 to {MAX_REASON} characters \
                         (the customer sees it)"
                    )));
                };
                let reason = clean_text(reason, MAX_REASON, "suspension_reason")?;
                a.operator.suspended = Some(Suspension {
                    at: self.stamp(),
                    reason: reason.clone(),
                });
                changed.insert("suspended".into(), json!({"reason": reason}));
            }
            (Some(false), _) => {
                a.operator.suspended = None;
                changed.insert("suspended".into(), json!(false));
            }
            (None, Some(_)) => {
                return Err(ServiceError::Invalid(
                    "suspension_reason goes with \"suspended\": true".into(),
                ))
            }
            (None, None) => {}
        }
        if changed.is_empty() {
            return Err(ServiceError::Invalid(
                "nothing to change: send name, plan, external_id, rate_limit, key_cap or suspended"
                    .into(),
            ));
        }
        let action = match req.suspended {
            Some(true) => "account.suspend",
            Some(false) => "account.resume",
            None => "account.operator_update",
        };
        let audit = self.audit(
            Some(&a.id),
            &op.token_id,
            action,
            None,
            op.source.as_deref(),
            Actor::Operator(op).detail(changed.into()),
        );
        self.store
            .save_operator_fields(&a, &audit)
            .await
            .map_err(duplicate_external_id)?;
        tracing::info!(account = %a.id, action, "account changed by its operator");
        self.refresh_account(Arc::new(a.clone()));
        drop(_w);
        self.operator_view(&a).await
    }

    /// Deletes an account: every key revoked at once, the account gone from
    /// the operator API; its audit log and usage are kept (see README).
    pub async fn operator_delete_account(&self, op: &Operator, id: &str) -> Result<DeletedAccount> {
        let _w = self.writes.lock().await;
        let mut a = self.live_account(id).await?;
        a.operator.deleted_at = Some(self.stamp());
        let audit = self.audit(
            Some(&a.id),
            &op.token_id,
            "account.delete",
            None,
            op.source.as_deref(),
            Actor::Operator(op).detail(json!({"name": a.name})),
        );
        let revoked = self.store.delete_account(&a, &audit).await?;
        self.by_hash.retain(|_, c| c.key.account_id != a.id);
        self.accounts.insert(a.id.clone(), Arc::new(a.clone()));
        tracing::info!(account = %a.id, revoked, "account deleted by its operator");
        Ok(DeletedAccount {
            id: a.id,
            revoked_keys: revoked,
        })
    }

    // ---- enrollment codes ----

    /// A new enrollment code for an account (shown once).
    pub async fn create_enrollment(
        &self,
        actor: Actor<'_>,
        account_id: &str,
        hours: Option<u32>,
        service_url: &str,
    ) -> Result<EnrollmentView> {
        let account = self.live_account(account_id).await?;
        let hours = enrollment_hours(hours, self.options.enrollment_hours)?;
        self.issue_enrollment(actor, &account, hours, service_url)
            .await
    }

    async fn issue_enrollment(
        &self,
        actor: Actor<'_>,
        account: &Account,
        hours: u32,
        service_url: &str,
    ) -> Result<EnrollmentView> {
        let code = enrollment::generate(&mut OsRng);
        let now = self.stamp();
        let e = Enrollment {
            id: new_id("enr"),
            account_id: account.id.clone(),
            code_hash: enrollment::hash(code.expose()).expect("generated codes parse"),
            created_by: actor.id().to_string(),
            created_at: now,
            expires_at: now + Duration::hours(i64::from(hours)),
            used_at: None,
            key_id: None,
        };
        let audit = self.audit(
            Some(&account.id),
            actor.id(),
            "enrollment.create",
            None,
            actor.source(),
            actor.detail(json!({"enrollment_id": e.id, "expires_at": e.expires_at})),
        );
        self.store.insert_enrollment(&e, &audit).await?;
        Ok(EnrollmentView {
            id: e.id,
            account_id: e.account_id,
            link: enrollment::link(service_url, code.expose()),
            code: code.expose().to_string(),
            service_url: service_url.to_string(),
            expires_at: e.expires_at,
        })
    }

    /// Ok while `source` has failed fewer than [`ATTEMPTS_PER_WINDOW`]
    /// times in its window; else how long to wait. Counted in the database,
    /// so a stranger guessing codes gets that many tries across every
    /// instance (codes carry 100 random bits).
    async fn attempts_left(&self, source: &str, now: i64) -> Result<()> {
        match self.store.failed_attempts(source).await? {
            Some((start, n)) if n >= ATTEMPTS_PER_WINDOW && now < start + ATTEMPT_WINDOW_SECS => {
                Err(ServiceError::TooManyAttempts {
                    retry_after: (start + ATTEMPT_WINDOW_SECS - now).max(1) as u64,
                })
            }
            _ => Ok(()),
        }
    }

    async fn count_failed_attempt(&self, source: &str, now: i64) -> Result<()> {
        Ok(self
            .store
            .add_failed_attempt(source, now, ATTEMPT_WINDOW_SECS)
            .await?)
    }

    /// The usable enrollment a code names, or the one clear error that says
    /// why not; a failure counts against the source.
    async fn usable_enrollment(&self, code: &str, source: &str) -> Result<(Enrollment, Account)> {
        let now = self.now();
        self.attempts_left(source, now.timestamp()).await?;
        let found = self.find_enrollment(code, now).await;
        if found.is_err() {
            self.count_failed_attempt(source, now.timestamp()).await?;
            let minute = crate::clock::millis(now).div_euclid(60_000) * 60;
            self.failed_logins.unknown(minute, Some(source));
        }
        found
    }

    async fn find_enrollment(
        &self,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<(Enrollment, Account)> {
        let unknown = || {
            code_error(
                "this enrollment code is not valid: check it, or ask your provider for a new one"
                    .into(),
            )
        };
        let hash: KeyHash = enrollment::hash(code).ok_or_else(unknown)?;
        let e = self
            .store
            .enrollment_by_hash(&hash)
            .await?
            .ok_or_else(unknown)?;
        if e.used_at.is_some() {
            return Err(code_error(
                "this enrollment code was already used; each code works once. Ask your provider \
                 for a new one"
                    .into(),
            ));
        }
        if e.expires_at <= now {
            return Err(code_error(format!(
                "this enrollment code expired at {}; ask your provider for a new one",
                e.expires_at.format("%Y-%m-%d %H:%M UTC")
            )));
        }
        let account = self
            .store
            .account(&e.account_id)
            .await?
            .filter(|a| a.operator.deleted_at.is_none())
            .ok_or_else(unknown)?;
        if account.operator.suspended.is_some() {
            return Err(ServiceError::Suspended(
                account
                    .operator
                    .suspended
                    .map(|s| s.reason)
                    .unwrap_or_default(),
            ));
        }
        Ok((e, account))
    }

    /// What a code would enroll into (it is not used up).
    pub async fn enrollment_preview(
        &self,
        code: &str,
        source: Option<&str>,
    ) -> Result<EnrollmentPreview> {
        let (e, account) = self
            .usable_enrollment(code, source.unwrap_or("unknown"))
            .await?;
        let admin_keys = self
            .store
            .active_admin_keys(&account.id, crate::clock::millis(self.now()))
            .await?
            .len() as u32;
        Ok(EnrollmentPreview {
            account_id: account.id,
            account_name: account.name,
            plan: account.plan,
            expires_at: e.expires_at,
            key_prefix: self.prefix().as_str().to_string(),
            admin_keys,
        })
    }

    /// Redeems a code: registers the admin key the caller made (its hash
    /// and last four only) and, for recovery, revokes the account's other
    /// admin keys; all in one transaction.
    pub async fn enroll(&self, req: EnrollRequest, source: Option<&str>) -> Result<Enrolled> {
        let source = source.unwrap_or("unknown");
        let (mut e, account) = self.usable_enrollment(&req.code, source).await?;
        let (hash, last4, _) = self.key_material(
            keyport_core::Environment::Live,
            Some(&req.key_hash),
            Some(&req.last4),
        )?;
        let name = clean_name(req.name.as_deref().unwrap_or("Admin key (enrolled)"))?;
        let now = self.stamp();
        let key = admin_key_record(&account.id, name, hash, last4, now);
        let _w = self.writes.lock().await;
        let mut revoked = Vec::new();
        if req.revoke_other_admin_keys {
            for mut k in self
                .store
                .active_admin_keys(&account.id, crate::clock::millis(now))
                .await?
            {
                k.revoked_at = Some(now);
                revoked.push(k);
            }
        } else {
            self.check_key_cap(&account).await?;
        }
        e.used_at = Some(now);
        e.key_id = Some(key.id.clone());
        let revoked_ids: Vec<String> = revoked.iter().map(|k| k.id.clone()).collect();
        let mut audits = vec![
            self.audit(
                Some(&account.id),
                &key.id,
                "enrollment.redeem",
                Some(&key.id),
                Some(source),
                json!({"enrollment_id": e.id, "revoked_admin_keys": revoked_ids}),
            ),
            self.audit(
                Some(&account.id),
                &key.id,
                "key.create",
                Some(&key.id),
                Some(source),
                json!({"name": key.name, "scopes": [Scope::Admin], "generated_by": "client",
                    "reason": "enrollment code"}),
            ),
        ];
        for k in &revoked {
            audits.push(self.audit(
                Some(&account.id),
                &key.id,
                "key.revoke",
                Some(&k.id),
                Some(source),
                json!({"name": k.name, "reason": "recovery with an enrollment code"}),
            ));
        }
        let redeemed = self
            .store
            .redeem_enrollment(&Redemption {
                enrollment: &e,
                key: &key,
                revoked: &revoked,
                audits: &audits,
            })
            .await
            .map_err(duplicate_hash)?;
        if !redeemed {
            self.count_failed_attempt(source, now.timestamp()).await?;
            return Err(code_error(
                "this enrollment code was already used; each code works once".into(),
            ));
        }
        for k in &revoked {
            self.by_hash.remove(&k.hash);
        }
        self.by_hash
            .insert(key.hash, crate::service::Cached::new(Arc::new(key.clone())));
        let account = Arc::new(account);
        if !self.accounts.contains_key(&account.id) {
            self.accounts.insert(account.id.clone(), account.clone());
        }
        drop(_w);
        tracing::info!(account = %account.id, key_id = %key.id, revoked = revoked.len(), "enrollment code redeemed");
        let keys = self.key_count(&account).await?;
        Ok(Enrolled {
            account: account.view(&key.id, keys, &self.bounds()),
            key: self.view(&key, &account),
            revoked_key_ids: revoked_ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_summary_counts_refusals_apart() {
        let c = keyport_core::Counts([5, 1, 1, 3, 2, 0]);
        let s = summary(&[("k".into(), c)]);
        assert_eq!(
            s,
            UsageSummary {
                total: 12,
                admitted: 9,
                rate_limited: 3,
                denied: 2
            }
        );
    }
}
