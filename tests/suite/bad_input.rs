//! Bad input, case by case: every case is refused with its documented exit code and error
//! kind, says what is wrong (stderr, and `--json`'s error object), and writes nothing: the
//! data directory, the server repository and anything a case set up outside them are
//! byte-identical before and after (run both as text and as `--json`).
//!
//! The cases run on a copy of one data directory with history (generation 1:
//! zigbee-switch; generation 2, current: plus hue-lights from git; garage-door PENDING).
//! In arguments, `{scratch}` is a directory of the case's own (outside the data directory),
//! `{data}` the data directory and `{hue}` the URL of the hue-lights git repository.

use crate::common::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What a case's setup may use.
struct Fixture<'a> {
    data: &'a Path,
    scratch: &'a Path,
}

type Setup = Box<dyn Fn(&Fixture)>;
type ServerEdit = Box<dyn Fn(&Path)>;

struct Case {
    name: String,
    args: Vec<String>,
    /// The exit code (a few cases allow more than one: see where they are made).
    codes: Vec<i32>,
    /// The `--json` error kind.
    kind: Option<&'static str>,
    /// What stderr must say (each, case-insensitive).
    says: Vec<String>,
    /// Changes to the copy of the data directory before the case runs.
    setup: Option<Setup>,
    /// Changes to a copy of the server repository, which the case runs with.
    server: Option<ServerEdit>,
    vars: Vec<(String, OsString)>,
    /// The case runs with no server repository at all.
    no_server: bool,
    /// What neither stdout nor stderr may say (a secret given in the input).
    hides: Vec<String>,
}

fn case(name: &str, args: &[&str], code: i32, kind: &'static str, says: &[&str]) -> Case {
    Case {
        name: name.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        codes: vec![code],
        kind: Some(kind),
        says: says.iter().map(|s| s.to_string()).collect(),
        setup: None,
        server: None,
        vars: Vec::new(),
        no_server: false,
        hides: Vec::new(),
    }
}

impl Case {
    fn setup(mut self, f: impl Fn(&Fixture) + 'static) -> Case {
        self.setup = Some(Box::new(f));
        self
    }

    fn server(mut self, f: impl Fn(&Path) + 'static) -> Case {
        self.server = Some(Box::new(f));
        self
    }

    fn var(mut self, key: &str, value: impl Into<OsString>) -> Case {
        self.vars.push((key.to_string(), value.into()));
        self
    }

    fn codes(mut self, codes: &[i32]) -> Case {
        self.codes = codes.to_vec();
        self
    }

    fn any_kind(mut self) -> Case {
        self.kind = None;
        self
    }

    fn hides(mut self, secret: &str) -> Case {
        self.hides.push(secret.to_string());
        self
    }
}

/// `plugin add NAME --version 1.0.0` with a bad name.
fn names() -> Vec<Case> {
    let long = "a".repeat(256);
    let says = "not a valid Python distribution name";
    let mut out: Vec<Case> = [
        ("space", "bad name"),
        ("empty", ""),
        ("trailing dash", "dash-"),
        ("leading underscore", "_under"),
        ("newline", "name\nnewline"),
        ("tab", "tab\tname"),
        ("256 characters", long.as_str()),
        ("shell", "zig;rm -rf ~"),
        ("non-ASCII", "über-switch"),
        ("path", "name/../x"),
        ("command substitution", "$(touch x)"),
        ("requirement", "zigbee-switch==1.0"),
        ("at sign", "zigbee@1"),
        ("surrounding spaces", " zigbee-switch "),
    ]
    .into_iter()
    .map(|(what, name)| {
        case(
            &format!("name: {what}"),
            &["plugin", "add", name, "--version", "1.0.0"],
            2,
            "bad_input",
            &[says],
        )
    })
    .collect();
    out.push(case(
        "name: leading dash (an option to the parser)",
        &["plugin", "add", "-dash", "--version", "1.0.0"],
        2,
        "bad_input",
        &["unexpected argument"],
    ));
    out
}

/// `plugin add hue-lights --version V` (and `plugin update`) with a bad version.
fn versions() -> Vec<Case> {
    let long = format!("1.{}0", "0.".repeat(30));
    let mut out: Vec<Case> = [
        ("a word", "latest"),
        ("shell", "1.0; rm -rf /"),
        ("inner space", "1.0 0"),
        ("inner newline", "1.0\n1"),
        ("inner tab", "1.0\t1"),
        ("empty", ""),
        ("blank", "   "),
        ("a specifier", "==1.0"),
        ("a range", ">=1.0"),
        ("a wildcard", "1.0.*"),
        ("a letter", "v"),
        ("two versions", "1.0,2.0"),
        ("double dot", "1..0"),
        ("a quote", "1.0.0'"),
        ("a local version with a space", "1.0+local build"),
        ("non-ASCII digits", "١.٠"),
        ("a right-to-left override", "\u{202e}1.0"),
    ]
    .into_iter()
    .map(|(what, v)| {
        case(
            &format!("version: {what}"),
            &["plugin", "add", "hue-lights2", "--version", v],
            2,
            "bad_input",
            &["not a PEP 440 version"],
        )
    })
    .collect();
    out.push(case(
        "version: longer than 50 characters",
        &["plugin", "add", "hue-lights2", "--version", &long],
        2,
        "bad_input",
        &["longer than 50 characters"],
    ));
    for (what, v) in [
        ("a word", "newest"),
        ("inner space", "1.1 .0"),
        ("a specifier", "~=1.1"),
        ("empty", ""),
    ] {
        out.push(case(
            &format!("update version: {what}"),
            &["plugin", "update", "zigbee-switch", "--version", v],
            2,
            "bad_input",
            &["not a PEP 440 version"],
        ));
    }
    out.push(case(
        "update version: longer than 50 characters",
        &["plugin", "update", "zigbee-switch", "--version", &long],
        2,
        "bad_input",
        &["longer than 50"],
    ));
    out.push(case(
        "version: a version that does not exist",
        &["plugin", "add", "hue-lights2", "--version", "1.0.0"],
        2,
        "package_not_found",
        &["does not exist"],
    ));
    out.push(case(
        "version: neither --version nor --git",
        &["plugin", "add", "hue-lights2"],
        2,
        "bad_input",
        &["--version"],
    ));
    out.push(case(
        "version: both --version and --git",
        &["plugin", "add", "x", "--version", "1.0", "--git", "{hue}"],
        2,
        "bad_input",
        &["cannot be used with"],
    ));
    out.push(case(
        "version: --rev without --git",
        &["plugin", "add", "x", "--version", "1.0", "--rev", "v1"],
        2,
        "bad_input",
        &["--rev"],
    ));
    out
}

/// `plugin add hue-lights2 --git URL` with a bad URL, and bad refs.
fn git() -> Vec<Case> {
    let mut out: Vec<Case> = [
        ("http", "http://example.org/x.git", "not allowed"),
        (
            "ext transport",
            "ext::sh -c touch% /tmp/pwned",
            "whitespace",
        ),
        ("scp-like", "git@example.org:x.git", "no scheme"),
        (
            "ssh port as an option",
            "ssh://host:-oProxyCommand=touch%20/tmp/pwned/r",
            "port",
        ),
        (
            "ssh host as an option",
            "ssh://-oProxyCommand=touch/r",
            "host",
        ),
        ("ssh user as an option", "ssh://-oX@host/r", "user name"),
        ("file URL with @", "file:///x@y", "'@'"),
        (
            "https credentials",
            "https://user:pw@example.org/r.git",
            "credentials",
        ),
        (
            "https token",
            "https://token@example.org/r.git",
            "credentials",
        ),
        ("ftp", "ftp://example.org/r.git", "not allowed"),
        ("git protocol", "git://example.org/r.git", "not allowed"),
        ("file URL with a host", "file://host/path", "names a host"),
        ("file URL without a path", "file:///", "no repository path"),
        (
            "https without a path",
            "https://example.org",
            "no repository path",
        ),
        ("dot-dot segment", "https://example.org/a/../b", "'..'"),
        ("dot segment", "https://example.org/a/./b", "'.'"),
        ("dash segment", "https://example.org/-x", "'-…'"),
        ("dash host", "https://-example.org/x", "host"),
        ("port zero", "https://example.org:0/x", "port"),
        ("port not a number", "https://example.org:abc/x", "port"),
        ("port too large", "https://example.org:99999/x", "port"),
        ("fragment", "file:///tmp/x#frag", "'#'"),
        ("query", "https://example.org/x?q=1", "'?'"),
        ("percent escape", "https://example.org/%2e%2e/x", "'%'"),
        ("backslash", "file:///tmp\\x", "'\\\\'"),
        ("empty", "", "empty"),
        ("space in host", "https://exa mple.org/x", "whitespace"),
        ("inner newline", "https://example.org/x\ny", "whitespace"),
        ("bad IPv6 host", "https://[zz]/x", "host"),
        ("underscore host", "https://ex_ample.org/x", "host"),
        ("empty host", "https:///x", "host"),
        ("an option", "--upload-pack=touch", "no scheme"),
    ]
    .into_iter()
    .map(|(what, url, says)| {
        let arg = format!("--git={url}");
        case(
            &format!("git URL: {what}"),
            &["plugin", "add", "hue-lights2", &arg],
            2,
            "bad_input",
            &["git URL", says],
        )
    })
    .collect();
    let long = "r".repeat(51);
    for (what, rev) in [
        ("upload-pack option", "--upload-pack=touch /tmp/pwned"),
        ("dash", "-x"),
        ("absolute", "/abs"),
        ("hidden", ".hidden"),
        ("dot-dot", "a..b"),
        ("reflog", "x@{1}"),
        ("space", "ma in"),
        ("newline", "main\nx"),
        ("51 characters", long.as_str()),
        ("tilde", "main~1"),
        ("caret", "main^"),
        ("colon", "a:b"),
        ("trailing dot", "refs/heads/x."),
        ("trailing slash", "x/"),
        ("empty", ""),
    ] {
        let arg = format!("--rev={rev}");
        out.push(case(
            &format!("git ref: {what}"),
            &["plugin", "add", "hue-lights2", "--git", "{hue}", &arg],
            2,
            "bad_input",
            &["not an accepted git ref"],
        ));
    }
    for (what, rev) in [
        ("dash", "-x"),
        ("option", "--output=/tmp/x"),
        ("caret", "v1.0.0^"),
    ] {
        let arg = format!("--rev={rev}");
        out.push(case(
            &format!("update git ref: {what}"),
            &["plugin", "update", "hue-lights", &arg],
            2,
            "bad_input",
            &["not an accepted git ref"],
        ));
    }
    out.push(case(
        "git ref: does not exist",
        &[
            "plugin",
            "add",
            "hue-lights2",
            "--git",
            "{hue}",
            "--rev",
            "no-such-branch",
        ],
        2,
        "not_found",
        &["no-such-branch"],
    ));
    out.push(case(
        "git URL: no repository there",
        &[
            "plugin",
            "add",
            "hue-lights2",
            "--git",
            "file:///nonexistent/repo",
        ],
        6,
        "git_failed",
        &["git", "/nonexistent/repo"],
    ));
    out.push(case(
        "git ref: update of a PyPI plugin without a version",
        &["plugin", "update", "zigbee-switch"],
        2,
        "bad_input",
        &["comes from PyPI"],
    ));
    out
}

/// `manifest check FILE` on bad cosmo.json files (written outside the data directory).
fn manifests() -> Vec<Case> {
    let good = r#"{"name": "Smart Switch", "version": "1.0.0", "plugin_class": "zigbee_switch.SmartSwitchPlugin", "description": "Controls switches", "url_prefix": "/zigbee"}"#;
    let with = |field: &str, value: serde_json::Value| {
        let mut v: serde_json::Value = serde_json::from_str(good).unwrap();
        v[field] = value;
        v.to_string()
    };
    let without = |field: &str| {
        let mut v: serde_json::Value = serde_json::from_str(good).unwrap();
        v.as_object_mut().unwrap().remove(field);
        v.to_string()
    };
    let mut files: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("not JSON", b"{".to_vec(), vec!["invalid manifest"]),
        ("an array", b"[]".to_vec(), vec!["invalid manifest"]),
        ("null", b"null".to_vec(), vec!["invalid manifest"]),
        ("a string", b"\"plugin\"".to_vec(), vec!["invalid manifest"]),
        ("no name", without("name").into_bytes(), vec!["name"]),
        (
            "no version",
            without("version").into_bytes(),
            vec!["version"],
        ),
        (
            "no plugin_class",
            without("plugin_class").into_bytes(),
            vec!["plugin_class"],
        ),
        (
            "no description",
            without("description").into_bytes(),
            vec!["description"],
        ),
        (
            "empty name",
            with("name", "".into()).into_bytes(),
            vec!["`name` is empty"],
        ),
        (
            "blank description",
            with("description", "  ".into()).into_bytes(),
            vec!["`description` is empty"],
        ),
        (
            "name a number",
            with("name", 5.into()).into_bytes(),
            vec!["invalid manifest"],
        ),
        (
            "class without module",
            with("plugin_class", "SmartSwitch".into()).into_bytes(),
            vec!["plugin_class", "module part"],
        ),
        (
            "class part a number",
            with("plugin_class", "a.1b".into()).into_bytes(),
            vec!["plugin_class", "not a Python identifier"],
        ),
        (
            "class part a keyword",
            with("plugin_class", "a.class".into()).into_bytes(),
            vec!["plugin_class", "not a Python identifier"],
        ),
        (
            "class empty part",
            with("plugin_class", "a..B".into()).into_bytes(),
            vec!["plugin_class"],
        ),
        (
            "class with a space",
            with("plugin_class", "a. B".into()).into_bytes(),
            vec!["plugin_class"],
        ),
        (
            "prefix without slash",
            with("url_prefix", "zigbee".into()).into_bytes(),
            vec!["url_prefix", "start with '/'"],
        ),
        (
            "prefix with dot-dot",
            with("url_prefix", "/a/../b".into()).into_bytes(),
            vec!["url_prefix", "'..'"],
        ),
        (
            "prefix with a dot segment",
            with("url_prefix", "/./a".into()).into_bytes(),
            vec!["url_prefix"],
        ),
        (
            "prefix with a space",
            with("url_prefix", "/a b".into()).into_bytes(),
            vec!["url_prefix", "' '"],
        ),
        (
            "prefix a number",
            with("url_prefix", 7.into()).into_bytes(),
            vec!["invalid manifest"],
        ),
        (
            "unknown field",
            with("colour", "red".into()).into_bytes(),
            vec!["colour"],
        ),
        (
            "not UTF-8",
            b"{\"name\": \"\xff\"}".to_vec(),
            vec!["not UTF-8"],
        ),
    ];
    let mut big = with("description", "x".repeat(1_100_000).into()).into_bytes();
    big.push(b'\n');
    files.push(("larger than 1 MiB", big, vec!["bytes", "at most"]));
    let mut out: Vec<Case> = files
        .into_iter()
        .map(|(what, bytes, says)| {
            case(
                &format!("manifest: {what}"),
                &["manifest", "check", "{scratch}/cosmo.json"],
                2,
                "bad_input",
                &says,
            )
            .setup(move |f| std::fs::write(f.scratch.join("cosmo.json"), &bytes).unwrap())
        })
        .collect();
    out.push(case(
        "manifest: no such file",
        &["manifest", "check", "{scratch}/missing.json"],
        2,
        "bad_input",
        &["missing.json"],
    ));
    out.push(
        case(
            "manifest: a directory",
            &["manifest", "check", "{scratch}/dir"],
            2,
            "bad_input",
            &["not a regular file"],
        )
        .setup(|f| std::fs::create_dir(f.scratch.join("dir")).unwrap()),
    );
    out
}

/// `cp -a FROM TO`: files, links and modes as they are.
fn cp_a(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Server repositories that are not one (each a changed copy of the fixture server).
fn servers() -> Vec<Case> {
    let mut out = Vec::new();
    for args in [
        &["build"][..],
        &["plugin", "update", "zigbee-switch", "--version", "1.1.0"],
    ] {
        let verb = args.join(" ");
        let with = |what: &str, says: &[&str], edit: fn(&Path)| {
            case(
                &format!("server ({verb}): {what}"),
                args,
                2,
                "bad_input",
                says,
            )
            .server(edit)
        };
        out.push(with("no pyproject.toml", &["has no pyproject.toml"], |s| {
            std::fs::remove_file(s.join("pyproject.toml")).unwrap()
        }));
        out.push(with(
            "invalid TOML",
            &["is not valid TOML", "line 2"],
            |s| write(&s.join("pyproject.toml"), "[project]\nname = \n"),
        ));
        out.push(with(
            "pyproject.toml a symlink outside",
            &["symlink to a file outside the server repository"],
            |s| {
                std::fs::remove_file(s.join("pyproject.toml")).unwrap();
                std::os::unix::fs::symlink(
                    fixture_server().join("pyproject.toml"),
                    s.join("pyproject.toml"),
                )
                .unwrap();
            },
        ));
        out.push(with("dynamic dependencies", &["dependencies are dynamic"], |s| {
            write(
                &s.join("pyproject.toml"),
                "[project]\nname = \"cosmo-server\"\nversion = \"1\"\ndynamic = [\"dependencies\"]\n",
            )
        }));
        out.push(with(
            "no src/cosmoserver",
            &["has no src/cosmoserver"],
            |s| std::fs::remove_dir_all(s.join("src/cosmoserver")).unwrap(),
        ));
        out.push(with(
            "src/cosmoserver a file",
            &["has no src/cosmoserver"],
            |s| {
                std::fs::remove_dir_all(s.join("src/cosmoserver")).unwrap();
                write(&s.join("src/cosmoserver"), "not a package");
            },
        ));
        out.push(with(
            "no [project] table",
            &["has no [project] table"],
            |s| {
                write(
                    &s.join("pyproject.toml"),
                    "[tool.uv]\nresolution = \"highest\"\n",
                )
            },
        ));
        out.push(with("no project name", &["[project].name"], |s| {
            write(&s.join("pyproject.toml"), "[project]\nversion = \"1\"\n")
        }));
        out.push(with(
            "dependencies not an array",
            &["[project].dependencies is not an array"],
            |s| {
                write(
                    &s.join("pyproject.toml"),
                    "[project]\nname = \"cosmo-server\"\ndependencies = \"fastapi\"\n",
                )
            },
        ));
        out.push(with("pyproject.toml not UTF-8", &["is not UTF-8"], |s| {
            std::fs::write(s.join("pyproject.toml"), b"[project]\nname = \"\xff\"\n").unwrap()
        }));
    }
    out.push(case(
        "server: does not exist",
        &["--server", "/nonexistent/server", "build"],
        2,
        "bad_input",
        &["server directory /nonexistent/server"],
    ));
    out.push(
        case(
            "server: a file",
            &["--server", "{scratch}/file", "build"],
            2,
            "bad_input",
            &["{scratch}/file"],
        )
        .setup(|f| write(&f.scratch.join("file"), "x")),
    );
    let mut none = case(
        "server: none given",
        &["build"],
        2,
        "bad_input",
        &["no server repository given", "COSMO_SERVER_DIR"],
    );
    none.no_server = true;
    out.push(none);
    out
}

/// `config set|unset` with bad keys and values, and hand-broken settings files.
fn settings() -> Vec<Case> {
    let mut out: Vec<Case> = [
        (
            &["config", "set", "colour", "red"][..],
            &["unknown setting", "colour"][..],
        ),
        (
            &["config", "set", "no-index", "yes"],
            &["no-index", "true or false"],
        ),
        (
            &["config", "set", "find-links", "relative/wheels"],
            &["find-links", "not a URL"],
        ),
        (
            &[
                "config",
                "set",
                "index-url",
                "https://u:pw@example.org/simple",
            ],
            &["index-url", "credentials"],
        ),
        (
            &["config", "set", "index-url", "ftp://example.org/simple"],
            &["index-url"],
        ),
        (
            &["config", "set", "index-url", "https://example.org/a\nb"],
            &["index-url"],
        ),
        (
            &[
                "config",
                "set",
                "index-url",
                "https://a.org/s",
                "https://b.org/s",
            ],
            &["index-url"],
        ),
        (
            &["config", "set", "extra-index-url", "not a url"],
            &["extra-index-url"],
        ),
        (
            &["config", "set", "python", "python3"],
            &["python", "absolute path"],
        ),
        (&["config", "set", "python", "3. 11"], &["python"]),
        (
            &["config", "set", "exclude-newer", "last week"],
            &["exclude-newer", "RFC 3339"],
        ),
        (&["config", "set", "resolution", "fastest"], &["resolution"]),
        (
            &["config", "set", "prerelease", "sometimes"],
            &["prerelease"],
        ),
        (
            &["config", "set", "index-strategy", "random"],
            &["index-strategy"],
        ),
        (
            &["config", "set", "no-index", "true", "false"],
            &["no-index"],
        ),
        (&["config", "set", "find-links", ""], &["find-links"]),
        (
            &["config", "unset", "colour"],
            &["unknown setting", "colour"],
        ),
        (&["config", "get", "colour"], &["unknown setting", "colour"]),
    ]
    .into_iter()
    .map(|(args, says)| {
        case(
            &format!("setting: {}", args[1..].join(" ")),
            args,
            2,
            "bad_input",
            says,
        )
    })
    .collect();
    for (what, text, says) in [
        (
            "invalid TOML",
            "no-index = \n",
            &["settings.toml", "not valid TOML"][..],
        ),
        (
            "unknown key",
            "colour = \"red\"\n",
            &["settings.toml", "colour"],
        ),
        (
            "bad value",
            "no-index = \"maybe\"\n",
            &["settings.toml", "no-index"],
        ),
        (
            "a number for a list",
            "find-links = 5\n",
            &["settings.toml", "find-links"],
        ),
        (
            "a float for python",
            "python = 3.11\n",
            &["settings.toml", "python"],
        ),
        (
            "a table",
            "[index-url]\nurl = \"https://x.org\"\n",
            &["settings.toml", "index-url"],
        ),
    ] {
        for args in [&["build"][..], &["config", "set", "resolution", "highest"]] {
            out.push(
                case(
                    &format!("settings.toml by hand ({}): {what}", args.join(" ")),
                    args,
                    2,
                    "bad_input",
                    says,
                )
                .setup(move |f| write(&f.data.join("settings.toml"), text)),
            );
        }
    }
    out
}

/// The environment: lock timeouts that are not numbers, a data directory that is a file.
fn environment() -> Vec<Case> {
    let mut out = Vec::new();
    for value in ["abc", "-1", "1.5", ""] {
        out.push(
            case(
                &format!("COSMO_LOCK_TIMEOUT={value:?}"),
                &["plugin", "update", "zigbee-switch", "--version", "1.1.0"],
                2,
                "bad_input",
                &["COSMO_LOCK_TIMEOUT", "not a number of seconds"],
            )
            .var("COSMO_LOCK_TIMEOUT", value),
        );
    }
    for args in [
        &["build"][..],
        &["plugin", "add", "garage-door", "--version", "1.0.0"],
        &["config", "set", "no-index", "true"],
        &["switch", "1"],
        &["rollback"],
        &["delete", "1"],
        &["pin", "1"],
        &["label", "1", "x"],
        &["generations"],
        &["discover"],
        &["start"],
        &["plugin", "list"],
    ] {
        out.push(
            case(
                &format!("data directory a file ({})", args.join(" ")),
                &[&["--data-dir", "{scratch}/data-file"][..], args].concat(),
                2,
                "bad_input",
                &["is not a directory"],
            )
            .setup(|f| write(&f.scratch.join("data-file"), "not a directory")),
        );
    }
    out
}

/// Runs SQL on the data directory's cosmo.db (as the server, or a hand, could).
fn sql(data: &Path, statements: &str) {
    let conn = rusqlite::Connection::open(data.join("cosmo.db")).unwrap();
    conn.execute_batch(statements).unwrap();
}

/// Rows cosmo-bundle did not write and cannot read: the commands that need them refuse.
/// (Damaged rows may be reported rather than fatal elsewhere; a refusal is exit 1 or 2.)
fn foreign_rows() -> Vec<Case> {
    let insert = |status: &str, source_type: &str| {
        format!(
            "INSERT INTO plugins VALUES ('cosmo-helpers', 'cosmo-helpers', '{source_type}', NULL, '1.0.0', '{status}', NULL, \
             'cccccccccccccccccccccccccccccccc', '2026-11-25 10:00:00.000000', '2026-11-25 10:00:00.000000')"
        )
    };
    let mut out = Vec::new();
    for (what, statements, says) in [
        ("an unknown status", insert("BROKEN", "PYPI"), "BROKEN"),
        ("an unknown source type", insert("PENDING", "SVN"), "SVN"),
        (
            "a NULL source in a table without constraints",
            "CREATE TABLE p2 (name VARCHAR(255), source TEXT, source_type VARCHAR(4), installed_version VARCHAR(50), \
             updated_version VARCHAR(50), install_status VARCHAR(11), error_message TEXT, id CHAR(32), created_at DATETIME, \
             updated_at DATETIME, PRIMARY KEY (id)); INSERT INTO p2 SELECT * FROM plugins; DROP TABLE plugins; \
             ALTER TABLE p2 RENAME TO plugins; INSERT INTO plugins VALUES ('cosmo-helpers', NULL, 'PYPI', NULL, '1.0.0', \
             'PENDING', NULL, 'cccccccccccccccccccccccccccccccc', '2026-11-25 10:00:00.000000', '2026-11-25 10:00:00.000000')"
                .to_string(),
            "source",
        ),
    ] {
        for args in [
            &["plugin", "update", "cosmo-helpers", "--version", "1.0.0"][..],
            &["plugin", "update", "cccccccccccccccccccccccccccccccc", "--version", "1.0.0"],
        ] {
            let statements = statements.clone();
            out.push(
                case(
                    &format!("foreign row (update by {}): {what}", if args[2].starts_with("ccc") { "id" } else { "name" }),
                    args,
                    1,
                    "internal",
                    &[says],
                )
                .codes(&[1, 2])
                .any_kind()
                .setup(move |f| sql(f.data, &statements)),
            );
        }
    }
    out
}

/// Replaces `generations/1`'s bundle.json with `edit` of it.
fn edit_bundle_json(data: &Path, generation: u32, edit: impl Fn(&mut serde_json::Value) -> String) {
    let bundle = data.join("generations").join(generation.to_string());
    let path = bundle.canonicalize().unwrap().join("bundle.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let text = edit(&mut json);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&path, text).unwrap();
}

/// A store tampered with: bundle manifests that no longer match their hash, generation
/// links and `current` leading elsewhere.
fn tampered() -> Vec<Case> {
    let mut out = Vec::new();
    let edited = |json: &mut serde_json::Value| {
        json["inputs"]["server_path"] = "/elsewhere".into();
        serde_json::to_string_pretty(json).unwrap()
    };
    let truncated = |json: &mut serde_json::Value| {
        let text = serde_json::to_string_pretty(json).unwrap();
        text[..text.len() / 2].to_string()
    };
    for (what, edit) in [
        (
            "bundle.json edited (hash no longer matches)",
            edited as fn(&mut serde_json::Value) -> String,
        ),
        ("bundle.json truncated", truncated),
    ] {
        for (args, generation) in [
            (&["switch", "1"][..], 1),
            (&["rollback"], 1),
            (&["switch", "2"], 2),
        ] {
            out.push(
                case(
                    &format!(
                        "store: generation {generation}'s {what} ({})",
                        args.join(" ")
                    ),
                    args,
                    1,
                    "damaged",
                    &["bundle"],
                )
                .setup(move |f| edit_bundle_json(f.data, generation, edit)),
            );
        }
    }
    for (what, edit) in [
        ("edited", edited as fn(&mut serde_json::Value) -> String),
        ("truncated", truncated),
    ] {
        out.push(
            case(
                &format!("store: the current bundle.json {what} (build of the same set)"),
                &["build"],
                1,
                "damaged",
                &["bundle.json"],
            )
            .setup(move |f| {
                edit_bundle_json(f.data, 2, edit);
                sql(f.data, "DELETE FROM plugins WHERE source = 'garage-door'");
            }),
        );
    }
    let relink = |data: &Path, name: &str, target: &Path| {
        let link = data.join(name);
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(target, &link).unwrap();
    };
    for (what, target) in [
        ("outside the store", "{scratch}/outside"),
        ("to /etc", "/etc"),
        (
            "to a store path that does not exist",
            "../store/00000000000000000000000000000000",
        ),
    ] {
        // `switch 1` names the damaged generation; `rollback` finds no sound one below.
        for (args, says) in [
            (&["switch", "1"][..], "generation 1 is damaged"),
            (&["rollback"], "1 damaged"),
        ] {
            out.push(
                case(
                    &format!("store: generation link {what} ({})", args.join(" ")),
                    args,
                    1,
                    "damaged",
                    &[says],
                )
                .setup(move |f| {
                    std::fs::create_dir_all(f.scratch.join("outside")).unwrap();
                    let target = target.replace("{scratch}", &f.scratch.display().to_string());
                    relink(f.data, "generations/1", Path::new(&target));
                }),
            );
        }
    }
    for args in [
        &["switch", "1"][..],
        &["rollback"],
        &["plugin", "remove", "garage-door"],
    ] {
        out.push(
            case(
                &format!(
                    "store: current outside the generations ({})",
                    args.join(" ")
                ),
                args,
                1,
                "internal",
                &["current"],
            )
            .codes(&[1, 2])
            .any_kind()
            .setup(move |f| {
                std::fs::create_dir_all(f.scratch.join("outside")).unwrap();
                relink(f.data, "current", &f.scratch.join("outside"));
            }),
        );
    }
    out
}

/// Entries of the data directory replaced by symlinks: refused, nothing written through
/// them (their targets, outside, stay as they were).
fn symlinked_entries() -> Vec<Case> {
    let mut out = Vec::new();
    for entry in [
        "tmp",
        "resolved",
        "generations",
        "lock",
        "store",
        "cosmo.db",
        "uv-config",
        "pycache",
    ] {
        for args in [
            &["plugin", "update", "zigbee-switch", "--version", "1.1.0"][..],
            &["build"],
            &["switch", "1"],
            &["config", "set", "resolution", "highest"],
        ] {
            out.push(
                case(
                    &format!("symlinked {entry} ({})", args.join(" ")),
                    args,
                    2,
                    "bad_input",
                    &["is a symlink", entry],
                )
                .setup(move |f| {
                    let path = f.data.join(entry);
                    let target = f.scratch.join(entry);
                    if path.is_dir() {
                        cp_a(&path, &target);
                        std::fs::remove_dir_all(&path).unwrap();
                    } else if path.exists() {
                        std::fs::copy(&path, &target).unwrap();
                        std::fs::remove_file(&path).unwrap();
                    } else if entry == "pycache" {
                        std::fs::create_dir(&target).unwrap();
                    } else {
                        std::fs::write(&target, "").unwrap();
                    }
                    std::os::unix::fs::symlink(&target, &path).unwrap();
                }),
            );
        }
    }
    out
}

/// Records and generations that do not exist, and states a command cannot start from.
fn unknown() -> Vec<Case> {
    vec![
        case(
            "unknown: switch to a generation that does not exist",
            &["switch", "42"],
            2,
            "not_found",
            &["generation 42 does not exist"],
        ),
        case(
            "unknown: switch to generation 0",
            &["switch", "0"],
            2,
            "not_found",
            &["generation 0"],
        ),
        case(
            "unknown: switch to a negative generation",
            &["switch", "--", "-1"],
            2,
            "bad_input",
            &["-1"],
        ),
        case(
            "unknown: switch to a word",
            &["switch", "abc"],
            2,
            "bad_input",
            &["abc"],
        ),
        case(
            "unknown: remove a record that does not exist",
            &["plugin", "remove", "nope"],
            2,
            "not_found",
            &["no plugin record matches \"nope\""],
        ),
        case(
            "unknown: update a record that does not exist",
            &["plugin", "update", "nope", "--version", "1.0.0"],
            2,
            "not_found",
            &["nope"],
        ),
        case(
            "unknown: show a record that does not exist",
            &["plugin", "show", "nope"],
            2,
            "not_found",
            &["nope"],
        ),
        case(
            "unknown: add a plugin that is recorded",
            &["plugin", "add", "zigbee-switch", "--version", "1.1.0"],
            2,
            "already_exists",
            &["already recorded"],
        ),
        case(
            "unknown: add a recorded plugin under another spelling",
            &["plugin", "add", "Zigbee_Switch", "--version", "1.1.0"],
            2,
            "already_exists",
            &["already recorded"],
        ),
        case(
            "unknown: add a recorded git plugin again",
            &["plugin", "add", "hue-lights", "--git", "{hue}"],
            2,
            "already_exists",
            &["already recorded"],
        ),
        case(
            "unknown: rollback from the oldest generation",
            &["rollback"],
            2,
            "bad_input",
            &["nothing to roll back to"],
        )
        .setup(|f| {
            std::fs::remove_file(f.data.join("current")).unwrap();
            std::os::unix::fs::symlink("generations/1", f.data.join("current")).unwrap();
            sql(
                f.data,
                "UPDATE cosmo_bundle_state SET value = '1' WHERE key = 'rows_generation'",
            );
        }),
        case(
            "unknown: an unknown command",
            &["frobnicate"],
            2,
            "bad_input",
            &["frobnicate"],
        ),
        case(
            "unknown: an unknown flag",
            &["build", "--fast"],
            2,
            "bad_input",
            &["--fast"],
        ),
    ]
}

/// Activation settings and requests that cannot be met (the base has no `restart` set).
fn activation() -> Vec<Case> {
    let mut out: Vec<Case> = [
        (
            &["config", "set", "health-timeout", "abc"][..],
            &["health-timeout", "whole number"][..],
        ),
        (
            &["config", "set", "health-timeout", "0"],
            &["health-timeout", "whole number"],
        ),
        (
            &["config", "set", "health-timeout", "3601"],
            &["health-timeout"],
        ),
        (
            &["config", "set", "health-url", "ftp://x.org/health"],
            &["health-url", "http://"],
        ),
        (
            &["config", "set", "health-url", "not a url"],
            &["health-url"],
        ),
        (
            &["config", "set", "health-url", "http://u:pw@h.org/health"],
            &["health-url", "credentials"],
        ),
    ]
    .into_iter()
    .map(|(args, says)| {
        case(
            &format!("activation setting: {}", args[2..].join(" ")),
            args,
            2,
            "bad_input",
            says,
        )
    })
    .collect();
    for args in [
        &["build", "--activate"][..],
        &["switch", "1", "--activate"],
        &["rollback", "--activate"],
        &["activate"],
    ] {
        out.push(case(
            &format!("activation: {} without a restart command", args.join(" ")),
            args,
            2,
            "bad_input",
            &["restart"],
        ));
    }
    out.push(
        case(
            "activation: activate without a current generation",
            &["activate", "--no-restart"],
            2,
            "bad_input",
            &["no current generation"],
        )
        .setup(|f| std::fs::remove_file(f.data.join("current")).unwrap()),
    );
    out.push(case(
        "activation: --activate with --no-activate",
        &["build", "--activate", "--no-activate"],
        2,
        "bad_input",
        &["cannot be used with"],
    ));
    out
}

/// Input an operator mistypes or an attacker crafts, beyond the groups above: foreign
/// directories given as the data directory, secrets in URLs (never repeated), characters
/// that hide or reorder text, look-alike hosts, numbers out of range.
fn hostile() -> Vec<Case> {
    let mut out = Vec::new();
    // A directory that is not a data directory: its `tmp/` and `.tmp-*` entries are not
    // leftovers of cosmo-bundle (`COSMO_DATA_DIR=/` would empty /tmp).
    for args in [
        &["plugin", "add", "garage-door", "--version", "1.0.0"][..],
        &["build"],
        &["gc"],
        &["generations"],
        &["config", "set", "no-index", "true"],
        &["plugin", "list"],
        &["discover"],
    ] {
        for (what, root) in [("a root file system", "root"), ("a home directory", "home")] {
            out.push(
                case(
                    &format!("data directory {what} ({})", args.join(" ")),
                    &[&["--data-dir", &format!("{{scratch}}/{root}")][..], args].concat(),
                    2,
                    "bad_input",
                    &["is not a cosmo-bundle data directory"],
                )
                .setup(move |f| {
                    let dir = f.scratch.join(root);
                    std::fs::create_dir_all(dir.join("tmp/build")).unwrap();
                    write(&dir.join("tmp/build/notes.txt"), "precious");
                    write(&dir.join(".tmp-editor"), "precious");
                    if root == "root" {
                        std::fs::create_dir_all(dir.join("etc")).unwrap();
                        write(&dir.join("etc/hostname"), "house");
                    } else {
                        write(&dir.join(".bashrc"), "alias x=y");
                    }
                }),
            );
        }
    }
    // Secrets in URLs: refused, and never repeated (not in errors, not in JSON).
    for (what, args, says) in [
        (
            "git https password",
            vec![
                "plugin",
                "add",
                "hue-lights2",
                "--git=https://u:s3cret@example.org/r.git",
            ],
            "credentials",
        ),
        (
            "git https token",
            vec![
                "plugin",
                "add",
                "hue-lights2",
                "--git=https://s3cret@example.org/r.git",
            ],
            "credentials",
        ),
        (
            "git ssh password",
            vec![
                "plugin",
                "add",
                "hue-lights2",
                "--git=ssh://git:s3cret@example.org/r.git",
            ],
            "credentials",
        ),
        (
            "git URL with a password and a space",
            vec![
                "plugin",
                "add",
                "hue-lights2",
                "--git=https://u:s3cret@example.org/a b",
            ],
            "whitespace",
        ),
        (
            "index-url password",
            vec![
                "config",
                "set",
                "index-url",
                "https://u:s3cret@example.org/simple",
            ],
            "credentials",
        ),
        (
            "extra-index-url password",
            vec![
                "config",
                "set",
                "extra-index-url",
                "https://u:s3cret@example.org/simple",
            ],
            "credentials",
        ),
        (
            "find-links password with a space",
            vec![
                "config",
                "set",
                "find-links",
                "https://u:s3cret@example.org/a b",
            ],
            "whitespace",
        ),
        (
            "health-url password",
            vec![
                "config",
                "set",
                "health-url",
                "http://u:s3cret@127.0.0.1:8000/health",
            ],
            "credentials",
        ),
    ] {
        out.push(case(&format!("secret: {what}"), &args, 2, "bad_input", &[says]).hides("s3cret"));
    }
    out.push(
        case(
            "secret: index-url password in settings.toml by hand",
            &["build"],
            2,
            "bad_input",
            &["settings.toml", "credentials"],
        )
        .hides("s3cret")
        .setup(|f| {
            write(
                &f.data.join("settings.toml"),
                "index-url = \"https://u:s3cret@example.org/simple\"\n",
            )
        }),
    );
    // A row the server wrote with a password in its git URL: refused, never shown.
    for args in [
        &["build"][..],
        &["plugin", "update", "hue-lights", "--rev", "v1.0.0"],
    ] {
        out.push(
            case(
                &format!("secret: a row's git URL with a password ({})", args.join(" ")),
                args,
                2,
                "bad_input",
                &["credentials"],
            )
            .hides("s3cret")
            .setup(|f| {
                sql(
                    f.data,
                    "UPDATE plugins SET source = 'https://u:s3cret@example.org/r.git' WHERE name = 'hue-lights'",
                )
            }),
        );
    }
    // Characters that hide or reorder what the operator reads.
    for (what, label) in [
        ("right-to-left override", "\u{202e}gnikrow"),
        ("first-strong isolate", "a\u{2068}b"),
        ("zero-width space", "\u{200b}"),
        ("byte order mark", "\u{feff}known good"),
    ] {
        out.push(case(
            &format!("label: {what}"),
            &["label", "1", label],
            2,
            "bad_input",
            &["control or invisible character"],
        ));
    }
    let manifest = |field: &str, value: &str| {
        let mut v = serde_json::json!({
            "name": "Smart Switch",
            "version": "1.0.0",
            "plugin_class": "zigbee_switch.SmartSwitchPlugin",
            "description": "Controls switches",
        });
        v[field] = value.into();
        v.to_string().into_bytes()
    };
    let good = manifest("name", "Smart Switch");
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(&good);
    let mut trailing = good.clone();
    trailing.extend_from_slice(b" {}");
    for (what, bytes, says) in [
        ("NUL in the name", manifest("name", "a\0b"), "control or invisible"),
        (
            "right-to-left override in the name",
            manifest("name", "\u{202e}hctiwS"),
            "control or invisible",
        ),
        (
            "escape sequence in the description",
            manifest("description", "\u{1b}[2J"),
            "control or invisible",
        ),
        (
            "zero-width space in the version",
            manifest("version", "1.0.0\u{200b}"),
            "control or invisible",
        ),
        ("a byte order mark", bom, "byte order mark"),
        (
            "a duplicate key",
            br#"{"name": "a", "name": "b", "version": "1.0.0", "plugin_class": "a.B", "description": "x"}"#
                .to_vec(),
            "duplicate field",
        ),
        ("nested 100000 deep", [b"[".repeat(100_000), b"]".repeat(100_000)].concat(), "invalid manifest"),
        ("a second value after it", trailing, "trailing characters"),
        ("empty", Vec::new(), "invalid manifest"),
        ("a lone surrogate", br#"{"name": "\ud800"}"#.to_vec(), "invalid manifest"),
    ] {
        out.push(
            case(
                &format!("manifest: {what}"),
                &["manifest", "check", "{scratch}/cosmo.json"],
                2,
                "bad_input",
                &[says],
            )
            .setup(move |f| std::fs::write(f.scratch.join("cosmo.json"), &bytes).unwrap()),
        );
    }
    out.push(
        case(
            "manifest: a FIFO",
            &["manifest", "check", "{scratch}/fifo.json"],
            2,
            "bad_input",
            &["not a regular file"],
        )
        .setup(|f| mkfifo(&f.scratch.join("fifo.json"))),
    );
    // URLs in settings: look-alike hosts and ports no server listens on.
    for (args, says) in [
        (
            &[
                "config",
                "set",
                "index-url",
                "https://ex\u{430}mple.org/simple",
            ][..],
            "xn--",
        ),
        (
            &["config", "set", "index-url", "https://example.org:0/simple"],
            "port",
        ),
        (
            &[
                "config",
                "set",
                "index-url",
                "https://example.org:abc/simple",
            ],
            "port",
        ),
        (
            &["config", "set", "find-links", "https://-x.org/wheels"],
            "host",
        ),
        (
            &["config", "set", "extra-index-url", "https://exa_mple.org/s"],
            "host",
        ),
        (
            &["config", "set", "health-url", "http://127.0.0.1:0/health"],
            "port",
        ),
        (
            &[
                "config",
                "set",
                "health-url",
                "http://127.0.0.1:65536/health",
            ],
            "port",
        ),
        (
            &["config", "set", "health-url", "http://[::1]x/health"],
            "host",
        ),
        (
            &["config", "set", "health-url", "http://[::g]/health"],
            "host",
        ),
        (
            &["config", "set", "health-url", "http://\u{202e}lh/health"],
            "host",
        ),
        (
            &["config", "set", "health-url", "file:///etc/passwd"],
            "not an http",
        ),
        (&["config", "set", "restart", ""], "not a command"),
        (
            &["config", "set", "restart", "systemctl", "a\u{7f}"],
            "control",
        ),
        (&["config", "set", "health-timeout", "1e3"], "whole number"),
        (
            &["config", "set", "health-timeout", "99999999999999999999"],
            "whole number",
        ),
    ] {
        out.push(case(
            &format!("hostile setting: {}", args[2..].join(" ")),
            args,
            2,
            "bad_input",
            &[args[2], says],
        ));
    }
    for (what, text, says) in [
        (
            "a duplicate key",
            "no-index = true\nno-index = false\n",
            "duplicate key",
        ),
        (
            "an integer for a boolean",
            "no-index = 1\n",
            "true or false",
        ),
        (
            "a negative timeout",
            "health-timeout = -5\n",
            "health-timeout",
        ),
        (
            "a float timeout",
            "health-timeout = 1e3\n",
            "health-timeout",
        ),
        (
            "a string for restart",
            "restart = \"systemctl restart x\"\n",
            "restart",
        ),
        ("an empty restart", "restart = []\n", "restart"),
    ] {
        out.push(
            case(
                &format!("settings.toml by hand: {what}"),
                &["build"],
                2,
                "bad_input",
                &["settings.toml", says],
            )
            .setup(move |f| write(&f.data.join("settings.toml"), text)),
        );
    }
    // The environment: lock timeouts that are no number of seconds.
    let not_utf8 = {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(b"6\xff0".to_vec())
    };
    for (what, value) in [
        ("1e9", OsString::from("1e9")),
        ("inf", OsString::from("inf")),
        ("overflow", OsString::from("99999999999999999999")),
        ("not UTF-8", not_utf8),
    ] {
        out.push(
            case(
                &format!("COSMO_LOCK_TIMEOUT {what}"),
                &["plugin", "update", "zigbee-switch", "--version", "1.1.0"],
                2,
                "bad_input",
                &["COSMO_LOCK_TIMEOUT", "not a number of seconds"],
            )
            .var("COSMO_LOCK_TIMEOUT", value),
        );
    }
    out.push(
        case(
            "COSMO_DATA_DIR empty",
            &["generations"],
            2,
            "bad_input",
            &["--data-dir"],
        )
        .var("COSMO_DATA_DIR", ""),
    );
    // Generation numbers that are none.
    for args in [
        &["switch", "999999999999"][..],
        &["switch", "1e3"],
        &["switch", "\u{ff11}"],
        &["switch", "18446744073709551616"],
        &["delete", "--", "-1"],
        &["pin", "1e3"],
        &["unpin", "1.0"],
        &["label", "999999999999", "x"],
        &["diff", "1", "0x2"],
    ] {
        out.push(case(
            &format!("generation number: {}", args.join(" ")),
            args,
            2,
            "bad_input",
            &["invalid value"],
        ));
    }
    // Names: look-alikes, invisible characters, and names that normalise to a record.
    for (what, name) in [
        ("a Unicode hyphen", "zigbee\u{2010}switch"),
        ("a full-width letter", "\u{ff5a}igbee"),
        ("DEL", "zig\u{7f}bee"),
        ("a zero-width space", "zigbee\u{200b}switch"),
    ] {
        out.push(case(
            &format!("name: {what}"),
            &["plugin", "add", name, "--version", "1.1.0"],
            2,
            "bad_input",
            &["not a valid Python distribution name"],
        ));
    }
    for name in ["Zigbee.Switch", "zigbee--switch", "ZIGBEE_SWITCH"] {
        out.push(case(
            &format!("name: {name} normalises to a record"),
            &["plugin", "add", name, "--version", "1.1.0"],
            2,
            "already_exists",
            &["already recorded"],
        ));
    }
    for (what, v) in [
        ("a wildcard specifier", "==1.*"),
        ("a marker", "1.0; python_version<\"3\""),
        ("DEL", "1.0\u{7f}"),
    ] {
        out.push(case(
            &format!("version: {what}"),
            &["plugin", "add", "hue-lights2", "--version", v],
            2,
            "bad_input",
            &["not a PEP 440 version"],
        ));
    }
    out.push(case(
        "version: a local version that does not exist",
        &["plugin", "add", "garage-door2", "--version", "1.0.0+local"],
        2,
        "package_not_found",
        &["does not exist"],
    ));
    for (what, rev) in [
        ("HEAD~1", "HEAD~1"),
        ("at sign", "@"),
        ("dot-dot inside", "refs/../x"),
        ("DEL", "v1\u{7f}"),
        ("zero-width space", "v1.0.0\u{200b}"),
    ] {
        let arg = format!("--rev={rev}");
        out.push(case(
            &format!("git ref: {what}"),
            &["plugin", "add", "hue-lights2", "--git", "{hue}", &arg],
            2,
            "bad_input",
            &["not an accepted git ref"],
        ));
    }
    out.push(case(
        "git URL: a look-alike host",
        &[
            "plugin",
            "add",
            "hue-lights2",
            "--git=https://ex\u{430}mple.org/r.git",
        ],
        2,
        "bad_input",
        &["git URL", "host"],
    ));
    // Server repositories with special files where files or directories belong.
    for (what, says, edit) in [
        (
            "pyproject.toml a FIFO",
            "pyproject.toml is not a regular file",
            (|s: &Path| {
                std::fs::remove_file(s.join("pyproject.toml")).unwrap();
                mkfifo(&s.join("pyproject.toml"));
            }) as fn(&Path),
        ),
        (
            "pyproject.toml a directory",
            "pyproject.toml is not a regular file",
            |s| {
                std::fs::remove_file(s.join("pyproject.toml")).unwrap();
                std::fs::create_dir(s.join("pyproject.toml")).unwrap();
            },
        ),
        ("src/cosmoserver a symlink loop", "src/cosmoserver", |s| {
            std::fs::remove_dir_all(s.join("src/cosmoserver")).unwrap();
            std::os::unix::fs::symlink("cosmoserver", s.join("src/cosmoserver")).unwrap();
        }),
        (
            "pyproject.toml with a duplicate table",
            "duplicate key",
            |s| {
                let mut text = std::fs::read_to_string(s.join("pyproject.toml")).unwrap();
                text.push_str("\n[project]\nname = \"x\"\n");
                write(&s.join("pyproject.toml"), &text);
            },
        ),
    ] {
        out.push(
            case(
                &format!("server: {what}"),
                &["build"],
                2,
                "bad_input",
                &[says],
            )
            .server(edit),
        );
    }
    for (what, edit) in [
        (
            "a FIFO",
            (|s: &Path| mkfifo(&s.join("src/cosmoserver/pipe"))) as fn(&Path),
        ),
        ("a link out of the repository", |s| {
            std::os::unix::fs::symlink("/etc", s.join("src/cosmoserver/etc")).unwrap()
        }),
    ] {
        out.push(
            case(
                &format!("server (source = snapshot): src/cosmoserver holds {what}"),
                &["build"],
                2,
                "bad_input",
                &["source = snapshot"],
            )
            .server(edit)
            .setup(|f| {
                let path = f.data.join("settings.toml");
                let text = std::fs::read_to_string(&path).unwrap();
                write(&path, &format!("{text}source = \"snapshot\"\n"));
            }),
        );
    }
    out
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Every case, in one table.
fn all_cases() -> Vec<Case> {
    [
        activation(),
        names(),
        versions(),
        git(),
        manifests(),
        servers(),
        settings(),
        environment(),
        foreign_rows(),
        tampered(),
        symlinked_entries(),
        unknown(),
        hostile(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The data directory the cases start from.
struct Base {
    env: Env,
    hue: tempfile::TempDir,
}

fn base() -> Base {
    let env = Env::new();
    let hue = git_repo_of("hue-lights-1.0.0");
    let url = format!("file://{}", hue.path().display());
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    env.ok(&[
        "plugin",
        "add",
        "hue-lights",
        "--git",
        &url,
        "--rev",
        "v1.0.0",
    ]);
    env.ok(&["build"]);
    env.ok(&["plugin", "add", "garage-door", "--version", "1.0.0"]);
    Base { env, hue }
}

/// Runs one case on its own copy of the base; `Err` says what went wrong.
fn run_case(base: &Base, c: &Case) -> Result<(), String> {
    let data = tempfile::tempdir().unwrap();
    // Without the bundles' venvs: no case runs a bundle.
    std::fs::remove_dir(data.path()).unwrap();
    crate::reliability::copy_data_dir(base.env.dir(), data.path());
    let scratch = tempfile::tempdir().unwrap();
    let server_copy = tempfile::tempdir().unwrap();
    let server = match &c.server {
        Some(edit) => {
            copy_dir(&fixture_server(), server_copy.path());
            edit(server_copy.path());
            server_copy.path().to_path_buf()
        }
        None => fixture_server(),
    };
    let fixture = Fixture {
        data: data.path(),
        scratch: scratch.path(),
    };
    if let Some(setup) = &c.setup {
        setup(&fixture);
    }
    let mut env = Env {
        data,
        server: server.clone(),
        vars: base.env.vars.clone(),
    };
    for (k, v) in &c.vars {
        env.set(k, v.clone());
    }
    let fill = |s: &str| {
        s.replace("{scratch}", &scratch.path().display().to_string())
            .replace("{data}", &env.dir().display().to_string())
            .replace("{hue}", &format!("file://{}", base.hue.path().display()))
    };
    let args: Vec<String> = c.args.iter().map(|a| fill(a)).collect();
    let says: Vec<String> = c.says.iter().map(|s| fill(s)).collect();
    let roots: Vec<PathBuf> = vec![
        env.dir().to_path_buf(),
        server.clone(),
        scratch.path().to_path_buf(),
    ];
    let before: Vec<_> = roots.iter().map(|r| state(r)).collect();
    for json in [false, true] {
        let mut all: Vec<&str> = if json { vec!["--json"] } else { vec![] };
        all.extend(args.iter().map(String::as_str));
        let mut cmd = env.cmd(&all);
        if c.no_server {
            cmd.env_remove("COSMO_SERVER_DIR");
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        if !c.codes.iter().any(|want| code == Some(*want)) {
            return Err(format!(
                "exit {code:?}, expected {:?}\nstdout: {}\nstderr: {stderr}",
                c.codes,
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        if let Some(secret) = c
            .hides
            .iter()
            .find(|h| stderr.contains(h.as_str()) || stdout.contains(h.as_str()))
        {
            return Err(format!(
                "the output repeats {secret:?}:\nstdout: {stdout}\nstderr: {stderr}"
            ));
        }
        let lower = stderr.to_lowercase();
        if let Some(missing) = says.iter().find(|s| !lower.contains(&s.to_lowercase())) {
            return Err(format!("stderr does not say {missing:?}:\n{stderr}"));
        }
        if !stderr.contains("error:") {
            return Err(format!("stderr has no `error:` line:\n{stderr}"));
        }
        if json {
            let body: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
                format!(
                    "--json error output is not JSON ({e}): {}",
                    String::from_utf8_lossy(&out.stdout)
                )
            })?;
            let error = &body["error"];
            if error["exit_code"].as_i64() != code.map(i64::from) {
                return Err(format!(
                    "--json exit_code differs from the exit code: {body}"
                ));
            }
            if let Some(kind) = c.kind
                && error["kind"] != kind
            {
                return Err(format!(
                    "--json error kind is {}, expected {kind}: {body}",
                    error["kind"]
                ));
            }
            // The first thing the case must say is in the error object too.
            let text = format!(
                "{} {}",
                error["message"].as_str().unwrap_or_default(),
                error["hint"].as_str().unwrap_or_default()
            )
            .to_lowercase();
            if let Some(first) = says.first()
                && !text.contains(&first.to_lowercase())
            {
                return Err(format!("--json error does not say {first:?}: {body}"));
            }
        }
        for (root, snap) in roots.iter().zip(&before) {
            let now = state(root);
            if &now != snap {
                let changed: Vec<_> = now
                    .iter()
                    .filter(|(p, v)| snap.get(*p) != Some(*v))
                    .map(|(p, _)| p.display().to_string())
                    .chain(
                        snap.keys()
                            .filter(|p| !now.contains_key(*p))
                            .map(|p| format!("{} (gone)", p.display())),
                    )
                    .collect();
                return Err(format!(
                    "{} changed{}: {changed:?}",
                    root.display(),
                    if json { " (with --json)" } else { "" }
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn bad_input_is_refused_named_and_writes_nothing() {
    let cases = all_cases();
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    let mut names = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(names.insert(c.name.clone()), "two cases named {}", c.name);
    }
    let base = base();
    let only = std::env::var("COSMO_BAD_INPUT_CASE").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for c in &cases {
        // `COSMO_BAD_INPUT_CASE=a|b`: only the cases whose names hold `a` or `b`.
        if only
            .as_ref()
            .is_some_and(|o| !o.split('|').any(|o| c.name.contains(o)))
        {
            continue;
        }
        ran += 1;
        if let Err(e) = run_case(&base, c) {
            failures.push(format!(
                "case {:?} (cosmo-bundle {}): {e}",
                c.name,
                c.args.join(" ")
            ));
        }
    }
    eprintln!("{ran} bad-input cases");
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A relative data directory is not bad input: it works, and is used as an absolute path.
#[test]
fn a_relative_data_directory_works() {
    let cwd = tempfile::tempdir().unwrap();
    let env = Env::new();
    let cmd = |args: &[&str]| {
        let mut all = vec!["--data-dir", "rel/data"];
        all.extend_from_slice(args);
        let out = env
            .cmd(&all)
            .env_remove("COSMO_DATA_DIR")
            .current_dir(cwd.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    cmd(&["config", "set", "no-index", "true"]);
    cmd(&[
        "config",
        "set",
        "find-links",
        wheelhouse().to_str().unwrap(),
    ]);
    cmd(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    cmd(&["build"]);
    let data = cwd.path().join("rel/data");
    assert!(data.join("current/bundle.json").is_file());
    let site = std::fs::read_dir(data.join("current/.venv/lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let pth = std::fs::read_to_string(site.join("site-packages/00-cosmo-bundle.pth")).unwrap();
    let pth = pth.lines().last().unwrap().to_string();
    assert!(Path::new(pth.trim()).is_absolute(), "{pth}");
    assert!(
        pth.trim()
            .starts_with(&cwd.path().canonicalize().unwrap().display().to_string())
            || pth.trim().starts_with(&cwd.path().display().to_string()),
        "{pth}"
    );
    run_ok(
        data.join("current/.venv/bin/python"),
        &["-c", "import zigbee_switch, cosmoserver"],
        Path::new("/"),
    );
}

/// A record the server wrote that cosmo-bundle cannot read (a damaged row) still stands
/// for its distribution: adding that plugin again must not make a second record of it.
#[test]
#[ignore = "known bug: plugin add records a second row of a distribution whose existing row is damaged"]
fn a_damaged_row_is_still_a_record_of_its_distribution() {
    let base = base();
    for status in ["BROKEN", "PENDING"] {
        let env = Env {
            data: tempfile::tempdir().unwrap(),
            server: fixture_server(),
            vars: base.env.vars.clone(),
        };
        cp_a(&base.env.dir().join("."), env.dir());
        // Damaged by an unknown status, or by an unknown source type.
        let source_type = if status == "BROKEN" { "PYPI" } else { "SVN" };
        sql(
            env.dir(),
            &format!(
                "INSERT INTO plugins VALUES ('cosmo-helpers', 'cosmo-helpers', '{source_type}', NULL, '1.0.0', \
                 '{status}', NULL, 'cccccccccccccccccccccccccccccccc', '2026-11-25 10:00:00.000000', \
                 '2026-11-25 10:00:00.000000')"
            ),
        );
        let before = env.snapshot();
        let out = env.run(&["plugin", "add", "cosmo-helpers", "--version", "1.0.0"]);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{status}/{source_type}: a second record of cosmo-helpers was added"
        );
        assert_eq!(env.snapshot(), before, "{status}/{source_type}");
    }
}

/// The snapshot of `root` without `profile.seen`, a cache that any command listing the
/// generations may refresh, even one that then fails (store-layout.md).
fn state(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    let mut snap = snapshot(root);
    snap.remove(Path::new("profile.seen"));
    snap
}

/// A password the server wrote into a row's git URL is never shown: `plugin list` and
/// `plugin show`, as text and as JSON, print the URL with `***@` for its user information.
#[test]
fn a_password_in_a_rows_git_url_is_never_shown() {
    let env = Env::new();
    let hue = git_repo_of("hue-lights-1.0.0");
    let url = format!("file://{}", hue.path().display());
    env.ok(&["plugin", "add", "hue-lights", "--git", &url]);
    sql(
        env.dir(),
        "UPDATE plugins SET source = 'https://u:s3cret@example.org/r.git' WHERE name = 'hue-lights'",
    );
    for args in [
        &["plugin", "list"][..],
        &["--json", "plugin", "list"],
        &["plugin", "show", "hue-lights"],
        &["--json", "plugin", "show", "hue-lights"],
    ] {
        let out = env.run(args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains("s3cret"),
            "{args:?} shows the password:\n{all}"
        );
        if args.contains(&"show") {
            assert!(
                all.contains("https://***@example.org/r.git"),
                "{args:?}:\n{all}"
            );
        }
    }
}
