//! Following the change feed: every change to a key or an account written
//! by any instance (PostgreSQL triggers, same transaction) reaches this
//! instance's verify cache. A notification wakes the follower at once; it
//! also reads the feed every [`POLL`], so a lost notification or a lost
//! LISTEN connection delays a change by at most that.
//!
//! If the feed cannot be read for [`FeedHealth::stale_after`], the service
//! stops answering verifications and gateway requests (503 `unavailable`):
//! it may no longer know that a key was revoked. Readiness turns red sooner
//! ([`FeedHealth::unready_after`]) so load balancers drain it first.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::store::Change;

/// How often the feed is read without a notification.
pub const POLL: Duration = Duration::from_millis(250);

/// Entries read per query.
pub const BATCH: u32 = 1_000;

/// How long a missing position is waited for before it is taken for a
/// rolled-back transaction (positions are handed out before commit).
pub const GAP_WAIT_MS: i64 = 10_000;

/// How far behind the newest position a follower starts, so a change still
/// committing when it read the position is not skipped. Re-applying an
/// entry is harmless: it only reloads the key or account.
pub const START_MARGIN: i64 = 100;

/// Most missing positions remembered; beyond, the oldest are given up.
const MAX_GAPS: usize = 10_000;

/// Where a follower is in the feed.
#[derive(Debug, Default)]
pub struct Cursor {
    /// Every position up to here is applied or given up.
    low: i64,
    /// Positions above `low` already applied.
    seen: BTreeSet<i64>,
    /// Positions above `low` not seen yet, with when they were noticed (ms).
    gaps: BTreeMap<i64, i64>,
    /// Highest position checked for gaps.
    scanned: i64,
}

impl Cursor {
    pub fn starting_after(position: i64) -> Self {
        Cursor {
            low: position,
            scanned: position,
            ..Default::default()
        }
    }

    /// Read the feed after this position.
    pub fn after(&self) -> i64 {
        self.low
    }

    /// Takes entries read after [`Cursor::after`] at `now_ms`; returns those
    /// not applied before, in order.
    pub fn take(&mut self, read: Vec<Change>, now_ms: i64) -> Vec<Change> {
        let fresh: Vec<Change> = read
            .into_iter()
            .filter(|c| c.seq > self.low && self.seen.insert(c.seq))
            .collect();
        for c in &fresh {
            self.gaps.remove(&c.seq);
        }
        if let Some(&top) = self.seen.last() {
            // A jump of more than MAX_GAPS positions is not enumerated: the
            // oldest would be given up at once anyway.
            let from = self.scanned.max(self.low).max(top - MAX_GAPS as i64 - 1);
            for seq in (from + 1)..top {
                if !self.seen.contains(&seq) {
                    self.gaps.insert(seq, now_ms);
                }
            }
            self.scanned = self.scanned.max(top);
        }
        while self.gaps.len() > MAX_GAPS {
            self.gaps.pop_first();
        }
        self.gaps
            .retain(|_, noticed| now_ms - *noticed < GAP_WAIT_MS);
        self.settle();
        fresh
    }

    /// Moves `low` over every position applied or given up: up to the
    /// first position still awaited, or the highest seen.
    fn settle(&mut self) {
        let limit = match self.gaps.first_key_value() {
            Some((&gap, _)) => gap - 1,
            None => self.seen.last().copied().unwrap_or(self.low),
        };
        self.low = self.low.max(limit);
        while self.seen.first().is_some_and(|&s| s <= self.low) {
            self.seen.pop_first();
        }
    }
}

/// When the feed was last read completely, for the staleness bound.
#[derive(Debug)]
pub struct FeedHealth {
    /// Unix ms of the last complete read; 0 before the first.
    last_read: AtomicI64,
    pub stale_after: Duration,
    pub unready_after: Duration,
}

impl FeedHealth {
    pub fn new(stale_after: Duration, started_ms: i64) -> Self {
        FeedHealth {
            last_read: AtomicI64::new(started_ms),
            stale_after,
            // Readiness turns red well before verification stops.
            unready_after: (stale_after * 2 / 5).max(Duration::from_millis(500)),
        }
    }

    pub fn read_at(&self, now_ms: i64) {
        self.last_read.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// Milliseconds since the feed was last read completely.
    pub fn lag_ms(&self, now_ms: i64) -> i64 {
        now_ms - self.last_read.load(Ordering::Relaxed)
    }

    pub fn is_stale(&self, now_ms: i64) -> bool {
        self.lag_ms(now_ms) > self.stale_after.as_millis() as i64
    }

    pub fn is_ready(&self, now_ms: i64) -> bool {
        self.lag_ms(now_ms) <= self.unready_after.as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ChangeKind;

    fn c(seq: i64) -> Change {
        Change {
            seq,
            kind: ChangeKind::Key,
            id: format!("key_{seq}"),
            account_id: "acct".into(),
            own: false,
        }
    }

    fn seqs(v: &[Change]) -> Vec<i64> {
        v.iter().map(|c| c.seq).collect()
    }

    #[test]
    fn in_order_entries_move_the_cursor() {
        let mut cur = Cursor::starting_after(10);
        assert_eq!(seqs(&cur.take(vec![c(11), c(12)], 0)), [11, 12]);
        assert_eq!(cur.after(), 12);
        // Read again (overlap): nothing new.
        assert!(cur.take(vec![c(12)], 0).is_empty());
    }

    #[test]
    fn a_late_commit_below_a_seen_position_is_still_applied() {
        let mut cur = Cursor::starting_after(0);
        // 2 is written before 3 but commits after it.
        assert_eq!(seqs(&cur.take(vec![c(1), c(3)], 0)), [1, 3]);
        assert_eq!(cur.after(), 1, "waits below the gap");
        assert_eq!(seqs(&cur.take(vec![c(2), c(3)], 100)), [2]);
        assert_eq!(cur.after(), 3);
    }

    #[test]
    fn a_gap_never_filled_is_given_up_after_the_wait() {
        let mut cur = Cursor::starting_after(0);
        cur.take(vec![c(1), c(3), c(4)], 0);
        assert_eq!(cur.after(), 1);
        assert!(cur.take(vec![c(3), c(4)], GAP_WAIT_MS - 1).is_empty());
        assert_eq!(cur.after(), 1);
        assert_eq!(seqs(&cur.take(vec![c(3), c(4), c(5)], GAP_WAIT_MS)), [5]);
        assert_eq!(cur.after(), 5);
    }

    #[test]
    fn a_huge_jump_is_not_enumerated_position_by_position() {
        let mut cur = Cursor::starting_after(0);
        assert_eq!(
            seqs(&cur.take(vec![c(1), c(5_000_000_000)], 0)),
            [1, 5_000_000_000]
        );
        assert!(cur.gaps.len() <= MAX_GAPS);
        // Given up after the wait like any gap.
        cur.take(Vec::new(), GAP_WAIT_MS);
        assert_eq!(cur.after(), 5_000_000_000);
    }

    #[test]
    fn health_turns_unready_before_stale() {
        let h = FeedHealth::new(Duration::from_secs(5), 1_000);
        assert!(h.is_ready(1_000) && !h.is_stale(1_000));
        assert!(!h.is_ready(1_000 + 2_001) && !h.is_stale(1_000 + 2_001));
        assert!(h.is_stale(1_000 + 5_001));
        h.read_at(7_000);
        assert!(h.is_ready(7_000) && !h.is_stale(7_000));
    }
}
