//! Reading a new password for `user add` / `user reset-password`: from the
//! terminal without echo (asked twice), or one line from standard input when
//! it is not a terminal. Never from the command line, where `ps` shows it.

use std::io::{self, BufRead, Write};
use std::os::fd::AsRawFd;

pub fn read_new_password() -> Result<String, String> {
    let stdin = io::stdin();
    // SAFETY: isatty on our own standard input.
    let tty = unsafe { libc::isatty(stdin.as_raw_fd()) } == 1;
    let password = if tty {
        let first = prompt("New password: ")?;
        let second = prompt("Repeat it: ")?;
        if first != second {
            return Err("the passwords differ".into());
        }
        first
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    crate::auth::validate_password(&password).map_err(str::to_string)?;
    Ok(password)
}

/// Asks on stderr and reads a line from the terminal with echo off.
fn prompt(question: &str) -> Result<String, String> {
    eprint!("{question}");
    let _ = io::stderr().flush();
    let fd = io::stdin().as_raw_fd();
    // SAFETY: termios calls on our own terminal; the old settings are
    // restored before returning.
    let old = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err("cannot read terminal settings".into());
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
    read.map_err(|e| e.to_string())?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
