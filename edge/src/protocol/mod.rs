//! Pure codecs of the client protocols: bytes in, packets out, and back. No I/O.

pub mod engineio;
pub mod kazoo_json;
pub mod sio09;
pub mod socketio;
mod utf16;
