//! The multi-packet framing of socket.io 0.9 polling bodies: `�<len>�<packet>…`, lengths in
//! UTF-16 code units.

use crate::protocol::utf16;
use std::fmt::Write as _;

use super::Sio09Error;

/// Marks a length prefix in the multi-packet framing.
pub const FRAME_MARK: char = '\u{fffd}';
/// Most packets one framed body may carry. Clients frame emits that piled up while a POST was
/// in flight; Blackhole clients emit a handful of subscribes, not hundreds.
pub const MAX_FRAMES: usize = 256;
/// More digits than any body the transports accept, few enough that the value cannot
/// overflow even a 32-bit `usize`.
const MAX_LENGTH_DIGITS: usize = 9;

/// Splits a polling body into packet strings. A body that does not start with U+FFFD is one
/// bare packet; an empty body carries none.
///
/// Lengths count UTF-16 code units, the client's `String.length`, by which it slices. Kazoo
/// 3.x's notes say "chars"; the two agree except on astral characters (emoji).
pub fn decode_frames(body: &str) -> Result<Vec<&str>, Sio09Error> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let Some(mut rest) = body.strip_prefix(FRAME_MARK) else {
        return Ok(vec![body]);
    };
    let mut frames = Vec::new();
    loop {
        let (digits, tail) = rest
            .split_once(FRAME_MARK)
            .ok_or(Sio09Error::InvalidFrameLength)?;
        let (packet, tail) = split_utf16(tail, parse_frame_length(digits)?)?;
        if frames.len() == MAX_FRAMES {
            return Err(Sio09Error::TooManyFrames { max: MAX_FRAMES });
        }
        frames.push(packet);
        if tail.is_empty() {
            return Ok(frames);
        }
        rest = tail
            .strip_prefix(FRAME_MARK)
            .ok_or(Sio09Error::TrailingData)?;
    }
}

fn parse_frame_length(digits: &str) -> Result<usize, Sio09Error> {
    let valid = (1..=MAX_LENGTH_DIGITS).contains(&digits.len());
    if !valid || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Sio09Error::InvalidFrameLength);
    }
    // An empty packet is no packet; the client would decode it to nothing.
    match digits
        .bytes()
        .fold(0, |n, d| n * 10 + usize::from(d - b'0'))
    {
        0 => Err(Sio09Error::InvalidFrameLength),
        units => Ok(units),
    }
}

/// Splits `text` after `units` UTF-16 code units.
fn split_utf16(text: &str, units: usize) -> Result<(&str, &str), Sio09Error> {
    utf16::split_at_units(text, units).map_err(|e| match e {
        utf16::SplitError::ExceedsText => Sio09Error::FrameExceedsBody,
        utf16::SplitError::SplitsSurrogatePair => Sio09Error::SplitSurrogatePair,
    })
}

/// Joins packets into one body: nothing for none, the packet itself for one (as the reference
/// server does, and as kazoo-popup, which cannot unframe, needs), `�<len>�<packet>…` for more.
pub fn encode_frames<S: AsRef<str>>(packets: &[S]) -> String {
    match packets {
        [] => String::new(),
        [single] => single.as_ref().to_owned(),
        many => {
            let total: usize = many.iter().map(|p| p.as_ref().len() + 16).sum();
            let mut out = String::with_capacity(total);
            for packet in many {
                let packet = packet.as_ref();
                out.push(FRAME_MARK);
                let _ = write!(out, "{}", packet.encode_utf16().count());
                out.push(FRAME_MARK);
                out.push_str(packet);
            }
            out
        }
    }
}
