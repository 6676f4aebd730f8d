//! A full disk: the data directory on a small tmpfs of its own, filled so that a build runs
//! out of space at a different step each time (the database, the bundle's files, uv's
//! copies from its cache on another file system, the record, the generation index). Each
//! failed build exits non-zero, says that the disk is full, leaves `current`, the
//! generations and the rows as they were, and the next build after room is made succeeds
//! with no leftovers. A rollback on the full disk follows the error rule. Mounting needs root (CAP_SYS_ADMIN); elsewhere the test says it was
//! skipped.

use crate::common::*;
use crate::invariants::{all_temporary_leftovers, check_rows_follow, check_sound};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test's life, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755")])
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .ok()?;
        out.status.success().then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system of `dir` with `filler` until fewer than `free` bytes remain.
fn fill(filler: &Path, free: u64) {
    let mut f = std::fs::File::create(filler).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(free)).unwrap();
}

#[test]
fn a_full_disk_fails_a_build_without_moving_current_and_the_next_build_succeeds() {
    let Some(fs) = Tmpfs::mount("48m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    // From no room at all to enough for most of a build: each fails at another step.
    let mut failures = 0;
    for free in [0u64, 8 << 10, 64 << 10, 256 << 10, 1 << 20, 2 << 20] {
        let data = tempfile::tempdir_in(fs.path()).unwrap();
        let env = Env::with_data(fixture_server(), data);
        env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
        env.ok(&["build"]);
        env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
        let before = check_sound(&env).unwrap();
        let filler: PathBuf = fs.path().join("filler");
        fill(&filler, free);

        let out = env.run(&["--json", "build"]);
        let after = check_sound(&env).unwrap_or_else(|e| panic!("free {free}: {e}"));
        if out.status.success() {
            assert!(free > 0, "a build with no room at all succeeded");
        } else {
            failures += 1;
            let body: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("free {free}: not JSON ({e}): {out:?}"));
            let text = body["error"].to_string().to_lowercase();
            assert!(
                text.contains("no space left"),
                "free {free}: the error does not say the disk is full: {body}"
            );
            let hint = body["error"]["hint"].as_str().unwrap_or_default();
            assert!(
                hint.contains("cosmo-bundle gc"),
                "free {free}: no hint to make room: {body}"
            );
            assert_eq!(after.current, before.current, "free {free}: current moved");
            assert_eq!(after.generations, before.generations, "free {free}");
            assert_eq!(after.index, before.index, "free {free}");
            assert_eq!(
                after.bundles.keys().collect::<Vec<_>>(),
                before.bundles.keys().collect::<Vec<_>>(),
                "free {free}: a bundle was registered"
            );
        }

        // Room again: the next build finishes the job, and nothing is left behind.
        std::fs::remove_file(&filler).unwrap();
        env.ok(&["build"]);
        let done = check_sound(&env).unwrap();
        assert_eq!(done.generations.len(), 2, "free {free}");
        let listed = env.json(&["plugin", "list"]);
        let states: Vec<_> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["install_status"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(states, ["INSTALLED", "INSTALLED"], "free {free}: {listed}");
        let left = all_temporary_leftovers(env.dir());
        assert!(left.is_empty(), "free {free}: leftovers {left:?}");

        // A rollback on the full disk: it fails without moving `current`, or it moves it
        // and exits 0 (the rows catching up at the next command when they could not).
        fill(&filler, free);
        let out = env.run(&["--json", "rollback"]);
        let after = check_sound(&env).unwrap_or_else(|e| panic!("free {free}: {e}"));
        match out.status.success() {
            true => assert_eq!(after.current, Some(1), "free {free}: {out:?}"),
            false => assert_eq!(after.current, done.current, "free {free}: {out:?}"),
        }
        std::fs::remove_file(&filler).unwrap();
        if out.status.success() {
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if json["rows_pending"] == true {
                // Read-only commands say that the rows lag; the next locked one catches up.
                let list = env.run(&["plugin", "list"]);
                let warned = String::from_utf8_lossy(&list.stderr).into_owned();
                assert!(warned.contains("do not follow generation 1"), "{warned}");
                env.ok(&["build"]);
            }
        }
        let settled = check_sound(&env).unwrap();
        check_rows_follow(&env, &settled).unwrap_or_else(|e| panic!("free {free}: {e}"));
    }
    assert!(failures >= 3, "only {failures} builds ran out of space");
}
