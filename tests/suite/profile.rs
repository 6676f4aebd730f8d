//! The generation index (`profile.json`), damage that must not stop the tool, and the
//! generation metadata commands (`delete`, `pin`, `unpin`, `label`, `build --label`).

use crate::common::*;
use crate::crash::kill_at;
use serde_json::Value;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// Generation 1 = {zigbee-switch}, generation 2 = {zigbee-switch, hue-lights}, current.
fn two_generations() -> Env {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    env.ok(&["build"]);
    env
}

/// Generation `n` of a `generations --json` listing.
fn generation(list: &Value, n: u64) -> Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|g| g["number"] == n)
        .unwrap_or_else(|| panic!("no generation {n} in {list}"))
        .clone()
}

fn numbers(list: &Value) -> Vec<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|g| g["number"].as_u64().unwrap())
        .collect()
}

fn damage_kinds(g: &Value) -> Vec<String> {
    g["damage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect()
}

fn index(env: &Env) -> Value {
    serde_json::from_str(&std::fs::read_to_string(env.dir().join("profile.json")).unwrap()).unwrap()
}

fn link(env: &Env, n: u32) -> PathBuf {
    env.dir().join("generations").join(n.to_string())
}

fn bundle_of(env: &Env, n: u64) -> PathBuf {
    let hash = generation(&env.json(&["generations"]), n)["hash"]
        .as_str()
        .unwrap()
        .to_string();
    env.dir().join("store").join(hash)
}

/// Runs with `--json`, expects exit `code`; returns the error object.
fn fails_json(env: &Env, args: &[&str], code: i32) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    assert_eq!(
        out.status.code(),
        Some(code),
        "`cosmo-bundle {}`\nstdout: {}\nstderr: {}",
        all.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["error"].clone()
}

fn stderr_of(env: &Env, args: &[&str]) -> String {
    let out = env.run(args);
    assert!(
        out.status.success(),
        "`cosmo-bundle {}`: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Sets the modification time of a symlink itself.
fn set_link_mtime(path: &Path, secs: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn dangle_current(env: &Env) {
    let current = env.dir().join("current");
    std::fs::remove_file(&current).unwrap();
    symlink("generations/999", &current).unwrap();
}

// ---- A: the index ----

#[test]
fn builds_record_each_generation_in_profile_json_and_listing_reads_it() {
    let env = two_generations();
    let list = env.json(&["generations"]);
    let idx = index(&env);
    assert_eq!(idx["format"], 1);
    let entries = idx["generations"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for (entry, listed) in entries.iter().zip(list.as_array().unwrap()) {
        assert_eq!(entry["number"], listed["number"]);
        assert_eq!(entry["hash"], listed["hash"]);
        assert_eq!(entry["created_at"], listed["created_at"]);
        assert!(entry["label"].is_null());
        assert_eq!(entry["pinned"], false);
        let created = entry["created_at"].as_str().unwrap();
        assert!(
            created.ends_with('Z') && created.len() == 20,
            "RFC 3339 UTC: {created}"
        );
        assert_eq!(
            std::fs::read_link(link(&env, entry["number"].as_u64().unwrap() as u32)).unwrap(),
            Path::new("../store").join(entry["hash"].as_str().unwrap())
        );
        assert!(listed["damage"].as_array().unwrap().is_empty());
    }
    // The listing comes from the index: an entry's label written there shows, and keys
    // this version does not know survive the next write.
    let mut edited = idx.clone();
    edited["generations"][0]["label"] = "from the index".into();
    edited["generations"][0]["health"] = "ok".into();
    edited["activation"] = serde_json::json!({"state": "running"});
    std::fs::write(env.dir().join("profile.json"), edited.to_string()).unwrap();
    assert_eq!(
        generation(&env.json(&["generations"]), 1)["label"],
        "from the index"
    );
    env.ok(&["pin", "2"]);
    let idx = index(&env);
    assert_eq!(idx["activation"]["state"], "running");
    assert_eq!(idx["generations"][0]["health"], "ok");
    assert_eq!(idx["generations"][1]["pinned"], true);
}

#[test]
fn an_old_data_directory_is_listed_from_its_links_and_indexed_by_the_next_locked_command() {
    let env = two_generations();
    std::fs::remove_file(env.dir().join("profile.json")).unwrap();
    set_link_mtime(&link(&env, 1), 1_600_000_000); // 2020-09-13T12:26:40Z
    let list = env.json(&["generations"]);
    assert_eq!(numbers(&list), [1, 2]);
    assert_eq!(generation(&list, 1)["created_at"], "2020-09-13T12:26:40Z");
    assert_eq!(generation(&list, 2)["current"], true);
    env.ok(&["plugin", "list"]);
    assert!(
        !env.dir().join("profile.json").exists(),
        "read-only commands write nothing"
    );
    // The first locked command records the links in the index.
    env.ok(&["label", "2", "after hue"]);
    let idx = index(&env);
    assert_eq!(idx["generations"][0]["created_at"], "2020-09-13T12:26:40Z");
    assert_eq!(idx["generations"][0]["hash"], generation(&list, 1)["hash"]);
    assert_eq!(idx["generations"][1]["label"], "after hue");
    assert_eq!(generation(&env.json(&["generations"]), 1), {
        let mut g = generation(&list, 1);
        g["damage"] = serde_json::json!([]);
        g
    });
    // And numbering goes on from there.
    env.ok(&["plugin", "remove", "hue-lights"]);
    assert_eq!(env.json(&["build"])["generation"], 3);
}

#[test]
fn a_build_killed_between_its_index_entry_and_its_link_is_completed_later() {
    for group in [true, false] {
        let env = two_generations();
        env.ok(&["plugin", "remove", "hue-lights"]);
        kill_at(&env, &["build"], "after-index-entry", group);
        assert_eq!(env.current_target().unwrap(), Path::new("generations/2"));
        assert!(!link(&env, 3).exists());
        let list = env.json(&["generations"]);
        let three = generation(&list, 3);
        assert_eq!(damage_kinds(&three), ["link_missing"]);
        assert_eq!(three["valid"], true);
        // The next locked command recreates the link; the generation is then sound.
        let out = env.json(&["switch", "3"]);
        assert_eq!(out["current"], 3);
        assert!(link(&env, 3).is_symlink());
        assert!(
            generation(&env.json(&["generations"]), 3)["damage"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    // Killed before the entry is written: nothing of the new generation.
    let env = two_generations();
    env.ok(&["plugin", "remove", "hue-lights"]);
    kill_at(&env, &["build"], "before-index-write", true);
    assert_eq!(numbers(&env.json(&["generations"])), [1, 2]);
    assert!(!link(&env, 3).exists());
    assert_eq!(env.json(&["build"])["generation"], 3);
}

#[test]
fn a_new_generation_never_takes_a_number_that_stands_in_generations() {
    let env = two_generations();
    std::fs::create_dir(link(&env, 5)).unwrap();
    let out = env.run(&["generations"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("generations/5 is a directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.ok(&["plugin", "remove", "hue-lights"]);
    assert_eq!(env.json(&["build"])["generation"], 6);
    assert!(link(&env, 5).is_dir(), "the directory is left alone");
    // `delete` clears it.
    let out = env.json(&["delete", "5"]);
    assert!(out["deleted"][0]["hash"].is_null());
    assert!(!link(&env, 5).exists());
    assert_eq!(numbers(&env.json(&["generations"])), [1, 2, 6]);
}

// ---- B: damage that must not stop the tool ----

#[test]
fn a_dangling_current_is_reported_and_repaired_by_switch_rollback_and_build() {
    let env = two_generations();
    dangle_current(&env);
    // Commands that do not need `current` work and say what is damaged.
    env.ok(&["plugin", "list"]);
    let out = env.run(&["--json", "generations"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("generation 999, which does not exist"));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|g| g["current"] == false)
    );
    let stderr = stderr_of(&env, &["label", "1", "first"]);
    assert!(stderr.contains("generation 999 does not exist"), "{stderr}");
    assert_eq!(
        env.current_target().unwrap(),
        Path::new("generations/999"),
        "label does not touch current"
    );

    // switch repairs it, and the rows follow.
    assert_eq!(env.json(&["switch", "1"])["current"], 1);
    assert_eq!(env.current_target().unwrap(), Path::new("generations/1"));
    assert_eq!(env.plugin("hue-lights")["install_status"], "UNINSTALLED");

    // rollback repairs it: to the highest generation there is.
    dangle_current(&env);
    let out = env.json(&["rollback"]);
    assert_eq!(
        (out["current"].as_u64(), out["previous"].as_u64()),
        (Some(2), Some(999))
    );
    assert_eq!(env.plugin("hue-lights")["install_status"], "INSTALLED");

    // build repairs it: the wanted set's bundle is reused as a new current generation.
    dangle_current(&env);
    let out = env.json(&["build"]);
    assert_eq!(
        (out["generation"].as_u64(), out["reused"].as_bool()),
        (Some(3), Some(true))
    );
    assert_eq!(env.current_target().unwrap(), Path::new("generations/3"));

    // So is a current generation whose link was replaced by a directory.
    std::fs::remove_file(link(&env, 3)).unwrap();
    std::fs::create_dir(link(&env, 3)).unwrap();
    let out = env.json(&["build"]);
    assert_eq!(out["generation"], 4);
    assert_eq!(env.current_target().unwrap(), Path::new("generations/4"));

    // A `current` that is no link at all is named, with how to repair it.
    let current = env.dir().join("current");
    std::fs::remove_file(&current).unwrap();
    std::fs::create_dir(&current).unwrap();
    let err = fails_json(&env, &["generations"], 1);
    assert_eq!(err["kind"], "damaged");
    assert!(
        err["message"].as_str().unwrap().contains("is not a link"),
        "{err}"
    );
    std::fs::remove_dir(&current).unwrap();
    env.ok(&["switch", "4"]);
}

#[test]
fn a_generation_link_replaced_by_a_directory_or_a_file_is_damaged_and_the_rest_works() {
    let env = two_generations();
    env.ok(&["plugin", "remove", "hue-lights"]);
    env.ok(&["build"]); // 3 = {zigbee-switch}, current
    std::fs::remove_file(link(&env, 2)).unwrap();
    std::fs::create_dir(link(&env, 2)).unwrap();
    std::fs::remove_file(link(&env, 1)).unwrap();
    std::fs::write(link(&env, 1), "not a link").unwrap();

    let list = env.json(&["generations"]);
    assert_eq!(numbers(&list), [1, 2, 3]);
    assert_eq!(damage_kinds(&generation(&list, 1)), ["not_a_link"]);
    assert_eq!(damage_kinds(&generation(&list, 2)), ["not_a_link"]);
    assert!(damage_kinds(&generation(&list, 3)).is_empty());
    let text = env.ok(&["generations"]);
    assert!(
        text.contains("DAMAGED: generations/2 is a directory, not a link"),
        "{text}"
    );
    env.ok(&["plugin", "list"]);
    assert!(env.ok(&["build"]).contains("nothing to do"));

    let before = env.snapshot();
    let err = fails_json(&env, &["switch", "2"], 1);
    assert_eq!(err["kind"], "damaged");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("generation 2 is damaged: generations/2 is a directory"),
        "{err}"
    );
    assert!(
        err["hint"]
            .as_str()
            .unwrap()
            .contains("cosmo-bundle delete 2")
    );
    let err = fails_json(&env, &["rollback"], 1);
    assert!(
        err["message"].as_str().unwrap().contains("2, 1 damaged"),
        "{err}"
    );
    assert_eq!(env.snapshot(), before, "refusals write nothing");

    env.ok(&["delete", "1", "2"]);
    assert!(!link(&env, 1).exists() && !link(&env, 2).exists());
    assert_eq!(numbers(&env.json(&["generations"])), [3]);
}

#[test]
fn a_generation_whose_bundle_is_gone_or_unreadable_is_damaged_skipped_by_rollback_and_refused_by_switch()
 {
    let env = two_generations();
    env.ok(&["plugin", "add", "garage-door", "--version", "1.0.0"]);
    env.ok(&["build"]); // 3 = {garage, hue, zigbee}, current
    std::fs::remove_dir_all(bundle_of(&env, 2)).unwrap();

    let list = env.json(&["generations"]);
    let two = generation(&list, 2);
    assert_eq!(damage_kinds(&two), ["bundle_missing"]);
    assert_eq!(two["valid"], false);
    let text = env.ok(&["generations"]);
    let line = text.lines().find(|l| l.contains("    2  ")).unwrap();
    assert!(!line.contains("clean"), "{line}");
    assert!(line.contains("DAMAGED: its bundle store/"), "{line}");

    let before = env.snapshot();
    let err = fails_json(&env, &["switch", "2"], 1);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("no longer exists"),
        "{err}"
    );
    assert_eq!(env.snapshot(), before);

    let out = env.run(&["--json", "rollback"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped generation 2"));
    let out: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out["current"], 1);
    assert_eq!(out["skipped"][0]["number"], 2);
    assert_eq!(env.plugin("garage-door")["install_status"], "UNINSTALLED");

    // An unreadable and a missing bundle.json.
    let three = bundle_of(&env, 3).join("bundle.json");
    std::fs::write(&three, "{ truncated").unwrap();
    let list = env.json(&["generations"]);
    assert_eq!(damage_kinds(&generation(&list, 3)), ["bundle_unreadable"]);
    assert!(
        fails_json(&env, &["switch", "3"], 1)["message"]
            .as_str()
            .unwrap()
            .contains("unreadable")
    );
    std::fs::remove_file(&three).unwrap();
    let list = env.json(&["generations"]);
    assert_eq!(damage_kinds(&generation(&list, 3)), ["bundle_unregistered"]);
    fails_json(&env, &["switch", "3"], 1);
    assert_eq!(env.current_target().unwrap(), Path::new("generations/1"));
}

#[test]
fn build_never_deletes_a_bundle_that_a_generation_points_to() {
    let env = two_generations();
    let bundle = bundle_of(&env, 2);
    let manifest = bundle.join("bundle.json");
    for damage in [Some("{ truncated"), None] {
        match damage {
            Some(text) => std::fs::write(&manifest, text).unwrap(),
            None => std::fs::remove_file(&manifest).unwrap(),
        }
        let before = env.snapshot();
        let err = fails_json(&env, &["build"], 1);
        assert_eq!(err["kind"], "damaged");
        let message = err["message"].as_str().unwrap();
        assert!(message.contains("generation(s) 2 point to it"), "{message}");
        assert!(
            err["hint"]
                .as_str()
                .unwrap()
                .contains("cosmo-bundle delete 2"),
            "{err}"
        );
        assert_eq!(env.snapshot(), before, "nothing deleted, nothing written");
        assert!(bundle.join(".venv/bin/python").exists());
    }
    // Once no generation points to it, the leftover is rebuilt.
    env.ok(&["switch", "1"]);
    env.ok(&["delete", "2"]);
    env.ok(&["plugin", "update", "hue-lights", "--version", "1.0.0"]);
    let out = env.json(&["build"]);
    // One above the highest remaining: the deleted number is used again.
    assert_eq!(out["generation"], 2);
    assert_eq!(out["reused"], false);
    assert_eq!(out["path"].as_str().unwrap(), bundle.to_str().unwrap());
    assert!(manifest.exists());
}

#[test]
fn a_missing_bundle_directory_is_rebuilt_in_place_and_its_generations_are_sound_again() {
    let env = two_generations();
    let bundle = bundle_of(&env, 2);
    env.ok(&["switch", "1"]);
    std::fs::remove_dir_all(&bundle).unwrap();
    env.ok(&["plugin", "update", "hue-lights", "--version", "1.0.0"]);
    let out = env.json(&["build"]);
    assert_eq!(
        (out["generation"].as_u64(), out["reused"].as_bool()),
        (Some(3), Some(false))
    );
    let list = env.json(&["generations"]);
    assert!(damage_kinds(&generation(&list, 2)).is_empty());
    assert_eq!(generation(&list, 2)["valid"], true);
}

#[test]
fn foreign_plugin_rows_are_listed_damaged_never_built_and_removable() {
    let env = Env::new();
    let conn = rusqlite::Connection::open(env.dir().join("cosmo.db")).unwrap();
    // An older server schema without NOT NULL: the server can write anything.
    conn.execute_batch(
        "CREATE TABLE plugins (name VARCHAR(255), source TEXT, source_type VARCHAR(4),
           installed_version VARCHAR(50), updated_version VARCHAR(50),
           install_status VARCHAR(11), error_message TEXT, id CHAR(32),
           created_at DATETIME, updated_at DATETIME, PRIMARY KEY (id));
         INSERT INTO plugins VALUES ('zigbee-switch', 'zigbee-switch', 'PYPI', NULL, '1.0.0',
           'PENDING', NULL, 'ee34739aa64641d680cbec8cb428bbb0',
           '2026-11-24 23:04:58.000001', '2026-11-24 23:04:58.000001');
         INSERT INTO plugins VALUES ('hue-lights', 'hue-lights', 'PYPI', NULL, '1.0.0',
           'pending', NULL, '11111111111141118111111111111111',
           '2026-11-24 23:04:58.000002', '2026-11-24 23:04:58.000002');
         INSERT INTO plugins VALUES ('garage-door', 'garage-door', 'PYPI', NULL, '1.0.0',
           'BROKEN', NULL, 'ABCDEF01-2345-4678-89AB-CDEF01234567',
           '2026-11-24 23:04:58.000003', '2026-11-24 23:04:58.000003');
         INSERT INTO plugins VALUES (NULL, 'legacy-thermostat', 'PYPI', NULL, '1.0.0',
           'PENDING', NULL, '22222222222242228222222222222222',
           '2026-11-24 23:04:58.000004', '2026-11-24 23:04:58.000004');",
    )
    .unwrap();
    drop(conn);

    let list = env.json(&["plugin", "list"]);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["name"], "zigbee-switch");
    assert!(rows[0].get("damaged").is_none(), "sound rows are as before");
    let damaged: Vec<&Value> = rows.iter().filter(|r| r["damaged"] == true).collect();
    assert_eq!(damaged.len(), 3);
    assert_eq!(damaged[0]["install_status"], "pending");
    assert!(
        damaged[0]["problems"][0]
            .as_str()
            .unwrap()
            .contains("install_status \"pending\" is not one of")
    );
    assert!(damaged[2]["name"].is_null());
    assert_eq!(damaged[2]["problems"][0], "name is NULL");
    let text = env.ok(&["plugin", "list"]);
    assert!(text.contains("DAMAGED"), "{text}");

    // Shown by its id in any form.
    let shown = env.json(&["plugin", "show", "abcdef0123454678-89ab-cdef01234567"]);
    assert_eq!(shown["install_status"], "BROKEN");
    assert_eq!(shown["damaged"], true);
    assert!(
        env.ok(&["plugin", "show", "garage-door"])
            .contains("DAMAGED")
    );

    // Never built; other commands work.
    let built = env.json(&["build"]);
    let names: Vec<&str> = built["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["zigbee-switch"]);
    assert_eq!(env.plugin("zigbee-switch")["install_status"], "INSTALLED");
    let err = fails_json(
        &env,
        &["plugin", "update", "hue-lights", "--version", "2.0.0"],
        1,
    );
    assert_eq!(err["kind"], "damaged");
    assert!(err["hint"].as_str().unwrap().contains("plugin remove"));

    // Removed by id (any form) or name.
    assert_eq!(
        env.json(&["plugin", "remove", "abcdef012345467889abcdef01234567"])["install_status"],
        "BROKEN"
    );
    env.ok(&["plugin", "remove", "hue-lights"]);
    env.ok(&["plugin", "remove", "22222222-2222-4222-8222-222222222222"]);
    let list = env.json(&["plugin", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "zigbee-switch");
}

// ---- C: delete, pin, unpin, label ----

#[test]
fn delete_removes_entries_and_links_never_the_current_one_and_pinned_ones_only_with_force() {
    let env = two_generations();
    env.ok(&["plugin", "remove", "hue-lights"]);
    env.ok(&["build"]); // 3, current
    env.ok(&["pin", "1"]);
    let before = env.snapshot();
    for (args, code, needle) in [
        (&["delete", "3"][..], 2, "generation 3 is current"),
        (&["delete", "2", "3"], 2, "generation 3 is current"),
        (&["delete", "1"], 2, "generation 1 is pinned"),
        (&["delete", "2", "9"], 2, "generation 9 does not exist"),
    ] {
        let stderr = env.fails(args, code);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stderr.contains("hint:"), "{stderr}");
    }
    assert_eq!(env.snapshot(), before, "refusals write nothing");

    let bundle_two = bundle_of(&env, 2);
    let out = env.json(&["delete", "2", "1", "2", "--force"]);
    let deleted: Vec<u64> = out["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["number"].as_u64().unwrap())
        .collect();
    assert_eq!(deleted, [1, 2]);
    assert_eq!(out["deleted"][0]["pinned"], true);
    assert_eq!(numbers(&env.json(&["generations"])), [3]);
    assert_eq!(index(&env)["generations"].as_array().unwrap().len(), 1);
    assert!(!link(&env, 1).exists() && !link(&env, 2).exists());
    assert!(
        bundle_two.join("bundle.json").exists(),
        "bundles stay in the store"
    );
    assert!(
        env.fails(&["delete", "1"], 2)
            .contains("generation 1 does not exist")
    );
}

#[test]
fn pins_and_labels_show_in_generations_and_survive_switch_and_rollback() {
    let env = two_generations();
    let out = env.json(&["pin", "1"]);
    assert_eq!(
        (out["pinned"].as_bool(), out["changed"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(env.json(&["pin", "1"])["changed"], false);
    let out = env.json(&["label", "1", "before hue"]);
    assert_eq!(out["label"], "before hue");
    assert!(out["previous"].is_null());
    env.ok(&["plugin", "remove", "hue-lights"]);
    let out = env.json(&["build", "--label", "hue removed"]);
    assert_eq!(out["label"], "hue removed");

    let text = env.ok(&["generations"]);
    let line1 = text.lines().find(|l| l.contains("    1  ")).unwrap();
    assert!(
        line1.contains("[pinned]") && line1.contains("\"before hue\""),
        "{line1}"
    );
    assert!(text.contains("\"hue removed\""), "{text}");
    env.ok(&["rollback"]);
    env.ok(&["switch", "1"]);
    let list = env.json(&["generations"]);
    let one = generation(&list, 1);
    assert_eq!(
        (one["pinned"].as_bool(), one["label"].as_str()),
        (Some(true), Some("before hue"))
    );
    assert_eq!(generation(&list, 3)["label"], "hue removed");
    assert_eq!(generation(&list, 2)["pinned"], false);

    let out = env.json(&["unpin", "1"]);
    assert_eq!(
        (out["pinned"].as_bool(), out["changed"].as_bool()),
        (Some(false), Some(true))
    );
    let out = env.json(&["label", "1", ""]);
    assert!(out["label"].is_null());
    assert_eq!(out["previous"], "before hue");
    let one = generation(&env.json(&["generations"]), 1);
    assert!(one["label"].is_null());
    assert_eq!(one["pinned"], false);
    assert!(
        env.fails(&["pin", "7"], 2)
            .contains("generation 7 does not exist")
    );
}

#[test]
fn bad_labels_are_refused_before_anything_is_written() {
    let env = two_generations();
    env.ok(&["plugin", "remove", "hue-lights"]);
    let before = env.snapshot();
    let long = "x".repeat(201);
    for args in [
        &["label", "1", &long][..],
        &["label", "1", "two\nlines"],
        &["label", "1", "bell\u{7}"],
        &["build", "--label", "tab\there"],
        &["build", "--label", &long],
    ] {
        let stderr = env.fails(args, 2);
        assert!(stderr.contains("label"), "{stderr}");
    }
    assert_eq!(env.snapshot(), before);
    assert_eq!(numbers(&env.json(&["generations"])), [1, 2]);
    env.ok(&["label", "1", &"x".repeat(200)]);
}

#[test]
fn killed_while_deleting_or_labelling_leaves_the_old_or_the_new_state() {
    for group in [true, false] {
        let env = two_generations();
        env.ok(&["label", "1", "keep me"]);
        env.ok(&["pin", "1"]);
        kill_at(
            &env,
            &["delete", "1", "--force"],
            "delete-after-unlink",
            group,
        );
        // The link is gone but the entry is not: the next locked command brings it back.
        assert!(!link(&env, 1).exists());
        assert_eq!(
            damage_kinds(&generation(&env.json(&["generations"]), 1)),
            ["link_missing"]
        );
        env.ok(&["label", "2", "other"]);
        assert!(link(&env, 1).is_symlink());
        let one = generation(&env.json(&["generations"]), 1);
        assert_eq!(
            (one["label"].as_str(), one["pinned"].as_bool()),
            (Some("keep me"), Some(true))
        );
        assert!(damage_kinds(&one).is_empty());

        kill_at(&env, &["label", "1", "new"], "before-index-write", group);
        assert_eq!(
            generation(&env.json(&["generations"]), 1)["label"],
            "keep me"
        );
        // The index is whole and the next write works.
        env.ok(&["label", "1", "new"]);
        assert_eq!(generation(&env.json(&["generations"]), 1)["label"], "new");
        let leftovers: Vec<_> = std::fs::read_dir(env.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn metadata_commands_take_the_lock() {
    let mut env = two_generations();
    let mut holder = env.paused_at(&["label", "1", "slow"], "before-index-write");
    env.set("COSMO_LOCK_TIMEOUT", "1");
    let before = env.snapshot();
    for args in [
        &["pin", "1"][..],
        &["unpin", "1"],
        &["label", "1", "x"],
        &["delete", "1"],
    ] {
        let stderr = env.fails(args, 5);
        assert!(stderr.contains("waiting for lock on"), "{stderr}");
    }
    assert_eq!(env.snapshot(), before);
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn generation_commands_on_a_fresh_data_directory_create_nothing() {
    let env = Env::new();
    let before = env.snapshot();
    for args in [
        &["pin", "1"][..],
        &["unpin", "1"],
        &["label", "1", "x"],
        &["delete", "1"],
        &["switch", "1"],
        &["rollback"],
        &["build", "--label", "two\nlines"],
    ] {
        env.fails(args, 2);
    }
    env.ok(&["generations"]);
    assert_eq!(env.snapshot(), before, "nothing created");
}

// ---- D: profile.seen ----

#[test]
fn a_command_killed_before_recording_profile_seen_leaves_a_state_the_next_one_lists() {
    for group in [true, false] {
        let env = two_generations();
        env.ok(&["plugin", "remove", "hue-lights"]);
        let seen = env.dir().join("profile.seen");
        let before = std::fs::read(&seen).expect("the last build recorded what it left");
        kill_at(&env, &["build"], "before-seen-write", group);
        assert_eq!(std::fs::read(&seen).unwrap(), before, "the old record");
        // The new generation is whole; the listing shows it sound.
        let list = env.json(&["generations"]);
        assert_eq!(numbers(&list), [1, 2, 3]);
        assert!(damage_kinds(&generation(&list, 3)).is_empty());
        assert_eq!(env.current_target().unwrap(), Path::new("generations/2"));
        // The next locked command lists, finds them in agreement and records them.
        assert_eq!(env.json(&["switch", "3"])["current"], 3);
        assert_ne!(std::fs::read(&seen).unwrap(), before);
        assert_eq!(env.json(&["rollback"])["current"], 2);
    }
}

#[test]
fn a_change_made_by_hand_after_the_last_command_is_seen_by_the_next() {
    let env = two_generations();
    env.ok(&["plugin", "remove", "hue-lights"]);
    env.ok(&["build"]); // 3, current
    assert!(env.dir().join("profile.seen").exists());
    std::fs::remove_file(link(&env, 1)).unwrap();
    assert_eq!(
        damage_kinds(&generation(&env.json(&["generations"]), 1)),
        ["link_missing"]
    );
    std::fs::write(link(&env, 4), "not a link").unwrap();
    let out = env.run(&["generations"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("generations/4 is a file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The next locked command gives 1 its link back and numbers around the file.
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    assert!(link(&env, 1).is_symlink());
    assert_eq!(env.json(&["build"])["generation"], 5);
    std::fs::remove_file(link(&env, 4)).unwrap();
    // A label written into the index by hand is read, not a stale copy.
    let mut idx = index(&env);
    idx["generations"][0]["label"] = "by hand".into();
    std::fs::write(env.dir().join("profile.json"), idx.to_string()).unwrap();
    assert_eq!(env.json(&["switch", "1"])["label"], "by hand");
    assert_eq!(env.json(&["label", "1", "again"])["previous"], "by hand");
    assert_eq!(generation(&env.json(&["generations"]), 1)["label"], "again");
}
