//! `tls.*`: certificates as clients see them, in place of the seeds' `openssl s_client ... |
//! openssl x509 -noout -dates` and `certbot certificates`. `tls.certificate` connects to a
//! host:port with SNI (rustls) and reads the chain the server actually serves; `tls.file`
//! reads a certificate on disk. Both report days to expiry, issuer and names (x509-parser).
//!
//! The handshake accepts any certificate so that an expired or self-signed one can still be
//! described; whether the chain verifies (against the system's roots and `ca_file`, for the
//! name asked for) is recorded on the side and checked afterwards.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use crate::prelude::*;

/// On a step's `host:`: certificates the runner reaches.
const FAMILY_ON_HOSTS: bool = false;

/// What the step requires of the certificate (the params of both verbs; repeated in each
/// struct because serde's `flatten` cannot be combined with refusing unknown keys).
struct CertExpect<'a> {
    min_days: &'a Option<Tpl<i64>>,
    names: &'a [Template],
}

/// The certificate a server presents on host:port.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub host: Template,
    /// Default: 443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Tpl<u16>>,
    /// The name sent as SNI and verified against the certificate. Default: `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<Template>,
    /// Extra trusted roots (PEM), beside the system's: a private CA (`""`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<Template>,
    /// Fail unless the chain verifies for `server_name` (default true). `false` only reports.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub verify: bool,
    /// Fail when the certificate expires in fewer days than this (`30`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_days: Option<Tpl<i64>>,
    /// Names the certificate must cover (subject alternative names; `*.` wildcards as browsers match them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<Template>,
}
family_verb!(
    Certificate,
    ReadOnly,
    "The TLS certificate a server presents (with SNI): days to expiry, issuer, names, chain verification",
    [
        "days_left",
        "not_after",
        "issuer",
        "subject",
        "names",
        "self_signed",
        "chain_verified",
        "chain_error",
        "chain_length"
    ]
);

/// A certificate file on disk (PEM; the first certificate is the one described).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub path: Template,
    /// Fail when the certificate expires in fewer days than this (`30`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_days: Option<Tpl<i64>>,
    /// Names the certificate must cover (subject alternative names; `*.` wildcards as browsers match them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<Template>,
}
family_verb!(
    File,
    ReadOnly,
    "A certificate file on disk: days to expiry, issuer, names",
    [
        "days_left",
        "not_after",
        "issuer",
        "subject",
        "names",
        "self_signed"
    ]
);

impl File {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let path = ctx.render(&self.path)?;
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| StepError::failed(format!("{path}: {e}")))?;
        let der = CertificateDer::pem_slice_iter(&bytes)
            .next()
            .ok_or_else(|| StepError::failed(format!("{path} holds no PEM certificate")))?
            .map_err(|e| StepError::failed(format!("{path}: not a PEM certificate: {e:?}")))?;
        let facts = Facts::read(&der).map_err(|e| StepError::failed(format!("{path}: {e}")))?;
        let expect = CertExpect {
            min_days: &self.min_days,
            names: &self.names,
        };
        facts.check(ctx, &expect, &path)?;
        Ok(facts.outputs())
    }
}

/// What a certificate says, read once.
struct Facts {
    not_after: chrono::DateTime<chrono::Utc>,
    days_left: i64,
    issuer: String,
    subject: String,
    names: Vec<String>,
    self_signed: bool,
}

impl Facts {
    fn read(der: &CertificateDer<'_>) -> Result<Self, String> {
        use x509_parser::prelude::*;
        let (_, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let not_after = chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
            .unwrap_or_default();
        let days_left = (not_after - chrono::Utc::now())
            .num_seconds()
            .div_euclid(86_400);
        let mut names: Vec<String> = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        GeneralName::DNSName(d) => Some(d.to_string()),
                        GeneralName::IPAddress(ip) => ip_text(ip),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty()
            && let Some(cn) = cert.subject().iter_common_name().next()
            && let Ok(cn) = cn.as_str()
        {
            names.push(cn.to_string());
        }
        Ok(Self {
            not_after,
            days_left,
            issuer: cert.issuer().to_string(),
            subject: cert.subject().to_string(),
            names,
            self_signed: cert.issuer() == cert.subject(),
        })
    }

    fn check(
        &self,
        ctx: &StepContext,
        expect: &CertExpect<'_>,
        what: &str,
    ) -> Result<(), StepError> {
        let mut unmet = Vec::new();
        if let Some(min) = expect.min_days {
            let min = ctx.resolve(min)?;
            if self.days_left < min {
                unmet.push(if self.days_left < 0 {
                    format!(
                        "expired {} days ago ({})",
                        -self.days_left,
                        self.not_after.format("%Y-%m-%d")
                    )
                } else {
                    format!(
                        "expires in {} days ({}; at least {min} wanted)",
                        self.days_left,
                        self.not_after.format("%Y-%m-%d")
                    )
                });
            }
        }
        for name in expect.names {
            let name = ctx.render(name)?;
            if !self.names.iter().any(|n| covers(n, &name)) {
                unmet.push(format!(
                    "does not cover `{name}` (names: {})",
                    self.names.join(", ")
                ));
            }
        }
        if unmet.is_empty() {
            Ok(())
        } else {
            Err(StepError::failed(format!(
                "certificate of {what}: {}",
                unmet.join("; ")
            )))
        }
    }

    fn outputs(&self) -> Outputs {
        outputs(serde_json::json!({
            "days_left": self.days_left,
            "not_after": self.not_after.to_rfc3339(),
            "issuer": self.issuer,
            "subject": self.subject,
            "names": self.names,
            "self_signed": self.self_signed,
        }))
    }
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}

/// Whether certificate name `pattern` covers `name`: exact, or a `*.` wildcard for one label.
fn covers(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == name,
    }
}

/// The chain a server presented, and what verification said of it.
type Seen = (Vec<CertificateDer<'static>>, Result<(), String>);

/// Accepts every certificate but records the chain and what real verification said.
#[derive(Debug)]
struct Recorder {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some((chain, verdict));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl Certificate {
    async fn roots(&self, ctx: &StepContext) -> Result<RootCertStore, StepError> {
        let mut roots = RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        // `""` (an input left empty) means the system's roots only.
        let file = self.ca_file.as_ref().map(|f| ctx.render(f)).transpose()?;
        if let Some(file) = file.filter(|f| !f.trim().is_empty()) {
            let bytes = tokio::fs::read(&file)
                .await
                .map_err(|e| StepError::failed(format!("`ca_file` {file}: {e}")))?;
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(&bytes).flatten() {
                roots
                    .add(cert)
                    .map_err(|e| StepError::failed(format!("`ca_file` {file}: {e}")))?;
                added += 1;
            }
            if added == 0 {
                return Err(StepError::failed(format!(
                    "`ca_file` {file} holds no PEM certificate"
                )));
            }
        }
        Ok(roots)
    }

    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let host = ctx.render(&self.host)?;
        let port = match &self.port {
            Some(p) => ctx.resolve(p)?,
            None => 443,
        };
        let name = match &self.server_name {
            Some(n) => ctx.render(n)?,
            None => host.clone(),
        };
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| StepError::failed(format!("`{name}` is not a server name for SNI")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(self.roots(ctx).await?),
            provider.clone(),
        )
        .build()
        .map_err(|e| StepError::failed(format!("no trusted roots to verify with: {e}")))?;
        let recorder = Arc::new(Recorder {
            inner,
            seen: Mutex::new(None),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StepError::failed(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        let at = format!("{host}:{port}");
        let wait = ctx.deadline().map_or(StdDuration::from_secs(10), |d| {
            d.saturating_duration_since(tokio::time::Instant::now())
        });
        let handshake = async {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(server_name, tcp)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))
        };
        match tokio::time::timeout(wait, handshake).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(StepError::failed(format!("{at}: {e}"))),
            Err(_) => {
                return Err(StepError::failed(format!(
                    "{at}: no TLS handshake within {}",
                    Duration(wait)
                )));
            }
        }
        let Some((chain, verdict)) = recorder
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return Err(StepError::failed(format!("{at} presented no certificate")));
        };
        let leaf = chain
            .first()
            .ok_or_else(|| StepError::failed(format!("{at} presented no certificate")))?;
        let facts = Facts::read(leaf).map_err(|e| StepError::failed(format!("{at}: {e}")))?;
        let what = if name == host {
            at.clone()
        } else {
            format!("{at} (SNI {name})")
        };
        if self.verify
            && let Err(why) = &verdict
        {
            return Err(StepError::failed(format!(
                "certificate of {what} does not verify: {why} (issuer {}; set `ca_file` for a private CA)",
                facts.issuer
            )));
        }
        let expect = CertExpect {
            min_days: &self.min_days,
            names: &self.names,
        };
        facts.check(ctx, &expect, &what)?;
        let mut out = facts.outputs();
        out.insert("chain_verified".into(), verdict.is_ok().into());
        out.insert("chain_error".into(), verdict.err().into());
        out.insert("chain_length".into(), chain.len().into());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wildcards_cover_one_label_as_browsers_match_them() {
        assert!(covers("*.example.com", "shop.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(covers("Example.com", "example.COM"));
    }
}
