//! The composition root: builds the `App` (`app`), binds, runs the accept
//! loop that hands each connection to its driver (`conn`), keeps the
//! housekeeping going (pings, memory), and on SIGINT/SIGTERM closes sockets
//! with 1001, drains connections (bounded) and checkpoints the databases.
//! Everything below is wired here; nothing below imports from here.

pub mod app;
pub mod conn;
mod memory;
mod priority;
mod redirect;
mod signals;

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

pub use app::App;

use crate::config::Config;
use crate::net::listener;
use crate::store::StoreError;
use crate::tls::TlsError;

/// How long in-flight requests get to finish at shutdown.
const GRACE: Duration = Duration::from_secs(5);

/// Why the server could not start.
#[derive(Debug)]
pub enum StartupError {
    Store(StoreError),
    Tls(TlsError),
    Templates(minijinja::Error),
    Listen {
        addr: SocketAddr,
        error: std::io::Error,
    },
    /// A thread the server needs could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Store(e) => write!(f, "{e}"),
            StartupError::Tls(e) => write!(f, "{e}"),
            StartupError::Templates(e) => write!(f, "template: {e}"),
            StartupError::Listen { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
            StartupError::Thread(e) => write!(f, "cannot start a thread: {e}"),
        }
    }
}

impl std::error::Error for StartupError {}

impl From<StoreError> for StartupError {
    fn from(e: StoreError) -> Self {
        StartupError::Store(e)
    }
}

impl From<TlsError> for StartupError {
    fn from(e: TlsError) -> Self {
        StartupError::Tls(e)
    }
}

fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    listener::bind(addr).map_err(|error| StartupError::Listen { addr, error })
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), StartupError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(StartupError::Thread)
}

pub fn run(config: Config) -> Result<(), StartupError> {
    memory::limit_arenas();
    let blocked = signals::block();
    let addr = SocketAddr::new(config.host, config.port);
    let _locks = config.location().lock()?;
    let mut app = App::open(config)?;
    let keeper = app.acme.take();
    let app = Arc::new(app);
    // This process holds the data directory: what an interrupted upload
    // left is nobody's (in PostgreSQL mode, only what is old enough: the
    // files directory is every instance's).
    match app.store.sweep_files() {
        Ok(0) => {}
        Ok(n) => crate::info!("removed {n} file(s) interrupted uploads left"),
        Err(e) => crate::warn!("cannot sweep the files directory: {e}"),
    }
    let listener = bind(addr)?;
    let local = listener
        .local_addr()
        .map_err(|error| StartupError::Listen { addr, error })?;
    crate::info!("data in {}", app.config.location().shown());

    if let Some(port) = app.config.redirect_http {
        let addr = SocketAddr::new(app.config.host, port);
        let plain = bind(addr)?;
        let shown = plain
            .local_addr()
            .map_err(|error| StartupError::Listen { addr, error })?;
        println!("Redirecting http://{shown} to HTTPS");
        let (tls_port, host) = (local.port(), app.config.host.to_string());
        let http01 = app.http01.clone();
        spawn("redirect-accept", move || {
            redirect::serve(plain, tls_port, host, http01)
        })?;
    }

    let scheme = if app.config.tls { "https" } else { "http" };
    println!("SecureChat listening on {scheme}://{local}");
    let waker = listener.try_clone().map_err(StartupError::Thread)?;
    let on_signal = Arc::clone(&app);
    spawn("signals", move || {
        let sig = signals::wait(&blocked);
        crate::info!("signal {sig}: shutting down");
        for peer in on_signal.chat.hub.all_peers() {
            peer.close(1001, "server shutting down");
        }
        on_signal.connections.drain(Duration::ZERO);
        listener::interrupt(&waker);
    })?;
    if let Some(keeper) = keeper {
        let acme = Arc::clone(&app);
        spawn("acme", move || keeper.run(|| acme.connections.stopping()))?;
    }
    let warm = Arc::clone(&app);
    spawn("warm-up", move || warm.accounts.warm_up())?;
    let housekeeping = Arc::clone(&app);
    spawn("pinger", move || ping_loop(&housekeeping))?;
    let follower = Arc::clone(&app);
    spawn("events", move || {
        follower.chat.follow(|| follower.connections.stopping())
    })?;
    if app.store.is_postgres() {
        let relay = Arc::clone(&app);
        spawn("relay-in", move || {
            relay.chat.follow_instances(|| relay.connections.stopping())
        })?;
        let beat = Arc::clone(&app);
        spawn("heartbeat", move || {
            beat.chat.beat_instances(|| beat.connections.stopping())
        })?;
    }
    let indexer = Arc::clone(&app);
    spawn("search-index", move || {
        indexer.store.keep_index(|| indexer.connections.stopping())
    })?;

    listener::accept_loop(
        &listener,
        || app.connections.stopping(),
        |stream, peer| conn::spawn(&app, stream, peer),
    );
    drop(listener);
    app.connections.drain(GRACE);
    if let Err(e) = app.store.checkpoint() {
        crate::warn!("checkpoint failed: {e}");
    }
    if let Err(e) = app.store.leave_bus() {
        crate::warn!("cannot tell the other instances this one stops: {e}");
    }
    crate::info!("stopped");
    Ok(())
}

/// Housekeeping: pings every socket every 30 s (readers close sockets that
/// stay silent), and every 10 s removes uploads never attached in time and
/// hands memory freed by closed connections back to the OS so the
/// footprint returns to baseline after a burst.
fn ping_loop(app: &App) {
    let ping = crate::ws::frame::ping();
    for tick in 1u64.. {
        std::thread::sleep(Duration::from_secs(10));
        if tick % 3 == 0 {
            for peer in app.chat.hub.all_peers() {
                peer.send(&ping);
            }
        }
        app.chat.expire_uploads();
        // Several instances share the files directory: what is no longer
        // named goes here, past an hour (see `Store::sweep_files`).
        if app.store.is_postgres() && tick % 360 == 0 {
            match app.store.sweep_files() {
                Ok(0) => {}
                Ok(n) => crate::info!("removed {n} file(s) no longer named"),
                Err(e) => crate::warn!("cannot sweep the files directory: {e}"),
            }
        }
        memory::trim();
    }
}
