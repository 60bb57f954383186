//! Connecting: the one place that builds the driver's config from a URL or discrete fields,
//! connects (TLS through rustls), and turns a failure into one line that names the server and
//! the reason, never the password.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use tokio_postgres::config::{Config, Host, SslMode as DriverSslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Error};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::SslMode;
use crate::prelude::*;

/// libpq waits forever by default; at 3 a.m. an unreachable server should say so quickly.
const DEFAULT_CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// The connection params of a step, templates rendered.
pub(super) struct Params {
    pub url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    pub sslmode: Option<SslMode>,
    pub connect_timeout: Option<StdDuration>,
}

/// A server and database to connect to.
#[derive(Clone)]
pub(super) struct Target {
    config: Config,
    sslmode: SslMode,
}

impl Target {
    pub fn new(params: Params) -> Result<Self, StepError> {
        let mut sslmode = params.sslmode;
        let mut config = match &params.url {
            Some(url) => {
                // The driver knows disable/prefer/require only; verify-full is ours.
                let (url, verify) = take_verify_full(url);
                if verify && sslmode.is_none() {
                    sslmode = Some(SslMode::VerifyFull);
                }
                Config::from_str(&url).map_err(|e| {
                    StepError::failed(format!("`url` is not a PostgreSQL URL: {}", reason(&e)))
                })?
            }
            None => Config::new(),
        };
        if let Some(host) = &params.host {
            config.host(host);
        }
        if let Some(port) = params.port {
            config.port(port);
        }
        if let Some(user) = params.user {
            config.user(user);
        }
        if config.get_user().is_none() {
            // libpq's default: the operating-system user.
            config.user(std::env::var("USER").unwrap_or_else(|_| "postgres".into()));
        }
        if let Some(password) = params.password {
            config.password(password);
        }
        if let Some(database) = params.database {
            config.dbname(database);
        }
        if config.get_dbname().is_none() {
            let user = config.get_user().unwrap_or_default().to_string();
            config.dbname(user);
        }
        let sslmode = sslmode.unwrap_or(match config.get_ssl_mode() {
            DriverSslMode::Disable => SslMode::Disable,
            DriverSslMode::Require => SslMode::Require,
            _ => SslMode::Prefer,
        });
        config.ssl_mode(match sslmode {
            SslMode::Disable => DriverSslMode::Disable,
            SslMode::Prefer => DriverSslMode::Prefer,
            SslMode::Require | SslMode::VerifyFull => DriverSslMode::Require,
        });
        let timeout = params
            .connect_timeout
            .or(config.get_connect_timeout().copied())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        config.connect_timeout(timeout);
        config.application_name("runbook");
        Ok(Self { config, sslmode })
    }

    pub fn database(&self) -> &str {
        self.config.get_dbname().unwrap_or_default()
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> Self {
        let mut other = self.clone();
        other.config.dbname(database);
        other
    }

    /// `user@host:port/database`: what errors and previews call this target.
    pub fn label(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}@{host}:{port}/{}",
            self.config.get_user().unwrap_or_default(),
            self.database()
        )
    }

    fn timeout(&self) -> StdDuration {
        self.config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    pub async fn connect(&self) -> Result<Client, StepError> {
        let tls = MakeRustlsConnect::new(self.tls_config()?);
        let connecting = self.config.connect(tls);
        let fail = |why: String| {
            StepError::failed(format!(
                "cannot connect to PostgreSQL {}: {why}",
                self.label()
            ))
        };
        let (client, connection) = match tokio::time::timeout(self.timeout(), connecting).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(e)) => return Err(fail(explain(&e))),
            Err(_) => {
                return Err(fail(format!(
                    "no answer within {}s (unreachable host or firewall?)",
                    self.timeout().as_secs()
                )));
            }
        };
        // The driver's socket task; it ends when the client is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    fn tls_config(&self) -> Result<ClientConfig, StepError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| StepError::failed(format!("TLS setup: {e}")))?;
        Ok(match self.sslmode {
            SslMode::VerifyFull => {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            // libpq's prefer/require encrypt without checking who answers; so do we.
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth(),
        })
    }

    /// The environment pg_dump, pg_restore and psql read the same connection from, so the
    /// password never appears on a command line (`ps` shows those to everyone).
    pub fn tool_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("PGUSER", self.config.get_user().unwrap_or_default().into()),
            ("PGDATABASE", self.database().into()),
            (
                "PGSSLMODE",
                match self.sslmode {
                    SslMode::Disable => "disable",
                    SslMode::Prefer => "prefer",
                    SslMode::Require => "require",
                    SslMode::VerifyFull => "verify-full",
                }
                .into(),
            ),
            (
                "PGCONNECT_TIMEOUT",
                self.timeout().as_secs().max(1).to_string(),
            ),
            ("PGAPPNAME", "runbook".into()),
        ];
        match self.config.get_hosts().first() {
            Some(Host::Tcp(host)) => env.push(("PGHOST", host.clone())),
            Some(Host::Unix(path)) => env.push(("PGHOST", path.display().to_string())),
            None => {}
        }
        if let Some(port) = self.config.get_ports().first() {
            env.push(("PGPORT", port.to_string()));
        }
        if let Some(password) = self.config.get_password() {
            env.push(("PGPASSWORD", String::from_utf8_lossy(password).into_owned()));
        }
        env
    }
}

/// Removes `sslmode=verify-full` from a URL's query; says whether it was there.
fn take_verify_full(url: &str) -> (String, bool) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), false);
    };
    let (verify, kept): (Vec<&str>, Vec<&str>) = query
        .split('&')
        .partition(|pair| *pair == "sslmode=verify-full");
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, !verify.is_empty())
}

/// The reason of a driver error in one line: the server's message where it sent one.
pub(super) fn reason(error: &Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = db.message().to_string();
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(&format!(": {cause_text}"));
        }
        source = cause.source();
    }
    text
}

/// A connection failure's reason with what to check.
fn explain(error: &Error) -> String {
    let hint = match error.code() {
        Some(code) if *code == SqlState::INVALID_PASSWORD => {
            "check the password given to the step (usually a secret)"
        }
        Some(code) if *code == SqlState::UNDEFINED_DATABASE => {
            "check `database`, or create it first"
        }
        Some(code) if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
            "the server's pg_hba.conf does not let this user in from here"
        }
        Some(code) if *code == SqlState::CANNOT_CONNECT_NOW => {
            "the server is starting up, shutting down or recovering; wait and retry"
        }
        _ if reason(error).contains("Connection refused") => {
            "is PostgreSQL running and listening on that host and port?"
        }
        _ if reason(error).contains("lookup address") => "check the host name",
        _ if reason(error).contains("bytes remaining on stream") => {
            "something on that port closed the connection: is it PostgreSQL?"
        }
        _ => "",
    };
    if hint.is_empty() {
        reason(error)
    } else {
        format!("{} (hint: {hint})", reason(error))
    }
}

/// prefer/require: the connection is encrypted, the certificate is not checked (libpq's
/// meaning of these modes); the handshake signatures still are.
#[derive(Debug)]
struct EncryptOnly(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::new(Params {
            url: Some(url.into()),
            host: None,
            port: None,
            user: None,
            password: None,
            database: None,
            sslmode: None,
            connect_timeout: None,
        })
        .expect("a valid url")
    }

    #[test]
    fn label_names_the_server_without_the_password() {
        let t = target("postgres://goodgo:hunter2@db.internal:6432/goodgo");
        assert_eq!(t.label(), "goodgo@db.internal:6432/goodgo");
        assert_eq!(t.with_database("goodgo_verify").database(), "goodgo_verify");
    }

    #[test]
    fn verify_full_is_taken_from_the_url() {
        let t = target("postgres://u@h/d?sslmode=verify-full&connect_timeout=3");
        assert!(matches!(t.sslmode, SslMode::VerifyFull));
        assert_eq!(t.timeout(), StdDuration::from_secs(3));
        let env = t.tool_env();
        assert!(env.contains(&("PGSSLMODE", "verify-full".into())));
    }

    #[test]
    fn the_password_reaches_tools_through_the_environment() {
        let env = target("postgres://u:s3cret@h:5433/d").tool_env();
        assert!(env.contains(&("PGPASSWORD", "s3cret".into())));
        assert!(env.contains(&("PGPORT", "5433".into())));
    }
}
