//! The pages in a real browser: starts `nerve playground` on a free port and
//! a training run for its dashboard, then runs tests/browser/pages.test.mjs
//! with node and headless Chromium (playwright-core). When node, Chromium or
//! tests/browser/node_modules is missing (`.ci/run` installs them), it says
//! SKIPPED and passes.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{nerve, repo, scratch, stderr};

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn playground_and_dashboard_in_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let modules = repo("tests/browser/node_modules/playwright-core");
    let missing: Vec<&str> = [
        (!have("node")).then_some("node"),
        (!Path::new(&chromium).exists()).then_some("chromium (apt-get install -y chromium)"),
        (!modules.is_dir()).then_some("playwright-core (cd tests/browser && npm ci)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        println!("SKIPPED: the browser tests need {}", missing.join(", "));
        return;
    }
    let d = scratch("browser");
    let runs = d.join("runs");
    let leaf = runs.join("leaf");
    let o = nerve(&[
        "train",
        repo("examples/leaf-flower.toml").to_str().unwrap(),
        "--out",
        leaf.to_str().unwrap(),
        "--no-progress",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = fs::read_to_string(leaf.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    let broken = runs.join("broken");
    fs::create_dir_all(&broken).unwrap();
    fs::write(broken.join("run.json"), "{ not json").unwrap();

    let mut server = Command::new(env!("CARGO_BIN_EXE_nerve"))
        .args([
            "playground",
            "--port",
            "0",
            "--runs",
            runs.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nerve playground");
    let mut first = String::new();
    let mut lines = BufReader::new(server.stdout.take().unwrap());
    lines.read_line(&mut first).unwrap();
    // Keep reading what the server prints, so its stdout stays open.
    std::thread::spawn(move || {
        let mut rest = String::new();
        while lines.read_line(&mut rest).is_ok_and(|n| n > 0) {
            rest.clear();
        }
    });
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .trim_end_matches('/')
        .to_string();
    let shots = std::env::var("NERVE_SHOTS").unwrap_or_else(|_| d.display().to_string());
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", "pages.test.mjs"])
        .current_dir(repo("tests/browser"))
        .env("NERVE_URL", &url)
        .env("NERVE_RUN", "leaf")
        .env("NERVE_RUN_ROWS", rows.to_string())
        .env("NERVE_BROKEN", "broken")
        .env("NERVE_SHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let _ = server.kill();
    let _ = server.wait();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "the browser tests failed:\n{text}");
}
