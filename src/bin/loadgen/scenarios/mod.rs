//! The scenarios: each run starts its own server, measures one thing and
//! returns one JSON record (a line of `bench-results.jsonl`).
//!
//! - [`idle`]: server RSS per idle WebSocket.
//! - [`fanout`]: burst or paced fan-out into one room.
//! - [`search`]: search latency on a million stored messages, and insert
//!   throughput with the search index on and off (its queries: `queries`).
//! - [`files`]: a large upload and download (MiB/s against raw loopback
//!   TCP, server RSS growth), many uploads at once (none lost, all read
//!   back identical), and a room's latency while uploads run.
//! - [`storm`]: distinct users arriving at once in a large room: time until
//!   every socket's view of who is online is right.

mod fanout;
mod files;
mod idle;
mod queries;
mod search;
mod storm;

pub use fanout::fanout_run as fanout;
pub use files::files_run as files;
pub use idle::idle_run as idle;
pub use search::search_run as search;
pub use storm::storm_run as storm;
