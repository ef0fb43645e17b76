//! The web layer: route a request, check Origin on state changes, and call
//! the page or API handler. Handlers read the request, ask the chat or the
//! account flows, and render the answer; a WebSocket route returns an
//! upgrade for the connection driver to carry out. The web owns no rule of
//! its own beyond the request's shape (cookies, CSRF, Origin, JSON fields).

pub mod admin;
pub mod api;
pub mod conversation;
pub mod error;
pub mod files;
pub mod links;
pub mod pages;
pub mod session;
pub mod templates;
pub mod ws;

use std::sync::Arc;

use crate::auth::Accounts;
use crate::chat::{Chat, Refusal};
use crate::http::router::{self, NoRoute, Route};
use crate::http::{Request, Response, assets};
use crate::net::registry::Registry;

pub use error::WebError;

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsAccess {
    pub enabled: bool,
    /// `Authorization: Bearer` token that opens it from anywhere (empty:
    /// loopback clients only).
    pub token: String,
}

/// Everything handlers share.
pub struct Web {
    pub chat: Arc<Chat>,
    pub accounts: Arc<Accounts>,
    pub templates: templates::Templates,
    pub asset_version: String,
    pub metrics: MetricsAccess,
    /// Open connections, for `/metrics`.
    pub connections: Arc<Registry>,
}

/// What the connection should do with a request.
pub enum Outcome {
    Respond(Response),
    /// Switch to the WebSocket protocol.
    Upgrade(Box<ws::Upgrade>),
}

impl Web {
    /// Whether a request's body is read by its handler as a stream (an
    /// upload) rather than whole by the connection.
    pub fn streams_body(&self, req: &Request) -> bool {
        req.method == "POST"
            && matches!(
                router::route(&req.method, &req.segments),
                Ok(Route::Upload(_))
            )
    }

    /// Handles a request whose body `body` streams (see `streams_body`).
    pub fn handle_streamed(&self, req: &Request, body: &mut dyn std::io::Read) -> Response {
        let handled = match router::route(&req.method, &req.segments) {
            _ if !session::origin_ok(req) => Err(WebError::BadOrigin),
            Ok(Route::Upload(id)) => files::upload(self, req, id, body),
            _ => Err(WebError::NotFound),
        };
        handled.unwrap_or_else(|e| self.error(req, &e))
    }

    /// Handles one request.
    pub fn handle(&self, req: &Request) -> Outcome {
        match self.route(req) {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Respond(self.error(req, &e)),
        }
    }

    fn route(&self, req: &Request) -> Result<Outcome, WebError> {
        let route = match router::route(&req.method, &req.segments) {
            Ok(r) => r,
            Err(NoRoute::NotFound) => return Err(WebError::NotFound),
            Err(NoRoute::MethodNotAllowed(allow)) => return Err(WebError::MethodNotAllowed(allow)),
        };
        if !matches!(req.method.as_str(), "GET" | "HEAD") && !session::origin_ok(req) {
            return Err(WebError::BadOrigin);
        }
        let respond = |r: Result<Response, WebError>| r.map(Outcome::Respond);
        match route {
            Route::WsChat(id) => ws::chat_upgrade(self, req, id).map(upgrade),
            Route::WsNotify => ws::notify_upgrade(self, req).map(upgrade),
            Route::Root => Ok(Outcome::Respond(pages::root(self, req))),
            Route::RegisterForm => Ok(Outcome::Respond(pages::register_form(self, req))),
            Route::Register => Ok(Outcome::Respond(pages::register(self, req))),
            Route::LoginForm => Ok(Outcome::Respond(pages::login_form(self, req))),
            Route::Login => Ok(Outcome::Respond(pages::login(self, req))),
            Route::Logout => Ok(Outcome::Respond(pages::logout(self, req))),
            Route::Chat => Ok(Outcome::Respond(pages::chat(self, req))),
            Route::Account => Ok(Outcome::Respond(pages::account(self, req))),
            Route::ChangePassword => Ok(Outcome::Respond(pages::change_password(self, req))),
            Route::Healthz if self.chat.store.reachable() => {
                Ok(Outcome::Respond(Response::text(200, "ok")))
            }
            Route::Healthz => Ok(Outcome::Respond(Response::text(
                503,
                "database unavailable",
            ))),
            Route::Metrics => respond(self.metrics(req)),
            Route::Static(path) => {
                let versioned = req.query_param("v").is_some();
                let etag = req.header("if-none-match");
                assets::serve(&path, versioned, &self.asset_version, etag)
                    .map(Outcome::Respond)
                    .ok_or(WebError::NotFound)
            }
            Route::AppShell(path) => {
                // Never cached for long: a new service worker must be seen.
                let etag = req.header("if-none-match");
                assets::serve(path, false, &self.asset_version, etag)
                    .map(Outcome::Respond)
                    .ok_or(WebError::NotFound)
            }
            Route::Me => respond(api::me(self, req)),
            Route::Groups => respond(api::groups(self, req)),
            Route::CreateGroup => respond(api::create_group(self, req)),
            Route::JoinGroup(id) => respond(api::join(self, req, id)),
            Route::LeaveGroup(id) => respond(api::leave(self, req, id)),
            Route::Messages(id) => respond(api::messages(self, req, id)),
            Route::Online => respond(api::online(self, req)),
            Route::GroupOnline(id) => respond(api::group_online(self, req, id)),
            Route::OpenDm => respond(api::open_dm(self, req)),
            Route::Dms => respond(api::dms(self, req)),
            Route::EditMessage(id) => respond(api::edit_message(self, req, id)),
            Route::DeleteMessage(id) => respond(api::delete_message(self, req, id)),
            Route::React(id, emoji) => respond(conversation::react(self, req, id, &emoji, true)),
            Route::Unreact(id, emoji) => respond(conversation::react(self, req, id, &emoji, false)),
            Route::MarkRead(id) => respond(conversation::mark_read(self, req, id)),
            Route::Search => respond(conversation::search(self, req)),
            Route::File(id) => respond(files::download(self, req, id)),
            // Only reached without a streamed body (see `handle_streamed`).
            Route::Upload(_) => Err(WebError::Refused(Refusal::bad_request(
                "Send the file's bytes as the request body.",
            ))),
            Route::PutKey => respond(api::put_key(self, req)),
            Route::Devices => respond(api::devices(self, req)),
            Route::RemoveDevice(fp) => respond(api::remove_device(self, req, &fp)),
            Route::GroupKeys(id) => respond(api::group_keys(self, req, id)),
            Route::GroupMembers(id) => respond(api::members(self, req, id)),
            Route::AddMember(id) => respond(api::add_member(self, req, id)),
            Route::RemoveMember(id, name) => respond(api::remove_member(self, req, id, &name)),
            Route::SetRole(id, name) => respond(api::set_role(self, req, id, &name)),
            Route::RenameGroup(id) => respond(api::rename_group(self, req, id)),
            Route::DeleteGroup(id) => respond(api::delete_group(self, req, id)),
            Route::CreateInvite(id) => respond(api::create_invite(self, req, id)),
            Route::Invites(id) => respond(api::invites(self, req, id)),
            Route::RevokeInvite(id, code) => respond(api::revoke_invite(self, req, id, &code)),
            Route::AcceptInvite(code) => respond(api::accept_invite(self, req, &code)),
            Route::AdminUser(name, op) => respond(api::admin_user(self, req, &name, op)),
            Route::CreateServerInvite => respond(api::create_server_invite(self, req)),
            Route::ServerInvites => respond(api::server_invites(self, req)),
            Route::RevokeServerInvite(code) => respond(api::revoke_server_invite(self, req, &code)),
            Route::SetRegistration => respond(api::set_registration(self, req)),
            Route::InvitePage(code) => Ok(Outcome::Respond(links::invite_page(self, req, &code))),
            Route::JoinByInvite(code) => {
                Ok(Outcome::Respond(links::join_by_invite(self, req, &code)))
            }
            Route::ResetForm(token) => Ok(Outcome::Respond(links::reset_page(self, req, &token))),
            Route::Reset(token) => Ok(Outcome::Respond(links::reset(self, req, &token))),
            Route::AdminPage => Ok(Outcome::Respond(admin::page(self, req))),
        }
    }

    /// `GET /metrics`, when enabled: loopback clients, or the bearer token.
    fn metrics(&self, req: &Request) -> Result<Response, WebError> {
        if !self.metrics.enabled {
            return Err(WebError::NotFound);
        }
        let bearer = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "));
        let token = &self.metrics.token;
        let loopback = req.client_known && req.peer.is_loopback();
        let allowed = loopback || (!token.is_empty() && crate::auth::csrf::matches(token, bearer));
        if !allowed {
            return Ok(Response::text(
                403,
                "metrics are for loopback clients or token holders",
            ));
        }
        let gauges = crate::metrics::Gauges {
            connections_open: self.connections.len(),
            websockets_open: self.chat.hub.all_peers().len(),
            rooms_active: self.chat.hub.active_rooms(),
            stored_bytes: self.chat.store.stored_bytes().unwrap_or(0),
        };
        Ok(Response::new(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            crate::metrics::render(&gauges).into_bytes(),
        ))
    }

    /// The answer for a failed request: JSON for `/api` and `/ws`, an HTML
    /// page for everything else.
    pub fn error(&self, req: &Request, e: &WebError) -> Response {
        let wants_json = req
            .segments
            .first()
            .is_some_and(|s| s == "api" || s == "ws");
        let resp = if wants_json {
            Response::error_json(e.status(), e.code(), &e.message())
        } else {
            pages::error_page(self, e.status(), &e.message())
        };
        e.headers()
            .into_iter()
            .fold(resp, |r, (name, value)| r.with_header(name, value))
    }
}

fn upgrade(up: ws::Upgrade) -> Outcome {
    Outcome::Upgrade(Box::new(up))
}
