//! Certificates from an ACME CA (RFC 8555; issue [8/9], in progress): the
//! account key and signed requests (`jws.rs`), the client for a directory,
//! nonces and accounts (`client.rs`), an order taken to a certificate
//! with the challenges answered by a `Responder` (`order.rs`), and the
//! TLS-ALPN-01 responder, a rustls certificate resolver (`alpn.rs`), and
//! the issued pair kept on disk with when it is due again (`kept.rs`). Not
//! yet wired to the server: no flag uses it so far.

pub mod alpn;
pub mod client;
pub mod jws;
pub mod kept;
pub mod order;
