//! The plugin checks of a build (store-layout.md, build step 8): among good plugins, one
//! that hangs, crashes the interpreter, poisons the import state, reaches out of its own
//! distribution, ships the server's package or a `.pth`, or has a bad `url_prefix` is
//! FAILED alone, with a reason that names the problem; the build exits 4 and `current`
//! stays where it was.

use crate::common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The good plugins of every bundle here, in the order they are checked (by name).
/// The bad plugins' names start with `m-`: they are checked after some good ones and
/// before others.
const GOOD: &[&str] = &[
    "aa-server-user",
    "garage-door",
    "hue-lights",
    "zigbee-switch",
    "zz-json-user",
];

fn cosmo_json(module: &str, class: &str, url_prefix: Option<&str>) -> String {
    let mut m = json!({
        "name": module,
        "version": "1.0.0",
        "plugin_class": format!("{module}.{class}"),
        "description": "test plugin",
    });
    if let Some(p) = url_prefix {
        m["url_prefix"] = json!(p);
    }
    m.to_string()
}

/// Good plugins made here: one that prints on stdout and uses the server's own package at
/// import, one that uses `json.loads` at import.
fn good_packages(root: &Path) -> Vec<PathBuf> {
    vec![
        make_package(
            root,
            "aa-server-user",
            "1.0.0",
            "import cosmoserver\nprint('hello from aa-server-user')\nassert cosmoserver.__version__ == '0.4.0', cosmoserver.__version__\nclass P:\n    pass\n",
            Some(&cosmo_json("aa_server_user", "P", Some("/aa"))),
        ),
        make_package(
            root,
            "zz-json-user",
            "1.0.0",
            "import json\nCONFIG = json.loads('{\"a\": 1}')\nclass P:\n    pass\n",
            Some(&cosmo_json("zz_json_user", "P", None)),
        ),
    ]
}

/// One bad plugin: its code, manifest, extra files, and what its reason must contain.
struct Bad {
    name: &'static str,
    code: &'static str,
    /// `plugin_class`, when not `<module>.P`.
    class: Option<&'static str>,
    url_prefix: Option<&'static str>,
    /// Extra files under the package's `src/` (they land at the top of site-packages).
    files: &'static [(&'static str, &'static str)],
    want: &'static [&'static str],
}

impl Bad {
    fn new(name: &'static str, code: &'static str, want: &'static [&'static str]) -> Bad {
        Bad {
            name,
            code,
            class: None,
            url_prefix: None,
            files: &[],
            want,
        }
    }

    fn module(&self) -> String {
        self.name.replace('-', "_")
    }

    fn package(&self, root: &Path) -> PathBuf {
        let module = self.module();
        let mut manifest: Value =
            serde_json::from_str(&cosmo_json(&module, "P", self.url_prefix)).unwrap();
        if let Some(class) = self.class {
            manifest["plugin_class"] = json!(class);
        }
        let dir = make_package(
            root,
            self.name,
            "1.0.0",
            self.code,
            Some(&manifest.to_string()),
        );
        for (path, text) in self.files {
            let path = dir.join("src").join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }
}

/// The records of the plugin table, except `except`.
fn rows_except(env: &Env, except: &[&str]) -> Vec<Value> {
    env.json(&["plugin", "list"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !except.contains(&r["name"].as_str().unwrap()))
        .cloned()
        .collect()
}

/// An env whose wheelhouse has the good plugins and `bad`, with the good ones built into
/// generation 1.
fn env_with_good_plugins(bad: &[Bad], import_timeout: Option<&str>) -> (Env, tempfile::TempDir) {
    let pkgs = tempfile::tempdir().unwrap();
    let wheels = pkgs.path().join("wheels");
    let mut packages = good_packages(pkgs.path());
    packages.extend(bad.iter().map(|b| b.package(pkgs.path())));
    let mut env = Env::new();
    env.add_wheels(&packages, &wheels);
    if let Some(t) = import_timeout {
        env.set("COSMO_IMPORT_TIMEOUT", t);
    }
    for name in GOOD {
        env.ok(&["plugin", "add", name, "--version", "1.0.0"]);
    }
    env.ok(&["build"]);
    for row in rows_except(&env, &[]) {
        assert_eq!(row["install_status"], "INSTALLED", "{row}");
    }
    (env, pkgs)
}

/// Adds the plugins `names` to the good ones, builds, and checks that exactly `names` fail,
/// each with a reason containing its `want`s, and that nothing else changed.
fn build_fails_naming(env: &Env, bad: &[&Bad]) {
    let rows_before = rows_except(env, &[]);
    let current = env.current_target();
    assert!(current.is_some());
    let names: Vec<&str> = bad.iter().map(|b| b.name).collect();
    for name in &names {
        env.ok(&["plugin", "add", name, "--version", "1.0.0"]);
    }
    let out = env.run(&["--json", "build"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{names:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error: Value = serde_json::from_str(&stdout).unwrap();
    let failures = error["error"]["failures"].as_array().unwrap();
    let failed: Vec<&str> = failures
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, names, "{stdout}");
    for (b, f) in bad.iter().zip(failures) {
        let reason = f["reason"].as_str().unwrap();
        for want in b.want {
            assert!(
                reason.contains(want),
                "{}: {reason:?} lacks {want:?}",
                b.name
            );
        }
        let rec = env.plugin(b.name);
        assert_eq!(rec["install_status"], "FAILED", "{}", b.name);
        assert_eq!(rec["error_message"], reason, "{}", b.name);
    }
    // The good plugins are not blamed: their rows did not change at all.
    assert_eq!(rows_except(env, &names), rows_before);
    assert_eq!(env.current_target(), current);
    assert_eq!(env.json(&["generations"]).as_array().unwrap().len(), 1);
    for name in &names {
        env.ok(&["plugin", "remove", name]);
    }
}

#[test]
fn a_plugin_that_hangs_or_crashes_the_interpreter_is_named_and_the_others_pass() {
    let bad = [
        Bad::new(
            "m-hangs",
            "import time\ntime.sleep(3600)\nclass P:\n    pass\n",
            &[
                "importing m_hangs.P did not finish within 2s (COSMO_IMPORT_TIMEOUT)",
                "it was at File \"",
                "m_hangs/__init__.py\", line 2 in <module>",
            ],
        ),
        Bad::new(
            "m-exits-hard",
            "import os\nos._exit(3)\nclass P:\n    pass\n",
            &["importing m_exits_hard.P crashed the Python interpreter (exit status: 3)"],
        ),
        Bad::new(
            "m-segfaults",
            "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\nclass P:\n    pass\n",
            &[
                "importing m_segfaults.P crashed the Python interpreter (signal: 11 (SIGSEGV)",
                "m_segfaults/__init__.py\", line 2 in <module>",
            ],
        ),
        Bad::new(
            "m-kills-itself",
            "import os, signal\nprint('giving up', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\nclass P:\n    pass\n",
            &[
                "importing m_kills_itself.P crashed the Python interpreter (signal: 9 (SIGKILL))",
                "its last output: giving up",
            ],
        ),
        Bad::new(
            "m-exits",
            "import sys\nsys.exit(5)\nclass P:\n    pass\n",
            &["cannot import m_exits.P: SystemExit: 5"],
        ),
    ];
    let (env, _pkgs) = env_with_good_plugins(&bad, Some("2"));
    for b in &bad {
        build_fails_naming(&env, &[b]);
    }
    // Several at once: each is named, in one build.
    build_fails_naming(&env, &[&bad[4], &bad[1], &bad[0], &bad[3], &bad[2]]);
}

#[test]
fn a_plugin_that_poisons_the_import_state_is_named_and_the_others_pass() {
    let bad = [
        Bad::new(
            "m-drops-json",
            "import sys\nsys.modules['json'] = None\nclass P:\n    pass\n",
            &[
                "importing m_drops_json.P changes the import state that the server and every plugin share",
                "set sys.modules['json'] to None (blocking its import)",
            ],
        ),
        Bad::new(
            "m-wraps-import",
            "import builtins\n_real = builtins.__import__\ndef _imp(name, *a, **k):\n    return _real(name, *a, **k)\nbuiltins.__import__ = _imp\nclass P:\n    pass\n",
            &["it replaced builtins.__import__"],
        ),
        Bad::new(
            "m-bad-finder",
            "import sys\nclass Broken:\n    def find_spec(self, *a, **k):\n        raise RuntimeError('broken finder')\nsys.meta_path.insert(0, Broken())\nclass P:\n    pass\n",
            &["it changed sys.meta_path"],
        ),
        Bad::new(
            "m-front-path",
            "import sys\nsys.path.insert(0, '/nonexistent')\nclass P:\n    pass\n",
            &["it changed sys.path"],
        ),
        // Not seen by the worker's own look at the state: found because a later plugin
        // fails after it, and passes alone.
        Bad::new(
            "m-patches-json",
            "import json\ndef _broken(*a, **k):\n    raise RuntimeError('json.loads is broken')\njson.loads = _broken\nclass P:\n    pass\n",
            &[
                "importing m_patches_json.P breaks the plugins imported after it in the same Python process",
                "zz-json-user then fails (cannot import zz_json_user.P: RuntimeError: json.loads is broken), though it passes alone",
            ],
        ),
    ];
    let (env, _pkgs) = env_with_good_plugins(&bad, None);
    for b in &bad {
        build_fails_naming(&env, &[b]);
    }
}

#[test]
fn a_plugin_must_stay_in_its_own_lane() {
    let bad = [
        Bad {
            class: Some("subprocess.Popen"),
            ..Bad::new(
                "m-popen",
                "class P:\n    pass\n",
                &[
                    "plugin_class `subprocess.Popen` is not in the plugin's own distribution: its top-level module `subprocess` is not one that m-popen installs (it installs m_popen)",
                ],
            )
        },
        Bad {
            class: Some("collections.OrderedDict"),
            ..Bad::new(
                "m-ordered",
                "class P:\n    pass\n",
                &["plugin_class `collections.OrderedDict` is not in the plugin's own distribution"],
            )
        },
        Bad::new(
            "m-reexports",
            "from collections import OrderedDict as P\n",
            &[
                "m_reexports.P is defined in module collections (",
                "which distribution m-reexports does not install; plugin_class must name a class of the plugin's own distribution",
            ],
        ),
        Bad {
            files: &[
                (
                    "cosmoserver/__init__.py",
                    "raise ImportError('not the server')\n",
                ),
                ("cosmoserver/main.py", ""),
            ],
            ..Bad::new(
                "m-ships-server",
                "class P:\n    pass\n",
                &[
                    "installs a top-level `cosmoserver` package (cosmoserver/), which would shadow the server's own code",
                ],
            )
        },
        Bad {
            files: &[("m_ships_pth.pth", "import os; os._exit(9)\n")],
            ..Bad::new(
                "m-ships-pth",
                "class P:\n    pass\n",
                &["installs m_ships_pth.pth (a .pth file runs at every start-up of Python"],
            )
        },
        Bad {
            files: &[("sitecustomize.py", "import os\nos._exit(9)\n")],
            ..Bad::new(
                "m-customizes",
                "class P:\n    pass\n",
                &["installs a top-level `sitecustomize` module (sitecustomize.py)"],
            )
        },
        Bad {
            url_prefix: Some("//evil"),
            ..Bad::new(
                "m-bad-prefix",
                "class P:\n    pass\n",
                &["field `url_prefix`: \"//evil\" must not contain an empty segment ('//')"],
            )
        },
        Bad {
            url_prefix: Some("/x?a=1"),
            ..Bad::new(
                "m-query-prefix",
                "class P:\n    pass\n",
                &["field `url_prefix`: \"/x?a=1\" must not contain '?'"],
            )
        },
    ];
    let (env, _pkgs) = env_with_good_plugins(&bad, None);
    for b in &bad {
        build_fails_naming(&env, &[b]);
    }
}
