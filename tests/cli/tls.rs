//! The tls family against a real TLS server (Debian's `openssl s_server`) serving
//! certificates this test makes with rcgen: one expiring soon (signed by a test CA), one
//! expired (served for another SNI name), one self-signed.

use crate::support::{Sandbox, code, events, free_port, stderr};
use chrono::Datelike;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Writes `<name>.pem` and `<name>.key` into `dir`.
fn write(dir: &Path, name: &str, cert: &rcgen::Certificate, key: &KeyPair) {
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

/// A CA, and leaf certificates for `soon.test` (5 days left), `expired.test` (ended 10 days
/// ago), and a self-signed `self.test`.
fn certificates(dir: &Path) {
    // rcgen takes dates from the `time` crate, which it does not re-export: a closure's
    // return type needs no name.
    let ymd = |days_from_now: i64| {
        let day = chrono::Utc::now() + chrono::Duration::days(days_from_now);
        date_time_ymd(day.year(), day.month() as u8, day.day() as u8)
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "runbook test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    for (name, from, to) in [("soon", -30, 5), ("expired", -40, -10)] {
        let mut leaf = CertificateParams::new(vec![format!("{name}.test")]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, format!("{name}.test"));
        leaf.not_before = ymd(from);
        leaf.not_after = ymd(to);
        let key = KeyPair::generate().unwrap();
        write(dir, name, &leaf.signed_by(&key, &issuer).unwrap(), &key);
    }
    let mut own = CertificateParams::new(vec!["self.test".to_string()]).unwrap();
    own.distinguished_name.push(DnType::CommonName, "self.test");
    own.not_after = ymd(300);
    let key = KeyPair::generate().unwrap();
    write(dir, "self", &own.self_signed(&key).unwrap(), &key);
}

/// `openssl s_server`: `soon` by default, `expired` for SNI `expired.test`.
struct Server {
    port: u16,
    child: Child,
}

impl Server {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let file = |name: &str| dir.join(name).to_str().unwrap().to_string();
        let mut child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-cert", &file("soon.pem"), "-key", &file("soon.key")])
            .args(["-servername", "expired.test"])
            .args([
                "-cert2",
                &file("expired.pem"),
                "-key2",
                &file("expired.key"),
            ])
            // s_server reads commands from stdin: keep it open (and quiet) while it serves.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { port, child };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("openssl s_server never listened on {port}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn served_certificates_are_read_with_sni_and_judged_on_expiry_names_and_chain() {
    let sandbox = Sandbox::new();
    certificates(sandbox.path());
    let server = Server::start(sandbox.path());
    sandbox.write(
        "tls.yml",
        &r#"
version: 1
name: tls
steps:
  - id: soon
    tls.certificate: { host: 127.0.0.1, port: PORT, server_name: soon.test, ca_file: DIR/ca.pem, min_days: 3, names: [soon.test] }
  - id: expired-report
    tls.certificate: { host: 127.0.0.1, port: PORT, server_name: expired.test, verify: false }
  - id: self
    tls.file: { path: DIR/self.pem, min_days: 30, names: [self.test] }
  - id: untrusted
    tls.certificate: { host: 127.0.0.1, port: PORT, server_name: soon.test }
    continue_on_error: true
  - id: expired
    tls.certificate: { host: 127.0.0.1, port: PORT, server_name: expired.test, ca_file: DIR/ca.pem }
    continue_on_error: true
  - id: wrong-name
    tls.certificate: { host: 127.0.0.1, port: PORT, server_name: soon.test, ca_file: DIR/ca.pem, names: [shop.test] }
    continue_on_error: true
  - id: renew-window
    needs: [soon, expired-report, self, untrusted, expired, wrong-name]
    tls.certificate: { host: 127.0.0.1, port: PORT, server_name: soon.test, ca_file: DIR/ca.pem, min_days: 30 }
"#
        .replace("PORT", &server.port.to_string())
        .replace("DIR", sandbox.path().to_str().unwrap()),
    );
    let output = sandbox.run(&["run", "tls.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let outputs = |id: &str| {
        events(&journal, "step_succeeded")
            .into_iter()
            .find(|e| e["step"] == id)
            .map(|e| e["outputs"].clone())
            .unwrap_or_else(|| panic!("{id} did not succeed"))
    };
    let error = |id: &str| {
        events(&journal, "step_failed")
            .into_iter()
            .find(|e| e["step"] == id)
            .and_then(|e| e["error"].as_str().map(String::from))
            .unwrap_or_else(|| panic!("{id} did not fail"))
    };
    let soon = outputs("soon");
    assert!(matches!(soon["days_left"].as_i64(), Some(4 | 5)), "{soon}");
    assert_eq!(soon["chain_verified"], true);
    assert_eq!(soon["names"], serde_json::json!(["soon.test"]));
    assert!(soon["issuer"].as_str().unwrap().contains("runbook test CA"));

    // The SNI name picked the other certificate; described even though it does not verify.
    let expired = outputs("expired-report");
    assert!(expired["days_left"].as_i64().unwrap() <= -10, "{expired}");
    assert_eq!(expired["chain_verified"], false);
    assert!(
        expired["chain_error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("expired"),
        "{expired}"
    );

    assert_eq!(outputs("self")["self_signed"], true);

    assert!(
        error("untrusted").contains("does not verify"),
        "{}",
        error("untrusted")
    );
    assert!(error("untrusted").contains("set `ca_file`"));
    assert!(
        error("expired").contains("does not verify"),
        "{}",
        error("expired")
    );
    assert!(
        error("wrong-name").contains("does not cover `shop.test`"),
        "{}",
        error("wrong-name")
    );
    let window = error("renew-window");
    assert!(
        window.starts_with(&format!(
            "certificate of 127.0.0.1:{} (SNI soon.test): expires in",
            server.port
        )) && window.contains("at least 30 wanted"),
        "{window}"
    );
}
