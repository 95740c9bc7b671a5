//! The evidence chain: since when partner sign-ins have been read without a gap.
//!
//! Entra ID keeps sign-in logs for 30 days (7 without a P1/P2 licence), so "no partner sign-in for 90 days"
//! can only be told by runs whose windows join up. Walking from the newest run back, the chain continues
//! while each older run collected sign-ins and its window reaches the start of the chain so far
//! (`chain.since <= older.until`). It breaks at a run that did not collect sign-ins (denied, unlicensed,
//! failed, skipped) or at a gap between windows.

use chrono::{DateTime, Utc};

/// One run's sign-in window. Only runs where sign-ins applied (customer perspective) have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WindowRow {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub collected: bool,
}

/// The newest unbroken chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chain {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Index (in the input) of the oldest row in the chain.
    pub oldest: usize,
}

/// `rows` ordered oldest first (by the runs' `as_of`). `None` when the newest run did not collect sign-ins
/// or there is no run.
pub(super) fn evidence_chain(rows: &[WindowRow]) -> Option<Chain> {
    let newest = rows.len().checked_sub(1)?;
    let last = *rows.get(newest)?;
    if !last.collected {
        return None;
    }
    let mut chain = Chain {
        since: last.since,
        until: last.until,
        oldest: newest,
    };
    for (i, &r) in rows.iter().enumerate().take(newest).rev() {
        if !r.collected || chain.since > r.until {
            break;
        }
        chain.since = chain.since.min(r.since);
        chain.until = chain.until.max(r.until);
        chain.oldest = i;
    }
    Some(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::days(i64::from(d))
    }

    fn w(since: u32, until: u32, collected: bool) -> WindowRow {
        WindowRow {
            since: day(since),
            until: day(until),
            collected,
        }
    }

    #[test]
    fn overlapping_windows_chain() {
        let c = evidence_chain(&[w(0, 30, true), w(20, 50, true), w(50, 80, true)]).unwrap();
        assert_eq!((c.since, c.until, c.oldest), (day(0), day(80), 0));
    }

    #[test]
    fn a_gap_breaks_the_chain() {
        let c = evidence_chain(&[w(0, 30, true), w(31, 61, true), w(60, 90, true)]).unwrap();
        assert_eq!((c.since, c.oldest), (day(31), 1));
    }

    #[test]
    fn a_run_without_sign_ins_breaks_the_chain() {
        let c = evidence_chain(&[w(0, 30, true), w(20, 50, false), w(40, 70, true)]).unwrap();
        assert_eq!((c.since, c.oldest), (day(40), 2));
        assert_eq!(evidence_chain(&[w(0, 30, true), w(20, 50, false)]), None);
        assert_eq!(evidence_chain(&[]), None);
    }
}
