//! The scenarios: each run starts its own server, measures one thing and
//! returns one JSON record (a line of `bench-results.jsonl`).
//!
//! - [`idle`]: server RSS per idle WebSocket.
//! - [`fanout`]: burst or paced fan-out into one room.
//! - [`search`]: search latency on a million stored messages, and insert
//!   throughput with the search index on and off (its queries: `queries`).

mod fanout;
mod idle;
mod queries;
mod search;

pub use fanout::fanout_run as fanout;
pub use idle::idle_run as idle;
pub use search::search_run as search;
