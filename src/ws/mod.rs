//! WebSockets: the upgrade handshake, server frame encoding, each socket's
//! send path (non-blocking fast path, queue and writer for backlog, byte
//! budget) and the reader loop that feeds the chat.

pub mod frame;
pub mod handshake;
pub mod peer;
pub mod reader;
