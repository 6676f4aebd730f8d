//! Pinning git plugins: what commit a branch, tag or the default branch means now.
//!
//! A git plugin's record keeps the ref the user gave (its version columns); the commit
//! that ref meant when the record was added or updated is its *pin*, kept beside the
//! record, and that commit is what a bundle is built from and hashed with. A branch that
//! moves never changes a bundle silently: `plugin update NAME` pins its newest commit.

use crate::error::{Error, Result};
use serde::Serialize;

/// The commit a git record's ref is pinned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pin {
    /// The repository URL (the record's `source`).
    pub url: String,
    /// The ref as recorded: branch, tag or commit.
    pub rev: String,
    /// The full commit id.
    pub commit: String,
}

/// Whether `rev` is a full commit id (SHA-1 or SHA-256, hex).
pub fn is_commit(rev: &str) -> bool {
    matches!(rev.len(), 40 | 64) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Pins `rev` of the repository at `url`, or its default branch when `rev` is `None`
/// (then the pin's `rev` is that branch's name). A full commit id is pinned as is; a
/// branch or tag is looked up with `git ls-remote` (a tag wins over a branch of the same
/// name, as in git).
pub fn pin(url: &str, rev: Option<&str>) -> Result<Pin> {
    if let Some(rev) = rev
        && is_commit(rev)
    {
        return Ok(Pin {
            url: url.to_string(),
            rev: rev.to_string(),
            commit: rev.to_ascii_lowercase(),
        });
    }
    let refs = match rev {
        None => ls_remote(url, &["--symref", "HEAD"])?,
        Some(rev) => ls_remote(url, &[rev])?,
    };
    let found = match rev {
        None => default_branch(&refs).ok_or_else(|| {
            Error::input(
                format!("the git repository {url} has no default branch (HEAD)"),
                "name a branch, tag or commit with --rev",
            )
        })?,
        Some(rev) => (
            rev.to_string(),
            find_ref(&refs, rev).ok_or_else(|| {
                let hint = if rev.len() >= 7 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
                    "give a commit as its full 40-digit id"
                } else {
                    "list the repository's branches and tags with `git ls-remote URL`"
                };
                Error::not_found(
                    format!("the git repository {url} has no branch or tag {rev:?}"),
                    hint,
                )
            })?,
        ),
    };
    Ok(Pin {
        url: url.to_string(),
        rev: found.0,
        commit: found.1,
    })
}

/// `git ls-remote` lines as (name, value) pairs; a symref line is `("ref: NAME", "HEAD")`.
fn ls_remote(url: &str, args: &[&str]) -> Result<Vec<(String, String)>> {
    let mut cmd = crate::process::child("git");
    cmd.args([
        "-c",
        "protocol.ext.allow=never",
        "-c",
        "http.lowSpeedLimit=1000",
        "-c",
        "http.lowSpeedTime=30",
        "ls-remote",
    ]);
    // `--symref` is an option; the patterns follow the URL, after `--`.
    let (options, patterns): (Vec<&str>, Vec<&str>) =
        args.iter().partition(|a| a.starts_with("--"));
    cmd.args(options)
        .arg("--")
        .arg(url)
        .args(patterns)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null());
    let command = format!("git ls-remote {url} {}", args.join(" "));
    let out = cmd.output().map_err(|e| Error::GitFailed {
        command: command.clone(),
        status: "it could not be started".into(),
        stderr: e.to_string(),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if out.status.code() == Some(127) && stderr.starts_with("error: cannot run") {
            return Err(Error::input(
                "git is not installed, and git plugins need it",
                "install git (e.g. `apt install git`)",
            ));
        }
        return Err(Error::GitFailed {
            command,
            status: match out.status.code() {
                Some(code) => format!("exit code {code}"),
                None => "a signal".into(),
            },
            stderr,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (b.to_string(), a.to_string()))
        .collect())
}

/// The default branch and its commit from `ls-remote --symref HEAD` output.
fn default_branch(refs: &[(String, String)]) -> Option<(String, String)> {
    let branch = refs
        .iter()
        .find(|(name, value)| name == "HEAD" && value.starts_with("ref: "))?
        .1
        .strip_prefix("ref: refs/heads/")?
        .to_string();
    let commit = refs
        .iter()
        .find(|(name, value)| name == "HEAD" && !value.starts_with("ref: "))?
        .1
        .clone();
    Some((branch, commit))
}

/// The commit `rev` names: a peeled tag, a tag, then a branch.
fn find_ref(refs: &[(String, String)], rev: &str) -> Option<String> {
    [
        format!("refs/tags/{rev}^{{}}"),
        format!("refs/tags/{rev}"),
        format!("refs/heads/{rev}"),
    ]
    .iter()
    .find_map(|want| refs.iter().find(|(name, _)| name == want))
    .map(|(_, commit)| commit.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(lines: &[(&str, &str)]) -> Vec<(String, String)> {
        lines
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn tags_win_over_branches_and_annotated_tags_are_peeled() {
        let r = refs(&[
            ("refs/heads/v1", "aaa"),
            ("refs/tags/v1", "bbb"),
            ("refs/tags/v1^{}", "ccc"),
            ("refs/heads/main", "ddd"),
        ]);
        assert_eq!(find_ref(&r, "v1").as_deref(), Some("ccc"));
        assert_eq!(find_ref(&r, "main").as_deref(), Some("ddd"));
        assert_eq!(find_ref(&r, "mai"), None);
        let head = refs(&[("HEAD", "ref: refs/heads/trunk"), ("HEAD", "eee")]);
        assert_eq!(
            default_branch(&head),
            Some(("trunk".to_string(), "eee".to_string()))
        );
        assert!(is_commit(&"a".repeat(40)) && !is_commit("abc1234"));
    }
}
