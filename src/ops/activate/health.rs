//! The health check: poll the health URL until it answers 2xx, then compare
//! `/plugins/active` (when the server serves it) with the generation's plugins.
//!
//! The rule for `/plugins/active` (same scheme, host and port as the health URL): 404 or
//! 405 means the server does not serve it, and nothing is compared. A 2xx answer must be a
//! JSON array of objects with `distribution` and `version` strings, and list exactly the
//! generation's plugins, each at its resolved version (else its recorded version); an
//! entry with `"mounted": false` for a plugin whose manifest has a `url_prefix` means its
//! routes never appeared. Anything else is not healthy yet; polling goes on until the
//! deadline, and the last problem seen is the failure.

use crate::output::{FailureOutput, HealthOutput, PluginsCheckOutput};
use crate::plugins::requirement::normalize;
use crate::running::{self, RunRecord};
use crate::store::bundle::BundlePlugin;
use std::path::Path;
use std::time::{Duration, Instant};

/// The health URL when no setting and no running server say otherwise.
pub const FALLBACK_URL: &str = "http://127.0.0.1:8000/health";

/// How long one request may take at most.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between two polls.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// `/health` of the newest live server that `start` recorded in `run_dir` (by start time);
/// an address of every interface (`0.0.0.0`, `::`) is asked on the loopback address.
pub fn url_of_running(run_dir: &Path) -> Option<String> {
    let newest = running::live(run_dir)
        .into_iter()
        .max_by_key(|r| r.start_ticks)?;
    Some(health_url(&newest))
}

/// `http://HOST:PORT/health` of a run record.
pub fn health_url(record: &RunRecord) -> String {
    let host = match record.host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_string(),
    };
    format!("http://{host}:{}/health", record.port)
}

/// `scheme://authority/plugins/active` of a health URL.
pub fn plugins_url(health: &str) -> String {
    let (scheme, rest) = health.split_once("://").unwrap_or(("http", health));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    format!("{scheme}://{authority}/plugins/active")
}

/// Polls until the URL `url()` names answers 2xx with the generation's `plugins` loaded,
/// or `deadline` passes (at least one poll is made). `url` is asked again before every
/// poll: a restarted server records its address when it starts.
pub fn poll(
    url: impl Fn() -> String,
    deadline: Instant,
    plugins: &[BundlePlugin],
) -> (HealthOutput, Option<FailureOutput>) {
    let started = Instant::now();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // The server is asked directly, never through a proxy of the environment.
        .proxy(None)
        .build()
        .into();
    let mut out = HealthOutput {
        url: url(),
        status: None,
        polls: 0,
        seconds: 0.0,
        plugins: None,
    };
    let mut last: FailureOutput;
    loop {
        out.url = url();
        out.polls += 1;
        let budget = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(500), REQUEST_TIMEOUT);
        last = match get(&agent, &out.url, budget) {
            Err(e) => {
                out.status = None;
                FailureOutput {
                    kind: "timeout".into(),
                    message: format!("nothing answered {}: {e}", out.url),
                }
            }
            Ok((status, _)) if !(200..300).contains(&status) => {
                out.status = Some(status);
                FailureOutput {
                    kind: "http_status".into(),
                    message: format!("{} answered HTTP {status}", out.url),
                }
            }
            Ok((status, _)) => {
                out.status = Some(status);
                let (check, problem) = check_plugins(&agent, &out.url, plugins, budget);
                out.plugins = Some(check);
                match problem {
                    None => {
                        out.seconds = started.elapsed().as_secs_f64();
                        return (out, None);
                    }
                    Some(message) => FailureOutput {
                        kind: "plugins".into(),
                        message,
                    },
                }
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(POLL_INTERVAL));
    }
    out.seconds = started.elapsed().as_secs_f64();
    let secs = out.seconds.round();
    last.message = match last.kind.as_str() {
        "timeout" => format!("{} within {secs} s ({} tries)", last.message, out.polls),
        _ => format!(
            "{} (the last of {} tries in {secs} s)",
            last.message, out.polls
        ),
    };
    (out, Some(last))
}

/// GET `url`: the status and the body, or why nothing answered.
fn get(agent: &ureq::Agent, url: &str, timeout: Duration) -> Result<(u16, String), String> {
    let mut response = agent
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call()
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Ok((status, body))
}

/// Compares `/plugins/active` with `plugins`; the problem, when there is one.
fn check_plugins(
    agent: &ureq::Agent,
    health: &str,
    plugins: &[BundlePlugin],
    timeout: Duration,
) -> (PluginsCheckOutput, Option<String>) {
    let url = plugins_url(health);
    let mut out = PluginsCheckOutput {
        url: url.clone(),
        checked: false,
        missing: Vec::new(),
        unexpected: Vec::new(),
        unmounted: Vec::new(),
    };
    let body = match get(agent, &url, timeout) {
        Ok((404 | 405, _)) => return (out, None),
        Ok((status, body)) if (200..300).contains(&status) => body,
        Ok((status, _)) => return (out, Some(format!("{url} answered HTTP {status}"))),
        Err(e) => return (out, Some(format!("nothing answered {url}: {e}"))),
    };
    let Some(loaded) = parse_active(&body) else {
        return (
            out,
            Some(format!(
                "{url} answered something else than a list of plugins with `distribution` and `version`"
            )),
        );
    };
    out.checked = true;
    compare(plugins, &loaded, &mut out);
    if out.missing.is_empty() && out.unexpected.is_empty() && out.unmounted.is_empty() {
        return (out, None);
    }
    let mut parts = Vec::new();
    for (what, list) in [
        ("missing", &out.missing),
        ("unexpected", &out.unexpected),
        ("routes not mounted", &out.unmounted),
    ] {
        if !list.is_empty() {
            parts.push(format!("{what}: {}", list.join(", ")));
        }
    }
    let message = format!(
        "the server is up but does not run the generation's plugins ({})",
        parts.join("; ")
    );
    (out, Some(message))
}

/// One entry of `/plugins/active`.
#[derive(Debug, PartialEq)]
struct Loaded {
    distribution: String,
    version: String,
    mounted: Option<bool>,
}

fn parse_active(body: &str) -> Option<Vec<Loaded>> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value
        .as_array()?
        .iter()
        .map(|e| {
            Some(Loaded {
                distribution: normalize(e.get("distribution")?.as_str()?),
                version: e.get("version")?.as_str()?.to_string(),
                mounted: e.get("mounted").and_then(serde_json::Value::as_bool),
            })
        })
        .collect()
}

/// Fills `missing`, `unexpected` and `unmounted` of `out`.
fn compare(plugins: &[BundlePlugin], loaded: &[Loaded], out: &mut PluginsCheckOutput) {
    let version = |p: &BundlePlugin| p.resolved_version.clone().unwrap_or(p.version.clone());
    for p in plugins {
        let v = version(p);
        match loaded
            .iter()
            .find(|l| l.distribution == p.name && l.version == v)
        {
            None => out.missing.push(format!("{}=={v}", p.name)),
            Some(l) => {
                let has_routes = p.manifest.as_ref().is_some_and(|m| m.url_prefix.is_some());
                if has_routes && l.mounted == Some(false) {
                    out.unmounted.push(format!("{}=={v}", p.name));
                }
            }
        }
    }
    for l in loaded {
        if !plugins
            .iter()
            .any(|p| p.name == l.distribution && version(p) == l.version)
        {
            out.unexpected
                .push(format!("{}=={}", l.distribution, l.version));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::SourceType;
    use crate::plugins::cosmo_json::CosmoManifest;

    fn plugin(name: &str, version: &str, prefix: Option<&str>) -> BundlePlugin {
        BundlePlugin {
            name: name.into(),
            source_type: SourceType::Pypi,
            source: name.into(),
            version: version.into(),
            requirement: format!("{name}=={version}"),
            resolved_version: Some(version.into()),
            commit: None,
            manifest: Some(CosmoManifest {
                name: name.into(),
                version: version.into(),
                plugin_class: "a.B".into(),
                description: "d".into(),
                url_prefix: prefix.map(str::to_string),
            }),
            other: Default::default(),
        }
    }

    #[test]
    fn urls_come_from_the_run_record_and_the_health_url() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = RunRecord::for_this_process(None, None, dir.path(), "0.0.0.0", 8123);
        assert_eq!(health_url(&r), "http://127.0.0.1:8123/health");
        r.host = "::".into();
        assert_eq!(health_url(&r), "http://[::1]:8123/health");
        r.host = "192.168.1.5".into();
        assert_eq!(health_url(&r), "http://192.168.1.5:8123/health");
        assert_eq!(url_of_running(dir.path()), None);
        crate::running::write(dir.path(), &r).unwrap();
        assert_eq!(
            url_of_running(dir.path()).as_deref(),
            Some("http://192.168.1.5:8123/health")
        );
        // A record of a process that is gone is not a running server.
        let mut gone = r.clone();
        gone.pid = r.pid;
        gone.start_ticks += 1;
        crate::running::write(dir.path(), &gone).unwrap();
        assert_eq!(url_of_running(dir.path()), None);
        assert_eq!(
            plugins_url("https://h:9/api/health?x=1"),
            "https://h:9/plugins/active"
        );
        assert_eq!(
            plugins_url("http://127.0.0.1:8000/health"),
            "http://127.0.0.1:8000/plugins/active"
        );
    }

    #[test]
    fn the_loaded_plugins_must_be_exactly_the_generations() {
        let plugins = [
            plugin("zigbee-switch", "1.0.0", Some("/z")),
            plugin("hue-lights", "2.0.0", None),
        ];
        let check = |body: &str| {
            let mut out = PluginsCheckOutput {
                url: String::new(),
                checked: true,
                missing: vec![],
                unexpected: vec![],
                unmounted: vec![],
            };
            compare(&plugins, &parse_active(body).unwrap(), &mut out);
            (out.missing, out.unexpected, out.unmounted)
        };
        let none = Vec::<String>::new;
        assert_eq!(
            check(
                r#"[{"distribution": "zigbee-switch", "version": "1.0.0", "mounted": true},
                      {"distribution": "Hue_Lights", "version": "2.0.0", "mounted": false}]"#
            ),
            (none(), none(), none())
        );
        assert_eq!(
            check(
                r#"[{"distribution": "zigbee-switch", "version": "1.0.0", "mounted": false},
                      {"distribution": "hue-lights", "version": "1.0.0"}, 
                      {"distribution": "garage-door", "version": "1.0.0"}]"#
            ),
            (
                vec!["hue-lights==2.0.0".to_string()],
                vec![
                    "hue-lights==1.0.0".to_string(),
                    "garage-door==1.0.0".to_string()
                ],
                vec!["zigbee-switch==1.0.0".to_string()]
            )
        );
        assert_eq!(parse_active(r#"{"plugins": []}"#), None);
        assert_eq!(parse_active(r#"[{"name": "x"}]"#), None);
    }
}
