//! `Range: bytes=…` for one range (`a-b`, `a-`, `-n`), as RFC 9110 reads
//! it. Several ranges, or a unit other than bytes, are answered with the
//! whole body (which the RFC allows); a range wholly past the end is a 416.

/// What to send of a body of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Whole,
    /// Bytes `start..=end`.
    Part {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

pub fn parse(header: Option<&str>, len: u64) -> Range {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Range::Whole;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim(), b.trim()) {
        ("", n) => match num(n) {
            None => Range::Whole,
            Some(0) => Range::Unsatisfiable,
            Some(_) if len == 0 => Range::Unsatisfiable,
            Some(n) => Range::Part {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        },
        (a, b) => {
            let Some(start) = num(a) else {
                return Range::Whole;
            };
            let end = match b {
                "" => u64::MAX,
                b => match num(b) {
                    Some(e) if e >= start => e,
                    _ => return Range::Whole,
                },
            };
            if start >= len {
                return Range::Unsatisfiable;
            }
            Range::Part {
                start,
                end: end.min(len - 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_range_of_each_form() {
        let p = |h: &str| parse(Some(h), 100);
        assert_eq!(p("bytes=0-9"), Range::Part { start: 0, end: 9 });
        assert_eq!(p("bytes=90-"), Range::Part { start: 90, end: 99 });
        assert_eq!(p("bytes=-10"), Range::Part { start: 90, end: 99 });
        assert_eq!(p("bytes=-1000"), Range::Part { start: 0, end: 99 });
        assert_eq!(p("bytes=50-5000"), Range::Part { start: 50, end: 99 });
        assert_eq!(p("bytes=100-"), Range::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Range::Unsatisfiable);
        assert_eq!(p("bytes=0-1,5-6"), Range::Whole);
        assert_eq!(p("items=0-1"), Range::Whole);
        assert_eq!(p("bytes=9-3"), Range::Whole);
        assert_eq!(p("bytes=x-3"), Range::Whole);
        assert_eq!(p("bytes=99999999999999999999-"), Range::Whole);
        assert_eq!(parse(None, 100), Range::Whole);
        assert_eq!(parse(Some("bytes=0-"), 0), Range::Unsatisfiable);
    }
}
