//! Activation that protects the house: once `current` has moved, restart the server, poll
//! its health until it answers (with the generation's plugins) or the health timeout
//! passes; when it does not come back, move `current` back to the generation that was
//! current before, restart and check again, and fail with exit code 9.
//!
//! Each step is recorded in `profile.json` ([`record`]): the activation under way before
//! `current` moves, each generation's verdict when it is known, so that a command killed at
//! any instant leaves `current` on one of the two generations and an activation that
//! `generations` shows as never confirmed, with the commands that finish or revert it.

pub mod health;
pub mod record;
pub mod restart;

use crate::error::{Error, Result};
use crate::fault;
use crate::output::{
    ActivateOutput, ActivationReport, AttemptOutput, FailureOutput, VerdictOutput,
};
use crate::profile::Checked;
use crate::settings::{Setting, Settings};
use crate::state::{Context, Session};
use crate::store::bundle::{BundleManifest, BundlePlugin};
use record::UnderWay;
use std::time::{Duration, Instant};

/// `health-timeout` when it is not set, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// How a generation is activated: the restart command, the health URL and the timeout
/// that bounds both.
#[derive(Debug, Clone)]
pub struct Activation {
    /// The `restart` setting; `None` checks the running server as it is.
    restart: Option<Vec<String>>,
    /// The `health-url` setting; `None` asks the server `start` runs.
    health_url: Option<String>,
    timeout: Duration,
}

impl Activation {
    /// From the settings; with `with_restart`, the `restart` command must be set.
    fn from_settings(settings: &Settings, with_restart: bool) -> Result<Activation> {
        let restart = match settings.get("restart")? {
            Some(Setting::List(argv)) => Some(argv),
            _ => None,
        };
        if with_restart && restart.is_none() {
            return Err(Error::input(
                "there is no restart command: the `restart` setting is not set",
                "set it, e.g. `cosmo-bundle config set restart systemctl restart cosmoserver`",
            ));
        }
        let timeout = settings
            .text("health-timeout")
            .and_then(|t| t.parse().ok())
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        Ok(Activation {
            restart: restart.filter(|_| with_restart),
            health_url: settings.text("health-url"),
            timeout: Duration::from_secs(timeout),
        })
    }
}

/// Whether `build`, `switch` and `rollback` activate: `flag` is `Some(true)` for
/// `--activate`, `Some(false)` for `--no-activate`, `None` for neither (activate when the
/// `restart` setting is set). `--activate` without a `restart` setting is refused.
pub fn plan(ctx: &Context, flag: Option<bool>) -> Result<Option<Activation>> {
    let settings = ctx.settings()?;
    let has_restart = matches!(settings.get("restart")?, Some(Setting::List(_)));
    match (flag, has_restart) {
        (Some(false), _) | (None, false) => Ok(None),
        (Some(true), false) => Err(Error::input(
            "--activate restarts the server, and the `restart` setting is not set",
            "set the command that restarts the server, e.g. `cosmo-bundle config set restart systemctl restart cosmoserver`, or leave out --activate",
        )),
        (_, true) => Activation::from_settings(&settings, true).map(Some),
    }
}

/// Makes generation `number` (bundle `manifest`) current for `command`; with
/// `activation`, then restarts the server and checks it, and goes back to the generation
/// current before when it does not come back (an [`Error::ActivationFailed`]). Returns
/// whether the rows followed, and the activation. When `current` does not move, nothing
/// is restarted.
pub fn make_current(
    ctx: &Context,
    session: &mut Session,
    activation: Option<&Activation>,
    command: &str,
    number: u32,
    manifest: &BundleManifest,
) -> Result<(bool, Option<ActivationReport>)> {
    let previous = session.state.current;
    match activation {
        Some(a) if previous != Some(number) => {
            let (followed, report) = a.run(ctx, session, command, number, manifest, previous)?;
            Ok((followed, Some(report)))
        }
        _ => {
            // `current` moves without a check: an activation left unfinished is over.
            if previous != Some(number) && record::under_way(session.profile.meta()?).is_some() {
                session
                    .profile
                    .edit(|_, meta| record::set_under_way(meta, None))?;
            }
            Ok((session.activate_bundle(number, manifest, ctx)?, None))
        }
    }
}

/// `activate`: restarts the server (unless `with_restart` is false) and checks the current
/// generation. When it finishes an interrupted activation of this generation, a failure
/// goes back to the generation that was current before it.
pub fn activate(ctx: &Context, with_restart: bool) -> Result<ActivateOutput> {
    let activation = Activation::from_settings(&ctx.settings()?, with_restart).map_err(|e| {
        match e {
            Error::BadInput { message, .. } => Error::input(
                message,
                "set it, e.g. `cosmo-bundle config set restart systemctl restart cosmoserver`, or pass --no-restart to check the running server as it is",
            ),
            e => e,
        }
    })?;
    let no_current = || {
        Error::input(
            "there is no current generation to activate",
            "build one with `cosmo-bundle build`",
        )
    };
    ctx.profile().current()?.ok_or_else(no_current)?;
    let mut session = ctx.lock()?;
    let current = session.state.current.ok_or_else(no_current)?;
    let (g, manifest) = match session.profile.check(current, &session.store)? {
        Checked::Sound(g, manifest) => (g, *manifest),
        other => {
            return Err(Error::damaged(
                other.problem(current).unwrap_or_default(),
                "make a sound generation current with `cosmo-bundle switch N` (see `cosmo-bundle generations`)",
            ));
        }
    };
    let previous = record::under_way(session.profile.meta()?)
        .filter(|r| r.generation == current)
        .and_then(|r| r.previous);
    let (_, report) =
        activation.run(ctx, &mut session, "activate", current, &manifest, previous)?;
    Ok(ActivateOutput {
        current,
        hash: g.hash,
        label: g.label,
        activation: report,
    })
}

impl Activation {
    /// Records the activation, makes `target` current (a no-op when it is), restarts and
    /// checks it; on failure marks it failed and goes back to `previous`.
    fn run(
        &self,
        ctx: &Context,
        session: &mut Session,
        command: &str,
        target: u32,
        manifest: &BundleManifest,
        previous: Option<u32>,
    ) -> Result<(bool, ActivationReport)> {
        let under_way = UnderWay::new(target, previous, command);
        session
            .profile
            .edit(|_, meta| record::set_under_way(meta, Some(&under_way)))?;
        fault::point("activation-recorded");
        let followed = session.activate_bundle(target, manifest, ctx)?;
        let first = self.attempt(ctx, target, &manifest.plugins);
        let mut report = ActivationReport {
            generation: target,
            previous,
            confirmed: first.healthy,
            reverted: false,
            previous_healthy: None,
            attempts: vec![first.clone()],
        };
        let verdict = verdict_of(&first);
        if first.healthy {
            session.profile.edit(|gens, meta| {
                record::set_verdict(gens, target, &verdict);
                record::set_under_way(meta, None);
            })?;
            return Ok((followed, report));
        }
        session
            .profile
            .edit(|gens, _| record::set_verdict(gens, target, &verdict))?;
        fault::point("activation-failed-recorded");
        let failure = first.failure.clone().unwrap_or_else(|| FailureOutput {
            kind: "timeout".into(),
            message: "no answer".into(),
        });
        let back = match previous.filter(|p| *p != target) {
            Some(p) => Some((p, session.profile.check(p, &session.store)?)),
            None => None,
        };
        let (p, pg, pm) = match back {
            Some((p, Checked::Sound(pg, pm))) => (p, pg, pm),
            other => {
                session
                    .profile
                    .edit(|_, meta| record::set_under_way(meta, None))?;
                let why = match other {
                    None => "no generation was current before".to_string(),
                    Some((p, checked)) => checked
                        .problem(p)
                        .unwrap_or_else(|| format!("generation {p} cannot be made current")),
                };
                return Err(no_way_back(target, &failure, &why, &report));
            }
        };
        ctx.reporter.warn(&format!(
            "generation {target} did not come back healthy: {}; going back to generation {p}",
            failure.message
        ));
        session.activate_bundle(pg.number, &pm, ctx)?;
        fault::point("after-revert-flip");
        let second = self.attempt(ctx, p, &pm.plugins);
        let verdict = verdict_of(&second);
        session.profile.edit(|gens, meta| {
            record::set_verdict(gens, p, &verdict);
            record::set_under_way(meta, None);
        })?;
        report.reverted = true;
        report.previous_healthy = Some(second.healthy);
        report.attempts.push(second.clone());
        Err(reverted(target, p, &failure, &second, &report))
    }

    /// Restarts the server (when there is a restart command) and polls its health, both
    /// within the health timeout.
    fn attempt(&self, ctx: &Context, generation: u32, plugins: &[BundlePlugin]) -> AttemptOutput {
        let deadline = Instant::now() + self.timeout;
        let run_dir = ctx.dirs.run();
        let before = health::url_of_running(&run_dir);
        let mut out = AttemptOutput {
            generation,
            healthy: false,
            at: String::new(),
            restart: None,
            health: None,
            failure: None,
        };
        if let Some(argv) = &self.restart {
            ctx.reporter.step(&format!(
                "restarting the server for generation {generation}: {}",
                argv.join(" ")
            ));
            fault::point("before-restart");
            let ran = restart::run(argv, deadline, ctx.dirs.root(), ctx.server_dir.as_deref());
            let failed = restart::failure(&ran, self.timeout);
            out.restart = Some(ran);
            if let Some((kind, message)) = failed {
                out.failure = Some(FailureOutput {
                    kind: kind.into(),
                    message,
                });
                out.at = record::now();
                return out;
            }
        }
        let url = || {
            self.health_url
                .clone()
                .or_else(|| health::url_of_running(&run_dir))
                .or_else(|| before.clone())
                .unwrap_or_else(|| health::FALLBACK_URL.to_string())
        };
        ctx.reporter.step(&format!(
            "waiting for {} to answer (at most {} s)",
            url(),
            self.timeout.as_secs()
        ));
        fault::point("before-health");
        let (health, failure) = health::poll(url, deadline, plugins);
        out.healthy = failure.is_none();
        out.health = Some(health);
        out.failure = failure;
        out.at = record::now();
        out
    }
}

/// The verdict an attempt gives its generation.
fn verdict_of(attempt: &AttemptOutput) -> VerdictOutput {
    match &attempt.failure {
        None => VerdictOutput::Confirmed {
            at: attempt.at.clone(),
            url: attempt.health.as_ref().map(|h| h.url.clone()),
        },
        Some(f) => VerdictOutput::Failed {
            at: attempt.at.clone(),
            kind: f.kind.clone(),
            reason: f.message.clone(),
        },
    }
}

fn report_json(report: &ActivationReport) -> Box<serde_json::Value> {
    Box::new(serde_json::to_value(report).expect("a report serialises"))
}

/// The error after going back to `previous`: calm when it answers again, loud when not.
fn reverted(
    target: u32,
    previous: u32,
    failure: &FailureOutput,
    second: &AttemptOutput,
    report: &ActivationReport,
) -> Error {
    let first = format!(
        "generation {target} did not come back healthy: {}",
        failure.message
    );
    match &second.failure {
        None => Error::ActivationFailed {
            message: format!(
                "{first}\n`current` is back on generation {previous}, and the server answers healthy again"
            ),
            hint: format!(
                "generation {target} is marked failed: `rollback` passes over it, `cosmo-bundle switch {target}` tries it again; see `cosmo-bundle generations`, `--json` for the restart command's stderr, and the server's log"
            ),
            report: report_json(report),
        },
        Some(again) => Error::ActivationFailed {
            message: format!(
                "{first}\n`current` is back on generation {previous}, but generation {previous} did NOT come back healthy either: {}\nTHE SERVER MAY BE DOWN",
                again.message
            ),
            hint: "both generations failed, so the cause may be the restart command, the health URL or the server rather than a plugin: check `cosmo-bundle config list` and the server's log, then `cosmo-bundle activate` restarts and checks again".to_string(),
            report: report_json(report),
        },
    }
}

/// The error when there is no generation to go back to.
fn no_way_back(
    target: u32,
    failure: &FailureOutput,
    why: &str,
    report: &ActivationReport,
) -> Error {
    Error::ActivationFailed {
        message: format!(
            "generation {target} did not come back healthy: {}\nthere is no generation to go back to ({why}): `current` stays on generation {target}\nTHE SERVER MAY BE DOWN",
            failure.message
        ),
        hint: "check the server's log and `cosmo-bundle config list`; `cosmo-bundle activate` restarts and checks again, `cosmo-bundle switch N` makes another generation current".to_string(),
        report: report_json(report),
    }
}
