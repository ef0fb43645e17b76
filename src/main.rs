//! The `securechat` binary: parse the command line, then serve or run the
//! requested subcommand.

use std::process::ExitCode;

use securechat::{admin, config, log, server, tls};

fn main() -> ExitCode {
    log::init_from_env();
    let result = match config::parse(std::env::args_os().skip(1)) {
        Ok(config::Command::Help) => {
            print!("{}", config::USAGE);
            Ok(())
        }
        Ok(config::Command::Version) => {
            println!("securechat {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Ok(config::Command::GenCert { config, force }) => tls::gen_cert(&config, force),
        Ok(config::Command::Admin { data_dir, action }) => admin::run(&data_dir, action),
        Ok(config::Command::Serve(cfg)) => server::run(cfg),
        Err(e) => {
            eprintln!("securechat: error: {e} (see --help)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("securechat: error: {e}");
            ExitCode::FAILURE
        }
    }
}
