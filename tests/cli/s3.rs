//! The s3 family against a real S3 server: s3s-fs (crates.io, an implementation of the S3
//! API over a directory; `scripts/test-services.sh` builds it), one per test on a free
//! loopback port with its own keys. Its buckets are directories, so a test can age an object
//! the way a real backup ages.

use crate::support::{Sandbox, code, events, free_port, root, stderr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const ACCESS: &str = "runbook-test-access";
const SECRET: &str = "s3-secret-4b1d9e";

struct S3 {
    port: u16,
    data: PathBuf,
    child: Child,
}

impl S3 {
    fn start(sandbox: &Sandbox) -> Self {
        let data = sandbox.path().join("s3");
        for bucket in ["backups", "offsite"] {
            std::fs::create_dir_all(data.join(bucket)).unwrap();
        }
        let port = free_port();
        let mut child = Command::new(root().join("target/tools/bin/s3s-fs"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS, "--secret-key", SECRET])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts (scripts/test-services.sh builds it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { port, data, child };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("s3s-fs never listened on {port}");
    }

    fn playbook(&self, text: &str) -> String {
        text.replace(
            "CONN",
            &format!(
                "endpoint: \"http://127.0.0.1:{}\", access_key: \"{{{{ secrets.access }}}}\", secret_key: \"{{{{ secrets.secret }}}}\"",
                self.port
            ),
        )
    }

    /// Makes an object look `hours` old, as a backup made that long ago.
    fn age(&self, bucket: &str, key: &str, hours: u64) {
        let path = self.data.join(bucket).join(key);
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(hours * 3600);
        std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(then))
            .unwrap();
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HEAD: &str = r#"
version: 1
name: s3
secrets:
  access: { env: S3_ACCESS }
  secret: { env: S3_SECRET }
"#;

fn run(sandbox: &Sandbox, args: &[&str], secret: &str) -> std::process::Output {
    sandbox
        .command(args)
        .env("S3_ACCESS", ACCESS)
        .env("S3_SECRET", secret)
        .output()
        .unwrap()
}

fn modified(path: &Path) -> chrono::DateTime<chrono::Utc> {
    std::fs::metadata(path).unwrap().modified().unwrap().into()
}

#[test]
fn backups_go_off_site_and_come_back_with_their_own_age() {
    let sandbox = Sandbox::new();
    let s3 = S3::start(&sandbox);
    std::fs::write(sandbox.path().join("day1.sql.gz"), vec![1u8; 70_000]).unwrap();
    std::fs::write(sandbox.path().join("day2.sql.gz"), vec![2u8; 90_000]).unwrap();
    sandbox.write(
        "upload.yml",
        &s3.playbook(&format!(
            "{HEAD}steps:
  - id: bucket
    s3.bucket: {{ CONN, bucket: backups }}
  - id: day1
    needs: [bucket]
    s3.upload: {{ CONN, bucket: backups, file: day1.sql.gz, key: goodgo/day1.sql.gz }}
  - id: day2
    needs: [day1]
    s3.upload: {{ CONN, bucket: backups, file: day2.sql.gz, key: goodgo/day2.sql.gz }}
"
        )),
    );
    let output = run(&sandbox, &["run", "upload.yml"], SECRET);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        std::fs::read(s3.data.join("backups/goodgo/day2.sql.gz"))
            .unwrap()
            .len(),
        90_000
    );
    s3.age("backups", "goodgo/day1.sql.gz", 30);
    s3.age("backups", "goodgo/day2.sql.gz", 6);

    sandbox.write(
        "offsite.yml",
        &s3.playbook(&format!(
            "{HEAD}steps:
  - id: fresh
    s3.list: {{ CONN, bucket: backups, prefix: goodgo/, max_age: 25h, min_size: 1000, min_count: 2 }}
  - id: mirror
    needs: [fresh]
    s3.mirror: {{ CONN, bucket: backups, prefix: goodgo/, to_bucket: offsite, to_prefix: daily/ }}
  - id: local
    needs: [mirror]
    s3.mirror: {{ CONN, bucket: backups, prefix: goodgo/, to_dir: restore-dir }}
  - id: download
    needs: [local]
    s3.download: {{ CONN, bucket: backups, key: \"{{{{ steps.fresh.newest.key }}}}\", file: latest.sql.gz }}
  - id: too-old
    needs: [download]
    s3.list: {{ CONN, bucket: backups, prefix: goodgo/, max_age: 1h }}
"
        )),
    );
    let check = run(&sandbox, &["run", "offsite.yml", "--dry-run"], SECRET);
    assert!(
        stderr(&check).contains(&format!(
            "would copy 2 objects (160000 bytes) from s3://backups at http://127.0.0.1:{port} to s3://offsite at http://127.0.0.1:{port} under `daily/`, skip 0 already there",
            port = s3.port
        )),
        "{}",
        stderr(&check)
    );
    let output = run(&sandbox, &["run", "offsite.yml"], SECRET);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let out = |id: &str| {
        events(&journal, "step_succeeded")
            .into_iter()
            .find(|e| e["step"] == id)
            .map(|e| e["outputs"].clone())
            .unwrap_or_else(|| panic!("{id} did not succeed"))
    };
    let fresh = out("fresh");
    assert_eq!(fresh["count"], 2);
    assert_eq!(fresh["total_bytes"], 160_000);
    assert_eq!(fresh["newest"]["key"], "goodgo/day2.sql.gz");
    assert_eq!(out("mirror")["copied"], 2);
    assert_eq!(out("local")["copied"], 2);
    assert_eq!(
        std::fs::read(sandbox.path().join("restore-dir/day1.sql.gz")).unwrap(),
        vec![1u8; 70_000]
    );
    // A copy in a directory keeps the object's time (30 hours ago), as a download does.
    let copy_age = chrono::Utc::now() - modified(&sandbox.path().join("restore-dir/day1.sql.gz"));
    assert!(copy_age.num_hours() >= 29, "{copy_age}");
    // The downloaded backup is as old as the object (about 6 hours), not as the download.
    let download = out("download");
    let age = download["age"].as_i64().unwrap();
    assert!((6 * 3600 - 60..6 * 3600 + 600).contains(&age), "{download}");
    let file_age = chrono::Utc::now() - modified(&sandbox.path().join("latest.sql.gz"));
    assert!(file_age.num_minutes() >= 6 * 60 - 1, "{file_age}");
    let failed = events(&journal, "step_failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        failed.contains("the newest object, goodgo/day2.sql.gz, is 6h"),
        "{failed}"
    );

    // A second mirror finds everything there.
    sandbox.write(
        "again.yml",
        &s3.playbook(&format!(
            "{HEAD}steps:
  - id: mirror
    s3.mirror: {{ CONN, bucket: backups, prefix: goodgo/, to_bucket: offsite, to_prefix: daily/ }}
"
        )),
    );
    let again = run(&sandbox, &["run", "again.yml"], SECRET);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let mirrored = events(&sandbox.last_journal(), "step_succeeded")[0]["outputs"].clone();
    assert_eq!(
        (mirrored["copied"].clone(), mirrored["skipped"].clone()),
        (0.into(), 2.into())
    );
}

#[test]
fn an_upload_is_deleted_by_its_rollback_and_a_wrong_key_never_shows() {
    let sandbox = Sandbox::new();
    let s3 = S3::start(&sandbox);
    std::fs::write(sandbox.path().join("dump.sql.gz"), b"backup").unwrap();
    sandbox.write(
        "push.yml",
        &s3.playbook(&format!(
            "{HEAD}steps:
  - id: push
    s3.upload: {{ CONN, bucket: backups, file: dump.sql.gz, key: nightly/dump.sql.gz }}
    rollback:
      s3.delete: {{ CONN, bucket: backups, key: \"{{{{ steps.push.key }}}}\" }}
  - id: verify
    needs: [push]
    s3.list: {{ CONN, bucket: backups, prefix: nightly/, min_count: 1 }}
  - id: announce
    needs: [verify]
    assert.that: {{ that: \"true\" }}
"
        )),
    );
    let plan = crate::support::stdout(&run(&sandbox, &["plan", "push.yml"], SECRET));
    assert!(plan.contains("rollback: s3.delete"), "{plan}");
    let output = run(
        &sandbox,
        &["run", "push.yml", "--fail-at", "announce"],
        SECRET,
    );
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_eq!(
        sandbox.last_journal().last().unwrap()["status"],
        "rolled_back"
    );
    assert!(!s3.data.join("backups/nightly/dump.sql.gz").exists());

    let wrong = "not-the-s3-secret-77";
    let output = run(&sandbox, &["run", "push.yml"], wrong);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains(&format!("s3://backups at http://127.0.0.1:{}", s3.port))
            && said.contains("access refused"),
        "{said}"
    );
    let journal = std::fs::read_to_string(sandbox.last_run_dir().join("journal.jsonl")).unwrap();
    assert!(!said.contains(wrong) && !journal.contains(wrong) && !journal.contains(SECRET));
}
