//! Child processes that die with this one.
//!
//! A command killed with SIGKILL cannot clean up, and its children (uv, git, Python) would
//! otherwise go on writing into the data directory after the lock is released. So every
//! child is started through a trampoline: this executable re-run as
//! `cosmo-bundle __child PARENT_PID PROGRAM ARGS...`, which asks the kernel to kill it
//! when its parent dies (`PR_SET_PDEATHSIG`), checks that the parent is still the one it
//! was started by, and then becomes `PROGRAM` (exec keeps the death signal).

use std::ffi::{OsStr, OsString};
use std::io::Write;

use std::os::unix::process::CommandExt;
use std::process::Command;

/// The hidden first argument of a trampoline call.
const TRAMPOLINE: &str = "__child";

/// A command for `program` that is killed when this process dies.
pub fn child(program: impl AsRef<OsStr>) -> Command {
    // `/proc/self/exe` runs this very executable even when its file was replaced (an
    // upgrade while a command runs), which `current_exe()`'s path would not.
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg(TRAMPOLINE)
        .arg(std::process::id().to_string())
        .arg(program.as_ref());
    cmd
}

/// When this process was started as a trampoline, becomes the program and never returns;
/// otherwise returns at once. Call first thing in `main`.
pub fn trampoline() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(OsStr::new(TRAMPOLINE)) {
        return;
    }
    let parent: Option<u32> = args.next().and_then(|p| p.to_str()?.parse().ok());
    let Some(program) = args.next() else {
        std::process::exit(127);
    };
    let rest: Vec<OsString> = args.collect();
    if rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .is_err()
    {
        std::process::exit(127);
    }
    // The parent may have died before the death signal was armed.
    let ppid = rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32);
    if ppid != parent {
        std::process::exit(127);
    }
    let err = Command::new(&program).args(rest).exec();
    let _ = writeln!(
        std::io::stderr(),
        "error: cannot run {}: {err}",
        program.to_string_lossy()
    );
    std::process::exit(if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    });
}
