//! Certificates from an ACME CA (RFC 8555; issue [8/9], in progress on
//! this branch): so far the account key and signed requests (`jws.rs`).

pub mod client;
pub mod jws;
