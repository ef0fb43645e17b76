//! The scenarios: each run starts its own server, measures one thing and
//! returns one JSON record (a line of `bench-results.jsonl`).
//!
//! - [`idle`]: server RSS per idle WebSocket.
//! - [`fanout`]: burst or paced fan-out into one room.

mod fanout;
mod idle;

pub use fanout::fanout_run as fanout;
pub use idle::idle_run as idle;
