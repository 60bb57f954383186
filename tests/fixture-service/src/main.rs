//! The stand-in for an app container in runbook's Docker tests (no registry here, so the test
//! images are built locally from this binary, linked statically, and busybox).
//!
//! ```text
//! fixture-service                serve on $PORT (default 8080)
//! fixture-service --broken       serve, but never healthy (a bad release)
//! fixture-service probe          exit 0 if GET /health answers 200 (the container healthcheck)
//! ```
//! Endpoints: `GET /health`, `GET /health/ready` (200 or 503), `POST /admin/unhealthy`,
//! `POST /admin/healthy` (flip health at run time), `GET /version` ($VERSION).
//! Health can also be flipped by creating or removing the file `/tmp/unhealthy`, which
//! `docker exec` can do without any HTTP client in the image.

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
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.write_all(b"GET /health HTTP/1.0\r\n\r\n");
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
        ("GET", "/health" | "/health/ready") if healthy() => {
            ("200 OK", "{\"status\":\"ok\"}".to_string())
        }
        ("GET", "/health" | "/health/ready") => (
            "503 Service Unavailable",
            "{\"status\":\"error\"}".to_string(),
        ),
        ("GET", "/version") => ("200 OK", std::env::var("VERSION").unwrap_or_default()),
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
