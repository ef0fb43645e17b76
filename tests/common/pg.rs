//! A throwaway PostgreSQL cluster for one test: `initdb` into a temporary
//! directory (as the `postgres` user when the tests run as root: `initdb`
//! refuses root), the server on 127.0.0.1 and a free port with durability
//! off, stopped — its whole process group — when dropped, also when the
//! test panics. `make test` installs Debian's `postgresql` when missing.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

use super::TempDir;

pub struct Pg {
    pub port: u16,
    child: Child,
    // Dropped after the server stopped (fields drop in order).
    _dir: TempDir,
}

/// PostgreSQL's own programs (`initdb`, `postgres`), newest version first.
fn program(name: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|v| v.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no PostgreSQL {name}: `make test` installs Debian's postgresql"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program args…`, as the `postgres` user when we are root.
fn as_owner(program: PathBuf) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Pg {
    pub fn start() -> Pg {
        let dir = TempDir::new("pg");
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres:"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown of {} to postgres", dir.path().display());
        }
        let data = dir.path().join("data");
        let out = as_owner(program("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "securechat",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = run_postgres(dir.path(), port);
        let pg = Pg {
            port,
            child,
            _dir: dir,
        };
        pg.wait_ready();
        pg
    }

    fn wait_ready(&self) {
        let until = Instant::now() + Duration::from_secs(30);
        while postgres::Client::connect(&self.url("postgres"), postgres::NoTls).is_err() {
            assert!(Instant::now() < until, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (fast shutdown: clients are disconnected), keeping
    /// its data, until `start_again`.
    pub fn stop(&mut self) {
        stop_group(&mut self.child);
    }

    /// Starts the stopped server again, on the same port and data.
    pub fn start_again(&mut self) {
        self.child = run_postgres(self._dir.path(), self.port);
        self.wait_ready();
    }

    /// The URL of database `db` (no password: the cluster trusts loopback).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://securechat@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name`; its URL.
    pub fn create_db(&self, name: &str) -> String {
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        self.url(name)
    }

    pub fn client(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(db), postgres::NoTls).unwrap()
    }
}

/// `postgres` on the cluster in `dir`, in a process group of its own.
fn run_postgres(dir: &std::path::Path, port: u16) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .unwrap();
    as_owner(program("postgres"))
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-k")
        .arg(dir)
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap()
}

/// Stops the group `child` leads: runuser and the postgres it started
/// (and its workers); SIGINT is PostgreSQL's fast shutdown.
fn stop_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-INT", "--", &group]).status();
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
}

impl Drop for Pg {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}
