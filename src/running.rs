//! Servers started by `cosmo-bundle start`: each records, before it execs, which
//! generation and bundle it runs, in `run/<pid>.json`; `status` and `gc` read them.
//!
//! A record stands for a live server only while a process with its pid exists *and* was
//! started at the recorded instant (the start time in `/proc/<pid>/stat`, in clock ticks
//! since boot), so a reused pid is never mistaken for the server.

use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a running server runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat` when the record was written.
    pub start_ticks: u64,
    /// The generation `current` pointed to at start; `null` for `--clean`.
    pub generation: Option<u32>,
    /// The bundle's hash; `null` for `--clean`.
    pub hash: Option<String>,
    /// The directory the server runs from.
    pub dir: PathBuf,
    /// The address and port it listens on (`--host`, `--port`).
    pub host: String,
    pub port: u16,
    pub started_at: String,
    /// Keys written by newer versions, kept as they are.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The start time of process `pid` in clock ticks since boot, if it exists.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

impl RunRecord {
    /// The record for this very process (about to exec the server).
    pub fn for_this_process(
        generation: Option<u32>,
        hash: Option<String>,
        dir: &Path,
        host: &str,
        port: u16,
    ) -> RunRecord {
        let pid = std::process::id();
        RunRecord {
            pid,
            start_ticks: start_ticks(pid).unwrap_or_default(),
            generation,
            hash,
            dir: dir.to_path_buf(),
            host: host.to_string(),
            port,
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            other: Default::default(),
        }
    }

    /// Whether the recorded server is still running.
    pub fn alive(&self) -> bool {
        start_ticks(self.pid).is_some_and(|t| t == self.start_ticks)
    }
}

/// Writes `record` as `run_dir/<pid>.json` (atomically).
pub fn write(run_dir: &Path, record: &RunRecord) -> Result<()> {
    fs_err::create_dir_all(run_dir)?;
    let json = serde_json::to_vec_pretty(record).expect("a run record serialises");
    crate::fs::write_atomic(&run_dir.join(format!("{}.json", record.pid)), &json)
}

/// Every readable record in `run_dir`, live or not (unreadable ones are skipped).
pub fn all(run_dir: &Path) -> Vec<(PathBuf, RunRecord)> {
    let Ok(entries) = fs_err::read_dir(run_dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, RunRecord)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| {
            let text = fs_err::read_to_string(&p).ok()?;
            Some((p, serde_json::from_str(&text).ok()?))
        })
        .collect();
    out.sort_by_key(|(_, r)| r.pid);
    out
}

/// The records of servers that are still running.
pub fn live(run_dir: &Path) -> Vec<RunRecord> {
    all(run_dir)
        .into_iter()
        .map(|(_, r)| r)
        .filter(RunRecord::alive)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let me = RunRecord::for_this_process(
            Some(3),
            Some("a".repeat(32)),
            dir.path(),
            "127.0.0.1",
            8000,
        );

        assert!(me.start_ticks > 0);
        assert!(me.alive());
        write(dir.path(), &me).unwrap();
        assert_eq!(live(dir.path()), vec![me.clone()]);
        let reused = RunRecord {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert!(!reused.alive());
        let gone = RunRecord {
            pid: u32::MAX - 1,
            ..me
        };
        assert!(!gone.alive());
    }
}
