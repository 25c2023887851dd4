//! The playground and dashboard server over HTTP on loopback: bad requests
//! are refused with a message and the session is unharmed; twenty sessions
//! train at once and every request is answered; a silent tab's session is
//! dropped; a port in use and a missing runs folder are clear messages.

use std::fs;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

#[path = "common/http.rs"]
mod http;

use common::{assert_fails, nerve, scratch};
use http::{get, json, post, request};
use nerve::serve::{bind, Home, ServeOptions, Server};

fn start(opts: ServeOptions) -> Server {
    Server::start(bind("127.0.0.1", 0).unwrap(), &opts).unwrap()
}

fn session(server: &Server, settings: &str) -> String {
    let (st, body) = post(server.addr, "/api/playground/sessions", settings);
    assert_eq!(st, 200, "{body}");
    json(&body)["id"].as_str().unwrap().to_string()
}

#[test]
fn bad_requests_are_refused_and_the_session_is_unharmed() {
    let server = start(ServeOptions::default());
    let a = server.addr;
    let id = session(&server, r#"{"hidden": [4, 4], "dataset": "circles"}"#);
    let p = |x: &str| format!("/api/playground/sessions/{id}/{x}");
    let (st, body) = post(a, &p("step?n=20"), "");
    assert_eq!(
        (st, json(&body)["step"].as_u64()),
        (200, Some(20)),
        "{body}"
    );
    for (settings, fragment) in [
        (
            r#"{"hidden": [4, 0]}"#,
            "hidden[1] (neurons) must be a whole number between 1 and 64, found 0",
        ),
        (r#"{"hidden": [1000000000]}"#, "found 1000000000"),
        (
            r#"{"lr": "fast"}"#,
            "lr must be a number, found a string \"fast\"",
        ),
        (r#"{"lr": -1}"#, "lr must be between 0 and 10, found -1"),
        (
            r#"{"batch_size": 2.5}"#,
            "batch_size must be a whole number",
        ),
        (r#"{"activaton": "relu"}"#, "did you mean 'activation'?"),
        (r#"{"hidden": [4, 4"#, "not valid JSON"),
        (r#"[1, 2]"#, "must be a JSON object"),
    ] {
        let (st, body) = post(a, &p("config"), settings);
        assert_eq!(st, 400, "{settings}: {body}");
        let msg = json(&body)["error"].as_str().unwrap().to_string();
        assert!(msg.contains(fragment), "{settings}: {msg}");
    }
    let big = format!(r#"{{"dataset": "{}"}}"#, "x".repeat(100_000));
    let (st, body) = post(a, &p("config"), &big);
    assert_eq!(st, 413, "{body}");
    // The session kept its network and its 20 steps, and still trains.
    let (st, body) = get(a, &p("state"));
    assert_eq!(st, 200);
    let v = json(&body);
    assert_eq!(v["state"]["step"], 20);
    assert_eq!(v["state"]["config"]["hidden"], serde_json::json!([4, 4]));
    assert_eq!(v["state"]["config"]["dataset"], "circles");
    let (st, body) = post(a, &p("step"), "");
    assert_eq!((st, json(&body)["step"].as_u64()), (200, Some(21)));
    let (st, _) = post(a, &p("step?n=0"), "");
    assert_eq!(st, 400);
    let (st, body) = post(a, &p("fly"), "");
    assert!(st == 405 && body.contains("play, pause, step"), "{body}");
    let (st, body) = get(a, "/api/playground/sessions/nope/state");
    assert!(st == 404 && body.contains("reload the page"), "{body}");
    let (st, _) = request(a, "DELETE", "/", b"");
    assert_eq!(st, 405);
    let (st, _) = get(a, "/no/such/page");
    assert_eq!(st, 404);
    // The pages and their scripts are served from the binary.
    let (st, body) = get(a, "/");
    assert!(st == 200 && body.contains("nerve playground"));
    let (st, body) = get(a, "/assets/uPlot.iife.min.js");
    assert!(st == 200 && body.contains("uPlot"));
    // A config change gives a new network at step 0.
    let (st, body) = post(a, &p("config"), r#"{"hidden": [3]}"#);
    assert_eq!(st, 200, "{body}");
    let v = json(&get(a, &p("state")).1);
    assert_eq!(v["state"]["step"], 0);
    assert_eq!(v["state"]["layers"].as_array().unwrap().len(), 2);
    server.stop();
}

#[test]
fn twenty_sessions_train_at_once_and_close() {
    let server = start(ServeOptions::default());
    let a = server.addr;
    let ids: Vec<String> = (0..20)
        .map(|i| {
            session(
                &server,
                &format!(r#"{{"seed": {i}, "dataset": "spirals"}}"#),
            )
        })
        .collect();
    for id in &ids {
        let (st, _) = post(a, &format!("/api/playground/sessions/{id}/play"), "");
        assert_eq!(st, 200);
    }
    // Each tab polls its state as the page does, for two seconds.
    let stop = Arc::new(AtomicBool::new(false));
    let pollers: Vec<_> = ids
        .iter()
        .map(|id| {
            let (id, stop) = (id.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut worst = Duration::ZERO;
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let (st, body) = get(a, &format!("/api/playground/sessions/{id}/state"));
                    worst = worst.max(t.elapsed());
                    assert_eq!(st, 200, "{body}");
                    n += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
                (worst, n)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let mut worst = Duration::ZERO;
    for p in pollers {
        let (w, n) = p.join().unwrap();
        assert!(n >= 2);
        worst = worst.max(w);
    }
    let stats = json(&get(a, "/api/stats").1);
    assert_eq!(stats["sessions"], 20);
    assert_eq!(stats["playing"], 20);
    for id in &ids {
        let v = json(&get(a, &format!("/api/playground/sessions/{id}/state")).1);
        assert!(
            v["state"]["step"].as_u64().unwrap() > 0,
            "{id} did not train"
        );
    }
    println!(
        "20 sessions: slowest state request {worst:?}, {} steps, rss {} KiB",
        stats["steps"], stats["rss_kib"]
    );
    for id in &ids {
        let (st, _) = post(a, &format!("/api/playground/sessions/{id}/close"), "");
        assert_eq!(st, 200);
    }
    let stats = json(&get(a, "/api/stats").1);
    assert_eq!(
        (stats["sessions"].as_u64(), stats["playing"].as_u64()),
        (Some(0), Some(0))
    );
    // Memory is returned when they close: more rounds of 20 sessions that
    // train and close leave the server no larger than after the first.
    let rss_after_first = stats["rss_kib"].as_u64().unwrap_or(0);
    let mut rss_after = rss_after_first;
    for round in 1..=3 {
        let ids: Vec<String> = (0..20)
            .map(|i| {
                session(
                    &server,
                    &format!(r#"{{"seed": {}, "dataset": "spirals"}}"#, 100 * round + i),
                )
            })
            .collect();
        for id in &ids {
            post(a, &format!("/api/playground/sessions/{id}/play"), "");
        }
        std::thread::sleep(Duration::from_millis(500));
        for id in &ids {
            let (st, _) = post(a, &format!("/api/playground/sessions/{id}/close"), "");
            assert_eq!(st, 200);
        }
        let stats = json(&get(a, "/api/stats").1);
        assert_eq!(stats["sessions"], 0);
        rss_after = stats["rss_kib"].as_u64().unwrap_or(0);
    }
    println!("rss after the first round {rss_after_first} KiB, after four {rss_after} KiB");
    assert!(
        rss_after <= rss_after_first + 16 * 1024,
        "the server grew from {rss_after_first} KiB to {rss_after} KiB over three more rounds of 20 sessions"
    );
    server.stop();
}

#[test]
fn a_silent_tab_is_dropped() {
    let server = start(ServeOptions {
        session_timeout: Duration::from_millis(600),
        ..ServeOptions::default()
    });
    let a = server.addr;
    let id = session(&server, "{}");
    post(a, &format!("/api/playground/sessions/{id}/play"), "");
    std::thread::sleep(Duration::from_millis(1600));
    assert_eq!(json(&get(a, "/api/stats").1)["sessions"], 0);
    let (st, _) = get(a, &format!("/api/playground/sessions/{id}/state"));
    assert_eq!(st, 404);
    server.stop();
}

#[test]
fn dashboard_lists_runs_and_explains_broken_ones() {
    let d = scratch("serve_dashboard");
    let runs = d.join("runs");
    let ok = runs.join("group/good");
    fs::create_dir_all(&ok).unwrap();
    fs::write(
        ok.join("run.json"),
        r#"{"input_shape": [2], "class_names": ["a", "b"], "epochs_done": 2}"#,
    )
    .unwrap();
    fs::write(
        ok.join("config.toml"),
        "[data]\ndataset = \"xor\"\n[model]\nlayers = [{ type = \"linear\", out = 2 }]\n",
    )
    .unwrap();
    fs::write(
        ok.join("metrics.csv"),
        "epoch,step,lr,train_loss,val_loss\n1,10,0.1,0.6,0.7\n2,20,0.1,0.5,0.6\n",
    )
    .unwrap();
    let bad = runs.join("bad");
    fs::create_dir_all(&bad).unwrap();
    fs::write(bad.join("metrics.csv"), "epoch,lr,train_loss\n1,0.1,zero\n").unwrap();
    let server = start(ServeOptions {
        runs_dir: runs.clone(),
        home: Home::Dashboard,
        ..ServeOptions::default()
    });
    let a = server.addr;
    let v = json(&get(a, "/api/runs").1);
    let list = v["runs"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    assert_eq!(list[0]["run"], "bad");
    assert_eq!(list[0]["status"], "broken");
    let why = list[0]["problems"].to_string();
    assert!(
        why.contains("run.json") && why.contains("line 2 is not a metrics row"),
        "{why}"
    );
    assert_eq!(list[1]["run"], "group/good");
    assert_eq!(list[1]["status"], "ok", "{}", list[1]);
    assert_eq!(list[1]["rows"], 2);
    let m = json(&get(a, "/api/runs/metrics?run=group%2Fgood").1);
    assert_eq!(m["rows"].as_array().unwrap().len(), 2);
    // Only the listed runs are served: no way out of the folder.
    for q in ["..", "../runs/bad", "%2Fetc", "group", ""] {
        let (st, _) = get(a, &format!("/api/runs/config?run={q}"));
        assert_eq!(st, 404, "{q}");
    }
    let (st, body) = get(a, "/");
    assert!(st == 200 && body.contains("nerve dashboard"));
    // The folder removed while serving: said so, still serving.
    fs::remove_dir_all(&runs).unwrap();
    let v = json(&get(a, "/api/runs").1);
    assert!(
        v["error"].as_str().unwrap().contains("does not exist"),
        "{v}"
    );
    server.stop();
}

#[test]
fn port_in_use_and_missing_folder_are_clear_messages() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let o = nerve(&["playground", "--port", &port]);
    assert_fails(
        &o,
        &[
            &format!("cannot listen on 127.0.0.1:{port}"),
            "already in use",
            "--port",
        ],
    );
    let d = scratch("serve_missing");
    let o = nerve(&["dashboard", d.join("nope").to_str().unwrap(), "--port", "0"]);
    assert_fails(&o, &["nope", "is not a folder of runs", "nerve train"]);
}

#[test]
fn dashboard_samples_a_language_model() {
    let d = scratch("serve_lm");
    let text = d.join("text.txt");
    fs::write(&text, "the cat sat on the mat. ".repeat(40)).unwrap();
    let cfg = d.join("lm.toml");
    fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"text\"\npath = \"{}\"\nseq_len = 16\n\n[model]\narch = \"char_rnn\"\nembedding_dim = 8\nhidden_size = 16\n\n[train]\nepochs = 1\nbatch_size = 8\n",
            text.display()
        ),
    )
    .unwrap();
    let runs = d.join("runs");
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        runs.join("lm").to_str().unwrap(),
        "--no-progress",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let server = start(ServeOptions {
        runs_dir: runs,
        home: Home::Dashboard,
        ..ServeOptions::default()
    });
    let v = json(&get(server.addr, "/api/runs").1);
    assert_eq!(v["runs"][0]["task"], "language", "{v}");
    let (st, body) = get(server.addr, "/api/runs/samples?run=lm");
    assert_eq!(st, 200, "{body}");
    let s = json(&body)["text"].as_str().unwrap().to_string();
    assert_eq!(s.chars().count(), 300);
    assert!(s.chars().all(|c| "the casonm.\n".contains(c)), "{s}");
    let (st, body) = get(server.addr, "/api/runs/confusion?run=lm");
    assert!(
        st == 422 && body.contains("confusion matrix is for classifiers"),
        "{body}"
    );
    server.stop();
}
