//! What `uv sync` wrote into a bundle's `.venv` that names the bundle's own path, made
//! the same in every bundle (store-layout.md, build step 6): console scripts get the
//! shebang of a relocatable venv (a `/bin/sh` stub that finds `python` beside the script)
//! and their `RECORD` lines the new hash; the activation scripts get the lines that
//! `uv venv --relocatable` writes, which find the venv from the script's own path.

use crate::error::Result;
use fs_err as fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The first lines uv writes in the scripts of a relocatable venv (uv 0.13's
/// `format_shebang` with `relocatable`): the script runs the `python` beside it.
pub const RELOCATABLE_SHEBANG: &str = "#!/bin/sh\n'''exec' \"$(dirname -- \"$(realpath -- \"$0\")\")\"/'python' \"$0\" \"$@\"\n' '''\n";

/// The activation scripts whose line naming the venv's absolute path `uv venv
/// --relocatable` (uv 0.13) writes otherwise: (script, how that line starts in the
/// absolute form, how it ends, the relocatable line). Every other line is the same in both
/// forms, except the bash script's relocatable switch ([`BASH_SWITCH`]).
const ACTIVATION: &[(&str, &str, &str, &str)] = &[
    (
        "activate",
        "VIRTUAL_ENV='",
        "'",
        r#"VIRTUAL_ENV=''"$(dirname -- "$(dirname -- "$(realpath -- "$SCRIPT_PATH")")")"''"#,
    ),
    (
        "activate.fish",
        "set -gx VIRTUAL_ENV '",
        "'",
        "set -gx VIRTUAL_ENV ''(dirname -- (dirname -- (realpath -- (status -f))))''",
    ),
    (
        "activate.nu",
        "    const virtual_env = '",
        "'",
        "    const virtual_env = (path self | path dirname | path dirname)",
    ),
    (
        "activate.bat",
        "@for %%i in (\"",
        "\") do @set \"VIRTUAL_ENV=%%~fi\"",
        "@for %%i in (\"%~dp0..\") do @set \"VIRTUAL_ENV=%%~fi\"",
    ),
];

/// The bash script's switch for relocatable venvs (find the script's own path), off and on.
const BASH_SWITCH: (&str, &str) = (
    "if [ \"false\" = \"true\" ]; then",
    "if [ \"true\" = \"true\" ]; then",
);

/// The activation script that cannot find its venv from its own path: a relocatable venv
/// has none.
const NOT_RELOCATABLE: &str = "activate.csh";

/// Rewrites the scripts of `<bundle>/.venv/bin` whose shebang names the venv's Python by
/// its absolute path and fixes their `RECORD` lines in `site`; gives the activation
/// scripts their relocatable lines (one whose lines are not as expected is left as uv
/// wrote it: it works in this bundle) and removes `activate.csh`. Files are replaced by
/// rename, never written through a hard link. Returns the names of the scripts whose
/// shebang was rewritten.
pub fn make_bundle_independent(bundle: &Path, site: &Path) -> Result<Vec<String>> {
    let bin = bundle.join(".venv/bin");
    let pythons = venv_pythons(bundle);
    let mut rewritten: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in fs::read_dir(&bin)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        if name == NOT_RELOCATABLE {
            fs::remove_file(&path)?;
            continue;
        }
        if let Some(&(_, start, end, line)) = ACTIVATION.iter().find(|a| a.0 == name) {
            let text = fs::read_to_string(&path)?;
            if let Some(new) = relocatable_activation(&text, name == "activate", start, end, line) {
                let mode = entry.metadata()?.permissions().mode();
                replace(&path, new.as_bytes(), mode)?;
            }
            continue;
        }
        let contents = fs::read(&path)?;
        let Some(body) = pythons.iter().find_map(|p| strip_shebang(&contents, p)) else {
            continue;
        };
        let mut new = Vec::with_capacity(RELOCATABLE_SHEBANG.len() + body.len());
        new.extend_from_slice(RELOCATABLE_SHEBANG.as_bytes());
        new.extend_from_slice(body);
        let mode = entry.metadata()?.permissions().mode();
        replace(&path, &new, mode)?;
        rewritten.push((name, new));
    }
    if !rewritten.is_empty() {
        fix_records(site, &rewritten)?;
    }
    mark_relocatable(&bundle.join(".venv/pyvenv.cfg"))?;
    Ok(rewritten.into_iter().map(|(name, _)| name).collect())
}

/// Adds `relocatable = true` to `pyvenv.cfg` where `uv venv --relocatable` writes it
/// (before `prompt`, else last), unless it is there.
fn mark_relocatable(cfg: &Path) -> Result<()> {
    const LINE: &str = "relocatable = true\n";
    let text = fs::read_to_string(cfg)?;
    if text.lines().any(|l| l.trim() == LINE.trim()) {
        return Ok(());
    }
    let mut out = String::with_capacity(text.len() + LINE.len());
    let mut added = false;
    for line in text.split_inclusive('\n') {
        if !added && line.starts_with("prompt =") {
            out.push_str(LINE);
            added = true;
        }
        out.push_str(line);
    }
    if !added {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(LINE);
    }
    let mode = fs::metadata(cfg)?.permissions().mode();
    replace(cfg, out.as_bytes(), mode)
}

/// `text` with its one line that starts with `start` and ends with `end` replaced by
/// `line` and, for bash, both relocatable switches turned on; `None` when the script is
/// not as expected.
fn relocatable_activation(
    text: &str,
    bash: bool,
    start: &str,
    end: &str,
    line: &str,
) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let (mut found, mut switches) = (0, 0);
    for raw in text.split_inclusive('\n') {
        let body = raw.trim_end_matches(['\n', '\r']);
        let eol = &raw[body.len()..];
        if body.len() > start.len() + end.len() && body.starts_with(start) && body.ends_with(end) {
            found += 1;
            out.push_str(line);
            out.push_str(eol);
        } else if bash && body == BASH_SWITCH.0 {
            switches += 1;
            out.push_str(BASH_SWITCH.1);
            out.push_str(eol);
        } else {
            out.push_str(raw);
        }
    }
    (found == 1 && (!bash || switches == 2)).then_some(out)
}

/// The venv's Python as uv may have spelt it in shebangs: the bundle's path as given,
/// and canonical (when the data directory is reached through a link).
fn venv_pythons(bundle: &Path) -> Vec<PathBuf> {
    let mut out = vec![bundle.join(".venv/bin/python")];
    if let Ok(canonical) = fs::canonicalize(bundle) {
        let p = canonical.join(".venv/bin/python");
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The script after its shebang when that shebang runs `python` by its absolute path, in
/// either form uv writes: `#!PATH` (a short path without spaces), or a `/bin/sh` stub
/// (a long path, or one with spaces).
fn strip_shebang<'a>(contents: &'a [u8], python: &Path) -> Option<&'a [u8]> {
    let path = python.as_os_str().as_bytes();
    let mut short = b"#!".to_vec();
    short.extend_from_slice(path);
    short.push(b'\n');
    if let Some(body) = contents.strip_prefix(short.as_slice()) {
        return Some(body);
    }
    let mut long = b"#!/bin/sh\n'''exec' '".to_vec();
    for &b in path {
        if b == b'\'' {
            long.extend_from_slice(b"'\\''");
        } else {
            long.push(b);
        }
    }
    long.extend_from_slice(b"' \"$0\" \"$@\"\n' '''\n");
    contents.strip_prefix(long.as_slice())
}

/// Writes `contents` to `path` with `mode` by rename (a new inode).
fn replace(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        "{}script-{}",
        crate::layout::TMP_PREFIX,
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    fs::write(&tmp, contents)?;
    fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode & 0o7777))?;
    fs::rename(&tmp, path)?;
    Ok(())
}

/// Gives the `RECORD` lines of the rewritten scripts (`../../../bin/NAME,sha256=…,SIZE`,
/// from site-packages) their new hash and size, as uv writes them for a relocatable venv.
fn fix_records(site: &Path, scripts: &[(String, Vec<u8>)]) -> Result<()> {
    for entry in fs::read_dir(site)? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.as_bytes().ends_with(b".dist-info") || !entry.file_type()?.is_dir() {
            continue;
        }
        let record = entry.path().join("RECORD");
        let Ok(text) = fs::read_to_string(&record) else {
            continue;
        };
        if !text.contains("../../../bin/") {
            continue;
        }
        let mut changed = false;
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let body = line.trim_end_matches(['\n', '\r']);
            let end = &line[body.len()..];
            let field = body.split(',').next().unwrap_or("");
            let script = field
                .strip_prefix("../../../bin/")
                .and_then(|n| scripts.iter().find(|(s, _)| s == n));
            match script {
                Some((_, contents)) => {
                    out.push_str(&format!(
                        "{field},sha256={},{}{end}",
                        sha256_urlsafe(contents),
                        contents.len()
                    ));
                    changed = true;
                }
                None => out.push_str(line),
            }
        }
        if changed {
            let mode = fs::metadata(&record)?.permissions().mode();
            replace(&record, out.as_bytes(), mode)?;
        }
    }
    Ok(())
}

/// SHA-256 of `data` in the URL-safe base64 of wheel `RECORD`s, without padding.
fn sha256_urlsafe(data: &[u8]) -> String {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_hashes_are_urlsafe_sha256_without_padding() {
        // The hash uv wrote for an empty REQUESTED file.
        assert_eq!(
            sha256_urlsafe(b""),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }

    #[test]
    fn scripts_get_the_relocatable_shebang_and_records_follow() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("b");
        let bin = bundle.join(".venv/bin");
        let site = bundle.join(".venv/lib/python3.11/site-packages");
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(site.join("tool-1.0.dist-info")).unwrap();
        let python = bin.join("python");
        let body = "# -*- coding: utf-8 -*-\nimport sys\n";
        let short = format!("#!{}\n{body}", python.display());
        fs::write(bin.join("tool"), &short).unwrap();
        fs::set_permissions(bin.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let long = format!(
            "#!/bin/sh\n'''exec' '{}' \"$0\" \"$@\"\n' '''\n{body}",
            python.display()
        );
        fs::write(bin.join("long"), &long).unwrap();
        fs::write(bin.join("other"), "#!/usr/bin/env python3\nprint(1)\n").unwrap();
        let activate = format!(
            "{off}\nx\nfi\nVIRTUAL_ENV='{}/.venv'\n{off}\ny\nfi\n",
            bundle.display(),
            off = BASH_SWITCH.0
        );
        fs::write(bin.join("activate"), &activate).unwrap();
        fs::write(bin.join("activate.csh"), "setenv VIRTUAL_ENV '/x'\n").unwrap();
        fs::write(bin.join("activate.nu"), "    const virtual_env = ''\n").unwrap();
        fs::write(
            bundle.join(".venv/pyvenv.cfg"),
            "home = /usr/bin\ninclude-system-site-packages = false\nprompt = cosmo-server-bundled\n",
        )
        .unwrap();
        fs::write(bin.join("pydoc.bat"), "python.exe -m pydoc %*\n").unwrap();
        let record = site.join("tool-1.0.dist-info/RECORD");
        fs::write(
            &record,
            "../../../bin/tool,sha256=old,1\n../../../bin/long,sha256=old,2\ntool/__init__.py,sha256=x,3\ntool-1.0.dist-info/RECORD,,\n",
        )
        .unwrap();

        let mut names = make_bundle_independent(&bundle, &site).unwrap();
        names.sort();
        assert_eq!(names, ["long", "tool"]);
        let expected = format!("{RELOCATABLE_SHEBANG}{body}");
        assert_eq!(fs::read_to_string(bin.join("tool")).unwrap(), expected);
        assert_eq!(fs::read_to_string(bin.join("long")).unwrap(), expected);
        let mode = fs::metadata(bin.join("tool")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            fs::read_to_string(bin.join("activate")).unwrap(),
            format!(
                "{on}\nx\nfi\n{line}\n{on}\ny\nfi\n",
                on = BASH_SWITCH.1,
                line = ACTIVATION[0].3
            )
        );
        assert!(!bin.join("activate.csh").exists());
        // Not as expected (no path between the quotes): left as it was.
        assert_eq!(
            fs::read_to_string(bin.join("activate.nu")).unwrap(),
            "    const virtual_env = ''\n"
        );
        assert_eq!(
            fs::read_to_string(bundle.join(".venv/pyvenv.cfg")).unwrap(),
            "home = /usr/bin\ninclude-system-site-packages = false\nrelocatable = true\nprompt = cosmo-server-bundled\n"
        );
        assert!(bin.join("pydoc.bat").exists() && bin.join("other").exists());
        let hash = sha256_urlsafe(expected.as_bytes());
        assert_eq!(
            fs::read_to_string(&record).unwrap(),
            format!(
                "../../../bin/tool,sha256={hash},{n}\n../../../bin/long,sha256={hash},{n}\ntool/__init__.py,sha256=x,3\ntool-1.0.dist-info/RECORD,,\n",
                n = expected.len()
            )
        );
        let leftovers: Vec<_> = fs::read_dir(&bin)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
