//! Randomized SIGKILL trials over every mutating command, seeded.
//!
//! A *walk* is a data directory and a sequence of trials. Each trial picks a command that
//! makes sense in the current state (a plugin add, update or remove, PyPI or git, a build,
//! a switch, a rollback, a discover, a config change, and `delete`, `pin`, `unpin`, `label`
//! and `gc` when the binary has them), runs it to completion on a copy of the data
//! directory (its duration, and the state it leads to: the *new* state), then runs it on
//! the real directory and kills it with SIGKILL, the whole process group or the main
//! process alone, at a random instant (0 to 1.25 × its duration) or paused at a named fault
//! point (`COSMO_BUNDLE_PAUSE_AT`). Then:
//!
//! - no process is left working in the data directory (uv and git die with the command);
//! - `current` and every generation resolve to registered bundles, the binary agrees, no
//!   link leads through a `.tmp-` name, `PRAGMA integrity_check` is ok;
//! - `current`, each generation, the rows and the settings are the old ones or the new ones;
//! - no registered bundle's files changed;
//! - the killed command, run again, succeeds (or says it was already done); after a
//!   planned activation failure (the restart command fails once), `activate` does;
//! - a build then succeeds, the rows follow `current`, no `.tmp-*` is left over, and the
//!   current bundle's Python imports the server and every plugin.
//!
//! `COSMO_TEST_SEED` replays a walk's choices (the instants of random kills are timing).
//! `scripts/kill-campaign` runs hundreds of trials (the ignored `campaign` test) and prints
//! a summary.

use crate::common::*;
use crate::invariants::*;
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// PyPI plugins of the walks and their versions (a conflict-free universe: every wanted
/// set resolves, every plugin passes its checks).
pub const PYPI: &[(&str, &[&str])] = &[
    ("zigbee-switch", &["1.0.0", "1.1.0"]),
    ("garage-door", &["1.0.0"]),
];

/// Settings the walks change (each is hashed: a change makes the next build a new bundle).
const SETTINGS: &[(&str, &[&str])] = &[
    ("resolution", &["highest", "lowest", "lowest-direct"]),
    (
        "prerelease",
        &[
            "disallow",
            "allow",
            "if-necessary",
            "explicit",
            "if-necessary-or-explicit",
        ],
    ),
    (
        "index-strategy",
        &["first-index", "unsafe-first-match", "unsafe-best-match"],
    ),
    ("source", &["link", "snapshot"]),
];

/// Refs of the git plugin (hue-lights): `main` is one commit past the tag.
const GIT_REFS: &[&str] = &["v1.0.0", "main"];

/// Which commands reach which fault point. A point found in src/ but not listed here is
/// tried with every command, and must be reached by one.
const REACH: &[(&str, &[&str])] = &[
    ("after-uv-lock", &["build", "build --no-switch"]),
    ("after-uv-sync", &["build", "build --no-switch"]),
    ("before-register", &["build", "build --no-switch"]),
    ("after-register", &["build", "build --no-switch"]),
    ("after-generation-link", &["build", "build --no-switch"]),
    ("after-flip", &["build", "switch", "rollback"]),
    (
        "db-before-commit",
        &[
            "plugin add (pypi)",
            "plugin add (git)",
            "plugin update (pypi)",
            "plugin update (git)",
            "plugin remove",
            "discover",
            "build",
            "switch",
            "rollback",
        ],
    ),
    ("after-index-entry", &["build", "build --no-switch"]),
    (
        "before-index-write",
        &[
            "build",
            "build --no-switch",
            "delete",
            "pin",
            "unpin",
            "label",
        ],
    ),
    ("delete-after-unlink", &["delete"]),
    (
        "activation-recorded",
        &["build", "switch", "rollback", "activate"],
    ),
    (
        "before-restart",
        &["build", "switch", "rollback", "activate"],
    ),
    (
        "before-health",
        &["build", "switch", "rollback", "activate"],
    ),
    (
        "activation-failed-recorded",
        &["build", "switch", "rollback", "activate"],
    ),
    ("after-revert-flip", &["build", "switch", "rollback"]),
    ("before-snapshot-rename", &["build", "build --no-switch"]),
    ("before-bundle-json", &["build", "build --no-switch"]),
    ("share-after-tree-move", &["build", "build --no-switch"]),
    ("gc-after-generations", &["gc"]),
    ("gc-after-unregister", &["gc"]),
    ("gc-after-first-bundle", &["gc"]),
    ("gc-during-trees", &["gc"]),
    ("gc-after-links", &["gc"]),
];

/// Every command kind a walk may pick (the last six only when the binary has them).
pub const KINDS: &[&str] = &[
    "plugin add (pypi)",
    "plugin add (git)",
    "plugin update (pypi)",
    "plugin update (git)",
    "plugin remove",
    "build",
    "build --no-switch",
    "switch",
    "rollback",
    "discover",
    "config set",
    "config unset",
    "delete",
    "pin",
    "unpin",
    "label",
    "gc",
    "activate",
];

/// The fault points of the binary: every `fault::point("NAME")` in src/.
pub fn fault_points() -> Vec<String> {
    let mut points = std::collections::BTreeSet::new();
    let mut stack = vec![repo_root().join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for piece in text.split("fault::point(\"").skip(1) {
                    if let Some((name, _)) = piece.split_once('"') {
                        points.insert(name.to_string());
                    }
                }
            }
        }
    }
    points.remove("NAME");
    points.into_iter().collect()
}

/// The top-level commands the binary lists in `--help`.
pub fn binary_commands() -> Vec<String> {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// One command of a trial.
#[derive(Debug, Clone)]
pub struct Cmd {
    pub kind: &'static str,
    pub args: Vec<String>,
    /// The plugin or generation it is about.
    pub target: Option<String>,
}

impl Cmd {
    /// Whether it may activate (restart and check) a generation.
    pub fn activates(&self) -> bool {
        matches!(self.kind, "build" | "switch" | "rollback" | "activate")
            && !self.args.iter().any(|a| a == "--no-activate")
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "cosmo-bundle {}", self.args.join(" "))
    }
}

fn cmd(kind: &'static str, args: &[&str], target: Option<&str>) -> Cmd {
    Cmd {
        kind,
        args: args.iter().map(|s| s.to_string()).collect(),
        target: target.map(str::to_string),
    }
}

/// What the state offers to pick from.
#[derive(Debug, Clone)]
pub struct View {
    pub records: Vec<serde_json::Value>,
    pub generations: Vec<serde_json::Value>,
    pub current: Option<u64>,
    /// The settings keys that are set.
    pub settings: Vec<String>,
}

impl View {
    /// How to name record `r` on the command line: its name, or its id when another
    /// record has the same name (a git and a PyPI record of one distribution can both
    /// exist: rows match bundle plugins on the source type too).
    fn key(&self, r: &serde_json::Value) -> String {
        let same = self
            .records
            .iter()
            .filter(|o| o["name"] == r["name"])
            .count();
        let field = if same > 1 { "id" } else { "name" };
        r[field].as_str().unwrap_or_default().to_string()
    }

    /// The record of `distribution` with this source type.
    fn record_of(&self, distribution: &str, source_type: &str) -> Option<&serde_json::Value> {
        self.records.iter().find(|r| {
            r["source_type"] == source_type && {
                let dist = if source_type == "GIT" {
                    &r["name"]
                } else {
                    &r["source"]
                };
                dist.as_str().map(normalize).as_deref() == Some(distribution)
            }
        })
    }

    fn record(&self, distribution: &str) -> Option<&serde_json::Value> {
        self.records.iter().find(|r| {
            let dist = if r["source_type"] == "GIT" {
                &r["name"]
            } else {
                &r["source"]
            };
            dist.as_str().map(normalize).as_deref() == Some(distribution)
        })
    }
}

/// A data directory set up for walks: the fixture server, the offline wheelhouse, a git
/// repository of hue-lights, and plugin directories for `discover`.
pub struct World {
    pub env: Env,
    /// The world's copy of the server repository.
    pub server: tempfile::TempDir,
    /// The git repository of hue-lights (kept for the walk's lifetime).
    pub _repos: Vec<tempfile::TempDir>,
    pub hue_url: String,
    /// The git plugins and their repository URLs.
    pub git_plugins: Vec<(&'static str, String)>,
    /// The optional commands (delete, pin, unpin, label, gc, activate) this binary has.
    pub optional: Vec<&'static str>,
    /// The health server activations check, when the binary activates.
    pub health: Option<HealthServer>,
}

/// An HTTP server that answers `GET /health` (and 404 to `/plugins/active`: nothing is
/// compared), for the `restart` setting's activations; stopped with the world.
pub struct HealthServer {
    child: Child,
    _dir: tempfile::TempDir,
    pub port: u16,
}

impl HealthServer {
    fn start() -> HealthServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("health"), "ok\n").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the health server never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        HealthServer {
            child,
            _dir: dir,
            port,
        }
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The file in the data directory that makes the trials' restart command fail once.
pub const FAIL_NEXT_RESTART: &str = "fail-next-restart";

impl World {
    pub fn new() -> World {
        // A copy of the fixture server: snapshot trials edit its sources.
        let server = copy_of_fixture_server();
        let mut env = Env::with_server(server.path().to_path_buf());
        env.set("COSMO_LOCK_TIMEOUT", "600");
        // Git repositories of the git plugins, outside the data directory; `main` of
        // hue-lights is one commit past its tag.
        let hue = git_repo_of("hue-lights-1.0.0");
        std::fs::write(hue.path().join("src/hue_lights/extra.py"), "X = 1\n").unwrap();
        git(hue.path(), &["add", "-A"]);
        git(
            hue.path(),
            &["commit", "-q", "-m", "main moves past the tag"],
        );
        let hue_url = format!("file://{}", hue.path().canonicalize().unwrap().display());
        // hue-lights comes from git only, the others from PyPI only: a generation whose
        // bundle has a plugin from PyPI gives it a row back beside a git record of it
        // (rows match on the source type too), and the two then want one distribution.
        let git_plugins = vec![("hue-lights", hue_url.clone())];
        // A clone for `discover`: a link to the repository (its canonical path is the same
        // from a copy of the data directory).
        let plugins = env.dir().join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        std::os::unix::fs::symlink(hue.path(), plugins.join("hue-lights")).unwrap();
        let have = binary_commands();
        let optional: Vec<&'static str> = [
            "delete", "pin", "unpin", "label", "gc", "activate", "verify",
        ]
        .into_iter()
        .filter(|c| have.iter().any(|h| h == c))
        .collect();
        // Activations restart nothing and check a server that always answers; a planned
        // failure makes the restart command fail once (see restart_trial.py).
        let health = optional.contains(&"activate").then(|| {
            let health = HealthServer::start();
            let script = repo_root().join("tests/suite/python/restart_trial.py");
            env.config("restart", &["python3", script.to_str().unwrap()]);
            env.config(
                "health-url",
                &[&format!("http://127.0.0.1:{}/health", health.port)],
            );
            env.config("health-timeout", &["30"]);
            health
        });
        World {
            env,
            server,
            _repos: vec![hue],
            hue_url,
            git_plugins,
            optional,
            health,
        }
    }

    pub fn dir(&self) -> &Path {
        self.env.dir()
    }

    /// Edits a module of the server's source (its content, not its name).
    pub fn edit_server(&self) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.server.path().join("src/cosmoserver/util.py"))
            .unwrap();
        writeln!(f, "# edited at {:?}", std::time::SystemTime::now()).unwrap();
    }

    /// Reads what there is to pick from (through the binary).
    pub fn view(&self) -> View {
        let records = self.env.json(&["plugin", "list"]);
        let gens = self.env.json(&["generations"]);
        let gens = gens
            .as_array()
            .or_else(|| gens["generations"].as_array())
            .cloned()
            .unwrap_or_default();
        let settings = self.env.json(&["config", "list"])["settings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["key"].as_str().map(str::to_string))
            .collect();
        View {
            records: records.as_array().cloned().unwrap_or_default(),
            current: gens
                .iter()
                .find(|g| g["current"] == true)
                .and_then(|g| g["number"].as_u64()),
            generations: gens,
            settings,
        }
    }

    /// Every command of `kind` that makes sense in `view`.
    pub fn commands(&self, kind: &'static str, view: &View, rng: &mut Rng) -> Vec<Cmd> {
        let mut out = Vec::new();
        let gens: Vec<String> = view
            .generations
            .iter()
            .filter_map(|g| g["number"].as_u64())
            .map(|n| n.to_string())
            .collect();
        let current = view.current.map(|c| c.to_string());
        match kind {
            "plugin add (pypi)" => {
                for (name, versions) in PYPI {
                    if view.record(name).is_none() {
                        let v = rng.pick(versions);
                        out.push(cmd(
                            kind,
                            &["plugin", "add", name, "--version", v],
                            Some(name),
                        ));
                    }
                }
            }
            "plugin add (git)" => {
                for (name, url) in &self.git_plugins {
                    if view.record(name).is_none() {
                        let mut args = vec!["plugin", "add", name, "--git", url];
                        let rev = rng.below(GIT_REFS.len() + 1);
                        if rev < GIT_REFS.len() {
                            args.extend(["--rev", GIT_REFS[rev]]);
                        }
                        out.push(cmd(kind, &args, Some(name)));
                    }
                }
            }
            "plugin update (pypi)" => {
                for (name, versions) in PYPI {
                    if let Some(r) = view.record_of(name, "PYPI") {
                        let key = view.key(r);
                        let v = rng.pick(versions);
                        out.push(cmd(
                            kind,
                            &["plugin", "update", &key, "--version", v],
                            Some(&key),
                        ));
                    }
                }
            }
            "plugin update (git)" => {
                for (name, _) in &self.git_plugins {
                    if let Some(r) = view.record_of(name, "GIT") {
                        let has_ref =
                            !r["updated_version"].is_null() || !r["installed_version"].is_null();
                        let rev = rng.below(GIT_REFS.len() + usize::from(has_ref));
                        let key = view.key(r);
                        let mut args = vec!["plugin", "update", key.as_str()];
                        if rev < GIT_REFS.len() {
                            args.extend(["--rev", GIT_REFS[rev]]);
                        }
                        out.push(cmd(kind, &args, Some(&key)));
                    }
                }
            }
            "plugin remove" => {
                for r in &view.records {
                    let key = view.key(r);
                    out.push(cmd(kind, &["plugin", "remove", &key], Some(&key)));
                }
            }
            "build" => out.push(cmd(kind, &["build"], None)),
            "build --no-switch" => out.push(cmd(kind, &["build", "--no-switch"], None)),
            "switch" => {
                for n in &gens {
                    out.push(cmd(kind, &["switch", n], Some(n)));
                }
            }
            "rollback" => {
                // It passes over generations whose last activation failed.
                if let Some(c) = view.current
                    && view.generations.iter().any(|g| {
                        g["number"].as_u64().is_some_and(|n| n < c)
                            && g["activation"]["result"] != "failed"
                    })
                {
                    out.push(cmd(kind, &["rollback"], None));
                }
            }
            "discover" => {
                if view.record("hue-lights").is_none() {
                    out.push(cmd(kind, &["discover"], None));
                }
            }
            "config set" => {
                let (key, values) = rng.pick(SETTINGS);
                let v = *rng.pick(values);
                out.push(cmd(kind, &["config", "set", key, v], None));
            }
            "config unset" => {
                for (key, _) in SETTINGS {
                    if view.settings.iter().any(|k| k == key) {
                        out.push(cmd(kind, &["config", "unset", key], None));
                    }
                }
            }
            "delete" | "pin" | "unpin" | "label" | "gc" | "activate"
                if !self.optional.contains(&kind) => {}
            "activate" => {
                if view.current.is_some() {
                    out.push(cmd(kind, &["activate"], None));
                }
            }
            "delete" => {
                for g in &view.generations {
                    let n = g["number"].as_u64().unwrap().to_string();
                    if Some(&n) != current.as_ref() {
                        let mut args = vec!["delete", n.as_str()];
                        if g["pinned"] == true {
                            args.push("--force");
                        }
                        out.push(cmd(kind, &args, Some(&n)));
                    }
                }
            }
            // Each changes the index: pin an unpinned generation, unpin a pinned one, give
            // a new label.
            "pin" | "unpin" => {
                for g in &view.generations {
                    if (g["pinned"] == true) == (kind == "unpin") {
                        let n = g["number"].as_u64().unwrap().to_string();
                        out.push(cmd(kind, &[kind, &n], Some(&n)));
                    }
                }
            }
            "label" => {
                let text = format!("trial label {}", rng.below(1_000_000));
                for n in &gens {
                    out.push(cmd(kind, &["label", n, &text], Some(n)));
                }
            }
            // Unused store entries only, or old generations too.
            "gc" => {
                out.push(cmd(kind, &["gc"], None));
                let keep = (1 + rng.below(3)).to_string();
                out.push(cmd(kind, &["gc", "--keep", &keep], None));
            }
            other => panic!("unknown command kind {other}"),
        }
        // Moving `current` without activating, now and then.
        if self.health.is_some() && matches!(kind, "build" | "switch" | "rollback") {
            for c in &mut out {
                if rng.chance(0.3) {
                    c.args.push("--no-activate".into());
                }
            }
        }
        out
    }

    /// The kinds this binary has.
    pub fn kinds(&self) -> Vec<&'static str> {
        KINDS
            .iter()
            .copied()
            .filter(|k| {
                !["delete", "pin", "unpin", "label", "gc", "activate"].contains(k)
                    || self.optional.contains(k)
            })
            .collect()
    }

    /// A random command that makes sense now (of `kind` when given and possible).
    pub fn pick(&self, rng: &mut Rng, kind: Option<&'static str>) -> Option<Cmd> {
        let view = self.view();
        if let Some(kind) = kind {
            let all = self.commands(kind, &view, rng);
            return (!all.is_empty()).then(|| rng.pick(&all).clone());
        }
        // Builds are picked more often: they have the most steps to be killed in.
        let mut kinds = self.kinds();
        kinds.extend(["build", "build", "build --no-switch"]);
        loop {
            let kind = *rng.pick(&kinds);
            let all = self.commands(kind, &view, rng);
            if !all.is_empty() {
                return Some(rng.pick(&all).clone());
            }
        }
    }

    /// Runs `cmd` to completion on a copy of the data directory: how long it takes, its
    /// exit code, and the state it leads to.
    pub fn reference(&self, c: &Cmd) -> Reference {
        let scratch = tempfile::tempdir().unwrap();
        let copy = scratch.path().join("data");
        copy_data_dir(self.dir(), &copy);
        let started = Instant::now();
        let mut args = vec!["--json"];
        args.extend(c.args.iter().map(String::as_str));
        let out = self
            .env
            .cmd(&args)
            .env("COSMO_DATA_DIR", &copy)
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        let mut obs = observe(&copy, false)
            .unwrap_or_else(|e| panic!("{c} run to completion left an unsound copy: {e}"));
        // Paths of the copy stand for the real directory.
        let (from, to) = (copy.display().to_string(), self.dir().display().to_string());
        for r in &mut obs.rows {
            r.source = r.source.replace(&from, &to);
        }
        obs.settings = obs.settings.map(|s| s.replace(&from, &to));
        Reference {
            elapsed,
            code: out.status.code(),
            json: serde_json::from_slice(&out.stdout).unwrap_or_default(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            obs,
        }
    }
}

/// Copies a data directory (files, links, modes), without the registered bundles' `.venv`
/// directories: no command but `start` uses them.
pub fn copy_data_dir(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(from).unwrap();
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from).unwrap(), to).unwrap();
    } else if meta.is_dir() {
        std::fs::create_dir(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let registered_venv = e.file_name() == ".venv" && from.join("bundle.json").is_file();
            if !registered_venv {
                copy_data_dir(&e.path(), &to.join(e.file_name()));
            }
        }
        std::fs::set_permissions(
            to,
            std::fs::Permissions::from_mode(meta.permissions().mode()),
        )
        .unwrap();
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// A command run to completion on a copy of the data directory.
pub struct Reference {
    pub elapsed: Duration,
    pub code: Option<i32>,
    /// Its `--json` output.
    pub json: serde_json::Value,
    pub stderr: String,
    pub obs: Observed,
}

/// When to kill.
#[derive(Debug, Clone)]
pub enum When {
    /// After this long.
    After(Duration),
    /// Paused at this fault point.
    At(String),
}

/// What happened to the killed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Killed at a random instant.
    Killed,
    /// Killed paused at the fault point.
    KilledAt(String),
    /// It finished before the kill (with this exit code).
    Finished(Option<i32>),
    /// It never reached the fault point (finished with this exit code).
    NotReached(Option<i32>),
    /// Not run: run to completion, it does not reach the fault point.
    Skipped,
}

/// Whether `c`, whose run to completion printed `json`, passes fault point `point`
/// (`true` when it cannot be told).
fn may_reach(c: &Cmd, point: &str, json: &serde_json::Value) -> bool {
    let new_bundle = json["reused"] == false;
    let new_generation = !json["generation"].is_null();
    // Rows are written only when `current` moves (or they do not follow it yet).
    let moved = json["current"] != json["previous"];
    let activation = json["activation"]
        .as_object()
        .or_else(|| json["error"]["activation"].as_object());
    let activated = activation.is_some();
    let reverted = activation.is_some_and(|a| a["reverted"] == true);
    let failed = json["error"]["kind"] == "activation_failed";
    match (c.kind, point) {
        (_, "activation-recorded" | "before-restart" | "before-health") => activated,
        (_, "activation-failed-recorded") => failed,
        (_, "after-revert-flip") => reverted,
        ("build" | "build --no-switch", "before-bundle-json" | "share-after-tree-move") => {
            new_bundle
        }
        ("gc", "gc-after-first-bundle") => {
            json["bundles"].as_array().is_some_and(|b| !b.is_empty())
        }
        (
            "build" | "build --no-switch",
            "after-uv-lock" | "after-uv-sync" | "before-register" | "after-register",
        ) => new_bundle,
        (
            "build" | "build --no-switch",
            "after-generation-link" | "after-index-entry" | "before-index-write",
        ) => new_generation,
        ("build", "after-flip" | "db-before-commit") => new_generation,
        ("build --no-switch", "db-before-commit") => false,
        ("switch" | "rollback", "db-before-commit") => moved,
        _ => true,
    }
}

/// Makes this test process the reaper of its orphaned descendants
/// (`PR_SET_CHILD_SUBREAPER`): a program left behind by a killed command becomes its
/// child, and its exit status says whether it was killed with the command or ran on.
pub fn become_subreaper() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .expect("PR_SET_CHILD_SUBREAPER");
    });
}

/// The direct children of `pid`: the programs it runs through its trampoline.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect()
}

/// State and process group of `pid` (from /proc/PID/stat), while it exists.
fn state_and_group(pid: u32) -> Option<(String, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((fields.first()?.to_string(), fields.get(2)?.parse().ok()?))
}

/// The programs the killed command `leader` was running (`children`, seen just before the
/// kill) must die with it: each that was still running when the command died must end by
/// a signal (the death signal of the trampoline), never run on to its own exit (127 is the
/// trampoline refusing to start a program whose parent is gone). They are this process's
/// children now (see [`become_subreaper`]) and are reaped here.
fn check_orphans(children: &[u32], leader: u32, c: &Cmd) -> Result<(), String> {
    use rustix::process::{Pid, WaitOptions, waitpid};
    let mut live = Vec::new();
    for &pid in children {
        let Some((state, group)) = state_and_group(pid) else {
            continue;
        };
        if group != leader {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        // A zombie, or a process whose memory is already gone (an empty command line: it is
        // exiting), ended before the command died: reaped, not judged.
        let ended = state == "Z" || cmdline.is_empty();
        live.push((pid, cmdline, ended));
    }
    let started = Instant::now();
    let mut problems = Vec::new();
    while !live.is_empty() {
        live.retain(|(pid, cmdline, ended)| {
            let Some(raw) = Pid::from_raw(*pid as i32) else {
                return false;
            };
            match waitpid(Some(raw), WaitOptions::NOHANG) {
                Ok(Some((_, status))) => {
                    if !ended
                        && status.terminating_signal().is_none()
                        && status.exit_status() != Some(127)
                    {
                        problems.push(format!(
                            "pid {pid} ({cmdline}) ran on after the command was killed and exited with {:?}",
                            status.exit_status()
                        ));
                    }
                    false
                }
                Ok(None) => true,
                // Not this process's child (the subreaper is another ancestor): not judged.
                Err(_) => false,
            }
        });
        if started.elapsed() > Duration::from_secs(30) {
            problems.extend(live.iter().map(|(pid, cmdline, _)| {
                format!("pid {pid} ({cmdline}) still runs 30 s after the command was killed")
            }));
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "`{c}` was killed, and the programs it ran did not die with it: {problems:?}"
        ))
    }
}

/// Runs `c` in `env` and kills it: the process group (`group`) or the main process alone
/// (then the programs it runs must die with it).
pub fn run_killed(env: &Env, c: &Cmd, when: &When, group: bool) -> Result<Outcome, String> {
    become_subreaper();
    let mut command = env.cmd(&c.args.iter().map(String::as_str).collect::<Vec<_>>());
    command.process_group(0).stdout(Stdio::null());
    let mut orphans = Vec::new();
    let mut leader = 0;
    let mut kill = |child: &mut Child| {
        leader = child.id();
        orphans = children_of(child.id());
        if group {
            signal_group(child.id(), Signal::KILL);
        } else {
            signal_process(child.id(), Signal::KILL);
        }
        child.wait().unwrap()
    };
    let outcome = match when {
        When::After(delay) => {
            let mut child = command.stderr(Stdio::null()).spawn().unwrap();
            std::thread::sleep(*delay);
            if let Some(status) = child.try_wait().unwrap() {
                return Ok(Outcome::Finished(status.code()));
            }
            let status = kill(&mut child);
            match status.code() {
                Some(code) => Outcome::Finished(Some(code)),
                None => Outcome::Killed,
            }
        }
        When::At(point) => {
            let mut child = command
                .env("COSMO_BUNDLE_PAUSE_AT", point)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = child.stderr.take().unwrap();
            let (tx, rx) = mpsc::channel();
            let needle = format!("paused at {point}");
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if line.contains(&needle) {
                        let _ = tx.send(());
                    }
                }
            });
            let started = Instant::now();
            loop {
                if rx.recv_timeout(Duration::from_millis(5)).is_ok() {
                    kill(&mut child);
                    break Outcome::KilledAt(point.clone());
                }
                if let Some(status) = child.try_wait().unwrap() {
                    break Outcome::NotReached(status.code());
                }
                assert!(
                    started.elapsed() < Duration::from_secs(300),
                    "{c} neither paused at {point} nor finished"
                );
            }
        }
    };
    check_orphans(&orphans, leader, c)?;
    Ok(outcome)
}

/// Kills and checks of one walk, counted.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub trials: usize,
    /// Per command kind: killed at a random instant, killed at a point, finished first,
    /// point not reached.
    pub per_kind: BTreeMap<&'static str, [usize; 4]>,
    pub per_point: BTreeMap<String, usize>,
    pub group_kills: usize,
    pub main_kills: usize,
}

impl Stats {
    pub fn add(&mut self, other: &Stats) {
        self.trials += other.trials;
        self.group_kills += other.group_kills;
        self.main_kills += other.main_kills;
        for (k, v) in &other.per_kind {
            let e = self.per_kind.entry(k).or_default();
            for i in 0..4 {
                e[i] += v[i];
            }
        }
        for (p, n) in &other.per_point {
            *self.per_point.entry(p.clone()).or_default() += n;
        }
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "{} trials ({} kills of the process group, {} of the main process alone)\n",
            self.trials, self.group_kills, self.main_kills
        );
        out += &format!(
            "{:<22} {:>8} {:>9} {:>9} {:>11}\n",
            "command", "random", "at point", "finished", "not reached"
        );
        for (k, v) in &self.per_kind {
            out += &format!("{k:<22} {:>8} {:>9} {:>9} {:>11}\n", v[0], v[1], v[2], v[3]);
        }
        out += "kills per fault point:";
        for (p, n) in &self.per_point {
            out += &format!(" {p}={n}");
        }
        out + "\n"
    }
}

/// One walk: a world, its seeded choices, and what happened.
pub struct Walk {
    pub world: World,
    pub rng: Rng,
    pub seed: u64,
    pub stats: Stats,
    pub points: Vec<String>,
}

/// How a trial kills.
#[derive(Debug, Clone)]
pub struct Plan {
    pub kind: Option<&'static str>,
    /// Make the command's activation fail (its restart command fails once).
    pub fail_activation: bool,
    /// Snapshot mode, and an edit of the server's source first (a new snapshot to make).
    pub new_snapshot: bool,
    /// `Some(point)`: paused there; `None`: at a random instant.
    pub point: Option<String>,
    pub group: bool,
}

impl Walk {
    pub fn new(seed: u64) -> Walk {
        Walk {
            world: World::new(),
            rng: Rng::new(seed),
            seed,
            stats: Stats::default(),
            points: fault_points(),
        }
    }

    /// The fault points a command of `kind` may reach.
    pub fn points_for(&self, kind: &str) -> Vec<String> {
        self.points
            .iter()
            .filter(|p| match REACH.iter().find(|(name, _)| name == p) {
                Some((_, kinds)) => kinds.contains(&kind),
                None => true,
            })
            .cloned()
            .collect()
    }

    /// A random plan: any command, killed at a random instant or at one of the points it
    /// may reach, the group or the main process alone (`group`: `None` = random).
    pub fn random_plan(&mut self, group: Option<bool>) -> Plan {
        let group = group.unwrap_or_else(|| self.rng.chance(0.5));
        Plan {
            kind: None,
            fail_activation: false,
            new_snapshot: false,
            point: None,
            group,
        }
    }

    /// Runs a command that brings the state a command of `kind` (or a fault point on its
    /// way) needs, to completion (no kill): a remove before an add, an add before an
    /// update, a change of the wanted set before a build, a build before a switch.
    pub fn advance(&mut self, kind: &str) -> Result<(), String> {
        let view = self.world.view();
        let removals = |names: &[&str]| -> Vec<Cmd> {
            view.records
                .iter()
                .filter(|r| {
                    let dist = if r["source_type"] == "GIT" {
                        &r["name"]
                    } else {
                        &r["source"]
                    };
                    names.contains(&normalize(dist.as_str().unwrap_or_default()).as_str())
                })
                .map(|r| {
                    let name = r["name"].as_str().unwrap();
                    cmd("plugin remove", &["plugin", "remove", name], Some(name))
                })
                .collect()
        };
        let enabling: Vec<&'static str> = match kind {
            "plugin update (pypi)" | "plugin remove" => vec!["plugin add (pypi)", "discover"],
            "plugin update (git)" => vec!["plugin add (git)", "discover"],
            "unpin" => vec!["pin"],
            "switch" | "rollback" | "delete" | "pin" | "label" | "gc" | "activate" => {
                vec![
                    "build",
                    "plugin add (pypi)",
                    "plugin update (pypi)",
                    "plugin remove",
                    "config set",
                ]
            }
            _ => vec![
                "plugin add (pypi)",
                "plugin add (git)",
                "plugin update (pypi)",
                "plugin update (git)",
                "plugin remove",
                "config set",
                "config unset",
            ],
        };
        let mut candidates = match kind {
            "plugin add (pypi)" => removals(&["zigbee-switch", "garage-door"]),
            "plugin add (git)" | "discover" => removals(&["hue-lights"]),
            _ => Vec::new(),
        };
        if candidates.is_empty() {
            for k in enabling {
                candidates.extend(self.world.commands(k, &view, &mut self.rng));
            }
        }
        if candidates.is_empty() {
            candidates = self.world.commands("build", &view, &mut self.rng);
        }
        let mut steps = vec![self.rng.pick(&candidates).clone()];
        // Generation commands need another generation: the change, then a build of it.
        if matches!(kind, "switch" | "rollback" | "delete" | "activate") {
            steps.push(cmd("build", &["build"], None));
        }
        for c in steps {
            let out = self
                .world
                .env
                .run(&c.args.iter().map(String::as_str).collect::<Vec<_>>());
            if !out.status.success() {
                return Err(format!(
                    "walk seed {}: `{c}` (not killed) fails ({:?}): {}",
                    self.seed,
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(())
    }

    /// Runs one trial; `Err` says what broke, with everything needed to find it again.
    pub fn trial(&mut self, plan: &Plan) -> Result<Outcome, String> {
        let number = self.stats.trials + 1;
        let c = match self.world.pick(&mut self.rng, plan.kind) {
            Some(c) => c,
            None => return Err(format!("no {:?} command makes sense now", plan.kind)),
        };
        let at_a_point = plan.kind.is_none() && self.rng.chance(0.4);
        let context = |when: &str| {
            format!(
                "walk seed {} trial {number}: `{c}` killed {when} ({})",
                self.seed,
                if plan.group {
                    "process group"
                } else {
                    "main process alone"
                }
            )
        };
        // The server's source changes now and then (a new snapshot in snapshot mode; in
        // link mode the bundles run it as it is).
        if plan.new_snapshot {
            self.world.env.ok(&["config", "set", "source", "snapshot"]);
        }
        if plan.new_snapshot || (plan.kind.is_none() && self.rng.chance(0.1)) {
            self.world.edit_server();
        }
        let before =
            check_sound(&self.world.env).map_err(|e| format!("{}: before: {e}", context("-")))?;
        // A planned activation failure: the restart command fails once, in the copy and in
        // the data directory alike.
        let fail = c.activates()
            && self.world.health.is_some()
            && (plan.fail_activation || (plan.kind.is_none() && self.rng.chance(0.15)));
        let flag = self.world.dir().join(FAIL_NEXT_RESTART);
        if fail {
            std::fs::write(&flag, "").unwrap();
        }
        let reference = self.world.reference(&c);
        let activation_failed = reference.json["error"]["kind"] == "activation_failed";
        if reference.code != Some(0) && !(fail && activation_failed && reference.code == Some(9)) {
            return Err(format!(
                "{}: run to completion it fails ({:?}): {}",
                context("-"),
                reference.code,
                reference.stderr
            ));
        }
        // A point this command passes (as its run to completion shows), or none.
        let point = match &plan.point {
            Some(p) if !may_reach(&c, p, &reference.json) => {
                let _ = std::fs::remove_file(&flag);
                return Ok(Outcome::Skipped);
            }
            Some(p) => Some(p.clone()),
            None if at_a_point => {
                let points: Vec<String> = self
                    .points_for(c.kind)
                    .into_iter()
                    .filter(|p| may_reach(&c, p, &reference.json))
                    .collect();
                (!points.is_empty()).then(|| self.rng.pick(&points).clone())
            }
            None => None,
        };
        let when = match point {
            Some(p) => When::At(p),
            None => When::After(
                self.rng.upto(
                    reference
                        .elapsed
                        .mul_f64(1.25)
                        .max(Duration::from_millis(5)),
                ),
            ),
        };
        let described = match &when {
            When::After(d) => format!("after {d:?} of ~{:?}", reference.elapsed),
            When::At(p) => format!("at {p}"),
        };
        let context = context(&described);
        let outcome = run_killed(&self.world.env, &c, &when, plan.group)
            .map_err(|e| format!("{context}: {e}"))?;
        self.stats.trials += 1;
        let slot = match &outcome {
            Outcome::Killed => 0,
            Outcome::KilledAt(p) => {
                *self.stats.per_point.entry(p.clone()).or_default() += 1;
                1
            }
            Outcome::Finished(_) => 2,
            Outcome::NotReached(_) => 3,
            Outcome::Skipped => unreachable!(),
        };
        self.stats.per_kind.entry(c.kind).or_default()[slot] += 1;
        if matches!(outcome, Outcome::Killed | Outcome::KilledAt(_)) {
            if plan.group {
                self.stats.group_kills += 1;
            } else {
                self.stats.main_kills += 1;
            }
        }
        self.check_trial(&c, &before, &reference, &outcome, fail)
            .map_err(|e| format!("{context}: {outcome:?}: {e}"))?;
        Ok(outcome)
    }

    fn check_trial(
        &self,
        c: &Cmd,
        before: &Observed,
        reference: &Reference,
        outcome: &Outcome,
        fail: bool,
    ) -> Result<(), String> {
        let env = &self.world.env;
        if let Outcome::Finished(code) | Outcome::NotReached(code) = outcome
            && *code != Some(0)
            && !(fail && *code == Some(9))
        {
            return Err(format!("the command failed on its own ({code:?})"));
        }
        wait_unused(env.dir(), Duration::from_secs(10))?;
        let after = check_sound_after_kill(env).map_err(|e| format!("after the kill: {e}"))?;
        check_bundles_kept(before, &after)?;
        // An activation moves `current` to its generation first (and back when it fails).
        let activation = reference.json["activation"]
            .as_object()
            .or_else(|| reference.json["error"]["activation"].as_object());
        let target = activation
            .and_then(|a| a["generation"].as_u64())
            .map(|n| n as u32);
        old_or_new(before, &reference.obs, &after, target, fail)?;
        // The planned failure is not planned for the commands after it.
        let _ = std::fs::remove_file(env.dir().join(FAIL_NEXT_RESTART));

        // The next command: the killed one again; after a failed activation, `activate`,
        // which finishes an interrupted one (the documented way on).
        // (With no current generation yet there is nothing to activate: the command again.)
        let activate = fail && after.current.is_some();
        let mut args = vec!["--json"];
        if activate {
            args.push("activate");
        } else {
            args.extend(c.args.iter().map(String::as_str));
        }
        let out = env.run(&args);
        if out.status.code() != Some(0) && !activate {
            let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let now = observe(env.dir(), false)?;
            if !already_done(c, &body["error"], before, &now) {
                return Err(format!(
                    "run again, it fails ({:?}): {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        } else if out.status.code() != Some(0) {
            return Err(format!(
                "`activate` after it fails ({:?}): {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // A `gc` that finished leaves no temporary name anywhere.
        if c.kind == "gc" && out.status.success() {
            let left = all_temporary_leftovers(env.dir());
            if !left.is_empty() {
                return Err(format!(
                    "temporary names left after `gc` ran again: {left:?}"
                ));
            }
        }
        // A re-run refused before the lock (the job was done) reconciles nothing.
        let again =
            check_sound_after_kill(env).map_err(|e| format!("after running it again: {e}"))?;
        check_bundles_kept(&after, &again)?;

        // Then a build, after which the rows follow `current`.
        let out = env.run(&["--json", "build"]);
        if !out.status.success() {
            return Err(format!(
                "the build after it fails ({:?}): {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let built = check_sound(env).map_err(|e| format!("after the next build: {e}"))?;
        check_bundles_kept(&again, &built)?;
        check_rows_follow(env, &built).map_err(|e| format!("after the next build: {e}"))?;
        let leftovers = temporary_leftovers(env.dir());
        if !leftovers.is_empty() {
            return Err(format!(
                "temporary files left after the next build: {leftovers:?}"
            ));
        }
        let tmp: Vec<_> = std::fs::read_dir(env.dir().join("tmp"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if !tmp.is_empty() {
            return Err(format!("tmp/ is not empty after the next build: {tmp:?}"));
        }
        // Every generation's bundle, its venv and the trees it shares, as recorded.
        if self.world.optional.contains(&"verify") {
            let out = env.run(&["--json", "verify", "--all"]);
            if !out.status.success() {
                return Err(format!(
                    "`verify --all` after the next build fails ({:?}): {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout)
                ));
            }
        }
        check_current_imports(env)
    }
}

/// Each part of the state after the kill is the old one or the new one. An activation's
/// `target` generation may be current too (killed before it was confirmed, or before a
/// failed one went back); after a failed activation the rows may follow either.
fn old_or_new(
    before: &Observed,
    new: &Observed,
    after: &Observed,
    target: Option<u32>,
    failed_activation: bool,
) -> Result<(), String> {
    if after.current != before.current
        && after.current != new.current
        && (target.is_none() || after.current != target)
    {
        return Err(format!(
            "current is generation {:?}: neither the old {:?} nor the new {:?}",
            after.current, before.current, new.current
        ));
    }
    for (n, target) in &after.generations {
        if before.generations.get(n) != Some(target) && new.generations.get(n) != Some(target) {
            return Err(format!(
                "generation {n} -> {target} is neither an old nor a new generation"
            ));
        }
    }
    for (n, target) in &before.generations {
        if after.generations.get(n) != Some(target) && new.generations.get(n) == Some(target) {
            return Err(format!("generation {n} -> {target} is gone"));
        }
    }
    let rows = after.row_contents();
    if !failed_activation && rows != before.row_contents() && rows != new.row_contents() {
        return Err(format!(
            "the rows are neither the old nor the new ones:\nold: {:#?}\nnew: {:#?}\nnow: {rows:#?}",
            before.row_contents(),
            new.row_contents()
        ));
    }
    // A first mutating command writes the index from the links before its own change.
    if before.index.is_some() && after.index != before.index && after.index != new.index {
        return Err(format!(
            "profile.json is neither the old nor the new one:\nold: {:?}\nnew: {:?}\nnow: {:?}",
            before.index, new.index, after.index
        ));
    }
    if after.settings != before.settings && after.settings != new.settings {
        return Err(format!(
            "settings.toml is neither the old nor the new one: {:?}",
            after.settings
        ));
    }
    Ok(())
}

/// Whether a failing re-run only says that the killed run had done the job already.
fn already_done(c: &Cmd, error: &serde_json::Value, before: &Observed, now: &Observed) -> bool {
    let kind = error["kind"].as_str().unwrap_or_default();
    let has =
        |obs: &Observed, name: &str| obs.rows.iter().any(|r| r.distribution() == normalize(name));
    let target = c.target.as_deref().unwrap_or_default();
    // A record named by its id, or by its name.
    let named = |obs: &Observed| {
        obs.rows
            .iter()
            .any(|r| r.id == target || r.name == target || r.distribution() == normalize(target))
    };
    match c.kind {
        "plugin add (pypi)" | "plugin add (git)" => kind == "already_exists" && has(now, target),
        "plugin remove" => kind == "not_found" && !named(now),
        "rollback" => kind == "bad_input" && now.current < before.current,
        "delete" => {
            kind == "not_found"
                && target
                    .parse()
                    .is_ok_and(|n: u32| !now.generations.contains_key(&n))
        }
        _ => false,
    }
}

/// Runs `trials` random trials on one walk; panics with the walk's seed on a failure.
fn random_walk(test: &str, trials: usize, group: bool) {
    let seed = test_seed(test);
    let mut walk = Walk::new(seed);
    while walk.stats.trials < trials {
        let plan = walk.random_plan(Some(group));
        if let Err(e) = walk.trial(&plan) {
            panic!("{e}\n(reproduce the choices with COSMO_TEST_SEED={seed})");
        }
    }
    eprintln!("{test}:\n{}", walk.stats.table());
}

#[test]
fn random_kills_of_the_process_group() {
    random_walk(
        "random_kills_of_the_process_group",
        env_count("COSMO_KILL_TRIALS", 24),
        true,
    );
}

#[test]
fn random_kills_of_the_main_process_alone() {
    random_walk(
        "random_kills_of_the_main_process_alone",
        env_count("COSMO_KILL_TRIALS", 24),
        false,
    );
}

/// How many of the commands listed in `REACH` for a point are killed there by the default
/// suite.
const PER_POINT: usize = 2;

/// Every fault point of the binary, with two of the commands listed in `REACH` for it (a
/// point not listed there: the first command that reaches it), killed there (the group or
/// the main process alone, alternately).
#[test]
fn kills_at_every_fault_point() {
    let seed = test_seed("kills_at_every_fault_point");
    let mut walk = Walk::new(seed);
    let kinds = walk.world.kinds();
    let points = walk.points.clone();
    assert!(points.len() >= 7, "fault points found in src/: {points:?}");
    let mut group = walk.rng.chance(0.5);
    for point in &points {
        let reachers: Vec<&'static str> = match REACH.iter().find(|(p, _)| p == point) {
            // Two of the commands that pass there, chosen by the seed (the campaign tries
            // them all, at random).
            Some((_, listed)) => {
                let mut listed: Vec<&'static str> = listed
                    .iter()
                    .copied()
                    .filter(|k| kinds.contains(k))
                    .collect();
                while listed.len() > PER_POINT {
                    listed.remove(walk.rng.below(listed.len()));
                }
                listed
            }
            // Generation commands first: new points are most likely theirs.
            None => {
                let mut all = kinds.clone();
                all.sort_by_key(|k| k.starts_with("plugin") || k.starts_with("config"));
                all
            }
        };
        let known = REACH.iter().any(|(p, _)| p == point);
        let mut reached_by = Vec::new();
        for kind in reachers {
            if !known && !reached_by.is_empty() {
                break;
            }
            group = !group;
            // The points of a failed activation need one.
            let plan = Plan {
                kind: Some(kind),
                fail_activation: matches!(
                    point.as_str(),
                    "activation-failed-recorded" | "after-revert-flip"
                ),
                // A new snapshot also makes a new tree of the bundle's `src`.
                new_snapshot: matches!(
                    point.as_str(),
                    "before-snapshot-rename" | "share-after-tree-move"
                ),
                point: Some(point.clone()),
                group,
            };
            // The point may need some state first (a new bundle, a generation to switch
            // to, a plugin to add): other commands, run to completion, bring it.
            let mut reached = false;
            for _ in 0..if known { 20 } else { 2 } {
                if walk.world.pick(&mut walk.rng.clone(), Some(kind)).is_some() {
                    let outcome = walk
                        .trial(&plan)
                        .unwrap_or_else(|e| panic!("{e}\n(reproduce with COSMO_TEST_SEED={seed})"));
                    if matches!(outcome, Outcome::KilledAt(_)) {
                        reached = true;
                        break;
                    }
                }
                walk.advance(kind)
                    .unwrap_or_else(|e| panic!("{e}\n(reproduce with COSMO_TEST_SEED={seed})"));
            }
            if reached {
                reached_by.push(kind);
            } else if known {
                panic!("`{kind}` never reached the fault point {point} (seed {seed})");
            }
        }
        assert!(
            !reached_by.is_empty(),
            "no command reaches the fault point {point}"
        );
    }
    eprintln!("kills_at_every_fault_point:\n{}", walk.stats.table());
}

/// Hundreds of trials, for `scripts/kill-campaign`: `COSMO_KILL_TRIALS` trials (default
/// 300) over walks of `COSMO_KILL_WALK` trials (default 40) on `COSMO_KILL_JOBS` threads
/// (default 2), from `COSMO_TEST_SEED`. Prints a summary; fails if any trial failed.
#[test]
#[ignore = "long: run by scripts/kill-campaign"]
fn campaign() {
    let total = env_count("COSMO_KILL_TRIALS", 300);
    let walk_len = env_count("COSMO_KILL_WALK", 40).max(1);
    let jobs = env_count("COSMO_KILL_JOBS", 2).max(1);
    let master = test_seed("campaign");
    let started = Instant::now();
    let shared = std::sync::Mutex::new((
        0usize,
        Some(master),
        Rng::new(master),
        Stats::default(),
        Vec::<String>::new(),
    ));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    // The first walk uses the campaign's seed itself, so that a failing walk's
                    // seed replays it first.
                    let seed = {
                        let mut g = shared.lock().unwrap();
                        if g.0 >= total {
                            return;
                        }
                        let first = g.1.take();
                        first.unwrap_or_else(|| g.2.next_u64())
                    };
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let mut walk = Walk::new(seed);
                        let mut failure = None;
                        for _ in 0..walk_len {
                            {
                                let mut g = shared.lock().unwrap();
                                if g.0 >= total {
                                    break;
                                }
                                g.0 += 1;
                            }
                            let plan = walk.random_plan(None);
                            if let Err(e) = walk.trial(&plan) {
                                failure = Some(e);
                                break;
                            }
                        }
                        (walk.stats, failure)
                    }));
                    let mut g = shared.lock().unwrap();
                    match result {
                        Ok((stats, failure)) => {
                            g.3.add(&stats);
                            eprintln!(
                                "walk seed {seed}: {} trials {} ({} of {total} trials done, {:?})",
                                stats.trials,
                                if failure.is_some() { "FAILED" } else { "ok" },
                                g.3.trials,
                                started.elapsed()
                            );
                            if let Some(f) = failure {
                                eprintln!("FAILURE: {f}");
                                g.4.push(f);
                            }
                        }
                        Err(panic) => {
                            let text = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            let f = format!("walk seed {seed} panicked: {text}");
                            eprintln!("FAILURE: {f}");
                            g.4.push(f);
                        }
                    }
                }
            });
        }
    });
    let (_, _, _, stats, failures) = shared.into_inner().unwrap();
    println!("kill campaign: seed {master}, {:?}", started.elapsed());
    println!("{}", stats.table());
    println!("failures: {}", failures.len());
    for f in &failures {
        println!("- {f}");
    }
    if !failures.is_empty() {
        println!(
            "replay a failing walk with: COSMO_TEST_SEED=<walk seed> COSMO_KILL_JOBS=1 scripts/kill-campaign"
        );
    }
    assert!(failures.is_empty(), "{} failing trials", failures.len());
}

/// What a command killed in an atomic write or flip leaves (`.tmp-*` beside `current`, in
/// `generations/`, in `resolved/` and in `uv-config/uv/`) is removed by the next mutating
/// command (the last by the next that runs uv).
#[test]
fn temporary_files_of_killed_writes_are_removed_by_the_next_mutating_command() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let planted = [
        env.dir().join(".tmp-settings"),
        env.dir().join("resolved/.tmp-lock"),
    ];
    for p in &planted {
        std::fs::write(p, "half written").unwrap();
    }
    std::os::unix::fs::symlink("../store/x", env.dir().join("generations/.tmp-2-1")).unwrap();
    std::os::unix::fs::symlink("generations/1", env.dir().join(".tmp-current-1")).unwrap();
    // The first write of uv's empty configuration, killed before its rename.
    std::fs::remove_file(env.dir().join("uv-config/uv/uv.toml")).unwrap();
    std::fs::write(env.dir().join("uv-config/uv/.tmp-first"), "").unwrap();
    assert_eq!(temporary_leftovers(env.dir()).len(), 5);
    env.ok(&["plugin", "add", "garage-door", "--version", "1.0.0"]);
    assert_eq!(
        temporary_leftovers(env.dir()),
        Vec::<std::path::PathBuf>::new()
    );
}

/// The plugin checks' Python dies with a build killed alone, as uv does: a slow import
/// would otherwise run on in the half-built bundle after the command is gone.
#[test]
fn the_plugin_check_does_not_outlive_a_build_killed_alone() {
    become_subreaper();
    let mut env = Env::new();
    let packages = tempfile::tempdir().unwrap();
    let slow = make_package(
        packages.path(),
        "slow-import",
        "1.0.0",
        "import time\ntime.sleep(20)\n\nclass SlowPlugin:\n    pass\n",
        Some(
            r#"{"name": "Slow", "version": "1.0.0", "plugin_class": "slow_import.SlowPlugin", "description": "imports slowly"}"#,
        ),
    );
    env.add_wheels(&[slow], &packages.path().join("wheels"));
    env.ok(&["plugin", "add", "slow-import", "--version", "1.0.0"]);
    let mut child = env
        .cmd(&["build"])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let checks = loop {
        let found: Vec<u32> = children_of(child.id())
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(".venv/bin/python"))
            })
            .collect();
        if !found.is_empty() {
            break found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never saw the plugin check"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    signal_process(child.id(), Signal::KILL);
    child.wait().unwrap();
    let build = cmd("build", &["build"], None);
    check_orphans(&checks, child.id(), &build).unwrap();
}
