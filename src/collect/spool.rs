//! The partner sign-ins a run read, kept on disk instead of in memory.
//!
//! A run with history keeps every sign-in it attributed to a partner, so that the next run can read only
//! the new records and merge. A busy MSP's partner activity is hundreds of thousands of records a month:
//! held in memory they would make the peak grow with partner activity. The spool writes each record, in
//! the compact form the history stores, as one JSON line to an unnamed temporary file (created 0600 and
//! already unlinked, so nothing is left behind even on a crash) and reads them back one at a time.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};

use crate::model::logs::{SignIn, SignInLocation, SignInStatus};

/// Partner sign-ins spooled to a temporary file. The file is created on the first record.
///
/// A write error does not stop the collection: the spool remembers it ([`SignInSpool::error`]) and the
/// caller must then not keep the (incomplete) records: the next run reads its window in full.
#[derive(Debug, Default)]
pub struct SignInSpool {
    file: Option<BufWriter<File>>,
    records: u64,
    error: Option<String>,
    /// A read left the file position somewhere in the middle: seek to the end before appending.
    reposition: bool,
}

impl SignInSpool {
    pub fn new() -> Self {
        SignInSpool::default()
    }

    /// Appends one record (in its compact form).
    pub fn push(&mut self, s: &SignIn) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.try_push(s) {
            self.error = Some(format!(
                "cannot spool partner sign-ins to a temporary file: {e}"
            ));
        }
    }

    fn try_push(&mut self, s: &SignIn) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self
                .file
                .insert(BufWriter::with_capacity(64 * 1024, tempfile::tempfile()?)),
        };
        if self.reposition {
            file.seek(SeekFrom::End(0))?;
            self.reposition = false;
        }
        file.write_all(compact_sign_in(s).as_bytes())?;
        file.write_all(b"\n")?;
        self.records = self.records.saturating_add(1);
        Ok(())
    }

    /// Records spooled.
    pub fn len(&self) -> u64 {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Why the spool is incomplete, if a write failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Forgets every record (a caller about to read the sign-ins again).
    pub fn clear(&mut self) {
        let result = match &mut self.file {
            Some(f) => f
                .flush()
                .and_then(|_| f.get_ref().set_len(0))
                .and_then(|_| f.seek(SeekFrom::Start(0)).map(|_| ())),
            None => Ok(()),
        };
        self.records = 0;
        self.reposition = false;
        self.error = result
            .err()
            .map(|e| format!("cannot reset the partner sign-in spool: {e}"));
    }

    /// Calls `f` with each record (decoded) and its compact JSON line, in the order spooled. A record
    /// that does not decode (the file was damaged under us) is an error, not a skipped record.
    pub fn for_each<E: From<std::io::Error>>(
        &mut self,
        mut f: impl FnMut(SignIn, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        if let Some(e) = &self.error {
            return Err(std::io::Error::other(e.clone()).into());
        }
        let Some(writer) = &mut self.file else {
            return Ok(());
        };
        writer.flush()?;
        let mut file: &File = writer.get_ref();
        file.seek(SeekFrom::Start(0))?;
        self.reposition = true;
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let text = line.trim_end_matches('\n');
            let s: SignIn = serde_json::from_str(text).map_err(std::io::Error::other)?;
            f(s, text)?;
        }
    }
}

/// The fields of a sign-in the aggregates read, as compact JSON (no nulls): what the history keeps.
pub fn compact_sign_in(s: &SignIn) -> String {
    let trimmed = SignIn {
        user_id: None,
        resource_tenant_id: None,
        is_interactive: None,
        location: s.location.as_ref().map(|l| SignInLocation {
            city: None,
            country_or_region: l.country_or_region.clone(),
        }),
        status: s.status.as_ref().map(|st| SignInStatus {
            error_code: st.error_code,
            failure_reason: None,
        }),
        ..s.clone()
    };
    let mut value = serde_json::to_value(&trimmed).unwrap_or_default();
    strip_nulls(&mut value);
    value.to_string()
}

fn strip_nulls(v: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = v {
        map.retain(|_, x| !x.is_null());
        for x in map.values_mut() {
            strip_nulls(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_in(id: &str, n: u32) -> SignIn {
        serde_json::from_value(serde_json::json!({
            "id": id,
            "createdDateTime": format!("2026-08-15T19:{:02}:41Z", n % 60),
            "userPrincipalName": "tech@partner.example",
            "userId": "dropped",
            "location": {"city": "dropped", "countryOrRegion": "NL"},
            "status": {"errorCode": 0, "failureReason": "dropped"},
            "crossTenantAccessType": "serviceProvider",
            "homeTenantId": "8777b240-c6f0-4469-9e98-a3205431b836",
        }))
        .unwrap()
    }

    fn read_all(spool: &mut SignInSpool) -> Vec<(SignIn, String)> {
        let mut out = Vec::new();
        spool
            .for_each(|s, line| {
                out.push((s, line.to_owned()));
                Ok::<_, std::io::Error>(())
            })
            .unwrap();
        out
    }

    #[test]
    fn records_come_back_compact_in_order_and_appends_after_a_read_are_kept() {
        let mut spool = SignInSpool::new();
        assert!(read_all(&mut spool).is_empty());
        for n in 0..3 {
            spool.push(&sign_in(&format!("id-{n}"), n));
        }
        let first = read_all(&mut spool);
        assert_eq!(first.len(), 3);
        assert_eq!(first[0].0.id, "id-0");
        assert_eq!(first[0].0.user_id, None, "compact form");
        assert_eq!(first[0].0.country(), Some("NL"));
        assert!(!first[0].1.contains("null") && !first[0].1.contains("dropped"));
        // A partial read must not make later records overwrite earlier ones.
        let mut seen = 0;
        let _ = spool.for_each(|_, _| {
            seen += 1;
            Err(std::io::Error::other("stop"))
        });
        assert_eq!(seen, 1);
        spool.push(&sign_in("id-3", 3));
        let ids: Vec<String> = read_all(&mut spool)
            .into_iter()
            .map(|(s, _)| s.id)
            .collect();
        assert_eq!(ids, ["id-0", "id-1", "id-2", "id-3"]);
        assert_eq!(spool.len(), 4);
        spool.clear();
        assert!(spool.is_empty() && read_all(&mut spool).is_empty());
        spool.push(&sign_in("id-9", 9));
        assert_eq!(read_all(&mut spool).len(), 1);
        assert!(spool.error().is_none());
    }
}
