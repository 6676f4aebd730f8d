//! Output of activation: the restart, the health check, and what became of the generation.

use super::Render;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::io::{Result, Write};

/// One activation: `current` moved to `generation`; when that generation failed, it went
/// back to `previous`, whose own restart and health check are the second attempt.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ActivationReport {
    /// The generation being activated.
    pub generation: u32,
    /// The generation current before; `current` goes back to it on failure.
    pub previous: Option<u32>,
    /// Whether `generation` answered healthy and is now confirmed.
    pub confirmed: bool,
    /// Whether `current` went back to `previous` (after a failure).
    pub reverted: bool,
    /// After a revert: whether `previous` answered healthy again (null when not reverted).
    pub previous_healthy: Option<bool>,
    /// The generation's attempt, then (after a failure) the previous one's.
    pub attempts: Vec<AttemptOutput>,
}

/// The restart and health check of one generation.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AttemptOutput {
    pub generation: u32,
    pub healthy: bool,
    /// When the attempt ended (RFC 3339, UTC).
    pub at: String,
    /// The restart command as run; null when none was run (`activate --no-restart`).
    pub restart: Option<RestartOutput>,
    /// The health check; null when the restart failed (nothing was polled).
    pub health: Option<HealthOutput>,
    /// Why it failed; null when healthy.
    pub failure: Option<FailureOutput>,
}

/// How the restart command ended.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RestartOutput {
    /// The program and its arguments (the `restart` setting).
    pub command: Vec<String>,
    /// Its exit code; null when it could not start, was killed, or timed out.
    pub exit_code: Option<i32>,
    /// Whether it was killed for running past the health timeout.
    pub timed_out: bool,
    /// The end of its stderr (at most 2000 bytes).
    pub stderr_tail: String,
    pub seconds: f64,
}

/// The health check: the last answer, and the plugin check.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HealthOutput {
    /// The URL polled (the `health-url` setting, else `/health` of the server `start` runs).
    pub url: String,
    /// The last HTTP status; null when nothing answered.
    pub status: Option<u16>,
    /// How many times the URL was polled.
    pub polls: u32,
    pub seconds: f64,
    /// The check of `/plugins/active` against the generation's plugins; null when the
    /// health URL never answered 2xx.
    pub plugins: Option<PluginsCheckOutput>,
}

/// `/plugins/active` (same scheme, host and port as the health URL) compared with the
/// generation's plugins.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PluginsCheckOutput {
    pub url: String,
    /// False when the server does not serve the route (404 or 405): nothing was compared.
    pub checked: bool,
    /// Plugins of the generation that the server did not load (`name==version`).
    pub missing: Vec<String>,
    /// Plugins the server loaded that the generation does not have (`name==version`).
    pub unexpected: Vec<String>,
    /// Plugins with a `url_prefix` whose routes were not mounted.
    pub unmounted: Vec<String>,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FailureOutput {
    /// `restart_failed`, `restart_timeout`, `timeout` (nothing answered), `http_status`
    /// (the last answer was not 2xx) or `plugins` (healthy, but not with the
    /// generation's plugins).
    pub kind: String,
    pub message: String,
}

/// `activate`: the current generation restarted and checked.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActivateOutput {
    /// The generation now current (and confirmed).
    pub current: u32,
    pub hash: String,
    pub label: Option<String>,
    pub activation: ActivationReport,
}

/// A generation's last activation verdict, as `generations` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum VerdictOutput {
    /// It answered healthy (with its plugins) after a restart.
    Confirmed {
        at: String,
        /// The health URL that answered.
        url: Option<String>,
    },
    /// It did not; `rollback` passes over it (`switch N` still works).
    Failed {
        at: String,
        /// One of the kinds of `FailureOutput`.
        kind: String,
        reason: String,
    },
}

/// An activation that was interrupted (or is running now), on the generation it activates.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UnfinishedOutput {
    /// The generation current before it; the one to go back to.
    pub previous: Option<u32>,
    /// The command that started it: `build`, `switch`, `rollback` or `activate`.
    pub command: String,
    pub started_at: String,
    /// Whether the process that started it is still running.
    pub running: bool,
    /// The command that finishes it, and the one that reverts it.
    pub hint: String,
}

impl ActivationReport {
    /// One line per attempt: what answered, or why not.
    pub fn lines(&self) -> Vec<String> {
        self.attempts.iter().map(AttemptOutput::line).collect()
    }
}

impl AttemptOutput {
    /// What happened, in one line.
    pub fn line(&self) -> String {
        let n = self.generation;
        if let Some(f) = &self.failure {
            return format!("generation {n}: {}", f.message);
        }
        let Some(h) = &self.health else {
            return format!("generation {n}: healthy");
        };
        let plugins = match &h.plugins {
            Some(p) if p.checked => ", with its plugins",
            _ => "",
        };
        format!(
            "generation {n} confirmed: {} answered {} after {:.1} s{plugins}",
            h.url,
            h.status.map(|s| s.to_string()).unwrap_or_default(),
            h.seconds
        )
    }
}

impl Render for ActivateOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        for line in self.activation.lines() {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}
