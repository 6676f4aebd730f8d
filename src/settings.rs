//! `settings.toml`: the data directory's persistent settings, changed with
//! `cosmo-bundle config set|unset`.
//!
//! The settings that decide what uv resolves (indexes, find-links, no-index,
//! exclude-newer, index strategy, prerelease and resolution mode, the Python request) live
//! here, not in whichever shell runs a command, and are part of the bundle hash. Each key,
//! its type and its rule are in [`KEYS`] and in store-layout.md ("Settings").

use crate::error::{Error, Result};
use fs_err as fs;
use std::collections::BTreeMap;
use std::path::Path;
use toml_edit::{DocumentMut, Item, Value};

/// What kind of value a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One index URL (`https://`, `http://` or `file://`).
    Url,
    /// A list of index URLs.
    UrlList,
    /// A list of absolute paths or URLs of directories of wheels.
    LinkList,
    /// `true` or `false`.
    Bool,
    /// An RFC 3339 timestamp or a date (`2026-01-31`).
    Timestamp,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A Python version (`3.11`, `3.11.7`) or an absolute interpreter path.
    Python,
    /// A command line: a program and its arguments, run without a shell.
    Argv,
    /// An `http://` or `https://` URL to poll.
    HealthUrl,
    /// A whole number of seconds, 1 to 3600.
    Seconds,
}

/// One settings key.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    /// Whether the key decides what a bundle is (and so is part of its hash).
    pub hashed: bool,
    pub help: &'static str,
}

/// Every key, in the order `config list` shows them.
pub const KEYS: &[Key] = &[
    Key {
        name: "index-url",
        kind: Kind::Url,
        hashed: true,
        help: "the default package index (uv --default-index); default: PyPI",
    },
    Key {
        name: "extra-index-url",
        kind: Kind::UrlList,
        hashed: true,
        help: "more indexes, searched before the default one (uv --index)",
    },
    Key {
        name: "find-links",
        kind: Kind::LinkList,
        hashed: true,
        help: "directories (absolute paths) or pages of wheels (uv --find-links)",
    },
    Key {
        name: "no-index",
        kind: Kind::Bool,
        hashed: true,
        help: "use no index at all, only find-links (uv --no-index)",
    },
    Key {
        name: "exclude-newer",
        kind: Kind::Timestamp,
        hashed: true,
        help: "ignore distributions uploaded after this time (uv --exclude-newer)",
    },
    Key {
        name: "index-strategy",
        kind: Kind::Choice(&["first-index", "unsafe-first-match", "unsafe-best-match"]),
        hashed: true,
        help: "how several indexes are searched (uv --index-strategy)",
    },
    Key {
        name: "prerelease",
        kind: Kind::Choice(&[
            "disallow",
            "allow",
            "if-necessary",
            "explicit",
            "if-necessary-or-explicit",
        ]),
        hashed: true,
        help: "which pre-releases may be chosen (uv --prerelease)",
    },
    Key {
        name: "resolution",
        kind: Kind::Choice(&["highest", "lowest", "lowest-direct"]),
        hashed: true,
        help: "which versions are preferred (uv --resolution)",
    },
    Key {
        name: "python",
        kind: Kind::Python,
        hashed: true,
        help: "the Python of new bundles: a version (3.11) or an absolute interpreter path (uv --python)",
    },
    Key {
        name: "source",
        kind: Kind::Choice(&["link", "snapshot"]),
        hashed: true,
        help: "what a bundle's src/cosmoserver is: `link` (default: symlinks into the server repository) or `snapshot` (a copy kept in the store, for exact rollback)",
    },
    Key {
        name: "restart",
        kind: Kind::Argv,
        hashed: false,
        help: "the command that restarts the server after `current` moves, run without a shell (e.g. systemctl restart cosmoserver)",
    },
    Key {
        name: "health-url",
        kind: Kind::HealthUrl,
        hashed: false,
        help: "the URL polled after a restart until it answers 2xx; default: /health of the server `start` runs",
    },
    Key {
        name: "health-timeout",
        kind: Kind::Seconds,
        hashed: false,
        help: "how long a restarted server may take to answer its health URL (seconds, default 60)",
    },
];

/// The settings of one data directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    values: BTreeMap<&'static str, Setting>,
}

/// A setting's value, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Text(String),
    List(Vec<String>),
    Bool(bool),
}

fn key(name: &str) -> Result<&'static Key> {
    KEYS.iter().find(|k| k.name == name).ok_or_else(|| {
        Error::input(
            format!("unknown setting {name:?}"),
            format!(
                "the settings are: {}",
                KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

impl Settings {
    /// Reads `settings.toml`; an absent file is no settings. A file that is not valid is
    /// an error that names the key and says how to fix it.
    pub fn load(path: &Path) -> Result<Settings> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => return Err(e.into()),
        };
        let fix = format!(
            "fix {} by hand, or remove the key with `cosmo-bundle config unset KEY`",
            path.display()
        );
        let doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            Error::input(
                format!("{} is not valid TOML: {}", path.display(), e.message()),
                fix.clone(),
            )
        })?;
        let mut settings = Settings::default();
        for (name, item) in doc.iter() {
            let bad = |m: String| Error::input(format!("{}: {m}", path.display()), fix.clone());
            let k = key(name).map_err(|e| bad(e.to_string()))?;
            let value = item
                .as_value()
                .ok_or_else(|| bad(format!("`{name}` must be a value, not a table")))?;
            let setting = Setting::from_toml(k, value).map_err(&bad)?;
            settings.values.insert(k.name, setting);
        }
        Ok(settings)
    }

    /// Writes the settings atomically (keys in [`KEYS`] order).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut doc = DocumentMut::new();
        doc.decor_mut().set_prefix(
            "# cosmo-bundle settings: change them with `cosmo-bundle config set|unset`.\n",
        );
        for k in KEYS {
            if let Some(v) = self.values.get(k.name) {
                doc.insert(k.name, Item::Value(v.to_toml(k.kind)));
            }
        }
        crate::fs::write_atomic(path, doc.to_string().as_bytes())
    }

    /// Validates `args` for `key` and sets it (a list key takes one or more values).
    pub fn set(&mut self, name: &str, args: &[String]) -> Result<()> {
        let k = key(name)?;
        let setting = Setting::parse(k, args)?;
        self.values.insert(k.name, setting);
        Ok(())
    }

    /// Removes `key` (back to its default); an unknown key is an error.
    pub fn unset(&mut self, name: &str) -> Result<()> {
        let k = key(name)?;
        self.values.remove(k.name);
        Ok(())
    }

    /// The value of `key`, if set.
    pub fn get(&self, name: &str) -> Result<Option<Setting>> {
        let k = key(name)?;
        Ok(self.values.get(k.name).cloned())
    }

    /// Every set key with its value, in [`KEYS`] order.
    pub fn list(&self) -> Vec<(&'static Key, Setting)> {
        KEYS.iter()
            .filter_map(|k| self.values.get(k.name).map(|v| (k, v.clone())))
            .collect()
    }

    /// The hashed settings, each as canonical JSON text (the hash input).
    pub fn hashed(&self) -> BTreeMap<String, String> {
        self.list()
            .into_iter()
            .filter(|(k, _)| k.hashed)
            .map(|(k, v)| (k.name.to_string(), v.canonical()))
            .collect()
    }

    /// A text setting's value.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.get(name).ok().flatten() {
            Some(Setting::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// The uv command-line options that apply these settings.
    pub fn uv_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (k, v) in self.list() {
            let flag = match k.name {
                "index-url" => "--default-index",
                "extra-index-url" => "--index",
                "find-links" => "--find-links",
                "no-index" => "--no-index",
                "exclude-newer" => "--exclude-newer",
                "index-strategy" => "--index-strategy",
                "prerelease" => "--prerelease",
                "resolution" => "--resolution",
                "python" => "--python",
                _ => continue,
            };
            match v {
                Setting::Bool(true) => args.push(flag.to_string()),
                Setting::Bool(false) => {}
                Setting::Text(t) => args.extend([flag.to_string(), t]),
                Setting::List(items) => {
                    for item in items {
                        args.extend([flag.to_string(), item]);
                    }
                }
            }
        }
        args
    }
}

impl Setting {
    /// The canonical JSON text of the value (what the hash covers).
    pub fn canonical(&self) -> String {
        match self {
            Setting::Text(t) => serde_json::to_string(t),
            Setting::List(l) => serde_json::to_string(l),
            Setting::Bool(b) => serde_json::to_string(b),
        }
        .expect("strings serialise")
    }

    /// The value as JSON (for `config list --json`).
    pub fn json(&self) -> serde_json::Value {
        match self {
            Setting::Text(t) => t.clone().into(),
            Setting::List(l) => l.clone().into(),
            Setting::Bool(b) => (*b).into(),
        }
    }

    /// The value as TOML: a number of seconds as an integer (a file of an earlier version
    /// with it as a string is still read).
    fn to_toml(&self, kind: Kind) -> Value {
        match self {
            Setting::Text(t) if kind == Kind::Seconds && t.parse::<i64>().is_ok() => {
                Value::from(t.parse::<i64>().expect("checked above"))
            }
            Setting::Text(t) => Value::from(t.as_str()),
            Setting::Bool(b) => Value::from(*b),
            Setting::List(l) => {
                let mut array = toml_edit::Array::new();
                for item in l {
                    array.push(item.as_str());
                }
                Value::Array(array)
            }
        }
    }

    fn from_toml(k: &Key, value: &Value) -> std::result::Result<Setting, String> {
        let list = matches!(k.kind, Kind::UrlList | Kind::LinkList | Kind::Argv);
        let args: Vec<String> = match (value, k.kind) {
            (Value::Boolean(b), Kind::Bool) => vec![b.value().to_string()],
            (Value::Integer(i), Kind::Seconds) => vec![i.value().to_string()],
            (Value::String(s), kind) if !list && kind != Kind::Bool => vec![s.value().clone()],
            (Value::Array(a), _) if list => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("`{}` must be a list of strings", k.name))
                })
                .collect::<std::result::Result<_, _>>()?,
            _ => return Err(format!("`{}` must be {}", k.name, describe(k.kind))),
        };
        Setting::parse(k, &args).map_err(|e| e.to_string())
    }

    /// Validates the command-line values of `k`.
    fn parse(k: &Key, args: &[String]) -> Result<Setting> {
        let bad = |what: String| {
            Error::input(
                format!("{} {what}", k.name),
                format!("`{}` takes {}: {}", k.name, describe(k.kind), k.help),
            )
        };
        let one = || match args {
            [one] => Ok(one.trim().to_string()),
            _ => Err(bad(format!("takes exactly one value, not {}", args.len()))),
        };
        let plain = |v: &str| -> Result<()> {
            if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(format!(
                    "value {:?} is empty or contains whitespace or control characters",
                    crate::text::redact_url(v)
                )));
            }
            Ok(())
        };
        Ok(match k.kind {
            Kind::Bool => match one()?.as_str() {
                "true" => Setting::Bool(true),
                "false" => Setting::Bool(false),
                v => return Err(bad(format!("value {v:?} is not true or false"))),
            },
            Kind::Choice(words) => {
                let v = one()?;
                if !words.contains(&v.as_str()) {
                    return Err(bad(format!(
                        "value {v:?} is not one of {}",
                        words.join(", ")
                    )));
                }
                Setting::Text(v)
            }
            Kind::Url => {
                let v = one()?;
                plain(&v)?;
                check_url(&v).map_err(bad)?;
                Setting::Text(v)
            }
            Kind::UrlList | Kind::LinkList => {
                if args.is_empty() {
                    return Err(bad("needs at least one value".into()));
                }
                let mut items = Vec::new();
                for v in args {
                    let v = v.trim().to_string();
                    plain(&v)?;
                    if k.kind == Kind::LinkList && v.starts_with('/') {
                        if v.contains(',') {
                            return Err(bad(format!("path {v:?} contains a comma")));
                        }
                    } else {
                        check_url(&v).map_err(&bad)?;
                    }
                    items.push(v);
                }
                Setting::List(items)
            }
            Kind::Timestamp => {
                let v = one()?;
                let ok = chrono::DateTime::parse_from_rfc3339(&v).is_ok()
                    || chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d").is_ok();
                if !ok {
                    return Err(bad(format!(
                        "value {v:?} is neither an RFC 3339 timestamp (2026-01-31T00:00:00Z) nor a date (2026-01-31)"
                    )));
                }
                Setting::Text(v)
            }
            Kind::Argv => {
                let Some(program) = args.first() else {
                    return Err(bad("needs the program to run, then its arguments".into()));
                };
                if program.trim().is_empty() || program.starts_with('-') {
                    return Err(bad(format!("program {program:?} is not a command")));
                }
                if let Some(a) = args.iter().find(|a| a.chars().any(char::is_control)) {
                    return Err(bad(format!("argument {a:?} contains control characters")));
                }
                Setting::List(args.to_vec())
            }
            Kind::HealthUrl => {
                let v = one()?;
                plain(&v)?;
                let rest = v
                    .strip_prefix("http://")
                    .or_else(|| v.strip_prefix("https://"))
                    .ok_or_else(|| bad(format!("value {v:?} is not an http:// or https:// URL")))?;
                let authority = rest.split('/').next().unwrap_or("");
                if authority.is_empty() || authority.contains('@') {
                    return Err(bad(format!(
                        "URL {:?} needs a host and no credentials",
                        crate::text::redact_url(&v)
                    )));
                }
                check_host_port(&v, authority).map_err(bad)?;
                Setting::Text(v)
            }
            Kind::Seconds => {
                let v = one()?;
                match v.parse::<u64>() {
                    Ok(n) if (1..=3600).contains(&n) => Setting::Text(n.to_string()),
                    _ => {
                        return Err(bad(format!(
                            "value {v:?} is not a whole number of seconds from 1 to 3600"
                        )));
                    }
                }
            }
            Kind::Python => {
                let v = one()?;
                plain(&v)?;
                let version = v.split('.').count() <= 3
                    && v.split('.')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
                if !version && !v.starts_with('/') {
                    return Err(bad(format!(
                        "value {v:?} is neither a version such as 3.11 nor an absolute path"
                    )));
                }
                Setting::Text(v)
            }
        })
    }
}

fn describe(kind: Kind) -> &'static str {
    match kind {
        Kind::Url => "one URL (https://, http:// or file://)",
        Kind::UrlList => "one or more URLs",
        Kind::LinkList => "one or more absolute paths or URLs",
        Kind::Bool => "true or false",
        Kind::Timestamp => "an RFC 3339 timestamp or a date",
        Kind::Choice(_) => "one of its words",
        Kind::Python => "a Python version or an absolute interpreter path",
        Kind::Argv => "a program and its arguments",
        Kind::HealthUrl => "an http:// or https:// URL",
        Kind::Seconds => "a whole number of seconds",
    }
}

/// Accepts `https://`, `http://` and `file://` URLs without credentials.
fn check_url(v: &str) -> std::result::Result<(), String> {
    let Some((scheme, rest)) = v.split_once("://") else {
        return Err(format!(
            "value {v:?} is not a URL (or, for find-links, an absolute path)"
        ));
    };
    if !matches!(scheme, "https" | "http" | "file") {
        return Err(format!(
            "URL scheme {scheme:?} is not allowed (https, http or file)"
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "URL {:?} carries credentials; give them to uv through a keyring or ~/.netrc instead",
            crate::text::redact_url(v)
        ));
    }
    if scheme != "file" && authority.is_empty() {
        return Err(format!("URL {v:?} has no host"));
    }
    if !authority.is_empty() {
        check_host_port(v, authority)?;
    }
    Ok(())
}

/// Accepts `host[:port]`: an ASCII DNS name or IP literal (`[…]` for IPv6), a port from 1
/// to 65535. A look-alike host in another script (`exаmple.org` with a Cyrillic `а`) is
/// refused; give it in its `xn--` form.
fn check_host_port(v: &str, authority: &str) -> std::result::Result<(), String> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, "")) if ip.parse::<std::net::Ipv6Addr>().is_ok() => (ip, None),
            Some((ip, rest)) if ip.parse::<std::net::Ipv6Addr>().is_ok() => {
                let port = rest
                    .strip_prefix(':')
                    .ok_or_else(|| format!("URL {v:?} has the host {authority:?}"))?;
                (ip, Some(port))
            }
            _ => return Err(format!("URL {v:?} has the host {authority:?}")),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !authority.starts_with('[') && !host.split('.').all(label_ok) {
        return Err(format!(
            "URL {v:?} has the host {host:?} (ASCII letters, digits, '-' and '.' only; give a non-ASCII name in its xn-- form)"
        ));
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(format!("URL {v:?} has the port {port:?} (1 to 65535)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn set_validates_and_save_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        let mut st = Settings::default();
        st.set("find-links", &s(&["/wheels", "https://example.org/w/"]))
            .unwrap();
        st.set("no-index", &s(&["true"])).unwrap();
        st.set("python", &s(&["3.11"])).unwrap();
        st.set("exclude-newer", &s(&["2026-01-31T00:00:00Z"]))
            .unwrap();
        st.save(&path).unwrap();
        let back = Settings::load(&path).unwrap();
        assert_eq!(back, st);
        assert_eq!(
            back.uv_args(),
            s(&[
                "--find-links",
                "/wheels",
                "--find-links",
                "https://example.org/w/",
                "--no-index",
                "--exclude-newer",
                "2026-01-31T00:00:00Z",
                "--python",
                "3.11"
            ])
        );
        assert_eq!(back.hashed()["no-index"], "true");
        assert_eq!(
            back.hashed()["find-links"],
            r#"["/wheels","https://example.org/w/"]"#
        );
        st.unset("no-index").unwrap();
        assert_eq!(st.get("no-index").unwrap(), None);
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let mut st = Settings::default();
        for (key, args, want) in [
            ("nope", vec!["1"], "unknown setting"),
            ("no-index", vec!["yes"], "not true or false"),
            ("no-index", vec![], "exactly one value"),
            ("find-links", vec!["wheels"], "not a URL"),
            ("find-links", vec![], "at least one value"),
            ("index-url", vec!["ftp://x/"], "scheme \"ftp\""),
            ("index-url", vec!["https://u:p@host/simple"], "credentials"),
            ("index-url", vec!["https:///simple"], "no host"),
            ("resolution", vec!["newest"], "not one of"),
            ("exclude-newer", vec!["yesterday"], "RFC 3339"),
            ("python", vec!["python3"], "absolute path"),
            ("find-links", vec!["/a b"], "whitespace"),
            ("restart", vec![], "needs the program"),
            ("restart", vec!["-x"], "not a command"),
            ("health-url", vec!["ftp://h/x"], "not an http"),
            ("health-url", vec!["http://u:p@h/x"], "credentials"),
            ("health-url", vec!["http://127.0.0.1:0/h"], "port \"0\""),
            ("health-url", vec!["http://[::1]x/h"], "host"),
            ("index-url", vec!["https://ex\u{430}mple.org/s"], "xn--"),
            ("index-url", vec!["https://example.org:abc/s"], "port"),
            ("find-links", vec!["https://-x.org/w"], "host"),
            ("health-timeout", vec!["0"], "1 to 3600"),
            ("health-timeout", vec!["soon"], "1 to 3600"),
        ] {
            let err = st.set(key, &s(&args)).unwrap_err().to_string();
            assert!(err.contains(want), "{key} {args:?}: {err}");
        }
        assert_eq!(st, Settings::default());
        // A trailing newline is trimmed, not stored.
        st.set("python", &s(&["3.12\n"])).unwrap();
        assert_eq!(st.text("python").as_deref(), Some("3.12"));
        // Activation settings are not hashed and not uv options.
        st.set("restart", &s(&["systemctl", "restart", "cosmoserver"]))
            .unwrap();
        st.set("health-timeout", &s(&["30"])).unwrap();
        assert!(!st.hashed().contains_key("restart"));
        assert_eq!(st.uv_args(), s(&["--python", "3.12"]));
    }

    #[test]
    fn a_hand_edited_file_is_checked_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        for (text, want) in [
            ("no-index = \"yes\"\n", "must be true or false"),
            ("colour = 1\n", "unknown setting"),
            ("find-links = \"/w\"\n", "one or more absolute paths"),
            ("[find-links]\n", "not a table"),
            ("no-index = \n", "not valid TOML"),
        ] {
            fs::write(&path, text).unwrap();
            let err = Settings::load(&path).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        assert_eq!(
            Settings::load(&dir.path().join("absent")).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn seconds_are_saved_as_a_toml_integer_and_read_from_a_string_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        let mut st = Settings::default();
        st.set("health-timeout", &["10".to_string()]).unwrap();
        st.save(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let doc: DocumentMut = text.parse().unwrap();
        assert_eq!(doc["health-timeout"].as_integer(), Some(10), "{text}");
        assert_eq!(Settings::load(&path).unwrap(), st);
        // As an earlier version wrote it.
        fs::write(&path, "health-timeout = \"10\"\n").unwrap();
        assert_eq!(Settings::load(&path).unwrap(), st);
    }
}
