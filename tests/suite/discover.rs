//! Discovery: plugin repositories cloned into `<data-dir>/plugins/`, found where they keep
//! their manifest, recorded only as what can be built from them.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const MANIFEST: &str =
    r#"{"name": "N", "version": "1.0.0", "plugin_class": "m.C", "description": "d"}"#;

/// `git clone` of `repo` into `<data-dir>/plugins/<name>`, as an operator would.
fn clone_into(env: &Env, repo: &Path, name: &str) -> PathBuf {
    let plugins = env.dir().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    git(&plugins, &["clone", "-q", repo.to_str().unwrap(), name]);
    plugins.join(name)
}

/// A git repository of a package made by the test (`make_package`), committed on `main`.
fn package_repo(root: &Path, name: &str, version: &str, code: &str, manifest: &str) -> PathBuf {
    let dir = make_package(root, name, version, code, Some(manifest));
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "first"]);
    dir
}

fn rejected(report: &Value) -> Vec<(String, String)> {
    report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let path = Path::new(r["path"].as_str().unwrap());
            // The plugin directory: the path itself, or the manifest's first directory
            // below `plugins/`.
            let dir = path
                .ancestors()
                .find(|a| a.parent().is_some_and(|p| p.ends_with("plugins")))
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (dir, r["reason"].as_str().unwrap().to_string())
        })
        .collect()
}

fn reason(report: &Value, dir: &str) -> String {
    let all = rejected(report);
    all.iter()
        .find(|(d, _)| d == dir)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("{dir} not rejected: {all:?}"))
}

#[test]
fn a_plain_clone_of_a_plugin_repository_is_found_recorded_as_git_and_builds() {
    let env = Env::new();
    let repo = git_repo_of("garage-door-1.0.0");
    let clone = clone_into(&env, repo.path(), "garage-door");
    // The manifest sits in the package (src/garage_door/cosmo.json), not at the root.
    assert!(!clone.join("cosmo.json").exists());

    let report = env.json(&["discover"]);
    let found = &report["found"][0];
    assert_eq!(report["found"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(found["distribution"], "garage-door");
    assert_eq!(found["source_type"], "GIT");
    assert_eq!(found["rev"], "main");
    assert_eq!(
        found["manifest_path"],
        clone.join("src/garage_door/cosmo.json").to_str().unwrap()
    );
    assert_eq!(found["commit"], git(repo.path(), &["rev-parse", "HEAD"]));
    let url = format!("file://{}", clone.canonicalize().unwrap().display());
    let record = env.plugin("garage-door");
    assert_eq!(record["source"], url.as_str());
    assert_eq!(record["install_status"], "UNINSTALLED");
    assert!(record["updated_version"].is_null());
    // The text form says how to build it.
    let text = env.ok(&["discover"]);
    assert!(text.contains("already recorded"), "{text}");

    // What was recorded builds from the clone, at its branch.
    env.ok(&["plugin", "update", "garage-door", "--rev", "main"]);
    let built = env.json(&["build"]);
    let plugin = plugin_in(&built, "garage-door");
    assert_eq!(plugin["source"], url.as_str());
    assert_eq!(plugin["commit"], git(repo.path(), &["rev-parse", "HEAD"]));
    let out = run_ok(
        env.dir().join("current/.venv/bin/python"),
        &["-c", "import garage_door, sys; print(garage_door.__file__)"],
        env.dir(),
    );
    assert!(out.contains("site-packages"), "{out}");
}

#[test]
fn a_detached_clone_is_found_at_its_commit() {
    let env = Env::new();
    let repo = git_repo_of("garage-door-1.0.0");
    let clone = clone_into(&env, repo.path(), "garage-door");
    let commit = git(&clone, &["rev-parse", "HEAD"]);
    git(&clone, &["checkout", "-q", "--detach", &commit]);
    let report = env.json(&["discover"]);
    assert_eq!(report["found"][0]["rev"], commit.as_str(), "{report:#}");
    env.ok(&["plugin", "update", "garage-door", "--rev", &commit]);
    env.ok(&["build"]);
}

#[test]
fn what_cannot_be_built_as_found_is_refused_with_how_to_fix_it_and_nothing_is_recorded() {
    let env = Env::new();
    let plugins = env.dir().join("plugins");
    let write = |dir: &str, file: &str, bytes: &[u8]| {
        let path = plugins.join(dir).join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    // A plain directory with a valid manifest: never guessed to be a PyPI package.
    write(
        "porch_light",
        "src/porch_light/cosmo.json",
        MANIFEST.as_bytes(),
    );
    write(
        "porch_light",
        "pyproject.toml",
        b"[project]\nname = \"porch-light\"\n",
    );
    // A clone with two manifests.
    let repo = git_repo_of("garage-door-1.0.0");
    let two = clone_into(&env, repo.path(), "two-manifests");
    std::fs::write(two.join("cosmo.json"), MANIFEST).unwrap();
    // A repository whose manifest is not committed.
    let scratch = tempfile::tempdir().unwrap();
    let uncommitted = make_package(scratch.path(), "sprinkler", "1.0.0", "", None);
    git(&uncommitted, &["init", "-q"]);
    git(&uncommitted, &["add", "-A"]);
    git(&uncommitted, &["commit", "-q", "-m", "first"]);
    std::fs::write(uncommitted.join("src/sprinkler/cosmo.json"), MANIFEST).unwrap();
    copy_dir(&uncommitted, &plugins.join("sprinkler"));
    // A repository with no commit, and one without a pyproject.toml.
    write("empty-repo", "cosmo.json", MANIFEST.as_bytes());
    write(
        "empty-repo",
        "pyproject.toml",
        b"[project]\nname = \"empty\"\n",
    );
    git(&plugins.join("empty-repo"), &["init", "-q"]);
    write("no-pyproject", "cosmo.json", MANIFEST.as_bytes());
    git(&plugins.join("no-pyproject"), &["init", "-q"]);
    git(&plugins.join("no-pyproject"), &["add", "-A"]);
    git(
        &plugins.join("no-pyproject"),
        &["commit", "-q", "-m", "first"],
    );
    // Invalid manifests.
    write(
        "missing-field",
        "cosmo.json",
        br#"{"name": "N", "version": "1", "description": "d"}"#,
    );
    write("bad-json", "mod/cosmo.json", b"{\"name\": ");
    write("not-utf8", "cosmo.json", b"{\"name\": \"\xff\xfe\"}");
    write("huge", "cosmo.json", &vec![b' '; 1024 * 1024 + 1]);
    write("bad-prefix", "cosmo.json", br#"{"name": "N", "version": "1", "plugin_class": "m.C", "description": "d", "url_prefix": "api"}"#);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("cosmo.json"), MANIFEST).unwrap();
    std::fs::create_dir_all(plugins.join("escapes")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("cosmo.json"),
        plugins.join("escapes/cosmo.json"),
    )
    .unwrap();
    // Not plugins: no manifest where plugins keep one.
    write("no-manifest-here", "README", b"x");
    write("too-deep", "a/b/cosmo.json", MANIFEST.as_bytes());
    write("hidden", ".cache/cosmo.json", MANIFEST.as_bytes());

    let before = env.snapshot();
    let report = env.json(&["discover"]);
    assert!(report["found"].as_array().unwrap().is_empty(), "{report:#}");
    assert!(report["added"].as_array().unwrap().is_empty());
    let porch = reason(&report, "porch_light");
    assert!(
        porch.contains("not a git repository")
            && porch.contains("git -C")
            && porch.contains("plugin add"),
        "{porch}"
    );
    let two = reason(&report, "two-manifests");
    assert!(
        two.contains("more than one cosmo.json")
            && two.contains("two-manifests/cosmo.json")
            && two.contains("src/garage_door/cosmo.json"),
        "{two}"
    );
    assert!(reason(&report, "sprinkler").contains("is not in the commit"));
    assert!(reason(&report, "empty-repo").contains("no commit yet"));
    assert!(reason(&report, "no-pyproject").contains("no pyproject.toml"));
    assert!(reason(&report, "missing-field").contains("missing field `plugin_class`"));
    assert!(reason(&report, "bad-json").contains("invalid manifest"));
    assert!(reason(&report, "not-utf8").contains("not UTF-8"));
    assert!(reason(&report, "huge").contains("at most 1048576"));
    assert!(reason(&report, "bad-prefix").contains("must start with '/'"));
    assert!(reason(&report, "escapes").contains("outside the plugin directory"));
    assert_eq!(rejected(&report).len(), 11, "{:?}", rejected(&report));
    // Nothing was recorded: the scan found nothing to record, so it wrote nothing.
    assert_eq!(env.snapshot(), before);
    assert!(env.json(&["plugin", "list"]).as_array().unwrap().is_empty());
}

#[test]
fn existing_records_are_never_changed_and_a_second_scan_adds_nothing() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let zigbee = env.plugin("zigbee-switch");
    let scratch = tempfile::tempdir().unwrap();
    // A repository whose pyproject names the distribution in another spelling.
    let sprinkler = package_repo(scratch.path(), "Garden_Sprinkler", "1.0.0", "", MANIFEST);
    clone_into(&env, &sprinkler, "whatever-name");
    let zigbee_repo = git_repo_of("zigbee-switch-1.0.0");
    clone_into(&env, zigbee_repo.path(), "zigbee");

    let report = env.json(&["discover"]);
    let added: Vec<&str> = report["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["garden-sprinkler"], "{report:#}");
    assert_eq!(report["found"].as_array().unwrap().len(), 2);
    assert_eq!(env.plugin("zigbee-switch"), zigbee);
    let rows = env.json(&["plugin", "list"]);
    let again = env.json(&["discover"]);
    assert!(again["added"].as_array().unwrap().is_empty());
    assert_eq!(env.json(&["plugin", "list"]), rows);
}

#[test]
fn without_a_plugins_directory_discover_says_where_to_clone_and_writes_nothing() {
    let env = Env::new();
    let before = env.snapshot();
    let out = env.run(&["discover"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let plugins = env.dir().join("plugins");
    assert!(
        stderr.contains(&format!("{} does not exist", plugins.display()))
            && stderr.contains("git -C"),
        "{stderr}"
    );
    assert!(!plugins.exists());
    assert_eq!(env.snapshot(), before);
    // Once it exists (empty), nothing to say.
    std::fs::create_dir(&plugins).unwrap();
    let out = env.run(&["discover"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
