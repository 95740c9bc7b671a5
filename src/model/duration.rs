//! The ISO 8601 durations GDAP uses (`P730D`, `P180D`, `PT0S`, `P0D`, possibly `P2Y`).

/// Whole days in an ISO 8601 duration, or `None` when it is not one. Years count 365 days and months
/// 30; time parts are rounded down to days (GDAP only uses day granularity).
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
    Some(days + seconds / 86_400)
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
}
