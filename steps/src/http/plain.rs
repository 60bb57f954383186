//! GETs and HEADs over plain HTTP/1.1, on kept-alive connections that the calling step
//! drives itself.
//!
//! Why not reqwest here: its pool gives every connection a task of its own, so each request
//! goes to that task through a channel and its answer comes back through another. That is
//! two task switches and their wake-ups per request. On a chain of health checks this was
//! about 25 µs of a step's 45 µs action, against 13 µs for the GET itself
//! (docs/decisions.md, "Health checks on the run's own connections").
//!
//! Why not hyper's connection either (stop 28 to 35 used it): even polled in the step's own
//! future, a request goes through its dispatcher, a channel and a response body stream; that
//! was about half of the engine's own work on a chain of checks (docs/decisions.md, "Plain
//! checks on ureq-proto"). Here the step writes the request and reads the answer on the
//! socket itself, and `ureq-proto` (the sans-IO HTTP/1.1 of ureq, maintained with it) does
//! all of HTTP: the request's head, the answer's head, its framing (length, chunked, read to
//! the close, none for HEAD, 204 and 304), interim 1xx answers and whether the connection may
//! be kept.
//!
//! Only the plain case comes here: `http://`, GET or HEAD without a body, no credentials in
//! the URL and no proxy in the environment. HTTPS, proxies, redirects and every other
//! request stay with reqwest ([`Plain::Elsewhere`]). GET and HEAD are safe to send again, so
//! handing a request over after its answer was a redirect costs time but changes nothing.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ureq_proto::client::state::{RecvBody, RecvResponse};
use ureq_proto::client::{Call, RecvBodyResult, RecvResponseResult, SendRequestResult};
use ureq_proto::http;

use super::{Answer, Body, Method, Outgoing};

/// A kept-alive connection and the buffer its requests and answers pass through (made once
/// per connection, not per request).
struct Kept {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// A request's head, or as much of an answer as one read takes, before the buffer grows.
const BUFFER: usize = 8 << 10;
/// An answer's head larger than this is refused (hyper's default limit was about 400 KB).
const MOST_HEAD: usize = 256 << 10;

/// Idle connections by runtime and origin (`127.0.0.1:8080`): a connection belongs to the
/// runtime whose reactor it is registered with. A run has one runtime; tests make one each.
/// Nested, so that finding an origin's connections needs no key made for it.
type Idle = HashMap<tokio::runtime::Id, HashMap<String, Vec<Kept>>>;

static IDLE: LazyLock<Mutex<Idle>> = LazyLock::new(Mutex::default);

/// Idle connections kept per origin: as many as a wide fan-out opens (`--max-parallel 64`);
/// more are closed when they come back.
const KEPT_PER_ORIGIN: usize = 64;

pub(super) enum Plain {
    Answered(Answer),
    /// Not a plain request, or an answer that needs reqwest (a redirect): send it there.
    Elsewhere,
    Failed(String),
}

/// Sends `request` if it is a plain one (see the module's doc).
pub(super) async fn send(request: &Outgoing) -> Plain {
    let Some(target) = Target::of(request) else {
        return Plain::Elsewhere;
    };
    let Some(head) = target.head(request) else {
        // A header reqwest would refuse: let it say why.
        return Plain::Elsewhere;
    };
    match tokio::time::timeout(request.timeout, target.exchange(head, request)).await {
        Ok(Ok(answer)) if is_redirect(&answer) => Plain::Elsewhere,
        Ok(Ok(answer)) => Plain::Answered(answer),
        Ok(Err(error)) => Plain::Failed(error),
        Err(_) => Plain::Failed(format!(
            "no answer within {} (`request_timeout`)",
            runbook_engine::params::Duration(request.timeout)
        )),
    }
}

fn is_redirect(answer: &Answer) -> bool {
    (300..400).contains(&answer.status) && answer.headers.contains_key("location")
}

/// Where a plain request goes.
struct Target {
    method: http::Method,
    place: Arc<Place>,
}

/// What a plain request needs of its URL.
struct Place {
    /// `host:port` as the pool knows it.
    origin: String,
    port: u16,
    /// For the connect: a domain, or an address without brackets.
    connect_host: String,
    /// The request's target (`/health?full=1`) and its `Host` header (the port only when the
    /// URL gives one), made once per URL.
    path_and_query: http::Uri,
    host_header: http::HeaderValue,
}

/// URLs already parsed in this process, and where they point (`None`: not plain). A health
/// check polled every second, or a chain of checks of one service, parses its URL once:
/// parsing was about 2% of a plain check's CPU. Bounded: cleared when it holds 256.
static PLACES: LazyLock<Mutex<HashMap<String, Option<Arc<Place>>>>> = LazyLock::new(Mutex::default);

impl Target {
    fn of(request: &Outgoing) -> Option<Self> {
        let method = match request.method {
            Method::Get => http::Method::GET,
            Method::Head => http::Method::HEAD,
            _ => return None,
        };
        if !matches!(request.body, Body::None) || proxied() {
            return None;
        }
        let mut places = PLACES.lock().unwrap_or_else(|e| e.into_inner());
        let place = match places.get(&request.url) {
            Some(place) => place.clone(),
            None => {
                if places.len() >= 256 {
                    places.clear();
                }
                let place = Place::of(&request.url).map(Arc::new);
                places.insert(request.url.clone(), place.clone());
                place
            }
        };
        Some(Self {
            method,
            place: place?,
        })
    }
    /// The request's head, with what reqwest would add when the step does not say:
    /// `Host`, `User-Agent`, `Accept`. `None` when a header is not valid HTTP.
    fn head(&self, request: &Outgoing) -> Option<http::Request<()>> {
        use http::header::{ACCEPT, HOST, HeaderName, HeaderValue, USER_AGENT};
        let mut built = http::Request::new(());
        *built.method_mut() = self.method.clone();
        *built.uri_mut() = self.place.path_and_query.clone();
        let headers = built.headers_mut();
        for (name, value) in &request.headers {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(value).ok()?,
            );
        }
        let defaults = [
            (HOST, self.place.host_header.clone()),
            (USER_AGENT, HeaderValue::from_static(super::USER_AGENT)),
            (ACCEPT, HeaderValue::from_static("*/*")),
        ];
        for (name, value) in defaults {
            if !headers.contains_key(&name) {
                headers.insert(name, value);
            }
        }
        Some(built)
    }

    /// One request and its whole answer. A kept connection the server closed meanwhile
    /// fails before any answer; then the request (its head made again from `request`: a
    /// resend is rare, a copy of every head for it was not free) goes once more on a new
    /// connection (GET and HEAD may be sent twice).
    async fn exchange(
        &self,
        head: http::Request<()>,
        request: &Outgoing,
    ) -> Result<Answer, String> {
        if let Some(mut kept) = take(&self.place.origin) {
            match exchange(&mut kept, head).await {
                Ok((answer, keep)) => {
                    if keep {
                        give_back(&self.place.origin, kept);
                    }
                    return Ok(answer);
                }
                Err(Failure::Unanswered(_)) => {
                    // It was made once from the same request, so it can be made again.
                    let again = self.head(request).ok_or("a header is not valid HTTP")?;
                    return self.on_new_connection(again).await;
                }
                Err(Failure::Failed(error)) => return Err(error),
            }
        }
        self.on_new_connection(head).await
    }

    async fn on_new_connection(&self, head: http::Request<()>) -> Result<Answer, String> {
        let stream = TcpStream::connect((self.place.connect_host.as_str(), self.place.port))
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.place.origin))?;
        // Requests are small and each waits for its answer: no reason to hold them back.
        let _ = stream.set_nodelay(true);
        let mut kept = Kept {
            stream,
            buffer: vec![0; BUFFER],
        };
        let (answer, keep) = exchange(&mut kept, head)
            .await
            .map_err(Failure::into_message)?;
        if keep {
            give_back(&self.place.origin, kept);
        }
        Ok(answer)
    }
}

impl Place {
    /// `None` for a URL that is not plain `http://` without credentials.
    fn of(raw: &str) -> Option<Self> {
        let url = reqwest::Url::parse(raw).ok()?;
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        // `[::1]` in the URL and the `Host` header, `::1` for the connect.
        let connect_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let mut path_and_query = url.path().to_string();
        if let Some(query) = url.query() {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        let host_header = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Some(Self {
            origin: format!("{host}:{port}"),
            port,
            connect_host,
            // Not valid as a request target or a header: reqwest says why.
            path_and_query: http::Uri::try_from(path_and_query).ok()?,
            host_header: http::HeaderValue::try_from(host_header).ok()?,
        })
    }
}

/// Why an exchange ended without an answer.
enum Failure {
    /// The connection failed before any of the answer came: a kept one the server closed
    /// meanwhile, so the request may go again on a new one.
    Unanswered(String),
    Failed(String),
}

impl Failure {
    fn into_message(self) -> String {
        match self {
            Self::Unanswered(message) | Self::Failed(message) => message,
        }
    }
}

/// Sends `head` on `kept` and reads the whole answer, and whether the connection may be
/// used again (the answer and the server allow it, and nothing came after the answer).
async fn exchange(kept: &mut Kept, head: http::Request<()>) -> Result<(Answer, bool), Failure> {
    let call = kept.send(head).await?;
    let mut received = Received::default();
    let (call, response) = kept.read_head(call, &mut received).await?;
    let mut body = Vec::new();
    let keep = match call.proceed() {
        Some(RecvResponseResult::RecvBody(call)) => {
            match kept.read_body(call, &mut received, &mut body).await? {
                Some(RecvBodyResult::Cleanup(call)) => !call.must_close_connection(),
                Some(RecvBodyResult::Redirect(call)) => !call.must_close_connection(),
                None => false,
            }
        }
        Some(RecvResponseResult::Cleanup(call)) => !call.must_close_connection(),
        Some(RecvResponseResult::Redirect(call)) => !call.must_close_connection(),
        None => false,
    };
    let (parts, ()) = response.into_parts();
    let answer = Answer {
        status: parts.status.as_u16(),
        headers: super::headers_of(&parts.headers),
        body: String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    };
    // Anything after the answer means the two sides disagree on where it ended.
    Ok((answer, keep && received.filled == 0))
}

/// How much of a connection's buffer holds bytes read and not yet taken by the protocol, and
/// whether any of the answer has come yet.
#[derive(Default)]
struct Received {
    filled: usize,
    answered: bool,
}

fn protocol(error: ureq_proto::Error) -> Failure {
    Failure::Failed(error.to_string())
}

impl Kept {
    /// Writes the request's head (a GET or HEAD has nothing after it).
    async fn send(&mut self, head: http::Request<()>) -> Result<Call<RecvResponse>, Failure> {
        let mut call = Call::new(head).map_err(protocol)?.proceed();
        loop {
            let written = match call.write(&mut self.buffer) {
                Err(ureq_proto::Error::OutputOverflow) if self.buffer.len() < MOST_HEAD => {
                    self.buffer.resize(self.buffer.len() * 2, 0);
                    continue;
                }
                other => other.map_err(protocol)?,
            };
            self.stream
                .write_all(&self.buffer[..written])
                .await
                .map_err(|e| Failure::Unanswered(format!("cannot send the request: {e}")))?;
            if call.can_proceed() {
                break;
            }
        }
        match call.proceed().map_err(protocol)? {
            Some(SendRequestResult::RecvResponse(call)) => Ok(call),
            _ => Err(Failure::Failed("the request has a body to send".into())),
        }
    }

    /// Reads until the answer's head (after any interim 1xx answers) is whole.
    async fn read_head(
        &mut self,
        mut call: Call<RecvResponse>,
        received: &mut Received,
    ) -> Result<(Call<RecvResponse>, http::Response<()>), Failure> {
        loop {
            let (used, response) = call
                .try_response(&self.buffer[..received.filled], false)
                .map_err(protocol)?;
            self.take(used, received);
            if let Some(response) = response {
                return Ok((call, response));
            }
            if used > 0 {
                continue;
            }
            if received.filled == self.buffer.len() {
                if self.buffer.len() >= MOST_HEAD {
                    return Err(Failure::Failed("the answer's head is too large".into()));
                }
                self.buffer.resize(self.buffer.len() * 2, 0);
            }
            if self.read_more(received).await? == 0 {
                return Err(if received.answered {
                    Failure::Failed("the connection closed before the answer's head ended".into())
                } else {
                    Failure::Unanswered("the connection closed before any answer".into())
                });
            }
        }
    }

    /// Reads and decodes the body into `body` until its framing says it ended (or, for a
    /// body read to the close, until the server closes).
    async fn read_body(
        &mut self,
        mut call: Call<RecvBody>,
        received: &mut Received,
        body: &mut Vec<u8>,
    ) -> Result<Option<RecvBodyResult>, Failure> {
        let to_the_close = matches!(call.body_mode(), ureq_proto::BodyMode::CloseDelimited);
        loop {
            if received.filled > 0 {
                // Decoded, the body is never longer than what carried it.
                let start = body.len();
                body.resize(start + received.filled, 0);
                let (used, made) = call
                    .read(&self.buffer[..received.filled], &mut body[start..])
                    .map_err(protocol)?;
                body.truncate(start + made);
                self.take(used, received);
            }
            if call.can_proceed() && !to_the_close {
                return Ok(call.proceed());
            }
            if received.filled == self.buffer.len() {
                // A chunk's size line longer than the buffer: no server sends that.
                return Err(Failure::Failed("the answer's framing is not valid".into()));
            }
            if self.read_more(received).await? == 0 {
                if to_the_close {
                    return Ok(call.proceed());
                }
                return Err(Failure::Failed(
                    "the connection closed before the answer's body ended".into(),
                ));
            }
        }
    }

    /// Reads after what the buffer holds: how many bytes came, 0 when the server closed.
    async fn read_more(&mut self, received: &mut Received) -> Result<usize, Failure> {
        match self.stream.read(&mut self.buffer[received.filled..]).await {
            Ok(read) => {
                received.filled += read;
                received.answered |= read > 0;
                Ok(read)
            }
            Err(e) if received.answered => {
                Err(Failure::Failed(format!("cannot read the answer: {e}")))
            }
            Err(e) => Err(Failure::Unanswered(format!("cannot read the answer: {e}"))),
        }
    }

    /// Drops the first `used` bytes the protocol took, keeping the rest at the front.
    fn take(&mut self, used: usize, received: &mut Received) {
        if used > 0 {
            self.buffer.copy_within(used..received.filled, 0);
            received.filled -= used;
        }
    }
}

/// The idle connections to `origin` from this runtime.
fn with_idle<T>(origin: &str, f: impl FnOnce(&mut Vec<Kept>) -> T) -> T {
    let runtime = tokio::runtime::Handle::current().id();
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    let origins = idle.entry(runtime).or_default();
    if let Some(kept) = origins.get_mut(origin) {
        return f(kept);
    }
    f(origins.entry(origin.to_string()).or_default())
}

/// An idle connection to `origin` that is still open, if there is one.
fn take(origin: &str) -> Option<Kept> {
    with_idle(origin, |kept| {
        while let Some(candidate) = kept.pop() {
            if still_open(&candidate) {
                return Some(candidate);
            }
        }
        None
    })
}

/// Whether an idle connection is still open, without waiting. It has nothing to read while
/// the server keeps it: readable means closed (or a server that sent what nobody asked for),
/// and it is dropped rather than used. Readiness alone can be stale, so a read confirms it.
fn still_open(kept: &Kept) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if kept.stream.poll_read_ready(&mut cx).is_pending() {
        return true;
    }
    let mut byte = [0u8; 1];
    matches!(kept.stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

fn give_back(origin: &str, kept: Kept) {
    with_idle(origin, |idle| {
        if idle.len() < KEPT_PER_ORIGIN {
            idle.push(kept);
        }
    });
}

/// A proxy in the environment (reqwest honours `http_proxy`, `ALL_PROXY`, ...): then every
/// request goes through reqwest, which knows the proxy and `NO_PROXY`.
fn proxied() -> bool {
    static PROXIED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PROXIED.get_or_init(|| {
        ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Method, Outgoing};
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// What the server saw: connections accepted, and each request's head.
    #[derive(Default)]
    struct Seen {
        connections: usize,
        requests: Vec<String>,
    }

    /// A keep-alive server on loopback. `/old` redirects to `/new`. With `drop_second`, a
    /// connection's second request is read and the connection closed without an answer (a
    /// server that timed the idle connection out as the request arrived).
    fn server(drop_second: bool) -> (String, Arc<Mutex<Seen>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                log.lock().unwrap().connections += 1;
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().expect("clone");
                    let mut reader = BufReader::new(stream);
                    for n in 0.. {
                        let mut head = String::new();
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            head.push_str(&line);
                        }
                        log.lock().unwrap().requests.push(head.clone());
                        if drop_second && n == 1 {
                            return;
                        }
                        let (answer, close) = answer_to(&head);
                        if writer.write_all(&answer).is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        (base, seen)
    }

    /// The canned answer to a request's head, and whether the server closes afterwards.
    fn answer_to(head: &str) -> (Vec<u8>, bool) {
        let big = "x".repeat(100_000);
        let path = head.split(' ').nth(1).unwrap_or("/");
        let text = |s: &str| (s.as_bytes().to_vec(), false);
        if head.starts_with("HEAD ") {
            return text("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n");
        }
        match path {
            "/old" => text("HTTP/1.1 302 Found\r\nlocation: /new\r\ncontent-length: 0\r\n\r\n"),
            "/new" => text("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nmoved"),
            "/chunked" => text(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                 3\r\nchu\r\n4;ext=1\r\nnked\r\n0\r\nx-trailer: t\r\n\r\n",
            ),
            "/big" => text(&format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{big}",
                big.len()
            )),
            "/big-chunked" => {
                let chunks: String = big
                    .as_bytes()
                    .chunks(7_000)
                    .map(|c| format!("{:x}\r\n{}\r\n", c.len(), std::str::from_utf8(c).unwrap()))
                    .collect();
                text(&format!(
                    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{chunks}0\r\n\r\n"
                ))
            }
            // Interim answers before the answer.
            "/interim" => text(
                "HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nhinted!",
            ),
            "/empty" => text("HTTP/1.1 204 No Content\r\n\r\n"),
            // An HTTP/1.0 answer without a length: the body ends where the server closes.
            "/to-the-close" => ("HTTP/1.0 200 OK\r\n\r\nuntil closed".into(), true),
            "/closing" => (
                "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 3\r\n\r\nbye".into(),
                true,
            ),
            "/latin1" => (
                b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ncaf\xe9".to_vec(),
                false,
            ),
            "/short" => (
                "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort".into(),
                true,
            ),
            _ => text("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
        }
    }

    async fn get(url: String) -> String {
        let response = Outgoing::api(Method::Get, url)
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status, 200);
        response.body
    }

    #[tokio::test]
    async fn checks_of_one_server_share_a_kept_connection() {
        let (base, seen) = server(false);
        for _ in 0..3 {
            assert_eq!(get(format!("{base}/health")).await, "ok");
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.connections, 1);
        assert_eq!(seen.requests.len(), 3);
        let first = seen.requests[0].to_ascii_lowercase();
        let host = base.trim_start_matches("http://");
        assert!(first.contains(&format!("host: {host}\r\n")), "{first}");
        assert!(first.contains("user-agent: runbook/"), "{first}");
    }

    #[tokio::test]
    async fn a_kept_connection_the_server_dropped_is_replaced_and_the_check_sent_again() {
        let (base, seen) = server(true);
        assert_eq!(get(format!("{base}/health")).await, "ok");
        assert_eq!(get(format!("{base}/health")).await, "ok");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.connections, 2);
        assert_eq!(seen.requests.len(), 3, "the dropped request, then again");
    }

    #[tokio::test]
    async fn a_redirect_is_followed() {
        let (base, _) = server(false);
        assert_eq!(get(format!("{base}/old")).await, "moved");
    }

    #[tokio::test]
    async fn every_framing_of_an_answer_is_read_whole_and_the_connection_kept_when_it_may_be() {
        let (base, seen) = server(false);
        let big = "x".repeat(100_000);
        let kept = [
            ("/chunked", "chunked"),
            ("/big", big.as_str()),
            ("/big-chunked", big.as_str()),
            ("/interim", "hinted!"),
            ("/health", "ok"),
        ];
        for (path, body) in kept {
            assert_eq!(get(format!("{base}{path}")).await, body, "{path}");
        }
        let response = Outgoing::api(Method::Get, format!("{base}/empty"))
            .send()
            .await
            .expect("answered");
        assert_eq!((response.status, response.body.as_str()), (204, ""));
        let response = Outgoing::api(Method::Head, format!("{base}/health"))
            .send()
            .await
            .expect("answered");
        assert_eq!((response.status, response.body.as_str()), (200, ""));
        assert_eq!(
            response.headers.get("content-length").map(String::as_str),
            Some("2")
        );
        assert_eq!(
            seen.lock().unwrap().connections,
            1,
            "all on one kept connection"
        );

        // Each of these ends its connection: the next check opens a new one.
        assert_eq!(get(format!("{base}/to-the-close")).await, "until closed");
        assert_eq!(get(format!("{base}/closing")).await, "bye");
        assert_eq!(get(format!("{base}/health")).await, "ok");
        assert_eq!(seen.lock().unwrap().connections, 3);
    }

    #[tokio::test]
    async fn a_body_that_is_not_utf8_is_read_lossily_and_a_cut_one_fails() {
        let (base, _) = server(false);
        assert_eq!(get(format!("{base}/latin1")).await, "caf\u{fffd}");
        let Err(error) = Outgoing::api(Method::Get, format!("{base}/short"))
            .send()
            .await
        else {
            panic!("the body was cut short");
        };
        assert!(
            error
                .message
                .ends_with("the connection closed before the answer's body ended"),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_says_where_and_why() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        drop(listener);
        let Err(error) = Outgoing::api(Method::Get, url.clone()).send().await else {
            panic!("nothing listens there");
        };
        assert!(
            error
                .message
                .starts_with(&format!("GET {url}: cannot connect")),
            "{}",
            error.message
        );
        assert!(error.message.contains("refused"), "{}", error.message);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_fails_at_the_request_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/slow", listener.local_addr().unwrap());
        // Accepts and holds the connection, never answers.
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(1).collect();
            std::thread::sleep(std::time::Duration::from_secs(5));
            drop(held);
        });
        let request = Outgoing {
            timeout: std::time::Duration::from_millis(200),
            ..Outgoing::api(Method::Get, url.clone())
        };
        let Err(error) = request.send().await else {
            panic!("nothing answers");
        };
        assert_eq!(
            error.message,
            format!("GET {url}: no answer within 200ms (`request_timeout`)")
        );
    }
}
