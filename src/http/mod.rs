//! Our HTTP/1.1 layer: request heads parsed with httparse under strict limits,
//! streamed upload bodies, byte ranges, responses with security headers
//! (and file bodies), the router, cookies, forms, assets, and
//! who the client is behind a trusted proxy.

pub mod assets;
pub mod body;
pub mod cookies;
pub mod form;
pub mod proxy;
pub mod range;
pub mod request;
pub mod response;
pub mod router;

pub use request::Request;
pub use response::Response;
