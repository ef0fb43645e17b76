//! Real-time chat: the hub of rooms and listeners, presence, rate limits,
//! message validation, and handling of client frames.

pub mod body;
pub mod fanout;
pub mod frames;
pub mod hub;
pub mod limits;
pub mod presence;
pub mod recent;

use std::net::IpAddr;

use crate::config::Config;

/// The chat's shared state.
pub struct Chat {
    pub hub: hub::Hub,
    /// Messages (and other writes) per user.
    pub messages: limits::Limiter<i64>,
    /// Login attempts per IP and username.
    pub logins: limits::Limiter<(IpAddr, String)>,
    /// Registrations per IP.
    pub registrations: limits::Limiter<IpAddr>,
    /// Recently stored `client_id`s, so a resend after a lost ack is
    /// acknowledged again instead of stored twice.
    pub recent: recent::RecentIds,
}

impl Chat {
    pub fn new(config: &Config) -> Chat {
        Chat {
            hub: hub::Hub::default(),
            messages: limits::Limiter::new(config.msg_rate, config.msg_burst),
            logins: limits::Limiter::new(config.login_rate / 60.0, 10.0),
            registrations: limits::Limiter::new(config.register_rate / 60.0, 50.0),
            recent: recent::RecentIds::default(),
        }
    }
}

/// An `error` frame.
pub fn error_frame(code: &str, message: &str) -> crate::ws::frame::Frame {
    crate::ws::frame::text(
        &serde_json::json!({ "type": "error", "code": code, "message": message }),
    )
}
