//! Just enough DER (ITU-T X.690) to walk a structure we were handed — a
//! certificate, a public key — tag by tag. Every length is bounds-checked
//! against the input; malformed input is `None`, never a panic.

pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;

/// One TLV: its tag, its contents, and the rest of the input.
pub fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | b as usize;
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The contents of a TLV with tag `want`, and the rest of the input.
pub fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, body, rest) = tlv(input)?;
    (tag == want).then_some((body, rest))
}

/// A SEQUENCE's contents and the rest of the input.
pub fn sequence(input: &[u8]) -> Option<(&[u8], &[u8])> {
    expect(input, SEQUENCE)
}

/// The magnitude of a non-negative DER INTEGER in its minimal form (no
/// redundant leading zero); `None` for a negative or non-minimal one.
pub fn unsigned(int: &[u8]) -> Option<&[u8]> {
    match int {
        [] => None,
        [b, ..] if b & 0x80 != 0 => None,
        [0, next, ..] if next & 0x80 == 0 => None,
        [0, rest @ ..] if !rest.is_empty() => Some(rest),
        all => Some(all),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked() {
        assert_eq!(
            tlv(&[0x02, 0x01, 0x05, 0xaa]),
            Some((0x02, &[0x05][..], &[0xaa][..]))
        );
        assert_eq!(
            tlv(&[0x30, 0x82, 0x00, 0x01, 0x00]),
            Some((0x30, &[0x00][..], &[][..]))
        );
        assert_eq!(tlv(&[0x30, 0x02, 0x00]), None);
        assert_eq!(tlv(&[0x30, 0x85, 1, 2, 3, 4, 5]), None);
        assert_eq!(tlv(&[0x30]), None);
        assert_eq!(expect(&[0x05, 0x00], NULL), Some((&[][..], &[][..])));
        assert_eq!(expect(&[0x05, 0x00], OID), None);
    }

    #[test]
    fn unsigned_integers_are_minimal() {
        assert_eq!(unsigned(&[0x01, 0x00, 0x01]), Some(&[0x01, 0x00, 0x01][..]));
        assert_eq!(unsigned(&[0x00, 0x80]), Some(&[0x80][..]));
        assert_eq!(unsigned(&[0x00, 0x01]), None, "redundant zero");
        assert_eq!(unsigned(&[0x80]), None, "negative");
        assert_eq!(unsigned(&[0x00]), Some(&[0x00][..]));
        assert_eq!(unsigned(&[]), None);
    }
}
