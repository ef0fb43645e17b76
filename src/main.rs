//! The `securechat` binary: parse the command line, then serve or run the
//! requested subcommand.

use std::process::ExitCode;

use securechat::{admin, config, log, server, tls};

fn main() -> ExitCode {
    log::init_from_env();
    let command = match config::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("securechat: error: {e} (see --help)");
            return ExitCode::from(2);
        }
    };
    let result: Result<(), Box<dyn std::error::Error>> = match command {
        config::Command::Help => {
            print!("{}", config::USAGE);
            Ok(())
        }
        config::Command::Version => {
            println!("securechat {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        config::Command::GenCert { config, force } => {
            tls::gen_cert(&config.cert_paths(), force).map_err(Into::into)
        }
        config::Command::Admin { location, action } => {
            admin::run(&location, action).map_err(Into::into)
        }
        config::Command::Serve(cfg) => server::run(cfg).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("securechat: error: {e}");
            ExitCode::FAILURE
        }
    }
}
