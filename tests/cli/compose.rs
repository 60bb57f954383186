//! The compose family against the real Compose tool (Debian's docker-compose) and engine:
//! a project per test from the local test images, removed afterwards (`Stack`).

use crate::support::{Sandbox, Stack, code, docker, events, stderr};

const APP: &str = r#"
version: "3.8"
services:
  api:
    image: runbook-fixture:${TAG:-1}
    init: true
    environment: { GREETING: "${GREETING:-hello}" }
    healthcheck: { test: ["CMD", "/fixture-service", "probe"], interval: 300ms, retries: 3 }
  worker:
    image: runbook-fixture:1
    init: true
"#;

/// A sandbox with the compose file, the project already up at release 1.
fn project_up(name: &str) -> (Stack, Sandbox) {
    let stack = Stack::new(name);
    let sandbox = Sandbox::new();
    sandbox.write("app.yml", APP);
    sandbox.write(
        "up.yml",
        &r#"
version: 1
name: up
steps:
  - id: up
    compose.up: { project: PROJECT, files: [app.yml] }
"#
        .replace("PROJECT", &stack.project),
    );
    let output = sandbox.run(&["run", "up.yml"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    (stack, sandbox)
}

fn container(stack: &Stack, service: &str) -> String {
    format!("{}_{service}_1", stack.project)
}

fn kept_copies(stack: &Stack) -> String {
    docker(&[
        "container",
        "ls",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label=runbook.previous-project={}", stack.project),
    ])
}

fn deploy(stack: &Stack, tag: &str) -> String {
    r#"
version: 1
name: deploy
secrets:
  greeting: { env: GREETING_SECRET }
steps:
  - id: deploy
    compose.up:
      project: PROJECT
      files: [app.yml]
      env: { TAG: "RELEASE", GREETING: "{{ secrets.greeting }}" }
      healthy_within: 20s
    rollback:
      compose.restore:
        project: PROJECT
        files: [app.yml]
        previous: "{{ steps.deploy.previous }}"
        created: "{{ steps.deploy.created }}"
  - id: healthy
    needs: [deploy]
    compose.ps: { project: PROJECT, files: [app.yml], env: { TAG: "RELEASE" }, expect_healthy: true }
  - id: smoke
    needs: [healthy]
    assert.that: { that: "true" }
"#
    .replace("PROJECT", &stack.project)
    .replace("RELEASE", tag)
}

#[test]
fn a_failure_after_up_puts_back_the_previous_containers_and_leaves_the_rest() {
    let (stack, sandbox) = project_up("cup");
    let api = container(&stack, "api");
    let worker = container(&stack, "worker");
    stack.wait_healthy(&[&api]);
    let worker_before = stack.state(&worker);
    sandbox.write("deploy.yml", &deploy(&stack, "2"));

    // The check says what would change, from the files and the live containers.
    let check = sandbox
        .command(&["run", "deploy.yml", "--dry-run"])
        .env("GREETING_SECRET", "s3cr3t-greeting")
        .output()
        .unwrap();
    let said = stderr(&check);
    assert!(
        said.contains("would recreate (config or image changed) api")
            && said.contains("leave worker as they are"),
        "{said}"
    );

    let output = sandbox
        .command(&["run", "deploy.yml", "--fail-at", "smoke"])
        .env("GREETING_SECRET", "s3cr3t-greeting")
        .output()
        .unwrap();
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let up = &events(&journal, "step_succeeded")[0]["outputs"];
    assert_eq!(up["recreated"], serde_json::json!(["api"]), "{up}");
    assert_eq!(up["unchanged"], serde_json::json!(["worker"]), "{up}");
    assert_eq!(
        up["previous"],
        serde_json::json!([format!("{api}-previous")])
    );
    assert_eq!(journal.last().unwrap()["status"], "rolled_back");

    // api is release 1 again, with the config it had; worker was never touched.
    stack.wait_healthy(&[&api]);
    let api_after = stack.state(&api);
    assert!(api_after.ends_with("runbook-fixture:1"), "{api_after}");
    let env = docker(&["inspect", "--format", "{{json .Config.Env}}", &api]);
    assert!(
        env.contains("GREETING=hello") && !env.contains("s3cr3t"),
        "{env}"
    );
    assert_eq!(stack.state(&worker), worker_before);
    assert_eq!(kept_copies(&stack), "", "the copy put back is gone");
    // The secret interpolated into the new container never reached the journal.
    let text = std::fs::read_to_string(sandbox.last_run_dir().join("journal.jsonl")).unwrap();
    assert!(!text.contains("s3cr3t-greeting"));

    // And the tool agrees the project is as its files say again.
    let again = sandbox.run(&["run", "up.yml"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let up = &events(&sandbox.last_journal(), "step_succeeded")[0]["outputs"].clone();
    assert_eq!(up["recreated"], serde_json::json!([]), "{up}");
}

#[test]
fn a_release_that_never_becomes_healthy_is_undone_by_the_step_itself() {
    let (stack, sandbox) = project_up("cbroken");
    let api = container(&stack, "api");
    stack.wait_healthy(&[&api]);
    sandbox.write(
        "deploy.yml",
        &deploy(&stack, "broken").replace("healthy_within: 20s", "healthy_within: 3s"),
    );
    let output = sandbox
        .command(&["run", "deploy.yml"])
        .env("GREETING_SECRET", "x")
        .output()
        .unwrap();
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let failed = events(&sandbox.last_journal(), "step_failed")[0]["error"].clone();
    let message = failed.as_str().unwrap_or_default();
    assert!(
        message.contains("still waiting for") && message.contains("back as it was"),
        "{failed}"
    );
    stack.wait_healthy(&[&api]);
    assert!(stack.state(&api).ends_with("runbook-fixture:1"));
    assert_eq!(kept_copies(&stack), "");
}

#[test]
fn down_previews_what_goes_and_removes_the_project() {
    let (stack, sandbox) = project_up("cdown");
    sandbox.write(
        "down.yml",
        &r#"
version: 1
name: down
steps:
  - id: down
    compose.down: { project: PROJECT, files: [app.yml], volumes: true, grace: 2s }
"#
        .replace("PROJECT", &stack.project),
    );
    let check = sandbox.run(&["run", "down.yml", "--dry-run"]);
    let said = stderr(&check);
    assert!(
        said.contains(&format!(
            "would stop and remove {}_api_1 (running",
            stack.project
        )) && said.contains(&format!("networks {}_default", stack.project)),
        "{said}"
    );
    let output = sandbox.run(&["run", "down.yml"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stack.state(&container(&stack, "api")), "");
    assert_eq!(stack.state(&container(&stack, "worker")), "");
}

#[test]
fn ps_names_the_services_without_a_container() {
    let (stack, sandbox) = project_up("cps");
    docker(&["rm", "-f", &container(&stack, "worker")]);
    sandbox.write(
        "ps.yml",
        &r#"
version: 1
name: ps
steps:
  - id: ps
    compose.ps: { project: PROJECT, files: [app.yml], expect_healthy: true }
    retry: { attempts: 20, delay: 300ms }
"#
        .replace("PROJECT", &stack.project),
    );
    let output = sandbox.run(&["run", "ps.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let failed = events(&journal, "step_failed");
    let message = failed.last().unwrap()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("no container for worker"), "{message}");
}

#[test]
fn build_makes_the_image_from_a_local_context_with_a_secret_build_arg() {
    let stack = Stack::new("cbuild");
    let sandbox = Sandbox::new();
    let image = format!("{}-built:1", stack.project);
    sandbox.write(
        "ctx/Dockerfile",
        "FROM runbook-fixture:1\nARG GREETING\nRUN echo \"$GREETING\" | wc -c > /greeting-length\n",
    );
    sandbox.write(
        "app.yml",
        &format!("version: \"3.8\"\nservices:\n  api:\n    build: ./ctx\n    image: {image}\n"),
    );
    sandbox.write(
        "build.yml",
        &r#"
version: 1
name: build
secrets:
  greeting: { env: GREETING_SECRET }
steps:
  - id: build
    compose.build:
      project: PROJECT
      files: [app.yml]
      build_args: { GREETING: "{{ secrets.greeting }}" }
"#
        .replace("PROJECT", &stack.project),
    );
    let check = sandbox
        .command(&["run", "build.yml", "--dry-run"])
        .env("GREETING_SECRET", "twelve-chars")
        .output()
        .unwrap();
    assert!(
        stderr(&check).contains(&format!(
            "would build api from {} as {image} (not on the host yet)",
            sandbox.path().join("ctx").display()
        )),
        "{}",
        stderr(&check)
    );
    let output = sandbox
        .command(&["run", "build.yml"])
        .env("GREETING_SECRET", "twelve-chars")
        .output()
        .unwrap();
    let _cleanup = ImageRemoved(image.clone());
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let built = events(&sandbox.last_journal(), "step_succeeded")[0]["outputs"].clone();
    assert!(
        built["images"]["api"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sha256:"),
        "{built}"
    );
    assert_eq!(built["previous_images"]["api"], serde_json::Value::Null);
    // The build arg reached the build (13 bytes with the newline) through the environment.
    let length = docker(&["run", "--rm", &image, "cat", "/greeting-length"]);
    assert_eq!(length.trim(), "13");
    let journal = std::fs::read_to_string(sandbox.last_run_dir().join("journal.jsonl")).unwrap();
    assert!(!journal.contains("twelve-chars"));
}

struct ImageRemoved(String);

impl Drop for ImageRemoved {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["image", "rm", "-f", &self.0])
            .output();
    }
}
