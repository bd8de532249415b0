//! Outbound webhooks, the pure part: the event types, Standard Webhooks
//! signatures (<https://www.standardwebhooks.com/>), the retry schedule and
//! which destination addresses are refused (SSRF).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// What a webhook announces. Serialised as its dotted name.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.rotated")]
    KeyRotated,
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    #[serde(rename = "key.expiring")]
    KeyExpiring,
    #[serde(rename = "key.rotation_due")]
    KeyRotationDue,
    #[serde(rename = "key.quarantined")]
    KeyQuarantined,
    #[serde(rename = "alert.raised")]
    AlertRaised,
    #[serde(rename = "quota.threshold")]
    QuotaThreshold,
    #[serde(rename = "leak.reported")]
    LeakReported,
    /// Sent by "send test event" to one endpoint, whatever it subscribes to.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    /// The types an endpoint can subscribe to.
    pub const SUBSCRIBABLE: [EventType; 9] = [
        EventType::KeyCreated,
        EventType::KeyRotated,
        EventType::KeyRevoked,
        EventType::KeyExpiring,
        EventType::KeyRotationDue,
        EventType::KeyQuarantined,
        EventType::AlertRaised,
        EventType::QuotaThreshold,
        EventType::LeakReported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::KeyCreated => "key.created",
            EventType::KeyRotated => "key.rotated",
            EventType::KeyRevoked => "key.revoked",
            EventType::KeyExpiring => "key.expiring",
            EventType::KeyRotationDue => "key.rotation_due",
            EventType::KeyQuarantined => "key.quarantined",
            EventType::AlertRaised => "alert.raised",
            EventType::QuotaThreshold => "quota.threshold",
            EventType::LeakReported => "leak.reported",
            EventType::WebhookTest => "webhook.test",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([EventType::WebhookTest])
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown event type {s:?}"))
    }
}

/// The event an alert is announced as: reminders have their own types,
/// anything else is `alert.raised`.
pub fn event_for_alert(kind: crate::alert::AlertKind) -> EventType {
    use crate::alert::AlertKind as K;
    match kind {
        K::RotationDueSoon | K::RotationOverdue => EventType::KeyRotationDue,
        K::KeyExpiring => EventType::KeyExpiring,
        K::LeakReported => EventType::LeakReported,
        _ => EventType::AlertRaised,
    }
}

/// How signing secrets start (the Standard Webhooks convention).
pub const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 32;

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn generate_secret(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is `whsec_` followed by base64")]
pub struct BadSecret;

fn secret_bytes(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let body = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    B64.decode(body).map_err(|_| BadSecret)
}

/// The `webhook-signature` value for a message: `v1,` and the base64
/// HMAC-SHA256 of `{id}.{timestamp}.{body}` under the decoded secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let mut mac = mac(secret, msg_id, timestamp)?;
    mac.update(body);
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

fn mac(secret: &str, msg_id: &str, timestamp: i64) -> Result<Hmac<Sha256>, BadSecret> {
    let key = secret_bytes(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| BadSecret)?;
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    Ok(mac)
}

/// Whether a `webhook-signature` header (space-separated `v1,…` entries)
/// holds a valid signature of the message, compared in constant time.
pub fn verify(secret: &str, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    header.split(' ').any(|entry| {
        let Some(sig) = entry.strip_prefix("v1,") else {
            return false;
        };
        let (Ok(sig), Ok(mut mac)) = (B64.decode(sig), mac(secret, msg_id, timestamp)) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    })
}

/// Seconds to wait after each failed attempt (Standard Webhooks' suggested
/// schedule): the last attempt comes about 27 hours after the first, so a
/// receiver down for a day still gets every event.
pub const RETRY_SCHEDULE_SECS: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// Attempts a delivery gets before it is marked failed.
pub const MAX_ATTEMPTS: u32 = RETRY_SCHEDULE_SECS.len() as u32 + 1;

/// Seconds until the next attempt after `attempts` failed ones; `None` when
/// the delivery has had all its attempts.
pub fn retry_delay(attempts: u32) -> Option<u64> {
    let i = usize::try_from(attempts.checked_sub(1)?).ok()?;
    RETRY_SCHEDULE_SECS.get(i).copied()
}

/// Whether a webhook may be sent to this address: not loopback, private,
/// link-local, shared (CGNAT), documentation, multicast or otherwise
/// reserved space, also when written inside an IPv6 address (mapped,
/// NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]))
}

/// The IPv4 address an IPv6 address stands for, where it does:
/// IPv4-mapped and -compatible, NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let mapped = s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || (s[5] == 0 && !ip.is_loopback()));
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if mapped || nat64 {
        Some(tail)
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference vector of the Standard Webhooks libraries
    /// (standard-webhooks/libraries, and Svix's before it).
    #[test]
    fn signs_the_reference_vector() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let ts = 1_614_265_330;
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(secret, id, ts, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(secret, id, ts, body, &format!("v1,bm9wZQ== {sig}")));
        assert!(!verify(secret, id, ts + 1, body, &sig));
        assert!(!verify(secret, id, ts, b"{}", &sig));
        assert!(!verify(secret, id, ts, body, "v2,abc"));
    }

    #[test]
    fn secrets_are_fresh_and_decode() {
        let mut rng = rand::rngs::OsRng;
        let a = generate_secret(&mut rng);
        let b = generate_secret(&mut rng);
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(secret_bytes(&a).unwrap().len(), SECRET_BYTES);
        assert_eq!(sign("whsec_%%%", "m", 1, b""), Err(BadSecret));
    }

    #[test]
    fn the_schedule_lasts_more_than_a_day() {
        assert_eq!(retry_delay(0), None);
        assert_eq!(retry_delay(1), Some(5));
        assert_eq!(retry_delay(MAX_ATTEMPTS - 1), Some(36_000));
        assert_eq!(retry_delay(MAX_ATTEMPTS), None);
        let total: u64 = (1..MAX_ATTEMPTS).filter_map(retry_delay).sum();
        assert!(total >= 24 * 3600, "{total}");
    }

    #[test]
    fn event_types_round_trip() {
        for t in EventType::SUBSCRIBABLE {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert!("key.exploded".parse::<EventType>().is_err());
    }

    #[test]
    fn private_and_reserved_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} must be allowed");
        }
    }
}
