//! The composition root's wiring: one `App` built from the `Config`, in
//! which each layer gets only its own inputs — the store, the chat (hub,
//! store, write limits), the account flows (store, login limits), the web
//! layer (chat, accounts, templates) — plus what the connection driver
//! needs (connection caps and registry, the TLS configuration — under
//! `--acme`, with the certificate keeper and its HTTP-01 answers).

use std::sync::Arc;

use super::StartupError;
use crate::auth::{Accounts, accounts};
use crate::chat::{self, Chat};
use crate::config::Config;
use crate::net::registry::Registry;
use crate::store::Store;
use crate::tls::acme::http01::Http01Responder;
use crate::tls::acme::renew::{self, Keeper};
use crate::web::{MetricsAccess, Web, templates::Templates};

pub struct App {
    pub config: Config,
    pub store: Arc<Store>,
    pub chat: Arc<Chat>,
    pub accounts: Arc<Accounts>,
    pub web: Web,
    pub connections: Arc<Registry>,
    /// The TLS configuration under `--tls`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Under `--acme`: the keeper, until `server::run` gives it a thread.
    pub acme: Option<Keeper>,
    /// Under `--acme` with `--redirect-http`: HTTP-01 answers.
    pub http01: Option<Arc<Http01Responder>>,
}

impl App {
    /// Opens (creating) the data and builds every layer.
    pub fn open(config: Config) -> Result<App, StartupError> {
        let store = Arc::new(config.location().open()?);
        let chat = Arc::new(Chat::new(
            Arc::clone(&store),
            chat::Settings {
                msg_rate: config.msg_rate,
                msg_burst: config.msg_burst,
                socket_rate: config.socket_rate,
                dm_rate: config.dm_rate,
                group_rate: config.group_rate,
                join_rate: config.join_rate,
                search: !config.no_search,
                max_upload: config.max_upload,
                storage_per_user: config.storage_per_user,
            },
        ));
        let accounts = Arc::new(Accounts::new(
            Arc::clone(&store),
            accounts::Settings {
                login_rate: config.login_rate,
                register_rate: config.register_rate,
                registration: config.registration,
            },
        )?);
        let (mut acme, mut http01) = (None, None);
        let tls = match &config.acme {
            Some(settings) => {
                let prepared = renew::prepare(
                    settings.clone(),
                    &config.data_dir,
                    &config.cert_paths(),
                    renew::Listen {
                        host: config.host,
                        port: config.port,
                        plain: config.redirect_http,
                    },
                )?;
                acme = Some(prepared.keeper);
                http01 = prepared.http01;
                Some(prepared.tls)
            }
            None if config.tls => Some(crate::tls::server_config(&config.cert_paths())?),
            None => None,
        };
        let connections: Arc<Registry> = Arc::default();
        let web = Web {
            chat: Arc::clone(&chat),
            accounts: Arc::clone(&accounts),
            templates: Templates::new().map_err(StartupError::Templates)?,
            asset_version: asset_version(),
            metrics: MetricsAccess {
                enabled: config.metrics,
                token: std::env::var("SECURECHAT_METRICS_TOKEN").unwrap_or_default(),
            },
            connections: Arc::clone(&connections),
        };
        Ok(App {
            config,
            store,
            chat,
            accounts,
            web,
            connections,
            tls,
            acme,
            http01,
        })
    }
}

/// `ASSET_VERSION` when it is a plain token, else the start time.
fn asset_version() -> String {
    std::env::var("ASSET_VERSION")
        .ok()
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .unwrap_or_else(|| (crate::util::now_ms() / 1000).to_string())
}
