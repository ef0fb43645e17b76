//! Certificates from an ACME CA (RFC 8555; `--acme`): the account key and
//! signed requests (`jws.rs`), the client for a directory, nonces and
//! accounts (`client.rs`), an order taken to a certificate with the
//! challenges answered by a `Responder` (`order.rs`) — TLS-ALPN-01 by a
//! rustls certificate resolver on the HTTPS port (`alpn.rs`), HTTP-01 by
//! the plain-HTTP listener (`http01.rs`) — the issued pair kept on disk
//! with when it is due again (`kept.rs`), what was last attempted
//! (`status.rs`), and the thread that keeps a certificate current and
//! swaps it in (`renew.rs`).

pub mod alpn;
pub mod client;
pub mod http01;
pub mod jws;
pub mod kept;
pub mod order;
pub mod renew;
pub mod status;
