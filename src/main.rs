//! The `securechat` binary: parse the command line, then serve.

use securechat::{config, log, server, tls};

use std::process::ExitCode;

fn main() -> ExitCode {
    log::init_from_env();
    match config::parse(std::env::args_os().skip(1)) {
        Ok(config::Command::Help) => {
            print!("{}", config::USAGE);
            ExitCode::SUCCESS
        }
        Ok(config::Command::Version) => {
            println!("securechat {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(config::Command::GenCert { config, force }) => match tls::gen_cert(&config, force) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("securechat: error: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(config::Command::Serve(cfg)) => match server::run(cfg) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("securechat: error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("securechat: error: {e} (see --help)");
            ExitCode::from(2)
        }
    }
}
