//! Text from Graph (display names, messages, audit targets) is attacker-influenced: before it reaches a
//! terminal, a table cell or a ticket it goes through here.

/// The most bytes of a name or an id kept in a report (Entra display names are at most 256 characters;
/// anything longer is hostile or broken).
pub const MAX_NAME: usize = 1024;

/// The most bytes of any other text kept in a report: messages, details, reasons, warnings, evidence
/// strings.
pub const MAX_TEXT: usize = 4096;

/// Invisible characters that can reorder, hide or smuggle text: zero-width characters, bidirectional
/// marks, overrides and isolates, word joiners and invisible operators, the byte order mark,
/// interlinear annotations and Unicode tag characters (the `Cf` characters a display name has no use
/// for).
pub fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// One line of plain text: control characters (escape sequences, newlines, tabs) become spaces, runs of
/// spaces collapse, and hidden characters (`is_hidden`: zero-width, bidirectional overrides...) are
/// dropped (a display name must not be able to rewrite the terminal or reorder what a reviewer reads).
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if is_hidden(c) {
            continue;
        }
        if c.is_control() || c.is_whitespace() {
            if !space && !out.is_empty() {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Like `one_line` but keeping line breaks and tabs (for CSV cells, whose quoting holds them): a
/// carriage return, alone or before a line feed, becomes a line feed (a lone one would move the cursor
/// back over what was printed), other control characters become spaces, hidden characters are dropped.
/// Nothing else changes.
pub fn multi_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\n' | '\t' => out.push(c),
            c if is_hidden(c) => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `s` when it has at most `max` bytes; otherwise its longest prefix that ends on a character boundary
/// and, with the marker "… [truncated, N bytes]" (N: the original length) appended, fits in `max`
/// bytes. The result never exceeds `max` bytes unless `max` is smaller than the marker itself, in which
/// case it is the marker alone.
pub fn cap(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let marker = format!("… [truncated, {} bytes]", s.len());
    let mut end = max.saturating_sub(marker.len()).min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + marker.len());
    out.push_str(&s[..end]);
    out.push_str(&marker);
    std::borrow::Cow::Owned(out)
}

/// `cap` for an owned string: no copy when it already fits.
pub fn cap_owned(s: String, max: usize) -> String {
    match cap(&s, max) {
        std::borrow::Cow::Borrowed(_) => s,
        std::borrow::Cow::Owned(c) => c,
    }
}

/// Serialized JSON made safe to print: every hidden character (`is_hidden`), DEL, C1 control and line or
/// paragraph separator becomes a `\uXXXX` escape. JSON outside strings is ASCII, so only string
/// contents change, and they decode to the same value: the data stays exact while `cat report.json`
/// cannot be reordered or driven by what Graph returned. (serde_json already escapes C0 controls.)
pub fn json_escape_hidden(json: String) -> String {
    if !json.chars().any(json_unsafe) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 64);
    push_json_escaped(&mut out, &json);
    out
}

/// DEL and C1 controls (serde_json escapes only C0), hidden characters, Unicode line separators.
fn json_unsafe(c: char) -> bool {
    is_hidden(c) || (c >= '\u{7f}' && (c.is_control() || c.is_whitespace()))
}

fn push_json_escaped(out: &mut String, json: &str) {
    for c in json.chars() {
        if json_unsafe(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
}

/// [`json_escape_hidden`] as a writer, for JSON streamed to a file: what goes through it comes out
/// escaped. A character split across two writes is held back until its last byte arrives; bytes that
/// are not UTF-8 (never the case for serde_json's output) pass through unchanged.
pub struct JsonEscapeHidden<W: std::io::Write> {
    inner: W,
    /// The start of a character whose remaining bytes have not been written yet (at most 3 bytes).
    pending: Vec<u8>,
}

impl<W: std::io::Write> JsonEscapeHidden<W> {
    pub fn new(inner: W) -> Self {
        JsonEscapeHidden {
            inner,
            pending: Vec::new(),
        }
    }

    fn write_text(&mut self, text: &str) -> std::io::Result<()> {
        if !text.chars().any(json_unsafe) {
            return self.inner.write_all(text.as_bytes());
        }
        let mut out = String::with_capacity(text.len() + 16);
        push_json_escaped(&mut out, text);
        self.inner.write_all(out.as_bytes())
    }
}

impl<W: std::io::Write> std::io::Write for JsonEscapeHidden<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let joined;
        let mut bytes = buf;
        if !self.pending.is_empty() {
            self.pending.extend_from_slice(buf);
            joined = std::mem::take(&mut self.pending);
            bytes = &joined;
        }
        while !bytes.is_empty() {
            match std::str::from_utf8(bytes) {
                Ok(text) => {
                    self.write_text(text)?;
                    break;
                }
                Err(e) => {
                    let (valid, rest) = bytes.split_at(e.valid_up_to());
                    // `valid_up_to` ends on a character boundary.
                    self.write_text(std::str::from_utf8(valid).unwrap_or_default())?;
                    match e.error_len() {
                        // An incomplete character at the end: wait for the rest of it.
                        None => {
                            self.pending.extend_from_slice(rest);
                            break;
                        }
                        Some(n) => {
                            let (bad, after) = rest.split_at(n.min(rest.len()));
                            self.inner.write_all(bad)?;
                            bytes = after;
                        }
                    }
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.inner.write_all(&rest)?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn control_and_bidi_characters_never_pass() {
        assert_eq!(one_line("  a\tb\n\n c \u{1b}[31mred "), "a b c [31mred");
        assert_eq!(one_line("evil\u{202e}txt.exe\u{200b}"), "eviltxt.exe");
        assert_eq!(one_line(""), "");
        // #18: the Arabic letter mark, isolates, tag characters and C1 controls (8-bit CSI) too.
        assert_eq!(
            one_line("a\u{61c}b\u{2067}c\u{e0041}d\u{9b}31me\u{7}"),
            "abcd 31me"
        );
    }

    #[test]
    fn multi_line_keeps_lines_and_tabs_only() {
        assert_eq!(
            multi_line("a\r\nb\rc\n\td\u{1b}[2J\u{202e}e\u{7}"),
            "a\nb\nc\n\td [2Je "
        );
    }

    /// #17: a long string is cut on a character boundary, within the bound, and says so.
    #[test]
    fn cap_cuts_within_the_bound_and_says_so() {
        assert_eq!(cap("short", 10), "short");
        let long = "é".repeat(100_000);
        let c = cap(&long, 1024);
        assert!(c.len() <= 1024, "{}", c.len());
        assert!(c.ends_with("… [truncated, 200000 bytes]"), "{c}");
        assert!(c.starts_with("éé"));
        assert_eq!(cap("abcdef", 3), "… [truncated, 6 bytes]");
        assert_eq!(cap_owned("x".repeat(5000), MAX_TEXT).len(), MAX_TEXT);
    }

    #[test]
    fn json_escaping_keeps_the_value() {
        let v = serde_json::json!({"name": "a\u{202e}b\u{9b}c\u{2028}d\u{e0041}\u{1b}é"});
        let s = json_escape_hidden(serde_json::to_string(&v).unwrap());
        assert!(
            s.is_ascii() || s.chars().all(|c| c == 'é' || c.is_ascii()),
            "{s}"
        );
        assert!(s.contains("\\u202e") && s.contains("\\udb40\\udc41"), "{s}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&s).unwrap(), v);
    }

    /// Any Unicode, weighted towards what attacks a terminal (`any::<String>()` has no controls).
    fn unicode() -> impl Strategy<Value = String> {
        let nasty = prop_oneof![
            Just('\u{1b}'),
            Just('\u{7}'),
            Just('\u{9b}'),
            Just('\n'),
            Just('\u{202e}'),
            Just('\u{2066}'),
            Just('\u{200b}'),
            Just('\u{e0041}'),
            Just('é'),
            Just(' '),
        ];
        proptest::collection::vec(prop_oneof![any::<char>(), nasty], 0..48)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The streaming escaper writes what `json_escape_hidden` returns, however the bytes are cut
        /// into writes (a character may be split between two).
        #[test]
        fn streamed_escaping_is_the_same(s in unicode(), cuts in proptest::collection::vec(1usize..7, 1..64)) {
            use std::io::Write;
            let json = serde_json::to_string(&serde_json::json!({ "k": s })).unwrap();
            let mut out = JsonEscapeHidden::new(Vec::new());
            let mut rest = json.as_bytes();
            for n in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (head, tail) = rest.split_at((*n).min(rest.len()));
                out.write_all(head).unwrap();
                rest = tail;
            }
            out.flush().unwrap();
            let streamed = String::from_utf8(out.inner).unwrap();
            prop_assert_eq!(streamed, json_escape_hidden(json));
        }

        /// #18: only line feeds and tabs survive among the control characters.
        #[test]
        fn multi_line_output_is_clean(s in unicode()) {
            let out = multi_line(&s);
            prop_assert!(
                !out.chars().any(|c| (c.is_control() && c != '\n' && c != '\t') || is_hidden(c)),
                "{out:?}"
            );
        }

        /// #18: whatever Unicode comes in, no control or hidden character comes out, on one line.
        #[test]
        fn one_line_output_is_clean(s in unicode()) {
            let out = one_line(&s);
            prop_assert!(!out.chars().any(|c| c.is_control() || is_hidden(c)), "{out:?}");
            prop_assert!(!out.starts_with(' ') && !out.ends_with(' '));
            prop_assert!(!out.contains("  "));
        }

        /// #17: `cap` keeps a prefix on a character boundary and respects its bound.
        #[test]
        fn cap_respects_boundaries_and_bound(s in unicode(), max in 0usize..200) {
            let out = cap(&s, max);
            if s.len() <= max {
                prop_assert_eq!(out.as_ref(), s.as_str());
            } else {
                let marker = format!("… [truncated, {} bytes]", s.len());
                prop_assert!(out.ends_with(&marker));
                prop_assert!(out.len() <= max.max(marker.len()));
                prop_assert!(s.starts_with(&out[..out.len() - marker.len()]));
            }
        }

        #[test]
        fn json_escaping_round_trips(s in unicode()) {
            let v = serde_json::Value::String(s);
            let out = json_escape_hidden(serde_json::to_string(&v).unwrap());
            prop_assert!(!out.chars().any(|c| c.is_control() || is_hidden(c)));
            prop_assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), v);
        }
    }
}
