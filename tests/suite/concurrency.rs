//! Several processes at once against one data directory: mixed adds, removes, updates,
//! builds, switches, rollbacks, discovers and reads. The lock serialises the writers;
//! nothing is lost, nothing is recorded twice, and the data directory is sound at the end.

use crate::common::{git, plugin_in};
use crate::invariants::*;
use crate::reliability::{PYPI, World};
use std::collections::BTreeMap;
use std::sync::{Barrier, Mutex};

/// One command a worker ran, and how it ended.
#[derive(Debug, Clone)]
struct Ran {
    worker: usize,
    args: Vec<String>,
    code: Option<i32>,
    json: serde_json::Value,
    stderr: String,
}

impl Ran {
    fn error_kind(&self) -> &str {
        self.json["error"]["kind"].as_str().unwrap_or_default()
    }
}

/// A random command for a worker: writers and readers mixed.
fn pick(world: &World, rng: &mut Rng, generations: u64) -> Vec<String> {
    let names = ["zigbee-switch", "garage-door", "hue-lights"];
    let name = *rng.pick(&names);
    let pypi_version = |rng: &mut Rng, name: &str| {
        PYPI.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| rng.pick(v).to_string())
    };
    let args: Vec<String> = match rng.below(14) {
        0..=2 => match pypi_version(rng, name) {
            Some(v) => vec![
                "plugin".into(),
                "add".into(),
                name.into(),
                "--version".into(),
                v,
            ],
            None => vec![
                "plugin".into(),
                "add".into(),
                "hue-lights".into(),
                "--git".into(),
                world.hue_url.clone(),
                "--rev".into(),
                rng.pick(&["v1.0.0", "main"]).to_string(),
            ],
        },
        3 | 4 => vec!["plugin".into(), "remove".into(), name.into()],
        5 => match pypi_version(rng, name) {
            Some(v) => vec![
                "plugin".into(),
                "update".into(),
                name.into(),
                "--version".into(),
                v,
            ],
            None => vec![
                "plugin".into(),
                "update".into(),
                "hue-lights".into(),
                "--rev".into(),
                rng.pick(&["v1.0.0", "main"]).to_string(),
            ],
        },
        6 | 7 => vec!["build".into()],
        8 => vec!["build".into(), "--no-switch".into()],
        9 => vec![
            "switch".into(),
            (1 + rng.below(generations.max(1) as usize)).to_string(),
        ],
        10 => vec!["rollback".into()],
        11 => vec!["discover".into()],
        12 => vec!["plugin".into(), "list".into()],
        _ => vec!["generations".into()],
    };
    args
}

/// Whether a command's end is one the contract allows when others run at the same time:
/// success, a lock timeout, or a refusal that only says another command got there first.
fn allowed(r: &Ran) -> bool {
    let verb: Vec<&str> = r.args.iter().map(String::as_str).take(2).collect();
    match (r.code, r.error_kind()) {
        (Some(0), _) => true,
        (Some(5), "lock_timeout") => true,
        (Some(2), "already_exists") => verb == ["plugin", "add"],
        (Some(2), "not_found") => matches!(verb.as_slice(), ["plugin", "remove" | "update"]),
        // A PyPI and a git record of one distribution (a generation gave a row back): the
        // name is ambiguous, and the refusal says to use the id.
        (Some(2), "bad_input")
            if matches!(verb.as_slice(), ["plugin", "remove" | "update"])
                && r.json["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("plugin records match")) =>
        {
            true
        }
        (Some(2), "bad_input") => {
            verb == ["rollback"] && {
                let m = r.json["error"]["message"].as_str().unwrap_or_default();
                m.contains("nothing to roll back to") || m.contains("no current generation")
            }
        }
        _ => false,
    }
}

/// The distribution a record (JSON) stands for.
fn distribution(record: &serde_json::Value) -> String {
    let key = if record["source_type"] == "GIT" {
        &record["name"]
    } else {
        &record["source"]
    };
    normalize(key.as_str().unwrap_or_default())
}

#[test]
fn six_processes_at_once_lose_nothing_and_record_nothing_twice() {
    let seed = test_seed("six_processes_at_once_lose_nothing_and_record_nothing_twice");
    let workers = 6;
    let per_worker = env_count("COSMO_CONCURRENT_COMMANDS", 20);
    let world = World::new();
    world
        .env
        .ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    world.env.ok(&["build"]);
    let log = Mutex::new(Vec::<Ran>::new());
    let start = Barrier::new(workers);
    std::thread::scope(|s| {
        for w in 0..workers {
            let (world, log, start) = (&world, &log, &start);
            s.spawn(move || {
                let mut rng = Rng::new(seed.wrapping_add(w as u64 * 0x9e37_79b9));
                start.wait();
                for _ in 0..per_worker {
                    let generations = std::fs::read_dir(world.dir().join("generations"))
                        .map(|d| d.count() as u64)
                        .unwrap_or(1);
                    let args = pick(world, &mut rng, generations);
                    let mut all = vec!["--json"];
                    all.extend(args.iter().map(String::as_str));
                    let out = world.env.run(&all);
                    let ran = Ran {
                        worker: w,
                        args,
                        code: out.status.code(),
                        json: serde_json::from_slice(&out.stdout).unwrap_or_default(),
                        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    };
                    log.lock().unwrap().push(ran);
                }
            });
        }
    });
    let log = log.into_inner().unwrap();
    let refused: Vec<String> = log
        .iter()
        .filter(|r| !allowed(r))
        .map(|r| {
            format!(
                "worker {}: cosmo-bundle {} -> {:?}\n{}",
                r.worker,
                r.args.join(" "),
                r.code,
                r.stderr
            )
        })
        .collect();
    assert!(
        refused.is_empty(),
        "commands failed in ways concurrency does not excuse (seed {seed}):\n{}",
        refused.join("\n")
    );
    // Every read saw a sound state.
    for r in log.iter().filter(|r| r.args[0] == "generations") {
        for g in r.json.as_array().into_iter().flatten() {
            assert_eq!(g["valid"], true, "a reader saw an invalid generation: {g}");
        }
    }

    // Accounting, per distribution: adds (plugin add, and discover's new records) and
    // removes that succeeded against the records there are now.
    let now = observe(world.dir(), false).unwrap();
    let mut count: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    count.insert("zigbee-switch".into(), (1, 0));
    for r in log.iter().filter(|r| r.code == Some(0)) {
        match (r.args[0].as_str(), r.args.get(1).map(String::as_str)) {
            ("plugin", Some("add")) => count.entry(normalize(&r.args[2])).or_default().0 += 1,
            ("plugin", Some("remove")) => count.entry(normalize(&r.args[2])).or_default().1 += 1,
            ("discover", _) => {
                for rec in r.json["added"].as_array().into_iter().flatten() {
                    count.entry(distribution(rec)).or_default().0 += 1;
                }
            }
            _ => {}
        }
    }
    // A plugin of a generation's bundle gets its row back when that generation becomes
    // current: for those, a remove may follow no add.
    let mut in_bundles = std::collections::BTreeSet::new();
    for g in world.env.json(&["generations"]).as_array().unwrap() {
        for p in g["plugins"].as_array().unwrap() {
            in_bundles.insert(normalize(p["name"].as_str().unwrap()));
        }
    }
    for (name, (adds, removes)) in &count {
        // Rows match bundle plugins on the source type too: a generation whose bundle has
        // the PyPI plugin gives it a row back beside a git record of it. Per source type,
        // one record at most.
        for source_type in ["PYPI", "GIT"] {
            let n = now
                .rows
                .iter()
                .filter(|r| &r.distribution() == name && r.source_type == source_type)
                .count();
            assert!(
                n <= 1,
                "{n} {source_type} records of {name} (seed {seed}): {:#?}",
                now.rows
            );
        }
        let present = now
            .rows
            .iter()
            .filter(|r| &r.distribution() == name)
            .count() as i64;
        if in_bundles.contains(name) {
            assert!(
                present >= adds - removes,
                "{name}: {adds} adds and {removes} removes succeeded, yet {present} records (seed {seed})"
            );
        } else {
            assert_eq!(
                present,
                adds - removes,
                "{name}: {adds} adds and {removes} removes succeeded (seed {seed})"
            );
        }
    }

    // The invariant check at the end.
    check_sound(&world.env).unwrap();
    let out = world.env.run(&["--json", "build"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let end = check_sound(&world.env).unwrap();
    check_rows_follow(&world.env, &end).unwrap();
    assert_eq!(
        temporary_leftovers(world.dir()),
        Vec::<std::path::PathBuf>::new()
    );
    check_current_imports(&world.env).unwrap();
    let codes: BTreeMap<String, usize> = log.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(format!(
            "{} -> {:?}",
            r.args[..r.args.len().min(2)].join(" "),
            r.code
        ))
        .or_default() += 1;
        m
    });
    eprintln!("{} commands by {workers} processes: {codes:#?}", log.len());
}

/// Found by the test above: making the current generation current again (as a `switch`
/// racing a `plugin update` does) moved the pin of a git record that waits for another
/// ref to the bundle's commit, and every add or update of another plugin then failed
/// ("git ref … has no pinned commit") until that record was pinned again.
#[test]
fn a_git_record_waiting_for_another_ref_keeps_its_pin_when_the_rows_follow() {
    let world = World::new();
    let env = &world.env;
    env.ok(&[
        "plugin",
        "add",
        "hue-lights",
        "--git",
        &world.hue_url,
        "--rev",
        "main",
    ]);
    env.ok(&["build"]);
    env.ok(&["plugin", "update", "hue-lights", "--rev", "v1.0.0"]);
    env.ok(&["switch", "1"]);
    let hue = env.plugin("hue-lights");
    assert_eq!(hue["updated_version"], "v1.0.0", "{hue}");
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    // The waiting ref is built at the commit it was pinned to.
    let out = env.json(&["build"]);
    let tag = git(world._repos[0].path(), &["rev-parse", "v1.0.0^{commit}"]);
    assert_eq!(plugin_in(&out, "hue-lights")["commit"], tag.as_str());
    let end = check_sound(env).unwrap();
    check_rows_follow(env, &end).unwrap();
}
