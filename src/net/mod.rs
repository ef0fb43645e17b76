//! Sockets: the listener with its accept loop and the per-connection
//! HTTP/1.1 keep-alive loop, plus the registry used for graceful shutdown.

pub mod conn;
pub mod listener;
pub mod proxy;
pub mod redirect;
pub mod registry;
pub mod transport;
