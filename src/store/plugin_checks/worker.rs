//! Imports plugin classes in as few Python processes as possible, and still names the one
//! plugin that hangs, crashes the interpreter or poisons the import state.
//!
//! One worker process (`import_check.py`) imports the plugins one after another and reports
//! each on a pipe. A hang (no result within the timeout) or a crash (the pipe ends without a
//! result) names the plugin being imported, and a new worker takes the rest; so does a
//! poisoning the worker itself sees. A plugin that fails after others were imported in its
//! process is checked again alone: if it passes alone, the plugin imported before it that
//! makes it fail is searched for by bisection and blamed instead.

use crate::report::Reporter;
use serde::Deserialize;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The worker script; module and class names reach it as data on stdin ([`request`]),
/// never as code.
const SCRIPT: &str = include_str!("import_check.py");

/// The longest part of a worker's stderr read to explain a crash or a hang.
const STDERR_TAIL: u64 = 64 * 1024;

/// One plugin class to import.
#[derive(Debug, Clone)]
pub struct ImportJob {
    /// Normalised distribution name.
    pub dist: String,
    pub module: String,
    pub class: String,
    /// The distribution's `RECORD`: the class must be defined in a file it lists.
    pub record: String,
}

impl ImportJob {
    fn what(&self) -> String {
        format!("{}.{}", self.module, self.class)
    }
}

/// Where and how the workers run.
pub struct Workers {
    /// The bundle's `.venv/bin/python`.
    pub python: PathBuf,
    /// The working directory (the bundle).
    pub cwd: PathBuf,
    /// The bundle's site-packages.
    pub site: String,
    /// How long one plugin's import may take.
    pub timeout: Duration,
}

/// What one worker process said about the jobs it was given, in order. It stops at the first
/// job that hangs, crashes or poisons (that job's result is the last one).
#[derive(Debug)]
struct Run {
    results: Vec<Result<(), String>>,
    /// Why the worker gave no result at all (it did not start).
    not_started: Option<String>,
}

/// What the worker reads on stdin: the length of the request in bytes and a newline, then
/// the request, fields separated by NUL bytes: `site`, `dump_after` (seconds), then each
/// job's dist, module, class and record (none holds a NUL: they are names and paths).
fn request(site: &str, dump_after: f64, jobs: &[&ImportJob]) -> Vec<u8> {
    let dump_after = dump_after.to_string();
    let mut fields: Vec<&str> = vec![site, &dump_after];
    for job in jobs {
        fields.extend([&*job.dist, &*job.module, &*job.class, &*job.record]);
    }
    let body = fields.join("\0");
    let mut out = format!("{}\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    start: Option<usize>,
    done: Option<usize>,
    #[serde(default)]
    fail: Option<String>,
    #[serde(default)]
    poison: Option<String>,
    /// The size of the worker's stderr when it wrote the event.
    #[serde(default)]
    stderr: Option<u64>,
}

impl Workers {
    /// Imports every job's class; one result per job, in order: `Err` is the reason to give.
    /// `reporter` hears of each plugin as its import starts.
    pub fn check(&self, jobs: &[ImportJob], reporter: &dyn Reporter) -> Vec<Result<(), String>> {
        let n = jobs.len();
        let mut results: Vec<Result<(), String>> = vec![Ok(()); n];
        // The jobs imported before each job in its process.
        let mut before: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut next = 0;
        while next < n {
            let batch: Vec<usize> = (next..n).collect();
            let run = self.run(jobs, &batch, Some(reporter));
            if let Some(reason) = run.not_started {
                for &j in &batch {
                    results[j] = Err(reason.clone());
                }
                break;
            }
            if run.results.is_empty() {
                // Not expected: a run that started reports at least one job.
                for &j in &batch {
                    results[j] = Err("the import check stopped without a report".into());
                }
                break;
            }
            for (k, result) in run.results.into_iter().enumerate() {
                results[batch[k]] = result;
                before[batch[k]] = batch[..k].to_vec();
                next = batch[k] + 1;
            }
        }
        for j in 0..n {
            let Err(shared) = results[j].clone() else {
                continue;
            };
            if before[j].is_empty() {
                continue;
            }
            reporter.step(&format!(
                "checking {} again in a Python process of its own",
                jobs[j].dist
            ));
            if let Err(alone) = self.outcome(jobs, &[], j) {
                results[j] = Err(alone);
                continue;
            }
            results[j] = Ok(());
            reporter.step(&format!(
                "{} passes alone: finding the plugin imported before it that makes it fail",
                jobs[j].dist
            ));
            match self.culprit(jobs, &before[j], j) {
                Some(c) => {
                    if results[c].is_ok() {
                        results[c] = Err(format!(
                            "importing {} breaks the plugins imported after it in the same Python process (as the server imports them): {} then fails ({shared}), though it passes alone",
                            jobs[c].what(),
                            jobs[j].dist
                        ));
                    }
                }
                None => {
                    results[j] = Err(format!(
                        "{shared} (this happened after other plugins were imported in the same process; it did not happen again, so the import does not behave the same every time)"
                    ));
                }
            }
        }
        results
    }

    /// The result of job `j` imported in a fresh process right after the jobs `prefix`.
    fn outcome(&self, jobs: &[ImportJob], prefix: &[usize], j: usize) -> Result<(), String> {
        let mut order = prefix.to_vec();
        order.push(j);
        let run = self.run(jobs, &order, None);
        if let Some(reason) = run.not_started {
            return Err(reason);
        }
        match run.results.get(prefix.len()) {
            Some(result) => result.clone(),
            None => Err("a plugin imported before it stopped the process".into()),
        }
    }

    /// The job of `prefix` after which job `j` fails (it passes alone and failed after all of
    /// `prefix`), by bisection; `None` when the failure does not come back.
    fn culprit(&self, jobs: &[ImportJob], prefix: &[usize], j: usize) -> Option<usize> {
        // Passes after prefix[..lo]; failed after prefix[..hi].
        let (mut lo, mut hi) = (0, prefix.len());
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.outcome(jobs, &prefix[..mid], j).is_ok() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        // Confirm the last step, unless bisection already saw it fail.
        if hi == prefix.len() && self.outcome(jobs, prefix, j).is_ok() {
            return None;
        }
        Some(prefix[hi - 1])
    }

    /// Runs the jobs `order` in one worker process; `progress` hears of each import started.
    fn run(&self, jobs: &[ImportJob], order: &[usize], progress: Option<&dyn Reporter>) -> Run {
        let not_started = |reason: String| Run {
            results: Vec::new(),
            not_started: Some(reason),
        };
        let order_jobs: Vec<&ImportJob> = order.iter().map(|&j| &jobs[j]).collect();
        let line = request(&self.site, self.timeout.as_secs_f64() * 0.9, &order_jobs);
        let stderr = match tempfile::tempfile() {
            Ok(f) => f,
            Err(e) => return not_started(format!("cannot create a temporary file: {e}")),
        };
        let spawned = stderr.try_clone().and_then(|err| {
            crate::process::child(&self.python)
                .args(["-I", "-B", "-u", "-c", SCRIPT])
                .current_dir(&self.cwd)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(err)
                .spawn()
        });
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => return not_started(format!("cannot run {}: {e}", self.python.display())),
        };
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        // Writes the request and keeps stdin open (the worker exits when it closes).
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&line);
            stdin
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = Process {
            child,
            writer: Some(writer),
        };

        let mut results = Vec::new();
        // The job being imported, when it started, and where its stderr output begins.
        let mut current: Option<(usize, Instant, u64)> = None;
        // When the last job ended, and where stderr was then.
        let mut waiting_since = (Instant::now(), 0);
        while results.len() < order.len() {
            let next = results.len();
            let since = current.map_or(waiting_since.0, |(_, started, _)| started);
            let wait = (since + self.timeout).saturating_duration_since(Instant::now());
            let stop = match rx.recv_timeout(wait) {
                Ok(text) => match serde_json::from_str::<Event>(&text) {
                    Ok(Event {
                        start: Some(i),
                        done: None,
                        stderr,
                        ..
                    }) if i == next && current.is_none() => {
                        current = Some((i, Instant::now(), stderr.unwrap_or(waiting_since.1)));
                        if let Some(r) = progress {
                            r.plugin_check(&jobs[order[i]].dist);
                        }
                        continue;
                    }
                    Ok(Event {
                        start: None,
                        done: Some(i),
                        fail,
                        poison,
                        stderr,
                    }) if current.is_some_and(|(c, _, _)| c == i) => {
                        let job = &jobs[order[i]];
                        let poisoned = poison.is_some();
                        results.push(match (fail, poison) {
                            (None, None) => Ok(()),
                            (Some(fail), None) => Err(fail),
                            (fail, Some(poison)) => Err(format!(
                                "{}importing {} changes the import state that the server and every plugin share: it {poison}",
                                fail.map(|f| format!("{f}; ")).unwrap_or_default(),
                                job.what()
                            )),
                        });
                        let offset = current.map_or(0, |(_, _, offset)| offset);
                        current = None;
                        waiting_since = (Instant::now(), stderr.unwrap_or(offset));
                        if poisoned {
                            break;
                        }
                        continue;
                    }
                    // Start-up code (a .pth file) may print on stdout before the script
                    // takes it over: only the script's own reports count.
                    Err(_) if next == 0 && current.is_none() => continue,
                    _ => Stop::Garbled(text),
                },
                Err(RecvTimeoutError::Timeout) => Stop::TimedOut,
                Err(RecvTimeoutError::Disconnected) => Stop::Ended,
            };
            // The worker is of no more use: stop it, then say why on the job it was at.
            let status = process.stop();
            let offset = current.map_or(waiting_since.1, |(_, _, offset)| offset);
            let output = tail(&stderr, offset);
            let job = &jobs[order[next]];
            let reason = match (&stop, current) {
                (Stop::TimedOut, None) if next == 0 => format!(
                    "the bundle's Python did not start the import check within {}s (COSMO_IMPORT_TIMEOUT){}",
                    self.timeout.as_secs(),
                    output.last_words()
                ),
                (Stop::Ended, None) if next == 0 => format!(
                    "the bundle's Python could not start the import check ({}){}",
                    describe(status),
                    output.last_words()
                ),
                (Stop::TimedOut, _) => format!(
                    "importing {} did not finish within {}s (COSMO_IMPORT_TIMEOUT){}",
                    job.what(),
                    self.timeout.as_secs(),
                    output
                        .frame(&self.site)
                        .map(|f| format!("; it was at {f}"))
                        .unwrap_or_default()
                ),
                (Stop::Ended, _) => format!(
                    "importing {} crashed the Python interpreter ({}){}",
                    job.what(),
                    describe(status),
                    match output.frame(&self.site) {
                        Some(f) => format!(" at {f}"),
                        None => output.last_words(),
                    }
                ),
                (Stop::Garbled(text), _) => format!(
                    "importing {} disturbed the import check, which reported {:?}",
                    job.what(),
                    truncate(text, 200)
                ),
            };
            if next == 0 && current.is_none() {
                return not_started(reason);
            }
            results.push(Err(reason));
            break;
        }
        Run {
            results,
            not_started: None,
        }
    }
}

/// Why reading a worker's reports stopped early.
enum Stop {
    TimedOut,
    Ended,
    Garbled(String),
}

/// A running worker: killed and reaped when dropped.
struct Process {
    child: Child,
    writer: Option<JoinHandle<ChildStdin>>,
}

impl Process {
    /// Kills the worker if it still runs, and reaps it; its exit status when known.
    fn stop(&mut self) -> Option<ExitStatus> {
        // A worker that already ended is a zombie until reaped: the kill does not touch its
        // exit status.
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        // Closes its stdin (once written: the write fails fast now that it is gone).
        self.writer.take();
        status
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

fn describe(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "no exit status".to_string(), |s| s.to_string())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// What a worker wrote on stderr from some offset on.
struct Output(String);

/// Reads the end of the worker's stderr from `offset` on (the worker is gone: reading at
/// an offset leaves the shared file position alone anyway).
fn tail(file: &std::fs::File, offset: u64) -> Output {
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = offset.max(len.saturating_sub(STDERR_TAIL));
    let mut buf = vec![0; (len.saturating_sub(start)) as usize];
    let read = file.read_at(&mut buf, start).unwrap_or(0);
    buf.truncate(read);
    Output(String::from_utf8_lossy(&buf).into_owned())
}

impl Output {
    /// The innermost frame of plugin code in the main thread's traceback that faulthandler
    /// wrote (on a fatal signal, or when the import ran too long).
    fn frame(&self, site: &str) -> Option<String> {
        let mut threads: Vec<Vec<&str>> = Vec::new();
        for line in self.0.lines() {
            let l = line.trim_start();
            if l.starts_with("Thread 0x") || l.starts_with("Current thread 0x") {
                threads.push(Vec::new());
            } else if let Some(t) = threads.last_mut().filter(|_| l.starts_with("File \"")) {
                t.push(l);
            }
        }
        // The main thread is the one running the script's `import_plugin`.
        let main = threads.iter().rev().find(|t| {
            t.iter()
                .any(|f| f.starts_with("File \"<string>\"") && f.ends_with(" in import_plugin"))
        })?;
        let frame = main.iter().find(|f| !f.starts_with("File \"<"))?;
        // Named relative to site-packages: a failed bundle's directory is removed.
        let frame = frame.replacen(&format!("File \"{site}/"), "File \"", 1);
        Some(truncate(&frame, 500).to_string())
    }

    /// `; its last output: …` with the last few lines it wrote, or nothing.
    fn last_words(&self) -> String {
        let lines: Vec<&str> = self
            .0
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if lines.is_empty() {
            return String::new();
        }
        let last = lines[lines.len().saturating_sub(3)..].join(" | ");
        format!("; its last output: {}", truncate(&last, 500))
    }
}
