//! JSONP polling for socket.io 0.9's old-browser transport: the `io.j[<index>](…)` wrapping of
//! GET bodies and the form-encoded `d=` field of POST bodies.

use super::Sio09Error;
use crate::protocol::socketio::push_json_str;

/// The client's JSONP index is its `io.j.length`; anything longer is not from a client.
const MAX_JSONP_INDEX_DIGITS: usize = 16;

/// Whether a `jsonp=`/`i=` query value may be used as a JSONP callback index. The reference
/// server only honours `^\d+$`; for the handshake it answers without JSONP otherwise.
pub fn is_jsonp_index(index: &str) -> bool {
    (1..=MAX_JSONP_INDEX_DIGITS).contains(&index.len()) && index.bytes().all(|b| b.is_ascii_digit())
}

/// Wraps a body for a JSONP GET: `io.j[<index>]("<body as a JSON string>");`, as the reference
/// server's `JSON.stringify`. An index that is not digits becomes `0`, as in the reference,
/// since it is reflected into a script. U+2028 and U+2029 are escaped too, unlike
/// `JSON.stringify`: engines before ES2019 (old IE, JSONP's only users) reject them raw in a
/// string literal, and the escaped form means the same.
pub fn jsonp(index: &str, body: &str) -> String {
    let mut out = jsonp_head(index, body.len());
    push_js_str(&mut out, body);
    out.push_str(");");
    out
}

/// The JSONP handshake refusal `io.j[<index>](new Error("<message>"));`.
pub fn jsonp_error(index: &str, message: &str) -> String {
    let mut out = jsonp_head(index, message.len() + 16);
    out.push_str("new Error(");
    push_js_str(&mut out, message);
    out.push_str("));");
    out
}

fn jsonp_head(index: &str, extra: usize) -> String {
    let index = if is_jsonp_index(index) { index } else { "0" };
    let mut out = String::with_capacity(index.len() + extra + 16);
    out.push_str("io.j[");
    out.push_str(index);
    out.push_str("](");
    out
}

fn push_js_str(out: &mut String, s: &str) {
    let start = out.len();
    push_json_str(out, s);
    if out[start..].contains(['\u{2028}', '\u{2029}']) {
        let escaped = out[start..]
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029");
        out.truncate(start);
        out.push_str(&escaped);
    }
}

/// Extracts the packet text (perhaps a framed body) from a JSONP-polling POST body.
///
/// socket.io-client 0.9.16 submits a hidden form whose one `<textarea name="d">` holds
/// `JSON.stringify(payload)`, form-encoded in UTF-8: `d=%225%3A%3A%3A%7B…%22`. It stringifies
/// because browsers turn `\n` into `\r\n` in form fields; newlines travel as the two
/// characters `\n` and the JSON parse restores them. As the reference server's
/// `JSON.parse(qs.parse(body).d)`: form-decode (`+` is a space), then parse a JSON string.
pub fn decode_jsonp_post(body: &[u8]) -> Result<String, Sio09Error> {
    let value = body
        .split(|&b| b == b'&')
        .find_map(|pair| pair.strip_prefix(b"d="))
        .ok_or(Sio09Error::MissingFormField)?;
    let decoded = form_decode(value).ok_or(Sio09Error::InvalidJsonpData)?;
    serde_json::from_slice::<String>(&decoded).map_err(|_| Sio09Error::InvalidJsonpData)
}

/// `None` on a broken `%XX` escape; browsers always write `%` itself as `%25`.
fn form_decode(value: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| value.get(j).and_then(|&h| char::from(h).to_digit(16));
                let (hi, lo) = (hex(i + 1)?, hex(i + 2)?);
                // Two hex digits are at most 0xff.
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    Some(out)
}
