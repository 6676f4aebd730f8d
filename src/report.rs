//! Progress and warnings for long work, drawn only by the binary: a spinner on a terminal,
//! plain lines elsewhere; `--json` and `--quiet` silence progress, never warnings.
//!
//! Every write to stderr here ignores errors: a closed or full stderr must not stop (or
//! panic) a command whose work is still going on.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Receives progress from operations. Object safe: operations take a `&dyn Reporter`.
pub trait Reporter {
    /// A step of long work has started.
    fn step(&self, message: &str);
    /// Something the user should know that is not an error.
    fn warn(&self, message: &str);
    /// A line of progress from the tool the current step runs (uv's `Resolved 12 packages`).
    fn detail(&self, _line: &str) {}
    /// The checks of plugin `name` have started.
    fn plugin_check(&self, name: &str) {
        self.step(&format!("checking plugin {name}"));
    }
    /// The work is over: clear what is drawn (before an error is printed, before `exec`).
    fn finish(&self) {}
}

/// Which of the labelled stderr messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Error,
    Warning,
    Hint,
}

impl Label {
    /// `error:`, `warning:` or `hint:`, in colour when `color`.
    pub fn paint(self, color: bool) -> String {
        use anstyle::AnsiColor;
        let (text, style) = match self {
            Label::Error => ("error:", AnsiColor::Red.on_default().bold()),
            Label::Warning => ("warning:", AnsiColor::Yellow.on_default().bold()),
            Label::Hint => ("hint:", AnsiColor::Cyan.on_default()),
        };
        if color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }
}

/// Writes `label message` on stderr, ignoring a closed or full stderr.
pub fn eprint_labelled(label: Label, color: bool, message: &str) {
    let _ = writeln!(std::io::stderr(), "{} {message}", label.paint(color));
}

/// Whether stderr gets colour: `--color always|never` decides; in `auto` mode, a set and
/// non-empty `NO_COLOR` (no-color.org) turns it off, and otherwise stderr must be a terminal.
pub fn use_color(
    choice: clap::ColorChoice,
    no_color: Option<&std::ffi::OsStr>,
    stderr_is_terminal: bool,
) -> bool {
    match choice {
        clap::ColorChoice::Always => true,
        clap::ColorChoice::Never => false,
        clap::ColorChoice::Auto => no_color.is_none_or(|v| v.is_empty()) && stderr_is_terminal,
    }
}

/// Prints progress as plain lines and warnings on stderr (stderr is not a terminal).
pub struct Stderr {
    pub color: bool,
}

impl Reporter for Stderr {
    fn step(&self, message: &str) {
        let _ = writeln!(std::io::stderr(), "  {message}");
    }
    fn warn(&self, message: &str) {
        eprint_labelled(Label::Warning, self.color, message);
    }
}

/// Prints warnings only (for `--json` and `--quiet`).
pub struct WarningsOnly {
    pub color: bool,
}

impl Reporter for WarningsOnly {
    fn step(&self, _message: &str) {}
    fn warn(&self, message: &str) {
        eprint_labelled(Label::Warning, self.color, message);
    }
}

/// The spinner being drawn, if any.
static DRAWN: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// Clears the spinner, if one is drawn, so that what is written next (command output on
/// stdout, an error) does not share its line.
pub fn clear_progress() {
    if let Ok(drawn) = DRAWN.lock()
        && let Some(bar) = drawn.as_ref()
    {
        bar.finish_and_clear();
    }
}

/// Draws a spinner on a terminal's stderr: each step stays as a line, and the spinner below
/// shows the current step with the latest line of the tool it runs.
pub struct Spinner {
    bar: indicatif::ProgressBar,
    color: bool,
    step: Mutex<String>,
}

impl Spinner {
    /// A spinner that draws nothing until the first step, or `None` when stderr is not a
    /// terminal that can draw one (a pipe, a file, `TERM=dumb`).
    pub fn on_terminal(color: bool) -> Option<Spinner> {
        let target = indicatif::ProgressDrawTarget::stderr();
        if target.is_hidden() {
            return None;
        }
        let bar = indicatif::ProgressBar::with_draw_target(None, target);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {wide_msg}")
                .expect("a valid template"),
        );
        if let Ok(mut drawn) = DRAWN.lock() {
            *drawn = Some(bar.clone());
        }
        Some(Spinner {
            bar,
            color,
            step: Mutex::new(String::new()),
        })
    }

    fn current_step(&self) -> String {
        self.step.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Reporter for Spinner {
    fn step(&self, message: &str) {
        if let Ok(mut step) = self.step.lock() {
            *step = message.to_string();
        }
        self.bar.set_message(message.to_string());
        self.bar.println(format!("  {message}"));
        if self.bar.is_finished() {
            self.bar.reset();
        }
        self.bar.enable_steady_tick(Duration::from_millis(100));
    }
    fn warn(&self, message: &str) {
        self.bar
            .suspend(|| eprint_labelled(Label::Warning, self.color, message));
    }
    fn detail(&self, line: &str) {
        self.bar
            .set_message(format!("{}: {line}", self.current_step()));
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Prints nothing (tests).
#[cfg(test)]
pub struct Silent;

#[cfg(test)]
impl Reporter for Silent {
    fn step(&self, _message: &str) {}
    fn warn(&self, _message: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ColorChoice::{Always, Auto, Never};
    use std::ffi::OsStr;

    #[test]
    fn color_follows_the_flag_then_no_color_then_the_terminal() {
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(use_color(Always, set, false));
        assert!(!use_color(Never, None, true));
        assert!(use_color(Auto, None, true));
        assert!(use_color(Auto, empty, true));
        assert!(!use_color(Auto, set, true));
        assert!(!use_color(Auto, None, false));
    }

    #[test]
    fn labels_are_coloured_only_when_asked() {
        assert_eq!(Label::Error.paint(false), "error:");
        let red = Label::Error.paint(true);
        assert!(red.starts_with("\x1b[") && red.contains("error:") && red.ends_with("\x1b[0m"));
        assert_ne!(Label::Warning.paint(true), Label::Hint.paint(true));
    }
}
