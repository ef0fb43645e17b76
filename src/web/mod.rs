//! Request dispatch: route, check Origin on state changes, and call the page
//! or API handler. Handlers return a `Response`; a WebSocket route returns
//! an upgrade for the connection to carry out.

pub mod api;
pub mod pages;
pub mod session;
pub mod templates;
pub mod ws;

use std::path::PathBuf;

use crate::auth::password::Passwords;
use crate::config::Config;
use crate::db::{self, Db};
use crate::http::router::{self, NoRoute, Route};
use crate::http::{Request, Response, assets};

/// Everything handlers share.
pub struct App {
    pub config: Config,
    pub users_db: Db,
    pub chat_db: Db,
    pub chat: crate::chat::Chat,
    pub passwords: Passwords,
    pub templates: templates::Templates,
    pub asset_version: String,
    pub connections: std::sync::Arc<crate::net::registry::Registry>,
    /// The TLS configuration under `--tls`.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl App {
    /// Opens (creating) the data directory and both databases.
    pub fn open(config: Config) -> Result<App, String> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
        let path = |f: &str| -> PathBuf { config.data_dir.join(f) };
        let users = Db::open(&path("users.sqlite3"), db::users::MIGRATIONS)?;
        let chat_db = Db::open(&path("chat.sqlite3"), db::chat::MIGRATIONS)?;
        let chat = crate::chat::Chat::new(&config);
        let tls = if config.tls {
            Some(crate::tls::server_config(&config)?)
        } else {
            None
        };
        let asset_version = std::env::var("ASSET_VERSION")
            .ok()
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= 64
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            })
            .unwrap_or_else(|| (crate::util::now_ms() / 1000).to_string());
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(App {
            config,
            users_db: users,
            chat_db,
            chat,
            passwords: Passwords::new(cores),
            templates: templates::Templates::new()?,
            asset_version,
            connections: Default::default(),
            tls,
        })
    }
}

/// What the connection should do with a request.
pub enum Outcome {
    Respond(Response),
    /// Switch to the WebSocket protocol.
    Upgrade(Box<ws::Upgrade>),
}

/// Handles one request.
pub fn handle(app: &App, req: &Request) -> Outcome {
    let route = match router::route(&req.method, &req.segments) {
        Ok(r) => r,
        Err(NoRoute::NotFound) => return Outcome::Respond(not_found(app, req)),
        Err(NoRoute::MethodNotAllowed(allow)) => {
            let r = error(app, req, 405, "method_not_allowed", "Method not allowed.");
            return Outcome::Respond(r.with_header("Allow", allow.join(", ")));
        }
    };
    if !matches!(req.method.as_str(), "GET" | "HEAD") && !session::origin_ok(req) {
        return Outcome::Respond(error(
            app,
            req,
            403,
            "bad_origin",
            "Cross-origin request refused.",
        ));
    }
    let upgrade = |r: Result<ws::Upgrade, Response>| match r {
        Ok(up) => Outcome::Upgrade(Box::new(up)),
        Err(resp) => Outcome::Respond(resp),
    };
    Outcome::Respond(match route {
        Route::WsChat(id) => return upgrade(ws::chat_upgrade(app, req, id)),
        Route::WsNotify => return upgrade(ws::notify_upgrade(app, req)),
        Route::Root => pages::root(app, req),
        Route::RegisterForm => pages::register_form(app, req),
        Route::Register => pages::register(app, req),
        Route::LoginForm => pages::login_form(app, req),
        Route::Login => pages::login(app, req),
        Route::Logout => pages::logout(app, req),
        Route::Chat => pages::chat(app, req),
        Route::Account => pages::account(app, req),
        Route::ChangePassword => pages::change_password(app, req),
        Route::Healthz => Response::text(200, "ok"),
        Route::Metrics => metrics(app, req),
        Route::Static(path) => {
            let versioned = req.query_param("v").is_some();
            assets::serve(
                &path,
                versioned,
                &app.asset_version,
                req.header("if-none-match"),
            )
            .unwrap_or_else(|| not_found(app, req))
        }
        Route::Me => api::me(app, req),
        Route::Groups => api::groups(app, req),
        Route::CreateGroup => api::create_group(app, req),
        Route::JoinGroup(id) => api::join(app, req, id),
        Route::LeaveGroup(id) => api::leave(app, req, id),
        Route::Messages(id) => api::messages(app, req, id),
        Route::Online => api::online(app, req),
        Route::GroupOnline(id) => api::group_online(app, req, id),
        Route::OpenDm => api::open_dm(app, req),
        Route::Dms => api::dms(app, req),
        Route::EditMessage(id) => api::edit_message(app, req, id),
        Route::DeleteMessage(id) => api::delete_message(app, req, id),
        Route::PutKey => api::put_key(app, req),
        Route::GroupKeys(id) => api::group_keys(app, req, id),
    })
}

/// `GET /metrics`, when enabled: loopback clients, or the bearer token.
fn metrics(app: &App, req: &Request) -> Response {
    if !app.config.metrics {
        return not_found(app, req);
    }
    let token = std::env::var("SECURECHAT_METRICS_TOKEN").unwrap_or_default();
    let bearer = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "));
    let allowed =
        req.peer.is_loopback() || (!token.is_empty() && crate::auth::csrf::matches(&token, bearer));
    if !allowed {
        return Response::text(403, "metrics are for loopback clients or token holders");
    }
    let gauges = crate::metrics::Gauges {
        connections_open: app.connections.len(),
        websockets_open: app.chat.hub.all_peers().len(),
        rooms_active: app.chat.hub.active_rooms(),
    };
    Response::new(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        crate::metrics::render(&gauges).into_bytes(),
    )
}

fn is_api(req: &Request) -> bool {
    req.segments
        .first()
        .is_some_and(|s| s == "api" || s == "ws")
}

/// An error as JSON for `/api` and `/ws`, else as an HTML page.
pub fn error(app: &App, req: &Request, status: u16, code: &str, message: &str) -> Response {
    if is_api(req) {
        Response::error_json(status, code, message)
    } else {
        pages::error_page(app, status, message)
    }
}

fn not_found(app: &App, req: &Request) -> Response {
    error(app, req, 404, "not_found", "Not found.")
}
