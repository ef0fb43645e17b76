//! Transport, and nothing above it: the listening socket and its accept
//! loop, a connection's byte stream (plain TCP or TLS split for one reader
//! and many writers), and the registry of open connections used for the
//! connection caps and graceful shutdown. What is spoken over the bytes is
//! decided higher up (`server`, `web`, `ws`).

pub mod listener;
pub mod registry;
pub mod transport;
