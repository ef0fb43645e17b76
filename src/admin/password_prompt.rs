//! Reading a new password for `user add` / `user reset-password`: from the
//! terminal without echo (asked twice), or one line from standard input when
//! it is not a terminal. Never from the command line, where `ps` shows it.
//!
//! Turning echo off has no safe wrapper in std, so this module holds the
//! program's termios calls (`unsafe`, documented below).
#![allow(unsafe_code)]

use std::io::{self, BufRead, IsTerminal, Write};
use std::os::fd::AsRawFd;

use super::{AdminError, Result};

pub fn read_new_password() -> Result<String> {
    let stdin = io::stdin();
    let password = if stdin.is_terminal() {
        let first = prompt("New password: ")?;
        let second = prompt("Repeat it: ")?;
        if first != second {
            return Err(AdminError::PasswordsDiffer);
        }
        first
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    crate::auth::validate_password(&password).map_err(AdminError::Invalid)?;
    Ok(password)
}

/// Asks on stderr and reads a line from the terminal with echo off.
fn prompt(question: &str) -> Result<String> {
    eprint!("{question}");
    let _ = io::stderr().flush();
    let fd = io::stdin().as_raw_fd();
    // SAFETY: termios calls on our own terminal with a zeroed, then filled,
    // local struct; the old settings are restored before returning.
    let old = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(AdminError::Io(io::Error::last_os_error()));
        }
        let old = t;
        t.c_lflag &= !libc::ECHO;
        libc::tcsetattr(fd, libc::TCSANOW, &t);
        old
    };
    let mut line = String::new();
    let read = io::stdin().lock().read_line(&mut line);
    // SAFETY: as above.
    unsafe {
        libc::tcsetattr(fd, libc::TCSANOW, &old);
    }
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
