//! Terminal manners: progress on a real pseudo-terminal and on pipes, colour, shell
//! completions in a real bash, and closed pipes.

use crate::common::*;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Command, ExitStatus, Stdio};

/// What a command wrote when its stderr was a terminal.
struct OnTerminal {
    status: ExitStatus,
    stdout: String,
    /// Everything written to the terminal (the line discipline turns `\n` into `\r\n`).
    terminal: String,
}

/// Runs `cmd` with its stderr on a new pseudo-terminal (160 columns) and stdout piped.
fn on_terminal(mut cmd: Command) -> OnTerminal {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal: OwnedFd = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let size = rustix::termios::Winsize {
        ws_row: 40,
        ws_col: 160,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&terminal, size).unwrap();
    let child = cmd
        .stderr(Stdio::from(terminal))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(cmd); // our copy of the terminal's fd: the reader sees its end when the child exits
    let mut master = std::fs::File::from(master);
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once every holder of the terminal side has closed it.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let out = child.wait_with_output().unwrap();
    OnTerminal {
        status: out.status,
        stdout: String::from_utf8(out.stdout).unwrap(),
        terminal: String::from_utf8_lossy(&reader.join().unwrap()).into_owned(),
    }
}

fn with_term(env: &Env, args: &[&str]) -> Command {
    let mut cmd = env.cmd(args);
    cmd.env("TERM", "xterm-256color").env_remove("NO_COLOR");
    cmd
}

#[test]
fn a_spinner_on_a_terminal_shows_uv_lines_and_the_plugin_being_checked() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let run = on_terminal(with_term(&env, &["build"]));
    assert!(run.status.success(), "{}", run.terminal);
    let t = &run.terminal;
    // Each step stays as a line; the spinner line shows uv's lines as they come.
    assert!(
        t.contains("  installing into the bundle's .venv with uv sync"),
        "{t}"
    );
    assert!(t.contains("  checking plugin zigbee-switch"), "{t}");
    assert!(
        t.contains("installing into the bundle's .venv with uv sync: Installed"),
        "uv's lines are not shown: {t}"
    );
    // A spinner redraws its line, and is cleared at the end.
    assert!(t.matches("\r\x1b[2K").count() > 3, "{t:?}");
    assert!(
        t.ends_with("\r\x1b[2K"),
        "the spinner was left drawn: {t:?}"
    );
    assert!(run.stdout.starts_with("built bundle "), "{}", run.stdout);
    assert!(!run.stdout.contains('\x1b'));
}

#[test]
fn progress_is_plain_lines_off_a_terminal_and_silent_with_quiet_or_json() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let out = env.run(&["build", "--no-switch"]);
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("  installing into the bundle's .venv with uv sync\n")
            && stderr.contains("  checking plugin zigbee-switch\n"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "{stderr:?}"
    );
    assert!(
        !stderr.contains("Installed"),
        "uv's lines are for the spinner: {stderr}"
    );

    // A terminal that cannot draw (TERM=dumb) gets the same plain lines.
    env.ok(&["plugin", "update", "zigbee-switch", "--version", "1.1.0"]);
    let mut dumb = env.cmd(&["build"]);
    dumb.env("TERM", "dumb");
    let run = on_terminal(dumb);
    assert!(run.status.success());
    assert!(run.terminal.contains("  checking plugin zigbee-switch\r\n"));
    assert!(!run.terminal.contains('\x1b'), "{:?}", run.terminal);

    env.ok(&["plugin", "update", "zigbee-switch", "--version", "1.0.0"]);
    for args in [&["--quiet", "build"][..], &["--json", "rollback"]] {
        let run = on_terminal(with_term(&env, args));
        assert!(run.status.success(), "{args:?}: {}", run.terminal);
        assert_eq!(run.terminal, "", "{args:?}");
    }
}

#[test]
fn colour_follows_the_flag_no_color_and_the_terminal() {
    let env = Env::new();
    let red_error = "\x1b[1m\x1b[31merror:\x1b[0m generation 9 does not exist";
    let cyan_hint = "\x1b[36mhint:\x1b[0m list them";
    let case = |color: Option<&str>, no_color: Option<&str>| {
        let mut args = vec!["switch", "9"];
        if let Some(c) = color {
            args.extend(["--color", c]);
        }
        let mut cmd = with_term(&env, &args);
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let run = on_terminal(cmd);
        assert_eq!(run.status.code(), Some(2));
        run.terminal
    };
    let t = case(None, None);
    assert!(t.contains(red_error) && t.contains(cyan_hint), "{t:?}");
    assert!(
        case(None, Some("")).contains(red_error),
        "an empty NO_COLOR is unset"
    );
    let t = case(None, Some("1"));
    assert!(
        t.contains("error: generation 9") && !t.contains('\x1b'),
        "{t:?}"
    );
    assert!(case(Some("always"), Some("1")).contains(red_error));
    assert!(!case(Some("never"), None).contains('\x1b'));

    // Piped: no colour unless asked; JSON on stdout never.
    let out = env.run(&["switch", "9"]);
    assert!(!out.stderr.contains(&0x1b));
    let out = env.run(&["--json", "--color", "always", "switch", "9"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(red_error), "{stderr:?}");
    assert!(!out.stdout.contains(&0x1b));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "not_found");

    // Warnings are yellow.
    let plugins = env.dir().join("plugins/broken");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("cosmo.json"), "{").unwrap();
    let out = env.run(&["--color", "always", "discover"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("\x1b[1m\x1b[33mwarning:\x1b[0m rejected "),
        "{stderr:?}"
    );
    let out = env.run(&["discover"]);
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .starts_with("warning: rejected ")
    );

    // clap's own usage errors follow --color too.
    let out = env.run(&["--color", "always", "switch"]);
    assert!(out.stderr.contains(&0x1b));
    let out = env.run(&["--color", "never", "switch"]);
    assert!(!out.stderr.contains(&0x1b) && !out.stderr.is_empty());
}

#[test]
fn bash_loads_the_completions_and_completes_commands() {
    let script = r#"source <("$0" completions bash) && complete -p cosmo-bundle &&
        COMP_WORDS=(cosmo-bundle pl); COMP_CWORD=1; _cosmo__bundle cosmo-bundle pl cosmo-bundle;
        echo "words: ${COMPREPLY[*]}";
        COMP_WORDS=(cosmo-bundle plugin re); COMP_CWORD=2; _cosmo__bundle cosmo-bundle re plugin;
        echo "words: ${COMPREPLY[*]}";
        COMP_WORDS=(cosmo-bundle build --no-s); COMP_CWORD=2; _cosmo__bundle cosmo-bundle --no-s build;
        echo "words: ${COMPREPLY[*]}""#;
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", script, BIN])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("-F _cosmo__bundle cosmo-bundle\n"),
        "{stdout}"
    );
    assert!(stdout.contains("words: plugin\n"), "{stdout}");
    assert!(stdout.contains("words: remove\n"), "{stdout}");
    assert!(stdout.contains("words: --no-switch\n"), "{stdout}");

    let env = Env::new();
    for shell in ["zsh", "fish"] {
        let script = env.ok(&["completions", shell]);
        assert!(script.contains("cosmo-bundle") && script.contains("generations"));
    }
}

/// Spawns `args` with stdout piped, reads `keep` bytes, closes the pipe, and waits:
/// whatever the command writes after that hits a closed pipe.
fn close_stdout_after(env: &Env, args: &[&str], keep: usize) -> (Option<i32>, String) {
    let mut child = env
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = vec![0u8; keep];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    // More records than a pipe holds (64 KiB), so the writer is still writing when the
    // reader goes away after 10 bytes, like `| head -c 10`.
    let conn = rusqlite::Connection::open(env.dir().join("cosmo.db")).unwrap();
    for i in 0..1000 {
        conn.execute(
            "INSERT INTO plugins (id, name, source, source_type, installed_version, \
             updated_version, install_status, error_message, created_at, updated_at) \
             SELECT ?1, ?2, source, source_type, installed_version, updated_version, \
             'UNINSTALLED', error_message, created_at, updated_at FROM plugins LIMIT 1",
            (format!("{i:032x}"), format!("filler-plugin-{i}")),
        )
        .unwrap();
    }
    drop(conn);
    let cases: &[(&[&str], i32)] = &[
        (&["--json", "plugin", "list"], 0),
        (&["plugin", "list"], 0),
        (&["--json", "generations"], 0),
        (&["generations"], 0),
        (&["completions", "bash"], 0),
        (&["--json", "completions", "fish"], 0),
        (&["--json", "switch", "9"], 2),
        (&["--json", "plugin", "list", "--no-such-flag"], 2),
        (&["--help"], 0),
    ];
    for (args, code) in cases {
        // Closed after 10 bytes, and closed before anything was written.
        for keep in [10, 0] {
            let (status, stderr) = close_stdout_after(&env, args, keep);
            assert_eq!(status, Some(*code), "{args:?} (keep {keep}): {stderr}");
            assert!(
                !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
                "{args:?}: {stderr}"
            );
        }
    }
}

#[test]
fn a_closed_or_full_stderr_does_not_stop_the_work() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    // stderr closed before the first progress line: the build goes on and is reported.
    let mut child = env
        .cmd(&["build"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("generation 1 is now current")
    );
    assert_eq!(env.plugin("zigbee-switch")["install_status"], "INSTALLED");

    // stderr on a full device: progress, warnings and errors are dropped, the exit code kept.
    let full = || {
        Stdio::from(
            std::fs::File::options()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
    };
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    let status = env
        .cmd(&["build"])
        .stdout(Stdio::null())
        .stderr(full())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let status = env.cmd(&["switch", "9"]).stderr(full()).status().unwrap();
    assert_eq!(status.code(), Some(2));
    let status = env
        .cmd(&["plugin", "list", "--no-such-flag"])
        .stderr(full())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
