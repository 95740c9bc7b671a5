//! Text from Graph (display names, messages, audit targets) is attacker-influenced: before it reaches a
//! terminal, a table cell or a ticket it goes through here.

/// One line of plain text: control characters (escape sequences, newlines, tabs) become spaces, runs of
/// spaces collapse, and zero-width and bidirectional-override characters are dropped (a display name
/// must not be able to rewrite the terminal or reorder what a reviewer reads).
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
        {
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

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn control_and_bidi_characters_never_pass() {
        assert_eq!(one_line("  a\tb\n\n c \u{1b}[31mred "), "a b c [31mred");
        assert_eq!(one_line("evil\u{202e}txt.exe\u{200b}"), "eviltxt.exe");
        assert_eq!(one_line(""), "");
    }
}
