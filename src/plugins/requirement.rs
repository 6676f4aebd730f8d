//! A plugin as a bundle input (a distribution and where it comes from), and validation of
//! what users type: names, versions, git URLs and refs.

use crate::error::{Error, Result};
use std::str::FromStr;

/// A validated, normalised distribution name (PEP 503).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DistName(String);

impl DistName {
    /// Checks a distribution name (PEP 508) and normalises it.
    pub fn parse(name: &str) -> Result<Self> {
        let ok = !name.is_empty()
            && name.len() <= 255
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
        if !ok {
            return Err(Error::input(
                format!("{name:?} is not a valid Python distribution name"),
                "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit (for example `zigbee-switch`)",
            ));
        }
        Ok(DistName(normalize(name)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// PEP 503 normalisation: lower case, runs of `-_.` become one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Where a bundle gets a plugin from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    Pypi {
        version: String,
    },
    /// A git repository at `rev`, pinned to `commit`.
    Git {
        url: String,
        rev: String,
        commit: String,
    },
}

/// A plugin as a bundle input: a distribution and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub dist: DistName,
    pub source: PluginSource,
}

impl Requirement {
    /// The PEP 508 string written into the bundle's `[project].dependencies`.
    pub fn pep508(&self) -> String {
        match &self.source {
            PluginSource::Pypi { version } => format!("{}=={}", self.dist.as_str(), version),
            PluginSource::Git { url, commit, .. } => {
                format!("{} @ git+{}@{}", self.dist.as_str(), url, commit)
            }
        }
    }

    /// The version column value this requirement stands for (PyPI pin or git ref).
    pub fn version(&self) -> &str {
        match &self.source {
            PluginSource::Pypi { version } => version,
            PluginSource::Git { rev, .. } => rev,
        }
    }
}

/// Longest value the version columns take (`String(50)`).
pub const VERSION_MAX: usize = 50;

/// Checks a PEP 440 version that fits the version columns and returns it normalised
/// (surrounding whitespace trimmed, PEP 440 canonical form: ` 1.0.0-RC1 ` is `1.0.0rc1`),
/// so that equal versions are stored and hashed alike.
pub fn check_version(version: &str) -> Result<String> {
    let hint = "give an exact PEP 440 version such as 1.2.0, 2.0.0rc1 or 1.0.post2";
    let trimmed = version.trim();
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::input(
            format!(
                "version {version:?} is not a PEP 440 version: it contains whitespace or control characters"
            ),
            hint,
        ));
    }
    let parsed = pep440_rs::Version::from_str(trimmed)
        .map_err(|e| Error::input(format!("{version:?} is not a PEP 440 version: {e}"), hint))?;
    let normal = parsed.to_string();
    if normal.len() > VERSION_MAX {
        return Err(Error::input(
            format!("version {version:?} is longer than {VERSION_MAX} characters"),
            hint,
        ));
    }
    Ok(normal)
}

/// Checks a git URL and returns it normalised (scheme and host in lower case, no trailing
/// `/`). Accepted: `https://host[:port]/path` (no credentials), `ssh://[user@]host[:port]/path`
/// and `file:///absolute/path`; the path may not hold `@` (uv would read what follows as a
/// ref), `#`, `?`, `%`, `\`, whitespace or `..` segments, and nothing may start with `-`.
pub fn check_git_url(url: &str) -> Result<String> {
    let hint = "use https://host/repo.git, ssh://git@host/repo.git or file:///path/to/repo, and give the branch, tag or commit with --rev";
    let shown = crate::text::redact_url(url);
    let bad = |why: String| Error::input(format!("git URL {shown:?} {why}"), hint);
    let url = url.trim();
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "is empty or contains whitespace or control characters".into()
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(
            "has no scheme (scp-like `user@host:path` is not accepted)".into(),
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "https" | "ssh" | "file") {
        return Err(bad(format!(
            "has the scheme {scheme:?}, which is not allowed (only https, ssh and file)"
        )));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match scheme.as_str() {
        "file" => {
            if !(authority.is_empty() || authority.eq_ignore_ascii_case("localhost")) {
                return Err(bad(
                    "names a host; a file URL is file:///absolute/path".into()
                ));
            }
            String::new()
        }
        _ => check_authority(authority, scheme == "ssh").map_err(bad)?,
    };
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Err(bad("has no repository path".into()));
    }
    if let Some(c) = path.chars().find(|c| "@#?%\\".contains(*c)) {
        return Err(bad(format!("has {c:?} in its path")));
    }
    if path
        .split('/')
        .any(|seg| seg == ".." || seg == "." || seg.starts_with('-'))
    {
        return Err(bad("has a '.', '..' or '-…' path segment".into()));
    }
    Ok(format!("{scheme}://{authority}{path}"))
}

/// `[user@]host[:port]`: the host a DNS name or IP literal in lower case, a numeric port.
fn check_authority(authority: &str, user_allowed: bool) -> std::result::Result<String, String> {
    let (user, hostport) = match authority.rsplit_once('@') {
        Some(_) if !user_allowed => {
            return Err(
                "carries credentials; use a credential helper or an ssh URL instead".into(),
            );
        }
        Some((user, hostport)) => (Some(user), hostport),
        None => (None, authority),
    };
    if user.is_some_and(|u| u.contains(':')) {
        return Err("carries credentials; use ssh keys (or a credential helper) instead".into());
    }
    if let Some(user) = user
        && (user.is_empty()
            || user.starts_with('-')
            || !user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
    {
        return Err(format!(
            "has the user name {user:?} (letters, digits and ._- only)"
        ));
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (inside, after) = v6.split_once(']').ok_or("has an unclosed '['")?;
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(format!("has the host {hostport:?}"));
        }
        (
            format!("[{}]", inside.to_ascii_lowercase()),
            after.strip_prefix(':'),
        )
    } else {
        let (host, port) = match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        };
        let ok = !host.is_empty()
            && !host.starts_with(['-', '.'])
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b));
        if !ok {
            return Err(format!("has the host {host:?}"));
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => String::new(),
        Some(p) if p.parse::<u16>().is_ok_and(|n| n > 0) && !p.starts_with('0') => format!(":{p}"),
        Some(p) => return Err(format!("has the port {p:?}")),
    };
    let user = user.map(|u| format!("{u}@")).unwrap_or_default();
    Ok(format!("{user}{host}{port}"))
}

/// Checks a git ref (branch, tag or commit) so that it cannot be read as an option.
pub fn check_git_rev(rev: &str) -> Result<String> {
    let hint = "give a branch, tag or commit such as main, v1.2.0 or a 40-digit hash";
    let rev = rev.trim();
    let ok = !rev.is_empty()
        && rev.len() <= VERSION_MAX
        && !rev.starts_with(['-', '/', '.'])
        && !rev.ends_with(['/', '.'])
        && !rev.contains("..")
        && !rev.contains("@{")
        && rev
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-+".contains(&b));
    if !ok {
        return Err(Error::input(
            format!(
                "{rev:?} is not an accepted git ref (letters, digits and ._/-+ only, at most {VERSION_MAX} characters, not starting with '-')"
            ),
            hint,
        ));
    }
    Ok(rev.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_per_pep_503() {
        assert_eq!(
            DistName::parse("Zigbee__Switch").unwrap().as_str(),
            "zigbee-switch"
        );
        assert_eq!(DistName::parse("a.b-c_d").unwrap().as_str(), "a-b-c-d");
        for bad in ["", "-x", "x-", "a b", "a/b", "é", "x;rm"] {
            assert!(DistName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn versions_are_normalised() {
        for (given, normal) in [
            (" 1.0 ", "1.0"),
            ("1.0\n", "1.0"),
            ("1.0.0-RC1", "1.0.0rc1"),
            ("v2.0", "2.0"),
            ("1.0-post2", "1.0.post2"),
        ] {
            assert_eq!(check_version(given).unwrap(), normal, "{given:?}");
        }
        assert!(check_version("1.0 2").is_err());
    }

    #[test]
    fn versions_follow_pep_440() {
        for good in ["1.0.0", "2.0rc1", "1!2.0.post3.dev4", "1.0+local"] {
            assert!(check_version(good).is_ok(), "{good:?} rejected");
        }
        for bad in ["", "latest", "1.0.0-beta_x", ">=1.0", &"1".repeat(51)] {
            assert!(check_version(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn git_urls_and_refs_are_restricted() {
        for (given, normal) in [
            ("https://github.com/a/b.git", "https://github.com/a/b.git"),
            ("HTTPS://GitHub.com/a/B.git/", "https://github.com/a/B.git"),
            (" ssh://git@Host:2222/a.git\n", "ssh://git@host:2222/a.git"),
            ("file:///tmp/repo/", "file:///tmp/repo"),
            ("file://localhost/tmp/repo", "file:///tmp/repo"),
            ("https://[::1]:8443/r", "https://[::1]:8443/r"),
        ] {
            assert_eq!(check_git_url(given).unwrap(), normal, "{given:?}");
        }
        for bad in [
            "http://host/a",
            "ext::sh -c touch% /tmp/x",
            "git@host:a.git",
            "fd::3",
            "https://host/a b",
            "file:///tmp/repo#egg=x",
            "",
            "ssh://host:-oProxyCommand=touch/r",
            "ssh://-oProxyCommand=x/r",
            "file:///tmp/repo@x",
            "file:///tmp/a@v1",
            "https://user:pw@host/r",
            "https://host/r@v1",
            "https://host:0/r",
            "https://host:99999/r",
            "https://host",
            "https://host/",
            "file://otherhost/r",
            "https://host/a/../b",
            "https://host/%2e%2e/b",
        ] {
            assert!(check_git_url(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "main",
            "v1.0.0",
            "feature/x",
            "3cc0b5d358f71b4dc4517ceff1a6f037777a5938",
        ] {
            assert!(check_git_rev(good).is_ok(), "{good:?} rejected");
        }
        for bad in ["-u", "--upload-pack=x", "a b", "a..b", "", "x@{1}", "a;b"] {
            assert!(check_git_rev(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn requirements_render_as_pep_508() {
        let pypi = Requirement {
            dist: DistName::parse("Hue_Lights").unwrap(),
            source: PluginSource::Pypi {
                version: "1.0.0".into(),
            },
        };
        assert_eq!(pypi.pep508(), "hue-lights==1.0.0");
        let commit = "3cc0b5d358f71b4dc4517ceff1a6f037777a5938";
        let git = Requirement {
            dist: DistName::parse("hue-lights").unwrap(),
            source: PluginSource::Git {
                url: "file:///r".into(),
                rev: "v1".into(),
                commit: commit.into(),
            },
        };
        assert_eq!(git.pep508(), format!("hue-lights @ git+file:///r@{commit}"));
        assert_eq!(git.version(), "v1");
    }
}
