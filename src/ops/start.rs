//! `start`: the command line that runs CosmoServer from the current bundle (or clean).
//!
//! Bundled mode runs `<bundle>/.venv/bin/fastapi run|dev src/cosmoserver/main.py` in the
//! bundle directory that `current` resolves to at this instant (so a later switch does not
//! change the running server's files). Nothing is resolved or installed: no uv at all.
//! Clean mode runs from the server repository's own `.venv`, and never writes the
//! repository: without a `.venv` it says how to make one.

use crate::error::{Error, Result};
use crate::running::{self, RunRecord};
use crate::state::Context;
use crate::store::bundle::BundleManifest;
use crate::store::hash::Inputs;
use crate::store::snapshot::SourceMode;
use pep440_rs::Version;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

/// What `start` was asked for.
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub clean: bool,
    pub dev: bool,
    pub host: String,
    pub port: u16,
    pub extra: Vec<String>,
    /// Refuse a bundle that differs from its file record (`--no-verify` turns it off).
    pub verify: bool,
}

/// The server command, ready to exec, the directory it runs from, and its run record.
pub struct Launch {
    pub cmd: Command,
    pub dir: PathBuf,
    pub record: RunRecord,
}

/// Records the server in `run/<pid>.json` and replaces this process with it; returns only
/// on failure.
pub fn exec(ctx: &Context, mut launch: Launch) -> Error {
    if let Err(e) = running::write(&ctx.dirs.run(), &launch.record) {
        return e;
    }
    ctx.reporter.step(&format!(
        "starting CosmoServer from {}",
        launch.dir.display()
    ));
    ctx.reporter.finish();
    let err = launch.cmd.exec();
    let _ = fs_err::remove_file(ctx.dirs.run().join(format!("{}.json", launch.record.pid)));
    crate::fs::with_path(err, Path::new(launch.cmd.get_program())).into()
}

/// The server command, ready to exec, and the directory it runs from.
pub fn server_command(ctx: &Context, opts: &StartOptions) -> Result<Launch> {
    if opts.host.is_empty()
        || opts
            .host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::input(
            format!("--host {:?} is not a host name or address", opts.host),
            "give an address such as 127.0.0.1 or 0.0.0.0",
        ));
    }
    if opts.clean {
        clean(ctx, opts)
    } else {
        bundled(ctx, opts)
    }
}

fn fastapi_args(opts: &StartOptions) -> Vec<String> {
    let mut args = vec![
        if opts.dev { "dev" } else { "run" }.to_string(),
        "src/cosmoserver/main.py".to_string(),
        "--host".to_string(),
        opts.host.clone(),
        "--port".to_string(),
        opts.port.to_string(),
    ];
    args.extend(opts.extra.iter().cloned());
    args
}

fn bundled(ctx: &Context, opts: &StartOptions) -> Result<Launch> {
    let profile = ctx.profile();
    let no_current = || {
        Error::input(
            "there is no current generation to start",
            "build one with `cosmo-bundle build` (with no plugins it builds the clean generation), or start the clean server with `cosmo-bundle start --clean`",
        )
    };
    let number = profile.current()?.ok_or_else(no_current)?;
    let generation = profile.get(number)?.ok_or_else(no_current)?;
    let store = ctx.store();
    let manifest = store
        .load(&generation.hash)?
        .ok_or_else(|| Error::Corrupt {
            path: store.path(&generation.hash),
            reason: format!("generation {number}'s bundle is not registered"),
        })?;
    crate::ops::stale::warn_link_mode(ctx, number, &manifest);
    if opts.verify {
        check_record(ctx, number, &generation.hash)?;
    }
    // Pin the bundle: its canonical store path, not the `current` link.
    let bundle = fs_err::canonicalize(store.path(&generation.hash))?;
    let venv = bundle.join(".venv");
    let python = venv.join("bin/python");
    if fs_err::metadata(&python).is_err() {
        let target = fs_err::read_link(&python).unwrap_or_else(|_| python.clone());
        return Err(Error::input(
            format!(
                "the Python interpreter of generation {number} ({}) no longer exists",
                target.display()
            ),
            "rebuild the bundle for an interpreter that exists, e.g. `cosmo-bundle --python 3.11 build`",
        ));
    }
    let fastapi = venv.join("bin/fastapi");
    if !fastapi.is_file() {
        return Err(Error::input(
            format!("generation {number}'s bundle has no `fastapi` command"),
            "the server's pyproject.toml must depend on fastapi-cli (or fastapi[standard]); rebuild after adding it",
        ));
    }
    let data_dir = ctx.dirs.root();
    let mut args = fastapi_args(opts);
    if opts.dev {
        // Before the extra arguments, which come last.
        let at = args.len() - opts.extra.len();
        args.splice(
            at..at,
            reload_dirs(ctx, number, &manifest, &venv, &opts.extra),
        );
    }
    // The script run by the bundle's own Python: a relocatable venv's scripts start with a
    // `/bin/sh` trampoline that needs `realpath` and `dirname` on PATH.
    let mut cmd = Command::new(&python);
    cmd.arg(&fastapi)
        .args(args)
        .current_dir(&bundle)
        .env("COSMO_BUNDLE_DIR", &bundle)
        .env("COSMO_DATA_DIR", data_dir)
        .env("VIRTUAL_ENV", &venv)
        .env("PATH", prepend_path(&venv.join("bin")))
        // Bytecode goes to the data directory, not into the bundle or the server repository.
        .env("PYTHONPYCACHEPREFIX", ctx.dirs.pycache());
    Ok(Launch {
        cmd,
        record: RunRecord::for_this_process(
            Some(number),
            Some(generation.hash.clone()),
            &bundle,
            &opts.host,
            opts.port,
        ),
        dir: bundle,
    })
}

/// The first fastapi-cli whose `dev` takes `--reload-dir`.
const RELOAD_DIR_SINCE: &str = "0.0.20";

/// `--reload-dir DIR` for `fastapi dev`: the real directory of the server's source, which
/// the bundle only links (the reloader does not see edits through the links). Nothing when
/// the extra arguments choose already, when the bundle runs a snapshot (whose files never
/// change), or when its fastapi-cli is too old to be told (each said on stderr).
fn reload_dirs(
    ctx: &Context,
    number: u32,
    manifest: &BundleManifest,
    venv: &Path,
    extra: &[String],
) -> Vec<String> {
    let chosen = |flag: &str| {
        extra
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    if chosen("--reload-dir") || chosen("--no-reload") {
        return Vec::new();
    }
    if SourceMode::of_inputs(&manifest.inputs) == SourceMode::Snapshot {
        ctx.reporter.warn(&format!(
            "generation {number} runs its own snapshot of the server's code (`source = snapshot`): edits in the server repository are served once `cosmo-bundle build` made them a generation"
        ));
        return Vec::new();
    }
    let server_path = match &manifest.inputs {
        Inputs::V2(i) => &i.server_path,
        Inputs::V1(i) => &i.server_path,
    };
    let source = Path::new(server_path).join("src/cosmoserver");
    match fastapi_cli_version(venv) {
        Some(v) if v >= Version::from_str(RELOAD_DIR_SINCE).expect("a version") => {
            vec!["--reload-dir".into(), source.to_string_lossy().into_owned()]
        }
        found => {
            let found = found.map_or_else(|| "of unknown version".into(), |v| v.to_string());
            ctx.reporter.warn(&format!(
                "fastapi-cli {found} in generation {number} cannot be told to watch {} (`fastapi dev --reload-dir` needs fastapi-cli {RELOAD_DIR_SINCE} or newer): edits there are not reloaded; require `fastapi-cli>={RELOAD_DIR_SINCE}` in the server's pyproject.toml and build again",
                source.display()
            ));
            Vec::new()
        }
    }
}

/// The version of fastapi-cli installed in `venv`, from its `.dist-info` directory's name.
fn fastapi_cli_version(venv: &Path) -> Option<Version> {
    let lib = fs_err::read_dir(venv.join("lib")).ok()?;
    for python in lib.flatten() {
        let Ok(entries) = fs_err::read_dir(python.path().join("site-packages")) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let version = name
                .to_str()
                .and_then(|n| n.strip_prefix("fastapi_cli-"))
                .and_then(|n| n.strip_suffix(".dist-info"));
            if let Some(v) = version.and_then(|v| Version::from_str(v).ok()) {
                return Some(v);
            }
        }
    }
    None
}

fn clean(ctx: &Context, opts: &StartOptions) -> Result<Launch> {
    let server = ctx.server()?;
    let venv = server.root.join(".venv");
    let own = venv.join("bin/fastapi");
    if !own.is_file() {
        return Err(Error::input(
            format!(
                "the server repository {} has no environment of its own ({} is missing)",
                server.root.display(),
                own.display()
            ),
            format!(
                "create it with `uv sync` in {} (start never writes the repository), or run the clean generation: `cosmo-bundle build` with no plugins, then `cosmo-bundle start`",
                server.root.display()
            ),
        ));
    }
    let mut cmd = Command::new(&own);
    cmd.args(fastapi_args(opts))
        .current_dir(&server.root)
        .env("VIRTUAL_ENV", &venv)
        .env("PATH", prepend_path(&venv.join("bin")))
        .env_remove("COSMO_BUNDLE_DIR")
        .env("COSMO_DATA_DIR", ctx.dirs.root())
        // Bytecode goes to the data directory: the repository stays byte-identical.
        .env("PYTHONPYCACHEPREFIX", ctx.dirs.pycache());
    Ok(Launch {
        cmd,
        record: RunRecord::for_this_process(None, None, &server.root, &opts.host, opts.port),
        dir: server.root.clone(),
    })
}

fn prepend_path(dir: &Path) -> std::ffi::OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    let paths = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&rest));
    std::env::join_paths(paths).unwrap_or(rest)
}

/// Refuses a bundle whose `bundle.json` or file record fails its digest, or whose entries
/// differ in kind, size, mode or link target from the record (no file is read).
fn check_record(ctx: &Context, number: u32, hash: &str) -> Result<()> {
    let problems = crate::store::verify::quick_check(&ctx.store(), hash)?;
    if problems.is_empty() {
        return Ok(());
    }
    let report = crate::output::VerifyOutput {
        ok: false,
        bundles: vec![crate::output::BundleCheckOutput {
            hash: hash.to_string(),
            path: ctx.store().path(hash),
            generations: vec![number],
            status: "changed",
            entries: 0,
            trees: 0,
            problems: problems
                .iter()
                .map(crate::ops::verify::problem_output)
                .collect(),
        }],
    };
    Err(crate::ops::verify::failed(
        &report,
        &format!(
            "the bundle of generation {number} was changed since it was built; see `cosmo-bundle verify {number}`, switch to another generation, or start anyway with --no-verify"
        ),
    ))
}
