//! SecureChat: a small self-hosted group chat server. The binary
//! (`src/main.rs`) parses the command line and calls `server::run`; the
//! modules are a library so that fuzz targets and tools can reach the
//! parsers directly.

pub mod admin;
pub mod auth;
pub mod chat;
pub mod config;
pub mod db;
pub mod http;
pub mod log;
pub mod metrics;
pub mod net;
pub mod server;
pub mod tls;
pub mod util;
pub mod web;
pub mod ws;
