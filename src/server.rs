//! Start-up and shutdown: open the data, bind, print the address, accept
//! until SIGINT/SIGTERM, then drain connections (bounded) and checkpoint
//! both databases.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::net::listener;
use crate::web::App;

/// How long in-flight requests get to finish at shutdown.
const GRACE: Duration = Duration::from_secs(5);

pub fn run(config: Config) -> Result<(), String> {
    // Thousands of short-lived connection threads would otherwise spread
    // allocations over 8 arenas per core, each keeping freed memory; two
    // arenas keep the footprint small and let it return after a burst.
    // SAFETY: mallopt is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let signals = block_signals();
    let addr = SocketAddr::new(config.host, config.port);
    let _lock = crate::admin::DirLock::acquire(&config.data_dir)?;
    let app = Arc::new(App::open(config)?);
    let listener = listener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    crate::info!("data in {}", app.config.data_dir.display());

    if let Some(port) = app.config.redirect_http {
        let addr = SocketAddr::new(app.config.host, port);
        let plain = listener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = plain.local_addr().map_err(|e| e.to_string())?;
        println!("Redirecting http://{local} to HTTPS");
        let (tls_port, host) = (local_port(&listener), app.config.host.to_string());
        std::thread::Builder::new()
            .name("redirect-accept".into())
            .spawn(move || crate::net::redirect::serve(plain, tls_port, host))
            .map_err(|e| e.to_string())?;
    }

    let scheme = if app.config.tls { "https" } else { "http" };
    println!("SecureChat listening on {scheme}://{local}");
    let fd = listener::raw_fd(&listener);
    let app2 = Arc::clone(&app);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let sig = wait_for_signal(&signals);
            crate::info!("signal {sig}: shutting down");
            for peer in app2.chat.hub.all_peers() {
                peer.close(1001, "server shutting down");
            }
            app2.connections.drain(Duration::ZERO);
            listener::interrupt(fd);
        })
        .map_err(|e| e.to_string())?;

    let app4 = Arc::clone(&app);
    std::thread::spawn(move || app4.passwords.warm_up());
    let app3 = Arc::clone(&app);
    std::thread::Builder::new()
        .name("pinger".into())
        .spawn(move || ping_loop(&app3))
        .map_err(|e| e.to_string())?;

    listener::accept_loop(&app, &listener);
    drop(listener);
    app.connections.drain(GRACE);
    for db in [&app.users_db, &app.chat_db] {
        if let Err(e) = db.checkpoint() {
            crate::warn!("checkpoint failed: {e}");
        }
    }
    crate::info!("stopped");
    Ok(())
}

fn local_port(l: &std::net::TcpListener) -> u16 {
    l.local_addr().map_or(0, |a| a.port())
}

/// Housekeeping: pings every socket every 30 s (readers close sockets that
/// stay silent), and every 10 s hands memory freed by closed connections
/// back to the OS so the footprint returns to baseline after a burst.
fn ping_loop(app: &App) {
    let ping = crate::ws::frame::ping();
    for tick in 1u64.. {
        std::thread::sleep(Duration::from_secs(10));
        if tick % 3 == 0 {
            for peer in app.chat.hub.all_peers() {
                peer.send(&ping);
            }
        }
        // SAFETY: malloc_trim only releases free heap pages.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// Blocks SIGINT and SIGTERM in this thread and every thread it starts, so
/// that only `wait_for_signal` receives them.
fn block_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-mask calls on a local, initialised sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_signal(set: &libc::sigset_t) -> i32 {
    let mut sig = 0;
    // SAFETY: sigwait on an initialised set, writing into a local int.
    unsafe {
        libc::sigwait(set, &mut sig);
    }
    sig
}
