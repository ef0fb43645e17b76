//! What an upload's bytes are, read from its first bytes only: PNG, JPEG,
//! GIF and WebP (the images a browser may show inline) with their pixel
//! size from the header, so a page can reserve the space before the image
//! loads. No image is decoded; anything else — SVG and HTML included — is
//! not an image here and is served as an attachment.

/// An image type a browser may show inline, and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image {
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Largest side we report (anything bigger is a header we do not trust).
const MAX_SIDE: u32 = 1 << 16;

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

/// The image `head` (a file's first bytes) starts, if it is one we show
/// inline with a header we can read.
pub fn image(head: &[u8]) -> Option<Image> {
    let (content_type, width, height) = if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        // The first chunk is IHDR: width and height, big-endian.
        if head.get(12..16)? != b"IHDR" {
            return None;
        }
        ("image/png", be32(head, 16)?, be32(head, 20)?)
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        ("image/gif", le16(head, 6)?, le16(head, 8)?)
    } else if head.starts_with(b"RIFF") && head.get(8..12)? == b"WEBP" {
        let (w, h) = webp(head)?;
        ("image/webp", w, h)
    } else if head.starts_with(b"\xff\xd8\xff") {
        let (w, h) = jpeg(head)?;
        ("image/jpeg", w, h)
    } else {
        return None;
    };
    let ok = |n: u32| (1..=MAX_SIDE).contains(&n);
    (ok(width) && ok(height)).then_some(Image {
        content_type,
        width,
        height,
    })
}

fn webp(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        // Lossy: a key frame's start code, then 14-bit sizes.
        b"VP8 " => {
            if b.get(23..26)? != b"\x9d\x01\x2a" {
                return None;
            }
            Some((le16(b, 26)? & 0x3fff, le16(b, 28)? & 0x3fff))
        }
        // Lossless: a signature byte, then 14-bit sizes minus one, packed.
        b"VP8L" => {
            if *b.get(20)? != 0x2f {
                return None;
            }
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        // Extended: 24-bit sizes minus one.
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        _ => None,
    }
}

/// Walks the JPEG markers to the first start-of-frame.
fn jpeg(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        // Fill bytes may precede a marker.
        while *b.get(at)? == 0xff && *b.get(at + 1)? == 0xff {
            at += 1;
        }
        if *b.get(at)? != 0xff {
            return None;
        }
        let marker = *b.get(at + 1)?;
        match marker {
            // Markers without a length.
            0xd8 | 0x01 | 0xd0..=0xd7 => at += 2,
            // Start of frame (not DHT 0xc4, JPG 0xc8, DAC 0xcc).
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                return Some((be16(b, at + 7)?, be16(b, at + 5)?));
            }
            // Start of scan or end of image before a frame: no size.
            0xd9 | 0xda => return None,
            _ => at += 2 + usize::try_from(be16(b, at + 2)?).ok()?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0]);
        b
    }

    #[test]
    fn reads_sizes_from_headers() {
        let img = |b: &[u8]| image(b).map(|i| (i.content_type, i.width, i.height));
        assert_eq!(img(&png(640, 480)), Some(("image/png", 640, 480)));
        assert_eq!(
            img(b"GIF89a\x20\x03\x58\x02\0\0"),
            Some(("image/gif", 800, 600))
        );
        // A JPEG with an APP0 segment, then SOF0 of 1024x768.
        let mut jpg =
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
        jpg.extend_from_slice(b"\xff\xc0\x00\x11\x08\x03\x00\x04\x00\x03");
        assert_eq!(img(&jpg), Some(("image/jpeg", 1024, 768)));
        let mut vp8x = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        vp8x.extend_from_slice(&[0x3f, 0x01, 0x00, 0xef, 0x00, 0x00]); // 320 x 240
        assert_eq!(img(&vp8x), Some(("image/webp", 320, 240)));
        let mut vp8l = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        let bits: u32 = (100 - 1) | ((50 - 1) << 14);
        vp8l.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(img(&vp8l), Some(("image/webp", 100, 50)));
        let mut vp8 = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a".to_vec();
        vp8.extend_from_slice(&[0x40, 0x01, 0xf0, 0x00]); // 320 x 240
        assert_eq!(img(&vp8), Some(("image/webp", 320, 240)));
    }

    #[test]
    fn anything_else_is_not_an_image() {
        for b in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'/>"[..],
            b"<!doctype html><script>alert(1)</script>",
            b"\x89PNG\r\n\x1a\n",
            b"\xff\xd8\xff",
            b"",
            b"GIF89a\0\0\0\0",
        ] {
            assert_eq!(image(b), None, "{b:?}");
        }
        assert_eq!(image(&png(0, 10)), None);
        assert_eq!(image(&png(1 << 20, 10)), None);
        // A JPEG whose segment lengths run off the end.
        assert_eq!(image(b"\xff\xd8\xff\xe0\xff\xff"), None);
    }
}
