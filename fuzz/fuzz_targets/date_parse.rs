//! The dates the API accepts (`parse_date`, `check_date`): query parameters
//! and bodies. An accepted date is RFC 3339, within 1970..=9999, passes
//! `check_date`, survives the service's arithmetic and a round trip through
//! its own text; a date chrono reads but that is refused is out of range.

#![no_main]

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use keyport_core::request::{check_date, earliest, latest, parse_date};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let chrono_view = DateTime::parse_from_rfc3339(&text).map(|d| d.with_timezone(&Utc));
    match parse_date(&text) {
        Ok(t) => {
            assert!((1970..=9999).contains(&t.year()), "{text:?} -> {t}");
            assert_eq!(check_date(t), Ok(t));
            assert_eq!(chrono_view, Ok(t));
            accepted(t);
        }
        Err(_) => {
            if let Ok(t) = chrono_view {
                assert!(check_date(t).is_err(), "{text:?} was refused in range");
                assert!(t < earliest() || t > latest());
            }
        }
    }

    // Any instant, as seconds and nanoseconds from the first 12 bytes:
    // check_date takes exactly 1970-01-01T00:00:00Z..=9999-12-31T23:59:59Z.
    if data.len() >= 12 {
        let secs = i64::from_le_bytes(data[..8].try_into().unwrap());
        let nanos = u32::from_le_bytes(data[8..12].try_into().unwrap()) % 1_000_000_000;
        if let Some(t) = DateTime::from_timestamp(secs, nanos) {
            let in_range =
                (0..253_402_300_799).contains(&secs) || (secs == 253_402_300_799 && nanos == 0);
            assert_eq!(check_date(t).is_ok(), in_range, "{secs}.{nanos:09}");
            if in_range {
                accepted(t);
            }
        }
    }
});

/// What the service may do with an accepted date without overflowing.
fn accepted(t: DateTime<Utc>) {
    let span = latest() - earliest();
    assert!(t.checked_add_signed(span).is_some());
    assert!(t.checked_sub_signed(span).is_some());
    assert!(t.checked_add_signed(TimeDelta::days(3660)).is_some());
    let _ = (t - earliest()) + (latest() - t);
    assert_eq!(parse_date(&t.to_rfc3339()), Ok(t));
}
