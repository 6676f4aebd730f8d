//! Shared test harness: runs the real binary on temporary data directories, with uv
//! offline against a wheelhouse built from `fixtures/packages` by `fixtures/make_wheelhouse.py`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub use rustix::process::Signal;

/// Sends `signal` to the process group led by `pid` (ignoring a group already gone).
pub fn signal_group(pid: u32, signal: Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// Sends `signal` to the process `pid` alone.
pub fn signal_process(pid: u32, signal: Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

pub const BIN: &str = env!("CARGO_BIN_EXE_cosmo-bundle");

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_server() -> PathBuf {
    repo_root().join("fixtures/server")
}

/// The offline wheelhouse of the fixture packages, built once per test process.
pub fn wheelhouse() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("wheelhouse-{}", std::process::id()));
        let status = Command::new("python3")
            .arg(repo_root().join("fixtures/make_wheelhouse.py"))
            .arg(&dir)
            .status()
            .expect("python3 runs");
        assert!(status.success(), "make_wheelhouse.py failed");
        dir
    })
}

/// Variables of the caller's environment that would change what the tests do.
const CLEARED: &[&str] = &[
    "COSMO_PYTHON",
    "UV_PYTHON",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_EXCLUDE_NEWER",
    "UV_RESOLUTION",
    "UV_PRERELEASE",
    "COSMO_BUNDLE_PAUSE_AT",
    "COSMO_LOCK_TIMEOUT",
    "VIRTUAL_ENV",
];

/// One temporary data directory and the settings commands run with.
pub struct Env {
    pub data: tempfile::TempDir,
    pub server: PathBuf,
    pub vars: BTreeMap<String, OsString>,
}

impl Env {
    pub fn new() -> Env {
        Env::with_server(fixture_server())
    }

    pub fn with_server(server: PathBuf) -> Env {
        Env::with_data(server, tempfile::tempdir().unwrap())
    }

    /// An environment whose data directory is `data` (e.g. on another file system).
    pub fn with_data(server: PathBuf, data: tempfile::TempDir) -> Env {
        let mut vars = BTreeMap::new();
        vars.insert("UV_OFFLINE".into(), "1".into());
        vars.insert("UV_PYTHON_DOWNLOADS".into(), "never".into());
        let env = Env { data, server, vars };
        // Resolution settings live in the data directory: the offline wheelhouse only.
        env.ok(&["config", "set", "no-index", "true"]);
        env.ok(&[
            "config",
            "set",
            "find-links",
            wheelhouse().to_str().unwrap(),
        ]);
        env
    }

    /// Sets a setting of the data directory (`config set KEY VALUES...`).
    pub fn config(&self, key: &str, values: &[&str]) {
        let mut args = vec!["config", "set", key];
        args.extend_from_slice(values);
        self.ok(&args);
    }

    pub fn dir(&self) -> &Path {
        self.data.path()
    }

    pub fn set(&mut self, key: &str, value: impl Into<OsString>) {
        self.vars.insert(key.into(), value.into());
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        for var in CLEARED {
            cmd.env_remove(var);
        }
        cmd.env("COSMO_DATA_DIR", self.dir())
            .env("COSMO_SERVER_DIR", &self.server)
            .envs(&self.vars)
            .args(args)
            .stdin(std::process::Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("binary runs")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`cosmo-bundle {}` failed ({:?})\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("valid JSON on stdout")
    }

    /// Runs, expects exit code `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "`cosmo-bundle {}`\nstdout: {}\nstderr: {stderr}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    pub fn current_target(&self) -> Option<PathBuf> {
        std::fs::read_link(self.dir().join("current")).ok()
    }

    /// Every path under the data directory with its content hash or link target.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        snapshot(self.dir())
    }

    pub fn plugin(&self, name: &str) -> serde_json::Value {
        self.json(&["plugin", "show", name])
    }
}

pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let ft = entry.file_type().unwrap();
            let value = if ft.is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if ft.is_dir() {
                stack.push(path);
                "dir".to_string()
            } else if !ft.is_file() {
                // A FIFO or socket: reading it would block.
                "special".to_string()
            } else {
                blake3::hash(&std::fs::read(&path).unwrap())
                    .to_hex()
                    .to_string()
            };
            out.insert(rel, value);
        }
    }
    out
}

/// A copy of the fixture server in a temporary directory, for tests that change it.
pub fn copy_of_fixture_server() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture_server(), dir.path());
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs a program and asserts success; returns stdout.
pub fn run_ok(program: impl AsRef<std::ffi::OsStr>, args: &[&str], cwd: &Path) -> String {
    let out = Command::new(program.as_ref())
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?} {args:?}: {}",
        program.as_ref(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs git with a fixed identity in `dir`; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.org",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A git repository holding a copy of `fixtures/packages/<package>`, committed and tagged
/// `v<version>` (the fixture's own version).
pub fn git_repo_of(package: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &repo_root().join("fixtures/packages").join(package),
        dir.path(),
    );
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    let version = package.rsplit('-').next().unwrap();
    git(dir.path(), &["tag", &format!("v{version}")]);
    dir
}

/// A package made by a test: `name`, `version`, one module with `code` and, when given, a
/// `cosmo.json` (raw text). Returns the package directory.
pub fn make_package(
    root: &Path,
    name: &str,
    version: &str,
    code: &str,
    cosmo_json: Option<&str>,
) -> PathBuf {
    let module = name.replace('-', "_");
    let dir = root.join(format!("{name}-{version}"));
    std::fs::create_dir_all(dir.join("src").join(&module)).unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!("[project]\nname = \"{name}\"\nversion = \"{version}\"\nrequires-python = \">=3.10\"\ndependencies = []\n\n[build-system]\nrequires = [\"uv_build>=0.13,<0.14\"]\nbuild-backend = \"uv_build\"\n"),
    )
    .unwrap();
    std::fs::write(dir.join("src").join(&module).join("__init__.py"), code).unwrap();
    if let Some(json) = cosmo_json {
        std::fs::write(dir.join("src").join(&module).join("cosmo.json"), json).unwrap();
    }
    dir
}

impl Env {
    /// Adds a directory of wheels built from `packages` to the find-links of this env.
    pub fn add_wheels(&mut self, packages: &[PathBuf], out: &Path) {
        let mut cmd = Command::new("python3");
        cmd.arg(repo_root().join("fixtures/make_wheelhouse.py"))
            .arg(out)
            .args(packages);
        assert!(cmd.status().unwrap().success());
        self.config(
            "find-links",
            &[wheelhouse().to_str().unwrap(), out.to_str().unwrap()],
        );
    }
}

impl Env {
    /// Starts `args` in its own process group, paused at fault point `point`
    /// (`COSMO_BUNDLE_PAUSE_AT`), and returns it once it is there.
    pub fn paused_at(&self, args: &[&str], point: &str) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        let mut child = self
            .cmd(args)
            .env("COSMO_BUNDLE_PAUSE_AT", point)
            .process_group(0)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_line(child.stderr.take().unwrap(), &format!("paused at {point}"));
        child
    }
}

/// Reads a child's stderr until a line contains `needle`.
pub fn wait_for_line(stderr: std::process::ChildStderr, needle: &str) {
    use std::io::BufRead;
    for line in std::io::BufReader::new(stderr).lines() {
        if line.unwrap().contains(needle) {
            return;
        }
    }
    panic!("process ended before printing {needle:?}");
}

/// The plugin named `name` in a generation (or build) JSON object.
pub fn plugin_in(generation: &serde_json::Value, name: &str) -> serde_json::Value {
    generation["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {generation}"))
        .clone()
}

/// A bundle's `uv.lock`, which the bundle keeps gzip-compressed as `uv.lock.gz`.
pub fn bundle_lock(bundle: &Path) -> String {
    let file = std::fs::File::open(bundle.join("uv.lock.gz")).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(file), &mut text).unwrap();
    text
}

/// A free TCP port of 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.0 GET of 127.0.0.1: the status and the body; `None` when nothing answers.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// [`get`] with the body as JSON (null when it is not); panics when nothing answers.
pub fn get_json(port: u16, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = get(port, path).unwrap_or_else(|| panic!("nothing answers {path}"));
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}
