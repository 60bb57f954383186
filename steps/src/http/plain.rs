//! GETs and HEADs over plain HTTP/1.1, on kept-alive connections that the calling step
//! drives itself.
//!
//! Why not reqwest here: its pool gives every connection a task of its own, so each request
//! goes to that task through a channel and its answer comes back through another. That is
//! two task switches and their wake-ups per request. On a chain of health checks this was
//! about 25 µs of a step's 45 µs action, against 13 µs for the GET itself
//! (docs/decisions.md, "Health checks on the run's own connections"). Here the step polls the
//! connection and its request together, in its own future. Hyper still does all of HTTP:
//! framing, keep-alive and HEAD.
//!
//! Only the plain case comes here: `http://`, GET or HEAD without a body, no credentials in
//! the URL and no proxy in the environment. HTTPS, proxies, redirects and every other
//! request stay with reqwest ([`Plain::Elsewhere`]). GET and HEAD are safe to send again, so
//! handing a request over after its answer was a redirect costs time but changes nothing.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::task::Poll;
use tokio::net::TcpStream;

use super::{Answer, Body, Method, Outgoing};

type Io = TokioIo<TcpStream>;

/// A connection and the handle that sends on it; nobody polls it while it is idle.
struct Kept {
    sender: SendRequest<Empty<Bytes>>,
    connection: Connection<Io, Empty<Bytes>>,
}

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
    method: hyper::Method,
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
    path_and_query: hyper::Uri,
    host_header: hyper::header::HeaderValue,
}

/// URLs already parsed in this process, and where they point (`None`: not plain). A health
/// check polled every second, or a chain of checks of one service, parses its URL once:
/// parsing was about 2% of a plain check's CPU. Bounded: cleared when it holds 256.
static PLACES: LazyLock<Mutex<HashMap<String, Option<Arc<Place>>>>> = LazyLock::new(Mutex::default);

impl Target {
    fn of(request: &Outgoing) -> Option<Self> {
        let method = match request.method {
            Method::Get => hyper::Method::GET,
            Method::Head => hyper::Method::HEAD,
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
    fn head(&self, request: &Outgoing) -> Option<hyper::Request<Empty<Bytes>>> {
        use hyper::header::{ACCEPT, HOST, HeaderName, HeaderValue, USER_AGENT};
        let mut built = hyper::Request::new(Empty::new());
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
        head: hyper::Request<Empty<Bytes>>,
        request: &Outgoing,
    ) -> Result<Answer, String> {
        if let Some(kept) = take(&self.place.origin) {
            match exchange(kept, head).await {
                Ok((kept, answer)) => {
                    give_back(&self.place.origin, kept);
                    return Ok(answer);
                }
                Err(_) => {
                    // It was made once from the same request, so it can be made again.
                    let again = self.head(request).ok_or("a header is not valid HTTP")?;
                    return self.on_new_connection(again).await;
                }
            }
        }
        self.on_new_connection(head).await
    }

    async fn on_new_connection(
        &self,
        head: hyper::Request<Empty<Bytes>>,
    ) -> Result<Answer, String> {
        let stream = TcpStream::connect((self.place.connect_host.as_str(), self.place.port))
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.place.origin))?;
        // Requests are small and each waits for its answer: no reason to hold them back.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| super::error_chain(&e))?;
        let (kept, answer) = exchange(Kept { sender, connection }, head)
            .await
            .map_err(|e| super::error_chain(&e))?;
        give_back(&self.place.origin, kept);
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
            path_and_query: hyper::Uri::try_from(path_and_query).ok()?,
            host_header: hyper::header::HeaderValue::try_from(host_header).ok()?,
        })
    }
}

/// Sends on `kept` and reads the whole answer, polling the connection in this same task
/// (that is the point of this module); the connection comes back ready for another request.
async fn exchange(
    kept: Kept,
    head: hyper::Request<Empty<Bytes>>,
) -> Result<(Kept, Answer), hyper::Error> {
    let Kept {
        mut sender,
        mut connection,
    } = kept;
    let mut closed = false;
    let answer = {
        let mut answer = std::pin::pin!(async {
            sender.ready().await?;
            let response = sender.send_request(head).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, hyper::Error>(Answer {
                status: parts.status.as_u16(),
                headers: super::headers_of(&parts.headers),
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        });
        poll_fn(|cx| {
            // The connection first: it writes the request and reads what the answer waits for.
            if !closed && let Poll::Ready(ended) = Pin::new(&mut connection).poll(cx) {
                // Ended (the server closed it, or an error): the answer has what it will get.
                closed = true;
                if let Err(error) = ended {
                    return Poll::Ready(Err(error));
                }
            }
            answer.as_mut().poll(cx)
        })
        .await?
    };
    Ok((Kept { sender, connection }, answer))
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
        while let Some(mut candidate) = kept.pop() {
            if still_open(&mut candidate) {
                return Some(candidate);
            }
        }
        None
    })
}

/// Polls an idle connection once, without waiting: one the server closed (or that is no
/// longer ready for a request) ends now, and is dropped rather than used.
fn still_open(kept: &mut Kept) -> bool {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    Pin::new(&mut kept.connection).poll(&mut cx).is_pending() && kept.sender.is_ready()
}

fn give_back(origin: &str, mut kept: Kept) {
    if still_open(&mut kept) {
        with_idle(origin, |idle| {
            if idle.len() < KEPT_PER_ORIGIN {
                idle.push(kept);
            }
        });
    }
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
                        let answer = if head.starts_with("GET /old ") {
                            "HTTP/1.1 302 Found\r\nlocation: /new\r\ncontent-length: 0\r\n\r\n"
                        } else if head.starts_with("GET /new ") {
                            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nmoved"
                        } else {
                            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                        };
                        if writer.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (base, seen)
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
