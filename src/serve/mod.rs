//! The local web pages (cargo feature `serve`, on in the command line):
//! the playground (`nerve playground`), where a small network trains in
//! nerve's engine while the page shows its decision boundary, its neurons
//! and its loss curves, and the dashboard of runs (`nerve dashboard`).
//!
//! One tiny_http server on 127.0.0.1 by default, a few threads answering
//! requests, a few training the playground's sessions in turns. The pages,
//! their script and the charting library (uPlot, assets/web/vendor) are
//! compiled into the binary: no build step, nothing fetched at run time.

mod assets;
pub mod dashboard;
pub mod http;
pub mod playground;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use http::{Reply, Req};

/// Which page `/` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    Playground,
    Dashboard,
}

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The address to listen on (127.0.0.1 unless asked otherwise).
    pub host: String,
    /// The port (0: any free one).
    pub port: u16,
    /// The folder of run directories the dashboard lists.
    pub runs_dir: PathBuf,
    pub home: Home,
    /// A playground session that has not been heard from for this long
    /// (its tab closed) is stopped and dropped.
    pub session_timeout: Duration,
    /// Playground sessions at once.
    pub max_sessions: usize,
    /// Threads answering requests and threads training sessions.
    pub http_threads: usize,
    pub train_threads: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServeOptions {
            host: "127.0.0.1".into(),
            port: 8080,
            runs_dir: PathBuf::from("runs"),
            home: Home::Playground,
            session_timeout: Duration::from_secs(15),
            max_sessions: 64,
            http_threads: 8,
            train_threads: cores.clamp(1, 4),
        }
    }
}

/// Binds the address, or says why not (a port in use is named, with what to do).
pub fn bind(host: &str, port: u16) -> Result<TcpListener> {
    let addr = format!("{host}:{port}");
    TcpListener::bind(&addr).map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "port {port} is already in use by another program; stop that program, or choose another port with --port {} (or --port 0 for any free port)",
                port.wrapping_add(1).max(1024)
            ),
            std::io::ErrorKind::PermissionDenied => "permission denied (ports below 1024 need administrator rights); choose a port such as --port 8080".to_string(),
            std::io::ErrorKind::AddrNotAvailable => {
                format!("{host} is not an address of this machine; use --host 127.0.0.1")
            }
            _ => e.to_string(),
        };
        Error::new(format!("cannot listen on {addr}: {what}"))
    })
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    pub playground: Arc<playground::Playground>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts serving on `listener` in background threads.
    pub fn start(listener: TcpListener, opts: &ServeOptions) -> Result<Server> {
        let addr = listener
            .local_addr()
            .map_err(|e| Error::new(e.to_string()))?;
        let server = Arc::new(
            tiny_http::Server::from_listener(listener, None)
                .map_err(|e| Error::new(format!("cannot serve on {addr}: {e}")))?,
        );
        let playground = playground::Playground::start(opts);
        let dashboard = Arc::new(dashboard::Dashboard::new(opts.runs_dir.clone()));
        let mut threads = Vec::new();
        for i in 0..opts.http_threads.max(1) {
            let (server, pg, db, home) = (
                server.clone(),
                playground.clone(),
                dashboard.clone(),
                opts.home,
            );
            let t = std::thread::Builder::new()
                .name(format!("nerve-http-{i}"))
                .spawn(move || {
                    while let Ok(mut r) = server.recv() {
                        let reply = match Req::read(&mut r) {
                            Ok(req) => route(&req, home, &pg, &db),
                            Err(e) => e,
                        };
                        reply.send(r);
                    }
                })
                .map_err(|e| Error::new(format!("cannot start a thread: {e}")))?;
            threads.push(t);
        }
        Ok(Server {
            addr,
            server,
            playground,
            threads,
        })
    }

    /// Serves until the process ends.
    pub fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }

    /// Stops serving (tests).
    pub fn stop(self) {
        self.playground.shutdown();
        for _ in &self.threads {
            self.server.unblock();
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// `nerve playground` / `nerve dashboard`: serves until interrupted.
pub fn serve(opts: &ServeOptions) -> Result<()> {
    let listener = bind(&opts.host, opts.port)?;
    let server = Server::start(listener, opts)?;
    let page = match opts.home {
        Home::Playground => "playground",
        Home::Dashboard => "dashboard",
    };
    // Written with errors ignored: a closed stdout (a pipe whose reader
    // left) must not stop the server.
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "nerve {page}: http://{}/", server.addr);
    if opts.home == Home::Dashboard {
        let _ = writeln!(
            out,
            "  runs under {} (the playground is at http://{}/playground)",
            opts.runs_dir.display(),
            server.addr
        );
    } else {
        let _ = writeln!(
            out,
            "  the dashboard of {} is at http://{}/dashboard",
            opts.runs_dir.display(),
            server.addr
        );
    }
    let _ = writeln!(out, "  press Ctrl-C to stop");
    let _ = out.flush();
    server.wait();
    Ok(())
}

fn route(req: &Req, home: Home, pg: &playground::Playground, db: &dashboard::Dashboard) -> Reply {
    let p = req.path.as_str();
    if let Some(rest) = p.strip_prefix("/api/playground/") {
        return pg.handle(req, rest);
    }
    if let Some(rest) = p.strip_prefix("/api/runs") {
        return db.handle(req, rest);
    }
    if req.method != "GET" && req.method != "HEAD" {
        return Reply::error(405, format!("{} {p}: only GET here", req.method));
    }
    match p {
        "/" => Reply::bytes(
            "text/html; charset=utf-8",
            match home {
                Home::Playground => assets::PLAYGROUND_HTML,
                Home::Dashboard => assets::DASHBOARD_HTML,
            }
            .as_bytes(),
        ),
        "/playground" => Reply::bytes(
            "text/html; charset=utf-8",
            assets::PLAYGROUND_HTML.as_bytes(),
        ),
        "/dashboard" => Reply::bytes(
            "text/html; charset=utf-8",
            assets::DASHBOARD_HTML.as_bytes(),
        ),
        "/api/stats" => Reply::json(&pg.stats()),
        _ => match assets::get(p) {
            Some((ct, body)) => Reply::bytes(ct, body),
            None => Reply::not_found(&format!("page {p}")),
        },
    }
}
