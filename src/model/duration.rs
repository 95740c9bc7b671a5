//! The ISO 8601 durations GDAP uses (`P730D`, `P180D`, `PT0S`, `P0D`, possibly `P2Y`).

/// Whole days in an ISO 8601 duration, or `None` when it is not one or does not fit an `i64` of days.
/// Years count 365 days and months 30; time parts are rounded down to days (GDAP only uses day
/// granularity). Every step is checked: Graph data is outside input.
pub fn iso_days(s: &str) -> Option<i64> {
    let rest = s.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut days: i64 = 0;
    let mut seconds: i64 = 0;
    let mut any = false;
    for (part, is_time) in [(date, false), (time.unwrap_or(""), true)] {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: i64 = num.parse().ok()?;
            num.clear();
            any = true;
            match (is_time, c) {
                (false, 'Y') => days = days.checked_add(n.checked_mul(365)?)?,
                (false, 'M') => days = days.checked_add(n.checked_mul(30)?)?,
                (false, 'W') => days = days.checked_add(n.checked_mul(7)?)?,
                (false, 'D') => days = days.checked_add(n)?,
                (true, 'H') => seconds = seconds.checked_add(n.checked_mul(3600)?)?,
                (true, 'M') => seconds = seconds.checked_add(n.checked_mul(60)?)?,
                (true, 'S') => seconds = seconds.checked_add(n)?,
                _ => return None,
            }
        }
        if !num.is_empty() {
            return None;
        }
    }
    if !any {
        return None;
    }
    days.checked_add(seconds / 86_400)
}

#[cfg(test)]
mod tests {
    use super::iso_days;

    #[test]
    fn gdap_durations() {
        assert_eq!(iso_days("P730D"), Some(730));
        assert_eq!(iso_days("P180D"), Some(180));
        assert_eq!(iso_days("PT0S"), Some(0));
        assert_eq!(iso_days("P0D"), Some(0));
        assert_eq!(iso_days("P2Y"), Some(730));
        assert_eq!(iso_days("P1DT12H"), Some(1));
        assert_eq!(iso_days("P"), None);
        assert_eq!(iso_days("730"), None);
        assert_eq!(iso_days("P7X"), None);
        assert_eq!(iso_days("P99999999999999999999D"), None);
    }

    /// #3: a day count near `i64::MAX` plus a time part overflowed (`days + seconds / 86_400`) and
    /// panicked in debug builds.
    #[test]
    fn huge_durations_are_none_not_a_panic() {
        assert_eq!(iso_days("P99999999999D"), Some(99_999_999_999));
        assert_eq!(iso_days(&format!("P{}DT86400S", i64::MAX)), None);
        assert_eq!(iso_days(&format!("P{}DT86399S", i64::MAX)), Some(i64::MAX));
        assert_eq!(
            iso_days(&format!("PT{}S", i64::MAX)),
            Some(i64::MAX / 86_400)
        );
        assert_eq!(iso_days(&format!("P{}Y", i64::MAX / 365 + 1)), None);
    }

    mod prop {
        use super::iso_days;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any string: `Some` or `None`, never a panic.
            #[test]
            fn arbitrary_strings_never_panic(s in ".{0,40}") {
                let _ = iso_days(&s);
            }

            /// Duration-shaped strings with arbitrary (also huge) numbers never panic.
            #[test]
            fn duration_shaped_strings_never_panic(
                parts in proptest::collection::vec((0u64..=u64::MAX, "[YMWDHS]"), 0..5),
                t in any::<bool>(),
            ) {
                let mut s = String::from("P");
                for (i, (n, unit)) in parts.iter().enumerate() {
                    if t && i == parts.len() / 2 {
                        s.push('T');
                    }
                    s.push_str(&format!("{n}{unit}"));
                }
                let _ = iso_days(&s);
            }

            /// Valid day durations round-trip: `P{n}D` is `n` days, and `P{n}W` is `7n`.
            #[test]
            fn day_durations_round_trip(n in 0i64..=i64::MAX) {
                prop_assert_eq!(iso_days(&format!("P{n}D")), Some(n));
                prop_assert_eq!(iso_days(&format!("P{n}W")), n.checked_mul(7));
            }
        }
    }
}
