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
//! - [`instances`]: one room across two instances on one PostgreSQL
//!   database (same- vs cross-instance latency), beside one SQLite instance.
//! - [`stored`]: stored messages/s with many senders in many rooms, on
//!   PostgreSQL and on SQLite.

mod fanout;
mod files;
mod idle;
mod instances;
mod queries;
mod search;
mod stored;
mod storm;

pub use fanout::fanout_run as fanout;
pub use files::files_run as files;
pub use idle::idle_run as idle;
pub use instances::instances_run as instances;
pub use search::search_run as search;
pub use stored::stored_run as stored;
pub use storm::storm_run as storm;
