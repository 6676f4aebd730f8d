//! Running the `restart` command: without a shell, in a process group of its own, killed
//! with its group when it runs past the deadline; its exit code and the end of its stderr
//! are kept.

use crate::output::RestartOutput;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How much of the command's stderr is kept (its end).
pub const STDERR_TAIL: u64 = 2000;

/// Runs `argv` until it exits or `deadline` passes (then its process group is killed).
/// The command gets `COSMO_DATA_DIR=data_dir` (and `COSMO_SERVER_DIR=server_dir` when
/// given); its stdout is discarded, and its stderr goes to an anonymous file, so that a
/// server it leaves running never holds a pipe of ours.
pub fn run(
    argv: &[String],
    deadline: Instant,
    data_dir: &Path,
    server_dir: Option<&Path>,
) -> RestartOutput {
    let started = Instant::now();
    let mut out = RestartOutput {
        command: argv.to_vec(),
        exit_code: None,
        timed_out: false,
        stderr_tail: String::new(),
        seconds: 0.0,
    };
    let Some((program, args)) = argv.split_first() else {
        out.stderr_tail = "the restart setting is empty".into();
        return out;
    };
    let mut stderr = match tempfile::tempfile() {
        Ok(f) => f,
        Err(e) => {
            out.stderr_tail = format!("cannot make a file for its stderr: {e}");
            return out;
        }
    };
    let err_handle = match stderr.try_clone() {
        Ok(f) => f,
        Err(e) => {
            out.stderr_tail = format!("cannot make a file for its stderr: {e}");
            return out;
        }
    };
    // Through the trampoline: the command dies with this process; its own children
    // (the server it starts) do not.
    let mut cmd = crate::process::child(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_handle)
        .env("COSMO_DATA_DIR", data_dir)
        .env_remove("COSMO_BUNDLE_PAUSE_AT")
        .process_group(0);
    if let Some(dir) = server_dir {
        cmd.env("COSMO_SERVER_DIR", dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            out.stderr_tail = format!("cannot start {program}: {e}");
            out.seconds = started.elapsed().as_secs_f64();
            return out;
        }
    };
    let mut signal_note = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(child.id());
                let _ = child.wait();
                out.timed_out = true;
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    out.exit_code = status.and_then(|s| s.code());
    if let Some(signal) = status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)) {
        signal_note = Some(signal);
    }
    out.stderr_tail = tail(&mut stderr);
    if let Some(signal) = signal_note {
        out.stderr_tail
            .push_str(&format!("\n(killed by signal {signal})"));
    }
    out.seconds = started.elapsed().as_secs_f64();
    out
}

/// Kills the process group led by `pid`.
fn kill_group(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// The last [`STDERR_TAIL`] bytes of `file`, as text, trimmed.
fn tail(file: &mut std::fs::File) -> String {
    let len = file.seek(SeekFrom::End(0)).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(STDERR_TAIL)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).trim().to_string()
}

/// Why the restart failed, in one line; `None` when it exited 0.
pub fn failure(out: &RestartOutput, timeout: Duration) -> Option<(&'static str, String)> {
    let shown = out.command.join(" ");
    let last = out
        .stderr_tail
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default();
    if out.timed_out {
        return Some((
            "restart_timeout",
            format!(
                "the restart command `{shown}` did not finish within {} s and was killed{last}",
                timeout.as_secs()
            ),
        ));
    }
    match out.exit_code {
        Some(0) => None,
        Some(code) => Some((
            "restart_failed",
            format!("the restart command `{shown}` exited with {code}{last}"),
        )),
        None => Some((
            "restart_failed",
            format!("the restart command `{shown}` did not run to its end{last}"),
        )),
    }
}
