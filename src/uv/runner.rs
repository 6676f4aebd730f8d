//! Running uv: never through a shell, with its command line, exit status and stderr kept.

use crate::error::{Error, Result};
use crate::report::Reporter;
use std::ffi::OsString;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The first line of uv's stderr when resolution has no solution.
const NO_SOLUTION: &str = "No solution found when resolving dependencies";

/// A located uv executable, and the empty configuration home it runs with.
#[derive(Debug, Clone)]
pub struct Uv {
    path: PathBuf,
    config_home: PathBuf,
}

impl Uv {
    /// Finds uv: next to this executable first (where a wheel installs both, as pip,
    /// `uv tool` and pipx do), then on PATH; or fails with how to install it.
    pub fn find(config_home: &Path) -> Result<Uv> {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("uv")));
        let path = std::env::var_os("PATH").unwrap_or_default();
        beside
            .into_iter()
            .chain(std::env::split_paths(&path).map(|dir| dir.join("uv")))
            .find(|p| is_executable(p))
            .map(|path| Uv {
                path,
                config_home: config_home.to_path_buf(),
            })
            .ok_or(Error::UvMissing)
    }

    /// `uv lock` in `project` with the settings' `options`; a resolution failure becomes
    /// [`Error::Conflict`]. uv's progress lines go to `reporter` as they come.
    pub fn lock(&self, project: &Path, options: &[String], reporter: &dyn Reporter) -> Result<()> {
        self.project_command("lock", project, options, &[], reporter)
    }

    /// `uv sync --locked --no-install-project` in `project` (the server is not a package of
    /// the bundle: its sources are linked in and put on the path by a `.pth` file).
    pub fn sync(&self, project: &Path, options: &[String], reporter: &dyn Reporter) -> Result<()> {
        self.project_command(
            "sync",
            project,
            options,
            &["--locked", "--no-install-project"],
            reporter,
        )
    }

    /// `uv sync --no-install-project` in `project`: resolves (writing `uv.lock`, as `uv lock`
    /// does) and installs in one uv process. A resolution failure becomes
    /// [`Error::Conflict`], as for [`Uv::lock`].
    pub fn lock_and_sync(
        &self,
        project: &Path,
        options: &[String],
        reporter: &dyn Reporter,
    ) -> Result<()> {
        self.project_command(
            "sync",
            project,
            options,
            &["--no-install-project"],
            reporter,
        )
    }

    fn project_command(
        &self,
        verb: &str,
        project: &Path,
        options: &[String],
        extra: &[&str],
        reporter: &dyn Reporter,
    ) -> Result<()> {
        let mut args: Vec<OsString> = vec![
            verb.into(),
            "--project".into(),
            project.into(),
            "--color".into(),
            "never".into(),
            "--no-progress".into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        args.extend(options.iter().map(OsString::from));
        self.run(&args, reporter).map(drop)
    }

    fn run(&self, args: &[OsString], reporter: &dyn Reporter) -> Result<Output> {
        super::env::ensure_config_home(&self.config_home)?;
        let mut cmd = crate::process::child(&self.path);
        cmd.args(args).stdin(std::process::Stdio::null());
        super::env::apply(&mut cmd, &self.config_home);
        let command_line = std::iter::once(self.path.as_os_str())
            .chain(args.iter().map(OsString::as_os_str))
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let out = output_reporting(&mut cmd, reporter).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::UvMissing
            } else {
                crate::fs::with_path(e, &self.path).into()
            }
        })?;
        if out.status.success() {
            return Ok(out);
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
        if out.status.code() == Some(127) && stderr.starts_with("error: cannot run") {
            return Err(Error::UvMissing);
        }
        if out.status.code() == Some(1)
            && let Some(at) = stderr.find(NO_SOLUTION)
        {
            // uv's own explanation, without the interpreter and progress lines before it.
            let start = stderr[..at].rfind('\n').map_or(0, |i| i + 1);
            return Err(Error::Conflict {
                explanation: stderr[start..].to_string(),
                record: None,
            });
        }
        Err(Error::UvFailed {
            command: command_line,
            status: match out.status.code() {
                Some(code) => format!("exit code {code}"),
                None => "a signal".to_string(),
            },
            stderr,
        })
    }
}

/// Runs `cmd` as [`Command::output`] does, and passes each line of its stderr to
/// `reporter` as soon as it is written; stderr is still captured whole.
fn output_reporting(cmd: &mut Command, reporter: &dyn Reporter) -> std::io::Result<Output> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr is piped"));
    std::thread::scope(|scope| {
        // stdout is read meanwhile, so that a full stdout pipe cannot stall uv.
        let stdout = scope.spawn(move || {
            let mut buf = Vec::new();
            stdout.read_to_end(&mut buf).map(|_| buf)
        });
        let mut captured = Vec::new();
        let read = loop {
            let start = captured.len();
            match stderr.read_until(b'\n', &mut captured) {
                Ok(0) => break Ok(()),
                Ok(_) => {
                    let line = String::from_utf8_lossy(&captured[start..]);
                    if !line.trim().is_empty() {
                        reporter.detail(line.trim());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        let status = child.wait()?;
        let stdout = stdout
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        read?;
        Ok(Output {
            status,
            stdout,
            stderr: captured,
        })
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Records uv's lines, and answers the first one by creating `answer`.
    struct Lines {
        seen: RefCell<Vec<String>>,
        answer: PathBuf,
    }

    impl Reporter for Lines {
        fn step(&self, _message: &str) {}
        fn warn(&self, _message: &str) {}
        fn detail(&self, line: &str) {
            self.seen.borrow_mut().push(line.to_string());
            let _ = fs_err::write(&self.answer, "");
        }
    }

    #[test]
    fn stderr_lines_reach_the_reporter_while_the_process_runs_and_are_all_kept() {
        // The child writes a line, then waits (10 s at most) for the reporter's answer:
        // it succeeds only if its first line was passed on before it ended.
        let dir = tempfile::tempdir().unwrap();
        let lines = Lines {
            seen: RefCell::new(Vec::new()),
            answer: dir.path().join("answer"),
        };
        let script = r#"
import os, sys, time
print("Resolved 3 packages in 1ms", file=sys.stderr, flush=True)
print("to stdout " * 20000)
deadline = time.time() + 10
while not os.path.exists(sys.argv[1]):
    if time.time() > deadline:
        sys.exit(9)
    time.sleep(0.01)
sys.stderr.write("\n  Installed 2 packages\nno final newline")
"#;
        let mut cmd = Command::new("python3");
        cmd.args(["-c", script]).arg(&lines.answer);
        let out = output_reporting(&mut cmd, &lines).unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            *lines.seen.borrow(),
            [
                "Resolved 3 packages in 1ms",
                "Installed 2 packages",
                "no final newline"
            ]
        );
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            "Resolved 3 packages in 1ms\n\n  Installed 2 packages\nno final newline"
        );
        assert_eq!(out.stdout.len(), "to stdout ".len() * 20000 + 1);
    }
}
