//! Failed management logins, counted in memory and written in bulk, so a
//! stranger with a stream of bogus credentials cannot buy a durable write
//! per request, nor bury an account's real audit events.
//!
//! - A credential that matches no account: counted per minute and source;
//!   one audit row (no account) per minute and source, with the count.
//! - A key of a known account (not an admin key, revoked, expired): the
//!   first [`PER_ACCOUNT_MINUTE`] of each minute are written one by one to
//!   that account's audit log; the rest of that minute become one row with
//!   their count.

use parking_lot::Mutex;
use serde_json::json;
use std::collections::HashMap;

/// Individual `auth.failed` rows per account per minute.
pub const PER_ACCOUNT_MINUTE: u32 = 10;
/// Distinct sources counted per minute; beyond, they share one row.
const MAX_SOURCES: usize = 1_000;
const OTHER_SOURCE: &str = "(other sources)";

/// One rolled-up row to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    pub account_id: Option<String>,
    /// Unix seconds of the minute's start.
    pub minute: i64,
    pub source: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Default)]
pub struct FailedLogins {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    unknown: HashMap<(i64, String), u64>,
    accounts: HashMap<(String, i64), Window>,
}

#[derive(Default)]
struct Window {
    written: u32,
    suppressed: u64,
}

impl FailedLogins {
    /// Counts a credential that matched no account.
    pub fn unknown(&self, minute: i64, source: Option<&str>) {
        let mut st = self.state.lock();
        let source = source.unwrap_or("unknown");
        let distinct = st.unknown.len();
        let key = if distinct < MAX_SOURCES || st.unknown.contains_key(&(minute, source.into())) {
            (minute, source.to_string())
        } else {
            (minute, OTHER_SOURCE.to_string())
        };
        *st.unknown.entry(key).or_default() += 1;
    }

    /// Whether a failure of a known account's key is written on its own
    /// (true) or only counted into the minute's rollup (false).
    pub fn account(&self, account_id: &str, minute: i64) -> bool {
        let mut st = self.state.lock();
        let w = st
            .accounts
            .entry((account_id.to_string(), minute))
            .or_default();
        if w.written < PER_ACCOUNT_MINUTE {
            w.written += 1;
            true
        } else {
            w.suppressed += 1;
            false
        }
    }

    /// Takes the rows of every minute before `before` (unix seconds; pass
    /// `i64::MAX` at shutdown).
    pub fn drain(&self, before: i64) -> Vec<Rollup> {
        let mut st = self.state.lock();
        let mut out = Vec::new();
        st.unknown.retain(|(minute, source), count| {
            if *minute >= before {
                return true;
            }
            out.push(Rollup {
                account_id: None,
                minute: *minute,
                source: Some(source.clone()),
                detail: json!({"reason": "unknown", "count": count, "window_seconds": 60}),
            });
            false
        });
        st.accounts.retain(|(account, minute), w| {
            if *minute >= before {
                return true;
            }
            if w.suppressed > 0 {
                out.push(Rollup {
                    account_id: Some(account.clone()),
                    minute: *minute,
                    source: None,
                    detail: json!({
                        "reason": "rolled_up", "count": w.suppressed, "window_seconds": 60,
                        "note": format!("more than {PER_ACCOUNT_MINUTE} failed logins in one minute"),
                    }),
                });
            }
            false
        });
        out.sort_by(|a, b| (a.minute, &a.account_id).cmp(&(b.minute, &b.account_id)));
        out
    }

    /// Puts rows back after a failed write, to try again on the next drain.
    pub fn restore(&self, rows: Vec<Rollup>) {
        let mut st = self.state.lock();
        for r in rows {
            let count = r.detail["count"].as_u64().unwrap_or(0);
            match r.account_id {
                None => {
                    *st.unknown
                        .entry((r.minute, r.source.unwrap_or_default()))
                        .or_default() += count;
                }
                Some(a) => {
                    let w = st.accounts.entry((a, r.minute)).or_default();
                    w.written = PER_ACCOUNT_MINUTE;
                    w.suppressed += count;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_credentials_become_one_row_per_minute_and_source() {
        let f = FailedLogins::default();
        for _ in 0..500 {
            f.unknown(60, Some("192.0.2.1"));
        }
        f.unknown(60, Some("192.0.2.2"));
        f.unknown(120, Some("192.0.2.1"));
        let rows = f.drain(120);
        assert_eq!(rows.len(), 2);
        let first = rows
            .iter()
            .find(|r| r.source.as_deref() == Some("192.0.2.1"))
            .unwrap();
        assert_eq!(first.detail["count"], 500);
        assert!(first.account_id.is_none());
        // The current minute stays until it is over.
        assert_eq!(f.drain(120).len(), 0);
        assert_eq!(f.drain(i64::MAX).len(), 1);
    }

    #[test]
    fn sources_are_bounded() {
        let f = FailedLogins::default();
        for i in 0..(MAX_SOURCES + 500) {
            f.unknown(0, Some(&format!("s{i}")));
        }
        let rows = f.drain(60);
        assert_eq!(rows.len(), MAX_SOURCES + 1);
        let other = rows
            .iter()
            .find(|r| r.source.as_deref() == Some(OTHER_SOURCE))
            .unwrap();
        assert_eq!(other.detail["count"], 500);
    }

    #[test]
    fn an_account_gets_a_few_rows_then_a_count() {
        let f = FailedLogins::default();
        let written = (0..100).filter(|_| f.account("acc_1", 60)).count();
        assert_eq!(written, PER_ACCOUNT_MINUTE as usize);
        assert!(f.account("acc_1", 120), "a new minute writes again");
        let rows = f.drain(120);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].detail["count"], 90);
        f.restore(rows);
        assert_eq!(f.drain(120)[0].detail["count"], 90);
    }
}
