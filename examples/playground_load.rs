//! The playground server under load, on loopback: N sessions (default 20)
//! training at once, each polled five times a second as its page does,
//! while the pages themselves are fetched too; then every session closed.
//! Prints the request latencies (median, 99th percentile, maximum), the
//! steps trained, and the server's resident memory before, during and after.
//!
//!     cargo run --release --example playground_load -- [SESSIONS] [SECONDS]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/common/http.rs"]
mod http;

use http::{get, json, post};
use nerve::serve::{bind, ServeOptions, Server};

fn main() {
    nerve::kernels::memory::tune_allocator();
    let args: Vec<String> = std::env::args().collect();
    let sessions: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let seconds: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .min(120);
    let server = Server::start(bind("127.0.0.1", 0).unwrap(), &ServeOptions::default()).unwrap();
    let a = server.addr;
    let rss = || {
        json(&get(a, "/api/stats").1)["rss_kib"]
            .as_u64()
            .unwrap_or(0)
    };
    let rss0 = rss();
    println!("resident memory before any session: {rss0} KiB");
    // Two rounds: memory that a closed session leaves behind would grow.
    for round in 1..=2 {
        println!("round {round}:");
        load(a, sessions, seconds);
    }
    server.stop();
}

fn load(a: std::net::SocketAddr, sessions: usize, seconds: u64) {
    let rss = || {
        json(&get(a, "/api/stats").1)["rss_kib"]
            .as_u64()
            .unwrap_or(0)
    };
    let steps0 = json(&get(a, "/api/stats").1)["steps"].as_u64().unwrap_or(0);
    let ids: Vec<String> = (0..sessions)
        .map(|i| {
            let (_, b) = post(
                a,
                "/api/playground/sessions",
                &format!(r#"{{"seed": {i}}}"#),
            );
            json(&b)["id"].as_str().unwrap().to_string()
        })
        .collect();
    for id in &ids {
        post(a, &format!("/api/playground/sessions/{id}/play"), "");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (k, id) in ids.iter().enumerate() {
        let (id, stop) = (id.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut lat = Vec::new();
            let mut since = 0u64;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                // Every tenth request of a tab is a page or the runs list.
                let (st, body) = match n % 10 {
                    3 if k % 2 == 0 => get(a, "/"),
                    7 if k % 2 == 1 => get(a, "/api/runs"),
                    _ => get(
                        a,
                        &format!("/api/playground/sessions/{id}/state?since={since}"),
                    ),
                };
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                assert_eq!(st, 200, "{body}");
                if body.starts_with("{\"id\"") {
                    let v = json(&body);
                    since = v["history"]["from"].as_u64().unwrap_or(0)
                        + v["history"]["points"]
                            .as_array()
                            .map_or(0, |p| p.len() as u64);
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            lat
        }));
    }
    let mut peak = 0;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(500));
        peak = peak.max(rss());
    }
    stop.store(true, Ordering::Relaxed);
    let mut lat: Vec<f64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    lat.sort_by(f64::total_cmp);
    let stats = json(&get(a, "/api/stats").1);
    for id in &ids {
        post(a, &format!("/api/playground/sessions/{id}/close"), "");
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = rss();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    println!(
        "{sessions} sessions for {seconds} s: {} requests, latency median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat[lat.len() - 1]
    );
    println!(
        "steps trained: {} ({:.0} per second in all)",
        stats["steps"].as_u64().unwrap_or(0) - steps0,
        (stats["steps"].as_u64().unwrap_or(0) - steps0) as f64 / seconds as f64
    );
    println!(
        "resident memory: {peak} KiB at the peak, {after} KiB after closing them all (sessions now {})",
        json(&get(a, "/api/stats").1)["sessions"]
    );
}
