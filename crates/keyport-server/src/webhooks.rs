//! Outbound webhooks: an account's endpoints (the API), the events the
//! service writes in the transaction of the change they announce, and the
//! worker that delivers them, signed per Standard Webhooks, with retries for
//! about 27 hours. Deliveries are at least once with a stable `webhook-id`;
//! one instance of a cluster delivers at a time (a lease).

use chrono::{DateTime, Duration, Utc};
use keyport_core::alert::AlertKind;
use keyport_core::webhook::{self, EventType};
use keyport_core::KeyPrefix;
use rand::rngs::OsRng;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::admin::Admin;
use crate::clock::Clock;
use crate::error::{Result, ServiceError};
use crate::model::*;
use crate::service::{clean_text, new_id};
use crate::store::{Attempt, DueDelivery, Store, WebhookEvent, WebhookRecord};

/// Most endpoints per account.
pub const MAX_ENDPOINTS: usize = 20;
const MAX_URL: usize = 2_000;
const MAX_DESCRIPTION: usize = 200;
/// Deliveries attempted per pass.
const BATCH: u32 = 64;
/// How long one attempt may take (the receiver should answer at once and
/// work later).
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// The lease that makes one instance deliver.
const LEASE: &str = "webhooks";
const LEASE_MS: i64 = 30_000;
/// Finished deliveries (and events with none left) are kept this long.
const KEPT_DAYS: i64 = 30;
/// How much of a receiver's answer is kept in the log on failure.
const ERROR_CHARS: usize = 300;

/// Where webhooks may be sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Destinations {
    /// Loopback, private and link-local addresses and plain `http://`
    /// (`--allow-private-webhooks`: development, or the embedded service,
    /// which runs on the customer's own machine).
    pub allow_private: bool,
}

pub struct Webhooks {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    prefix: KeyPrefix,
    destinations: Destinations,
    client: reqwest::Client,
    holder: String,
    /// Woken when this instance writes an event, so it goes out at once.
    wake: tokio::sync::Notify,
}

/// An event's body as Standard Webhooks suggests: type, time, data.
pub fn new_event(
    account_id: &str,
    event_type: EventType,
    at: DateTime<Utc>,
    data: Value,
) -> WebhookEvent {
    let mut data = data;
    if let Value::Object(map) = &mut data {
        map.insert("account_id".into(), json!(account_id));
    }
    let payload = json!({
        "type": event_type.as_str(),
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    });
    WebhookEvent {
        id: new_id("msg"),
        account_id: account_id.to_string(),
        event_type,
        payload: payload.to_string(),
        created_at: at,
        dedup: None,
    }
}

/// A key as events show it: masked, never the secret or its hash.
pub fn key_summary(prefix: &KeyPrefix, k: &KeyRecord) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "environment": k.environment,
        "masked": prefix.mask(k.environment, &k.last4),
        "last4": k.last4,
        "scopes": k.scopes.as_slice(),
        "resources": k.resources.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "created_at": k.created_at,
        "expires_at": k.expires_at,
        "revoked_at": k.revoked_at,
        "replaces": k.replaces,
        "replaced_by": k.replaced_by,
    })
}

/// The event announcing a new alert: `key.rotation_due`, `key.expiring`
/// or `alert.raised` (see [`webhook::event_for_alert`]).
pub fn alert_event(a: &Alert) -> WebhookEvent {
    let alert = json!({
        "id": a.id, "key_id": a.key_id, "kind": a.kind, "category": a.category,
        "message": a.message, "evidence": a.evidence, "created_at": a.created_at,
    });
    let mut data = json!({ "alert": alert });
    if a.kind != AlertKind::WebhookFailing {
        data["key_id"] = json!(a.key_id);
    }
    new_event(
        &a.account_id,
        webhook::event_for_alert(a.kind),
        a.created_at,
        data,
    )
}

impl AuditEvent {
    /// This change announced by `event` (written in the same transaction).
    pub fn announcing(mut self, event: WebhookEvent) -> Self {
        self.event = Some(Box::new(event));
        self
    }
}

/// A webhook URL checked against the destination rules; the reason when
/// refused.
pub fn check_url(
    raw: &str,
    destinations: Destinations,
) -> std::result::Result<reqwest::Url, String> {
    if raw.len() > MAX_URL {
        return Err(format!("url is longer than {MAX_URL} characters"));
    }
    let url =
        reqwest::Url::parse(raw.trim()).map_err(|e| format!("url is not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if destinations.allow_private => {}
        "http" => return Err("url must use https://".into()),
        other => return Err(format!("url must use https://, not {other}://")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not carry a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("url must not have a #fragment".into());
    }
    let host = url.host().ok_or("url has no host")?;
    if destinations.allow_private {
        return Ok(url);
    }
    let private = match host {
        url::Host::Ipv4(ip) => !webhook::is_public(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => !webhook::is_public(IpAddr::V6(ip)),
        url::Host::Domain(name) => is_local_name(name),
    };
    if private {
        return Err(
            "url points at a loopback, private or link-local address; webhooks go to public \
             addresses only (a server started with --allow-private-webhooks allows them)"
                .into(),
        );
    }
    Ok(url)
}

/// Names that always mean this machine or its local network.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || [".localhost", ".local", ".internal", ".home.arpa"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// Resolves names for deliveries, dropping every address a webhook may not
/// reach: a name that resolves (or is rebound) to a private address is
/// refused at connection time, not only when the endpoint was saved.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| webhook::is_public(a.ip()))
                .collect();
            if public.is_empty() {
                let e: Box<dyn std::error::Error + Send + Sync> = format!(
                    "{host} resolves only to loopback, private or link-local addresses; refused"
                )
                .into();
                return Err(e);
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

fn client(destinations: Destinations) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        // A proxy from the environment would reach addresses the resolver
        // below refuses: deliveries connect directly.
        .no_proxy()
        .user_agent(concat!("Keyport-Webhooks/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(2);
    if !destinations.allow_private {
        b = b.dns_resolver(Arc::new(PublicOnly));
    }
    b.build()
        .expect("a client with rustls and no custom roots builds")
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        prefix: KeyPrefix,
        destinations: Destinations,
    ) -> Self {
        Self {
            store,
            clock,
            prefix,
            destinations,
            client: client(destinations),
            holder: new_id("whw"),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Asks the worker to look for due deliveries now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Returns when woken or after `timeout`.
    pub async fn wait(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.wake.notified()).await;
    }

    pub fn key_summary(&self, k: &KeyRecord) -> Value {
        key_summary(&self.prefix, k)
    }

    // ---- the API ----

    fn may_manage(admin: &Admin) -> Result<()> {
        if admin.reach.resources.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::NotPermitted(
                "webhooks announce events of every key of the account: use an admin key \
                 without resource limits"
                    .into(),
            ))
        }
    }

    fn view(w: &WebhookRecord) -> WebhookEndpoint {
        WebhookEndpoint {
            id: w.id.clone(),
            url: w.url.clone(),
            description: w.description.clone(),
            events: w.events.clone(),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone(),
            secret_last4: w.secret[w.secret.len().saturating_sub(4)..].to_string(),
            created_at: w.created_at,
        }
    }

    fn clean_url(&self, raw: &str) -> Result<String> {
        check_url(raw, self.destinations)
            .map(|u| u.to_string())
            .map_err(ServiceError::Invalid)
    }

    fn audit(&self, admin: &Admin, action: &str, detail: Value) -> AuditEvent {
        AuditEvent {
            id: 0,
            account_id: Some(admin.account.id.clone()),
            at: self.clock.now(),
            actor: admin.key_id.clone(),
            action: action.to_string(),
            key_id: None,
            source: admin.source.clone(),
            detail,
            event: None,
        }
    }

    async fn own(&self, admin: &Admin, id: &str) -> Result<WebhookRecord> {
        self.store
            .webhook(&admin.account.id, id)
            .await?
            .ok_or(ServiceError::NotFound("webhook endpoint"))
    }

    pub async fn list(&self, admin: &Admin) -> Result<WebhookList> {
        Self::may_manage(admin)?;
        let endpoints = self.store.webhooks(&admin.account.id).await?;
        Ok(WebhookList {
            endpoints: endpoints.iter().map(Self::view).collect(),
            event_types: EventType::SUBSCRIBABLE.to_vec(),
        })
    }

    pub async fn get(&self, admin: &Admin, id: &str) -> Result<WebhookEndpoint> {
        Self::may_manage(admin)?;
        Ok(Self::view(&self.own(admin, id).await?))
    }

    pub async fn create(&self, admin: &Admin, req: CreateWebhookRequest) -> Result<CreatedWebhook> {
        Self::may_manage(admin)?;
        let url = self.clean_url(&req.url)?;
        let events = clean_events(&req.events)?;
        let description = clean_description(req.description.as_deref())?;
        if self.store.webhooks(&admin.account.id).await?.len() >= MAX_ENDPOINTS {
            return Err(ServiceError::LimitExceeded(format!(
                "an account has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
            )));
        }
        let w = WebhookRecord {
            id: new_id("wh"),
            account_id: admin.account.id.clone(),
            url,
            description,
            events,
            enabled: true,
            disabled_reason: None,
            secret: webhook::generate_secret(&mut OsRng),
            created_at: self.clock.now(),
        };
        let audit = self.audit(
            admin,
            "webhook.create",
            json!({"endpoint_id": w.id, "url": w.url, "events": w.events}),
        );
        self.store.insert_webhook(&w, &audit).await?;
        tracing::info!(account = %w.account_id, endpoint = %w.id, "webhook endpoint added");
        Ok(CreatedWebhook {
            endpoint: Self::view(&w),
            secret: w.secret,
        })
    }

    pub async fn update(
        &self,
        admin: &Admin,
        id: &str,
        req: UpdateWebhookRequest,
    ) -> Result<WebhookEndpoint> {
        Self::may_manage(admin)?;
        let mut w = self.own(admin, id).await?;
        let mut changed = serde_json::Map::new();
        if let Some(url) = &req.url {
            w.url = self.clean_url(url)?;
            changed.insert("url".into(), json!(w.url));
        }
        if let Some(events) = &req.events {
            w.events = clean_events(events)?;
            changed.insert("events".into(), json!(w.events));
        }
        if let Some(d) = &req.description {
            w.description = clean_description(Some(d))?;
            changed.insert("description".into(), json!(w.description));
        }
        let mut resumed = false;
        if let Some(enabled) = req.enabled {
            resumed = enabled && !w.enabled;
            w.enabled = enabled;
            if enabled {
                w.disabled_reason = None;
            }
            changed.insert("enabled".into(), json!(enabled));
        }
        if changed.is_empty() {
            return Err(ServiceError::Invalid(
                "nothing to change: send url, events, description or enabled".into(),
            ));
        }
        changed.insert("endpoint_id".into(), json!(w.id));
        let audit = self.audit(admin, "webhook.update", changed.into());
        self.store.update_webhook(&w, &audit).await?;
        if resumed {
            self.resolve_failing_alert(&w.id).await?;
            self.wake();
        }
        Ok(Self::view(&w))
    }

    /// Enabling an endpoint again ends the alert that said it was disabled.
    async fn resolve_failing_alert(&self, endpoint_id: &str) -> Result<()> {
        let latest = self
            .store
            .latest_alert(endpoint_id, AlertKind::WebhookFailing)
            .await?;
        if let Some(mut a) = latest.filter(|a| a.status != AlertStatus::Resolved) {
            a.status = AlertStatus::Resolved;
            a.resolved_at = Some(self.clock.now());
            self.store.set_alert_status(&a).await?;
        }
        Ok(())
    }

    pub async fn delete(&self, admin: &Admin, id: &str) -> Result<()> {
        Self::may_manage(admin)?;
        let audit = self.audit(admin, "webhook.delete", json!({"endpoint_id": id}));
        if !self
            .store
            .delete_webhook(&admin.account.id, id, &audit)
            .await?
        {
            return Err(ServiceError::NotFound("webhook endpoint"));
        }
        Ok(())
    }

    /// Queues a `webhook.test` event for one endpoint and wakes the worker.
    pub async fn send_test(&self, admin: &Admin, id: &str) -> Result<WebhookDelivery> {
        Self::may_manage(admin)?;
        let w = self.own(admin, id).await?;
        if !w.enabled {
            return Err(ServiceError::Conflict(
                "this endpoint is disabled: enable it first".into(),
            ));
        }
        let event = new_event(
            &w.account_id,
            EventType::WebhookTest,
            self.clock.now(),
            json!({"endpoint_id": w.id, "message": "A test event from Keyport: your endpoint receives and verifies webhooks."}),
        );
        self.store.insert_event(&event, Some(&w.id)).await?;
        self.wake();
        let latest = self.store.deliveries(&w.id, 1).await?;
        latest
            .into_iter()
            .find(|d| d.event_id == event.id)
            .ok_or(ServiceError::NotFound("delivery"))
    }

    pub async fn deliveries(
        &self,
        admin: &Admin,
        id: &str,
        limit: Option<u32>,
    ) -> Result<DeliveryList> {
        Self::may_manage(admin)?;
        let limit = match limit {
            None => 50,
            Some(n @ 1..=200) => n,
            Some(_) => {
                return Err(ServiceError::BadRequest(
                    "limit must be between 1 and 200".into(),
                ))
            }
        };
        let w = self.own(admin, id).await?;
        Ok(DeliveryList {
            deliveries: self.store.deliveries(&w.id, limit).await?,
        })
    }

    /// Sends a delivery again now: a failed one gets one more attempt, a
    /// pending one goes out without waiting for its back-off.
    pub async fn retry(&self, admin: &Admin, id: &str, delivery: i64) -> Result<WebhookDelivery> {
        Self::may_manage(admin)?;
        let w = self.own(admin, id).await?;
        let d = self
            .store
            .delivery(&w.id, delivery)
            .await?
            .ok_or(ServiceError::NotFound("delivery"))?;
        if d.status == DeliveryStatus::Delivered {
            return Err(ServiceError::Conflict(
                "this delivery succeeded; send a test event instead".into(),
            ));
        }
        if !w.enabled {
            return Err(ServiceError::Conflict(
                "this endpoint is disabled: enable it first".into(),
            ));
        }
        self.store
            .retry_delivery(&w.id, delivery, self.clock.now())
            .await?;
        self.wake();
        self.store
            .delivery(&w.id, delivery)
            .await?
            .ok_or(ServiceError::NotFound("delivery"))
    }

    // ---- the worker ----

    /// One pass, if this instance holds the delivery lease: attempts every
    /// due delivery (up to a batch, concurrently). Returns how many it
    /// attempted.
    pub async fn run_once(&self) -> Result<usize> {
        if !self.store.take_lease(LEASE, &self.holder, LEASE_MS).await? {
            return Ok(0);
        }
        let due = self.store.due_deliveries(self.clock.now(), BATCH).await?;
        let attempts = futures_util::future::join_all(due.iter().map(|d| self.attempt(d))).await;
        for (d, a) in due.iter().zip(&attempts) {
            self.store.record_attempt(a).await?;
            if a.retry == Some(None) {
                self.maybe_disable(d).await?;
            }
        }
        Ok(due.len())
    }

    /// Gives the lease up (at shutdown).
    pub async fn release(&self) -> Result<()> {
        Ok(self.store.release_lease(LEASE, &self.holder).await?)
    }

    /// Drops old finished deliveries.
    pub async fn prune(&self) -> Result<()> {
        let before = self.clock.now() - Duration::days(KEPT_DAYS);
        Ok(self.store.prune_webhooks(before).await?)
    }

    async fn attempt(&self, d: &DueDelivery) -> Attempt {
        let at = self.clock.now();
        let started = std::time::Instant::now();
        let (response_status, error) = match self.send(d, at).await {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (
                Some(status),
                Some(format!("the endpoint answered HTTP {status}")),
            ),
            Err(e) => (None, Some(e)),
        };
        let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let attempts = d.attempts + 1;
        let retry = error
            .is_some()
            .then(|| webhook::retry_delay(attempts).map(|s| at + Duration::seconds(s as i64)));
        if let Some(e) = &error {
            tracing::info!(endpoint = %d.endpoint_id, event = %d.event_id, attempts, error = %e, "webhook delivery failed");
        }
        Attempt {
            delivery_id: d.id,
            at,
            response_status,
            error,
            latency_ms,
            retry,
        }
    }

    /// Sends one delivery; the HTTP status, or why there is none.
    async fn send(&self, d: &DueDelivery, at: DateTime<Utc>) -> std::result::Result<u16, String> {
        // Checked again: the rules may be stricter now than when it was saved.
        let url = check_url(&d.url, self.destinations)?;
        let ts = at.timestamp();
        let signature = webhook::sign(&d.secret, &d.event_id, ts, d.payload.as_bytes())
            .map_err(|e| e.to_string())?;
        let res = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.event_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(d.payload.clone())
            .send()
            .await
            .map_err(describe)?;
        Ok(res.status().as_u16())
    }

    /// A delivery ran out of attempts: when nothing reached the endpoint
    /// since it was first tried (about 27 hours), the endpoint is disabled
    /// and the account alerted.
    async fn maybe_disable(&self, d: &DueDelivery) -> Result<()> {
        if self
            .store
            .delivered_since(&d.endpoint_id, d.event_created_at)
            .await?
        {
            return Ok(());
        }
        let since = d.event_created_at;
        let reason = format!(
            "disabled after every delivery since {} failed",
            since.format("%Y-%m-%d %H:%M UTC")
        );
        let now = self.clock.now();
        let alert = Alert {
            id: new_id("alt"),
            account_id: d.account_id.clone(),
            key_id: d.endpoint_id.clone(),
            kind: AlertKind::WebhookFailing,
            category: AlertKind::WebhookFailing.category(),
            status: AlertStatus::Open,
            message: format!(
                "Webhook endpoint {} kept failing and was disabled: fix it, then enable it again",
                d.url
            ),
            evidence: json!({"endpoint_id": d.endpoint_id, "url": d.url, "failing_since": since}),
            created_at: now,
            acknowledged_at: None,
            resolved_at: None,
        };
        if self
            .store
            .disable_webhook(&d.endpoint_id, &reason, &alert)
            .await?
        {
            tracing::warn!(endpoint = %d.endpoint_id, account = %d.account_id, "webhook endpoint disabled after a day of failures");
        }
        Ok(())
    }
}

/// A failed request in words for the delivery log, with its causes.
fn describe(e: reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    let mut out = what;
    if let Some(root) = causes.last() {
        out.push_str(": ");
        out.push_str(root);
    }
    out.chars().take(ERROR_CHARS).collect()
}

fn clean_events(events: &[EventType]) -> Result<Vec<EventType>> {
    let mut out: Vec<EventType> = Vec::new();
    for e in events {
        if !EventType::SUBSCRIBABLE.contains(e) {
            return Err(ServiceError::Invalid(format!(
                "{e} cannot be subscribed to (it is sent by \"send test event\" only)"
            )));
        }
        if !out.contains(e) {
            out.push(*e);
        }
    }
    if out.is_empty() {
        return Err(ServiceError::Invalid(
            "events must name at least one event type".into(),
        ));
    }
    out.sort();
    Ok(out)
}

/// An optional description: empty, or text a person reads (see
/// [`clean_text`]: no control, invisible or direction-changing characters).
fn clean_description(d: Option<&str>) -> Result<String> {
    match d.map(str::trim).unwrap_or("") {
        "" => Ok(String::new()),
        d => clean_text(d, MAX_DESCRIPTION, "description"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Destinations = Destinations {
        allow_private: false,
    };
    const DEV: Destinations = Destinations {
        allow_private: true,
    };

    #[test]
    fn urls_must_be_public_https() {
        assert!(check_url("https://hooks.example.com/k", STRICT).is_ok());
        assert!(check_url("https://93.184.216.34/k", STRICT).is_ok());
        for bad in [
            "http://hooks.example.com/k",
            "ftp://hooks.example.com/",
            "https://127.0.0.1/",
            "https://10.0.0.8/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fd00::1]/",
            "https://localhost/",
            "https://api.localhost./",
            "https://printer.local/",
            "https://0x7f000001/",
            "https://2130706433/",
            "https://user:pw@hooks.example.com/",
            "not a url",
        ] {
            assert!(check_url(bad, STRICT).is_err(), "{bad} must be refused");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", DEV).is_ok());
        assert!(check_url("https://user:pw@127.0.0.1/", DEV).is_err());
    }

    #[tokio::test]
    async fn names_that_resolve_privately_are_refused_at_connection() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = match PublicOnly.resolve(name).await {
            Ok(_) => panic!("localhost must not resolve for webhooks"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("refused"), "{err}");
    }

    #[test]
    fn events_are_checked_and_deduplicated() {
        let got = clean_events(&[
            EventType::KeyRevoked,
            EventType::KeyCreated,
            EventType::KeyRevoked,
        ])
        .unwrap();
        assert_eq!(got, vec![EventType::KeyCreated, EventType::KeyRevoked]);
        assert!(clean_events(&[]).is_err());
        assert!(clean_events(&[EventType::WebhookTest]).is_err());
    }

    #[test]
    fn events_carry_the_account_and_no_secret() {
        let e = new_event(
            "acc_1",
            EventType::KeyRevoked,
            chrono::Utc::now(),
            json!({"key": {"id": "key_1"}}),
        );
        let v: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(v["type"], "key.revoked");
        assert_eq!(v["data"]["account_id"], "acc_1");
        assert!(e.id.starts_with("msg_"));
    }
}
