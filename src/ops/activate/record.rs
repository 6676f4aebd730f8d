//! What activation keeps in `profile.json`: each generation's last verdict (the entry's
//! `activation` key) and the activation under way (the top-level `activating` key), so that
//! a killed activation is recognised.

use crate::output::{UnfinishedOutput, VerdictOutput};
use crate::profile::Generation;
use crate::profile::index::{Other, rfc3339};
use serde::{Deserialize, Serialize};

/// The entry key of a generation's last verdict.
pub const VERDICT: &str = "activation";
/// The top-level key of the activation under way.
pub const UNDER_WAY: &str = "activating";

/// An activation under way: written before `current` moves, removed when the generation
/// is confirmed or `current` is back on `previous`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnderWay {
    /// The generation being activated.
    pub generation: u32,
    /// The generation current before; `current` goes back to it on failure.
    pub previous: Option<u32>,
    /// `build`, `switch`, `rollback` or `activate`.
    pub command: String,
    pub started_at: String,
    /// The process doing it, and its start time (`/proc/<pid>/stat` field 22).
    pub pid: u32,
    pub start_ticks: u64,
}

impl UnderWay {
    /// A record for this process activating `generation` after `previous`.
    pub fn new(generation: u32, previous: Option<u32>, command: &str) -> UnderWay {
        let pid = std::process::id();
        UnderWay {
            generation,
            previous,
            command: command.to_string(),
            started_at: now(),
            pid,
            start_ticks: crate::running::start_ticks(pid).unwrap_or_default(),
        }
    }

    /// Whether the process that wrote it is still running.
    pub fn running(&self) -> bool {
        crate::running::start_ticks(self.pid).is_some_and(|t| t == self.start_ticks)
    }

    /// What to run to finish or revert it, with `current` as it is now.
    pub fn hint(&self, current: Option<u32>) -> String {
        let g = self.generation;
        match (current, self.previous) {
            (Some(c), Some(p)) if c == p && p != g => format!(
                "`current` is generation {p} (the activation of {g} stopped before `current` moved, or while going back), and the server may not have been restarted: `cosmo-bundle activate` restarts it and checks {p}; `cosmo-bundle switch {g}` tries {g} again"
            ),
            (Some(c), Some(p)) if c == g => format!(
                "`cosmo-bundle activate` restarts the server and checks generation {g} (going back to {p} if it fails); `cosmo-bundle switch {p}` goes back to {p} now"
            ),
            (Some(c), _) if c == g => format!(
                "`cosmo-bundle activate` restarts the server and checks generation {g}"
            ),
            _ => "`current` has moved since; `cosmo-bundle activate` restarts the server and checks the current generation".to_string(),
        }
    }

    /// As `generations` shows it.
    pub fn output(&self, current: Option<u32>) -> UnfinishedOutput {
        UnfinishedOutput {
            previous: self.previous,
            command: self.command.clone(),
            started_at: self.started_at.clone(),
            running: self.running(),
            hint: self.hint(current),
        }
    }
}

/// Now, as the index stores times.
pub fn now() -> String {
    rfc3339(chrono::Utc::now())
}

/// The activation under way, if the index records one (an unreadable value is none).
pub fn under_way(meta: &Other) -> Option<UnderWay> {
    serde_json::from_value(meta.get(UNDER_WAY)?.clone()).ok()
}

/// Records `record` as the activation under way (or, with `None`, that there is none).
pub fn set_under_way(meta: &mut Other, record: Option<&UnderWay>) {
    match record {
        Some(r) => {
            meta.insert(
                UNDER_WAY.into(),
                serde_json::to_value(r).expect("a record serialises"),
            );
        }
        None => {
            meta.remove(UNDER_WAY);
        }
    }
}

/// Generation `g`'s last verdict, if it has a readable one.
pub fn verdict(g: &Generation) -> Option<VerdictOutput> {
    serde_json::from_value(g.other.get(VERDICT)?.clone()).ok()
}

/// Sets generation `number`'s verdict among `generations`.
pub fn set_verdict(generations: &mut [Generation], number: u32, verdict: &VerdictOutput) {
    if let Some(g) = generations.iter_mut().find(|g| g.number == number) {
        g.other.insert(
            VERDICT.into(),
            serde_json::to_value(verdict).expect("a verdict serialises"),
        );
    }
}

/// Why `rollback` passes over `g`: its last activation failed.
pub fn failed(g: &Generation) -> Option<String> {
    match verdict(g)? {
        VerdictOutput::Failed { at, reason, .. } => {
            Some(format!("its activation failed at {at}: {reason}"))
        }
        VerdictOutput::Confirmed { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_and_the_record_round_trip_through_unknown_keys() {
        let mut gens = vec![Generation::new(1, &"a".repeat(32), None)];
        let failed_verdict = VerdictOutput::Failed {
            at: "2026-01-01T00:00:00Z".into(),
            kind: "timeout".into(),
            reason: "nothing answered".into(),
        };
        set_verdict(&mut gens, 1, &failed_verdict);
        assert_eq!(verdict(&gens[0]), Some(failed_verdict));
        assert!(failed(&gens[0]).unwrap().contains("nothing answered"));
        set_verdict(
            &mut gens,
            1,
            &VerdictOutput::Confirmed {
                at: now(),
                url: None,
            },
        );
        assert_eq!(failed(&gens[0]), None);
        let text = crate::profile::index::render(&gens, &Other::new());
        let back = crate::profile::index::parse(
            std::str::from_utf8(&text).unwrap(),
            std::path::Path::new("p"),
        )
        .unwrap();
        assert!(matches!(
            verdict(&back.generations[0]),
            Some(VerdictOutput::Confirmed { .. })
        ));

        let mut meta = Other::new();
        let record = UnderWay::new(2, Some(1), "build");
        assert!(record.running(), "this process wrote it");
        set_under_way(&mut meta, Some(&record));
        assert_eq!(under_way(&meta), Some(record.clone()));
        assert!(record.hint(Some(2)).contains("cosmo-bundle switch 1"));
        assert!(record.hint(Some(1)).contains("checks 1"));
        set_under_way(&mut meta, None);
        assert_eq!(under_way(&meta), None);
        // A record of a process that is gone is not running.
        let gone = UnderWay {
            start_ticks: record.start_ticks + 1,
            ..record
        };
        assert!(!gone.running());
    }
}
