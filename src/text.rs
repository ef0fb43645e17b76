//! Names people read: group names are shown to everyone, so one must not be
//! able to pass for another. A name is stored NFC-normalized; invisible
//! characters that reorder or hide text (bidi controls, zero-width
//! characters) are refused; and two names conflict when they look alike —
//! the same Unicode confusable skeleton (UTS #39, from `unicode-security`,
//! the table rustc's own confusable lint uses), compared without case.

use unicode_normalization::UnicodeNormalization;
use unicode_security::confusable_detection::skeleton;

/// Characters that change the order or visibility of the text around
/// them: the bidi embeddings, overrides and isolates (U+202A–202E,
/// U+2066–2069) and marks (U+200E, U+200F, U+061C), and the zero-width
/// characters (U+200B–200D, U+2060, U+FEFF).
pub fn is_invisible_control(c: char) -> bool {
    matches!(c,
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200E}' | '\u{200F}' | '\u{061C}'
        | '\u{200B}'..='\u{200D}'
        | '\u{2060}' | '\u{FEFF}')
}

/// `s` in Unicode Normalization Form C.
pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}

/// The key two names share when they look alike: the confusable skeleton,
/// case-folded, and skeletoned again so that case and look-alikes combine
/// (`Il` and `ll`, `homoG` and `hоmog` with a Cyrillic `о`).
pub fn look_alike_key(name: &str) -> String {
    let first: String = skeleton(name).collect();
    skeleton(&first.to_lowercase()).collect()
}

/// Percent-encodes `s` for a URL path segment or query value: everything
/// but RFC 3986's unreserved characters is escaped.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_alike_share_a_key() {
        assert_eq!(look_alike_key("homoG"), look_alike_key("h\u{043e}moG"));
        assert_eq!(look_alike_key("homoG"), look_alike_key("HOMOG"));
        assert_eq!(look_alike_key("Il"), look_alike_key("ll"));
        assert_eq!(look_alike_key("paypal"), look_alike_key("p\u{0430}ypal"));
        assert_ne!(look_alike_key("rust"), look_alike_key("rest"));
        // Composed and decomposed forms are one name.
        assert_eq!(nfc("e\u{0301}"), "\u{e9}");
        assert_eq!(look_alike_key("caf\u{e9}"), look_alike_key("cafe\u{0301}"));
    }

    #[test]
    fn bidi_and_zero_width_characters_are_invisible_controls() {
        for c in [
            '\u{202E}', '\u{2066}', '\u{200B}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{200F}',
        ] {
            assert!(is_invisible_control(c), "{:04X}", c as u32);
        }
        for c in ['a', 'é', ' ', '\u{00A0}', '🦀'] {
            assert!(!is_invisible_control(c));
        }
    }
}
