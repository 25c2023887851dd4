//! The playground's sessions: one per browser tab, each its own network.
//!
//! ```text
//! POST /api/playground/sessions              {settings}  -> {id, ...}
//! GET  /api/playground/sessions/ID/state?since=K&version=V&points=1
//! POST /api/playground/sessions/ID/config    {settings}  (a new network)
//! POST /api/playground/sessions/ID/play | pause | step?n=N | reset | close
//! ```
//!
//! A few training threads step the playing sessions in turns (about 8 ms
//! each), so twenty tabs share the cores and every request is still
//! answered at once. Every request to a session is its heartbeat: a tab
//! that stops asking (closed, or its machine asleep) is stopped and dropped
//! after `session_timeout`, and its memory handed back.

pub mod config;
pub mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde_json::{json, Value};

use super::http::{Reply, Req};
use super::ServeOptions;
use config::PlaygroundConfig;
use session::Session;

/// A session and what the threads need without locking it.
pub struct Slot {
    session: Mutex<Session>,
    playing: AtomicBool,
    last_seen: Mutex<Instant>,
}

/// All sessions, the training threads and the reaper.
pub struct Playground {
    sessions: Mutex<HashMap<String, Arc<Slot>>>,
    wake: Condvar,
    wake_lock: Mutex<()>,
    shutdown: AtomicBool,
    next_id: AtomicU64,
    timeout: Duration,
    max_sessions: usize,
    steps_total: AtomicU64,
}

impl Playground {
    /// Starts the training threads and the reaper.
    pub fn start(opts: &ServeOptions) -> Arc<Playground> {
        let pg = Arc::new(Playground {
            sessions: Mutex::new(HashMap::new()),
            wake: Condvar::new(),
            wake_lock: Mutex::new(()),
            shutdown: AtomicBool::new(false),
            next_id: AtomicU64::new(rand::random::<u32>() as u64),
            timeout: opts.session_timeout,
            max_sessions: opts.max_sessions,
            steps_total: AtomicU64::new(0),
        });
        for i in 0..opts.train_threads.max(1) {
            let pg = pg.clone();
            let _ = std::thread::Builder::new()
                .name(format!("nerve-train-{i}"))
                .spawn(move || pg.train_loop(i));
        }
        let reaper = pg.clone();
        let _ = std::thread::Builder::new()
            .name("nerve-reaper".into())
            .spawn(move || reaper.reap_loop());
        pg
    }

    /// Stops the threads (they end within a tick).
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.wake.notify_all();
        self.sessions.lock().clear();
    }

    fn playing(&self) -> Vec<Arc<Slot>> {
        self.sessions
            .lock()
            .values()
            .filter(|s| s.playing.load(Ordering::Relaxed))
            .cloned()
            .collect()
    }

    fn train_loop(&self, worker: usize) {
        let mut turn = worker;
        while !self.shutdown.load(Ordering::Relaxed) {
            let playing = self.playing();
            if playing.is_empty() {
                let mut g = self.wake_lock.lock();
                self.wake.wait_for(&mut g, Duration::from_millis(200));
                continue;
            }
            let mut worked = false;
            let n = playing.len();
            for k in 0..n {
                let slot = &playing[(turn + k) % n];
                if let Some(mut s) = slot.session.try_lock() {
                    if !slot.playing.load(Ordering::Relaxed) {
                        continue;
                    }
                    let before = s.steps();
                    if !s.run_for(Duration::from_millis(8)) {
                        slot.playing.store(false, Ordering::Relaxed);
                    }
                    self.steps_total
                        .fetch_add((s.steps() - before) as u64, Ordering::Relaxed);
                    worked = true;
                }
            }
            turn = turn.wrapping_add(1);
            if !worked {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    fn reap_loop(&self) {
        while !self.shutdown.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(250));
            let gone: Vec<Arc<Slot>> = {
                let mut map = self.sessions.lock();
                let old: Vec<String> = map
                    .iter()
                    .filter(|(_, s)| s.last_seen.lock().elapsed() > self.timeout)
                    .map(|(k, _)| k.clone())
                    .collect();
                old.iter().filter_map(|k| map.remove(k)).collect()
            };
            if !gone.is_empty() {
                for s in &gone {
                    s.playing.store(false, Ordering::Relaxed);
                }
                drop(gone);
                crate::kernels::memory::release_free_memory();
            }
        }
    }

    /// Sessions open, playing, steps trained, resident memory.
    pub fn stats(&self) -> Value {
        let (open, playing) = {
            let m = self.sessions.lock();
            (
                m.len(),
                m.values()
                    .filter(|s| s.playing.load(Ordering::Relaxed))
                    .count(),
            )
        };
        json!({
            "sessions": open,
            "playing": playing,
            "steps": self.steps_total.load(Ordering::Relaxed),
            "rss_kib": crate::kernels::memory::resident_kib(),
        })
    }

    /// Handles `/api/playground/<rest>`.
    pub fn handle(&self, req: &Req, rest: &str) -> Reply {
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        match (req.method.as_str(), parts.as_slice()) {
            ("POST", ["sessions"]) => self.create(req),
            (_, ["sessions", id, action]) => {
                let Some(slot) = self.sessions.lock().get(*id).cloned() else {
                    return Reply::error(
                        404,
                        format!("session {id} not found (it was closed, or not heard from for {} s); reload the page", self.timeout.as_secs()),
                    );
                };
                *slot.last_seen.lock() = Instant::now();
                self.act(req, id, &slot, action)
            }
            _ => Reply::not_found(&format!("{} /api/playground/{rest}", req.method)),
        }
    }

    fn create(&self, req: &Req) -> Reply {
        let body = match req.json() {
            Ok(v) => v,
            Err(e) => return e,
        };
        let cfg = match PlaygroundConfig::updated(&PlaygroundConfig::default(), &body) {
            Ok(c) => c,
            Err(e) => return Reply::error(400, e),
        };
        if self.sessions.lock().len() >= self.max_sessions {
            return Reply::error(
                503,
                format!(
                    "{} playground sessions are open, the most this server keeps; close a tab and reload",
                    self.max_sessions
                ),
            );
        }
        let s = match Session::new(cfg) {
            Ok(s) => s,
            Err(e) => return Reply::error(400, e),
        };
        let id = format!(
            "{:x}",
            self.next_id
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9)
                % 0x00ff_ffff_ffff
        );
        let slot = Arc::new(Slot {
            session: Mutex::new(s),
            playing: AtomicBool::new(false),
            last_seen: Mutex::new(Instant::now()),
        });
        self.sessions.lock().insert(id.clone(), slot);
        Reply::json(&json!({ "id": id }))
    }

    fn act(&self, req: &Req, id: &str, slot: &Slot, action: &str) -> Reply {
        let post = req.method == "POST";
        match (action, post) {
            ("state", false) => {
                let since = req.param("since").and_then(|s| s.parse().ok()).unwrap_or(0);
                let version = req.param("version").and_then(|s| s.parse().ok());
                let mut s = slot.session.lock();
                let points = if req.param("points").is_some() {
                    s.points_json().to_string()
                } else {
                    "null".into()
                };
                let history = s.history_json(since, version);
                let playing = slot.playing.load(Ordering::Relaxed);
                let snap = s.snapshot();
                Reply::raw_json(format!(
                    "{{\"id\":\"{id}\",\"playing\":{playing},\"state\":{snap},\"history\":{history},\"points\":{points}}}"
                ))
            }
            ("play", true) => {
                let s = slot.session.lock();
                if let Some(why) = &s.stopped {
                    return Reply::error(409, why.clone());
                }
                slot.playing.store(true, Ordering::Relaxed);
                self.wake.notify_all();
                Reply::json(&json!({ "playing": true, "step": s.steps() }))
            }
            ("pause", true) => {
                slot.playing.store(false, Ordering::Relaxed);
                // Waits for a training turn in progress to end.
                let mut s = slot.session.lock();
                s.invalidate();
                Reply::json(&json!({ "playing": false, "step": s.steps() }))
            }
            ("step", true) => {
                let n = match req.param("n").map(str::parse::<usize>) {
                    None => 1,
                    Some(Ok(n)) if (1..=1000).contains(&n) => n,
                    Some(_) => {
                        return Reply::error(400, "step?n= must be a whole number from 1 to 1000")
                    }
                };
                slot.playing.store(false, Ordering::Relaxed);
                let mut s = slot.session.lock();
                for _ in 0..n {
                    if !s.step() {
                        break;
                    }
                }
                s.invalidate();
                Reply::json(&json!({ "playing": false, "step": s.steps() }))
            }
            ("reset", true) => {
                let mut s = slot.session.lock();
                match Session::new(s.cfg.clone()) {
                    Ok(fresh) => *s = fresh,
                    Err(e) => return Reply::error(400, e),
                }
                Reply::json(&json!({ "step": 0 }))
            }
            ("config", true) => {
                let body = match req.json() {
                    Ok(v) => v,
                    Err(e) => return e,
                };
                let mut s = slot.session.lock();
                let cfg = match PlaygroundConfig::updated(&s.cfg, &body) {
                    Ok(c) => c,
                    Err(e) => return Reply::error(400, e),
                };
                match Session::new(cfg) {
                    Ok(fresh) => *s = fresh,
                    Err(e) => return Reply::error(400, e),
                }
                Reply::json(&json!({ "step": 0, "config": s.cfg }))
            }
            ("close", true) => {
                slot.playing.store(false, Ordering::Relaxed);
                let gone = self.sessions.lock().remove(id);
                drop(gone);
                crate::kernels::memory::release_free_memory();
                Reply::json(&json!({ "closed": id }))
            }
            (a, _) => Reply::error(
                405,
                format!(
                    "{} {a}: the session actions are GET state and POST play, pause, step, reset, config, close",
                    req.method
                ),
            ),
        }
    }
}
