//! SecureChat: a small self-hosted group chat server. The binary
//! (`src/main.rs`) parses the command line and calls `server::run`; the
//! modules are a library so that fuzz targets and tools can reach the
//! parsers directly.
//!
//! Layers, lowest first; each imports only from the layers before it (the
//! `layering` test in `tests/layering.rs` checks this):
//! `util`, `sync`, `log`, `metrics`, `limits`, `der`, `text` → `http` → `tls` → `net` →
//! `ws` → `store` → `auth` → `chat` → `web` → `admin` → `config` →
//! `server`.
//!
//! No `unsafe` outside the modules that say why they need it: signal masks
//! (`server::signals`), malloc tuning (`server::memory`), an upload
//! thread's priority (`server::priority`) and terminal echo
//! (`admin::password_prompt`).
#![deny(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod chat;
pub mod config;
pub mod der;
pub mod http;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod net;
pub mod server;
pub mod store;
pub mod sync;
pub mod text;
pub mod tls;
pub mod util;
pub mod web;
pub mod ws;
