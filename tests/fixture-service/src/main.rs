//! The stand-in for an app container in runbook's Docker tests (no registry here, so the test
//! images are built locally from this binary, linked statically, and busybox).
//!
//! ```text
//! fixture-service                serve on $PORT (default 8080)
//! fixture-service --broken       serve, but never healthy (a bad release)
//! fixture-service probe          exit 0 if GET /health answers 200 (the container healthcheck)
//! ```
//! Endpoints: `GET /health` (liveness), `GET /health/ready` (200 or 503), `POST
//! /admin/unhealthy`, `POST /admin/healthy` (flip health at run time), `GET /version` ($VERSION),
//! `GET /metrics` (Prometheus text format: `app_healthy`, and with `DB_HOST` set
//! `app_database_up`, the metrics the demo stacks' alert rules read).
//! Health can also be flipped by creating or removing the file `/tmp/unhealthy`, which
//! `docker exec` can do without any HTTP client in the image.
//!
//! With `DB_HOST` set (the demo stack's api), readiness also asks the database: it runs
//! `SELECT 1` over the PostgreSQL wire protocol at `DB_HOST:DB_PORT` as `DB_USER` on `DB_NAME`,
//! through PgBouncer with `auth_type = any`, so the service is ready only while the whole data
//! path is. `PROBE_PATH` picks the endpoint the container healthcheck probes (default `/health`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static HEALTHY: AtomicBool = AtomicBool::new(true);

fn port() -> u16 {
    std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080)
}

fn healthy() -> bool {
    HEALTHY.load(Ordering::SeqCst) && !Path::new("/tmp/unhealthy").exists()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("probe") => std::process::exit(probe()),
        Some("--broken") => {
            HEALTHY.store(false, Ordering::SeqCst);
            serve();
        }
        _ => serve(),
    }
}

fn probe() -> i32 {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port())) else {
        return 1;
    };
    let path = std::env::var("PROBE_PATH").unwrap_or_else(|_| "/health".into());
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(stream, "GET {path} HTTP/1.0\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    if answer.starts_with("HTTP/1.1 200") {
        0
    } else {
        1
    }
}

fn serve() {
    let listener = TcpListener::bind(("0.0.0.0", port())).expect("bind the service port");
    eprintln!("fixture-service listening on {}", port());
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || answer(stream));
    }
}

fn answer(stream: TcpStream) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // Skip the headers; no endpoint reads a body.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = match (method, path) {
        ("GET", "/health") if healthy() => ("200 OK", "{\"status\":\"ok\"}".to_string()),
        ("GET", "/health") => (
            "503 Service Unavailable",
            "{\"status\":\"error\"}".to_string(),
        ),
        ("GET", "/health/ready") => readiness(),
        ("GET", "/version") => ("200 OK", std::env::var("VERSION").unwrap_or_default()),
        ("GET", "/metrics") => ("200 OK", metrics()),
        ("POST", "/admin/unhealthy") => {
            HEALTHY.store(false, Ordering::SeqCst);
            ("200 OK", "unhealthy".to_string())
        }
        ("POST", "/admin/healthy") => {
            HEALTHY.store(true, Ordering::SeqCst);
            ("200 OK", "healthy".to_string())
        }
        _ => ("404 Not Found", "not found".to_string()),
    };
    eprintln!("{method} {path} -> {status}");
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// `/metrics`: what the demo stacks' Prometheus scrapes; the database gauge only where the
/// service has a database, so that an alert on it cannot fire for a service without one.
fn metrics() -> String {
    let mut text = format!(
        "# TYPE app_healthy gauge\napp_healthy {}\n",
        u8::from(healthy())
    );
    if let Ok(host) = std::env::var("DB_HOST") {
        let up = u8::from(database::check(&host).is_ok());
        text.push_str(&format!(
            "# TYPE app_database_up gauge\napp_database_up {up}\n"
        ));
    }
    text
}

/// `/health/ready`: the service's own health and, when it has one, its database's.
fn readiness() -> (&'static str, String) {
    let database = match std::env::var("DB_HOST") {
        Ok(host) => Some(database::check(&host).map_err(|e| e.replace('"', "'"))),
        Err(_) => None,
    };
    let ok = healthy() && !matches!(database, Some(Err(_)));
    let status = if ok { "ok" } else { "error" };
    let info = match &database {
        None => String::new(),
        Some(Ok(())) => r#","info":{"database":{"status":"up"}}"#.to_string(),
        Some(Err(why)) => {
            format!(r#","info":{{"database":{{"status":"down","message":"{why}"}}}}"#)
        }
    };
    let code = if ok {
        "200 OK"
    } else {
        "503 Service Unavailable"
    };
    (code, format!(r#"{{"status":"{status}"{info}}}"#))
}

/// Just enough of the PostgreSQL wire protocol (v3) to run `SELECT 1` on a server that asks
/// for no password: no client library, so the image stays one static binary.
mod database {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    fn var(name: &str, default: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| default.to_string())
    }

    pub fn check(host: &str) -> Result<(), String> {
        let port: u16 = var("DB_PORT", "5432").parse().map_err(|_| "bad DB_PORT")?;
        let mut stream =
            TcpStream::connect((host, port)).map_err(|e| format!("{host}:{port}: {e}"))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut startup = Vec::new();
        startup.extend_from_slice(&196_608_i32.to_be_bytes()); // protocol 3.0
        for (key, value) in [
            ("user", var("DB_USER", "postgres")),
            ("database", var("DB_NAME", "postgres")),
        ] {
            startup.extend_from_slice(key.as_bytes());
            startup.push(0);
            startup.extend_from_slice(value.as_bytes());
            startup.push(0);
        }
        startup.push(0);
        send(&mut stream, None, &startup)?;
        until_ready(&mut stream)?;
        send(&mut stream, Some(b'Q'), b"SELECT 1\0")?;
        until_ready(&mut stream)?;
        let _ = send(&mut stream, Some(b'X'), b"");
        Ok(())
    }

    fn send(stream: &mut TcpStream, tag: Option<u8>, body: &[u8]) -> Result<(), String> {
        let mut message = Vec::with_capacity(body.len() + 5);
        message.extend(tag);
        message
            .extend_from_slice(&(i32::try_from(body.len() + 4).unwrap_or(i32::MAX)).to_be_bytes());
        message.extend_from_slice(body);
        stream.write_all(&message).map_err(|e| e.to_string())
    }

    /// Reads messages up to ReadyForQuery; an ErrorResponse or a password request fails.
    fn until_ready(stream: &mut TcpStream) -> Result<(), String> {
        loop {
            let mut head = [0u8; 5];
            stream
                .read_exact(&mut head)
                .map_err(|e| format!("reading: {e}"))?;
            let length = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
            let mut body = vec![0u8; usize::try_from(length - 4).unwrap_or(0)];
            stream
                .read_exact(&mut body)
                .map_err(|e| format!("reading: {e}"))?;
            match head[0] {
                b'Z' => return Ok(()),
                b'R' if body.starts_with(&[0, 0, 0, 0]) => {}
                b'R' => return Err("the server asks for a password".into()),
                b'E' => return Err(error_message(&body)),
                _ => {}
            }
        }
    }

    /// The `M` (message) field of an ErrorResponse.
    fn error_message(body: &[u8]) -> String {
        body.split(|&b| b == 0)
            .find_map(|field| field.strip_prefix(b"M"))
            .map_or_else(
                || "error".into(),
                |m| String::from_utf8_lossy(m).into_owned(),
            )
    }
}
