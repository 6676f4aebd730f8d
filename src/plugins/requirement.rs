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
    Pypi { version: String },
    Git { url: String, rev: String },
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
            PluginSource::Git { url, rev } => {
                format!("{} @ git+{}@{}", self.dist.as_str(), url, rev)
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

/// The git ref used when `plugin add --git` is given no `--rev`.
pub const DEFAULT_GIT_REV: &str = "HEAD";

/// Longest value the version columns take (`String(50)`).
pub const VERSION_MAX: usize = 50;

/// Checks a PEP 440 version that fits the version columns.
pub fn check_version(version: &str) -> Result<String> {
    let hint = "give an exact PEP 440 version such as 1.2.0, 2.0.0rc1 or 1.0.post2";
    if version.len() > VERSION_MAX {
        return Err(Error::input(
            format!("version {version:?} is longer than {VERSION_MAX} characters"),
            hint,
        ));
    }
    pep440_rs::Version::from_str(version)
        .map_err(|e| Error::input(format!("{version:?} is not a PEP 440 version: {e}"), hint))?;
    Ok(version.to_string())
}

/// Checks a git URL: https, ssh or file scheme, no whitespace or control characters.
pub fn check_git_url(url: &str) -> Result<String> {
    let hint = "use https://host/repo.git, ssh://git@host/repo.git or file:///path/to/repo";
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::input(
            format!("git URL {url:?} is empty or contains whitespace or control characters"),
            hint,
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(Error::input(
            format!("git URL {url:?} has no scheme (scp-like `user@host:path` is not accepted)"),
            hint,
        ));
    };
    if !matches!(scheme, "https" | "ssh" | "file") {
        return Err(Error::input(
            format!("git URL scheme {scheme:?} is not allowed (only https, ssh and file)"),
            hint,
        ));
    }
    if rest.is_empty() || rest.starts_with('-') {
        return Err(Error::input(
            format!("git URL {url:?} has no host or path"),
            hint,
        ));
    }
    if url.contains(['#', '?']) {
        return Err(Error::input(
            format!("git URL {url:?} must not contain '#' or '?'"),
            "give the branch, tag or commit with --rev instead",
        ));
    }
    Ok(url.to_string())
}

/// Checks a git ref (branch, tag or commit) so that it cannot be read as an option.
pub fn check_git_rev(rev: &str) -> Result<String> {
    let hint = "give a branch, tag or commit such as main, v1.2.0 or a 40-digit hash";
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
        for good in [
            "https://github.com/a/b.git",
            "ssh://git@host/a.git",
            "file:///tmp/repo",
        ] {
            assert!(check_git_url(good).is_ok(), "{good:?} rejected");
        }
        for bad in [
            "http://host/a",
            "ext::sh -c touch% /tmp/x",
            "git@host:a.git",
            "fd::3",
            "https://host/a b",
            "file:///tmp/repo#egg=x",
            "",
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
        let git = Requirement {
            dist: DistName::parse("hue-lights").unwrap(),
            source: PluginSource::Git {
                url: "file:///r".into(),
                rev: "v1".into(),
            },
        };
        assert_eq!(git.pep508(), "hue-lights @ git+file:///r@v1");
    }
}
