//! Our HTTP/1.1 layer: request heads parsed with httparse under strict limits,
//! responses with security headers, the router, cookies, forms, assets, and
//! who the client is behind a trusted proxy.

pub mod assets;
pub mod cookies;
pub mod form;
pub mod proxy;
pub mod request;
pub mod response;
pub mod router;

pub use request::Request;
pub use response::Response;
