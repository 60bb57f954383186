//! The docker family on the real engine: containers from the local test images, labelled as a
//! compose project per test and removed afterwards (`Stack`).

use crate::support::{Sandbox, Stack, code, docker, events, stderr};
use std::time::{Duration, Instant};

fn started_at(state: &str) -> String {
    state
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_string()
}

fn id(state: &str) -> String {
    state
        .split_whitespace()
        .nth(3)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn stop_then_a_failure_rolls_back_to_running_and_healthy() {
    let stack = Stack::new("stop");
    let api = stack.add("api", 1, "runbook-fixture:1", true);
    let web = stack.add("web", 1, "runbook-fixture:1", false);
    stack.wait_healthy(&[&api]);
    let sandbox = Sandbox::new();
    sandbox.write(
        "stop.yml",
        &r#"
version: 1
name: stop
steps:
  - id: stop-apps
    docker.stop: { project: PROJECT, services: [api, web], grace: 2s }
    rollback:
      - docker.start: { project: PROJECT, services: [api, web] }
      - docker.wait: { project: PROJECT, services: [api], until: healthy }
        timeout: 60s
  - id: stopped
    needs: [stop-apps]
    docker.assert: { project: PROJECT, services: [api, web], state: exited }
  - id: restore
    needs: [stopped]
    shell.run: { script: "echo restore failed >&2; exit 1" }
"#
        .replace("PROJECT", &stack.project),
    );
    let output = sandbox.run(&["run", "stop.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let stopped = &events(&journal, "step_succeeded")[0]["outputs"]["stopped"];
    assert_eq!(*stopped, serde_json::json!([api, web]));
    assert_eq!(journal.last().unwrap()["status"], "rolled_back");
    assert!(
        stack.state(&api).starts_with("running healthy"),
        "{}",
        stack.state(&api)
    );
    assert!(
        stack.state(&web).starts_with("running none"),
        "{}",
        stack.state(&web)
    );
}

/// A `docker.start` of containers already running changed nothing (`changed: false`): the
/// end summary does not list it as "changed without a rollback".
#[test]
fn a_step_that_changed_nothing_is_not_called_a_change_without_rollback() {
    let stack = Stack::new("unchanged");
    let web = stack.add("web", 1, "runbook-fixture:1", false);
    let sandbox = Sandbox::new();
    sandbox.write(
        "start.yml",
        &r#"
version: 1
name: start
steps:
  - id: start-web
    docker.start: { project: PROJECT, services: [web] }
  - id: touch
    needs: [start-web]
    shell.run: { script: "true" }
  - id: fail
    needs: [touch]
    shell.run: { script: "exit 1" }
"#
        .replace("PROJECT", &stack.project),
    );
    let output = sandbox.run(&["run", "start.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let started = &events(&journal, "step_succeeded")[0]["outputs"];
    assert_eq!(started["started"], serde_json::json!([]));
    assert_eq!(started["changed"], false);
    let error = journal.last().unwrap()["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        error, "step `fail` failed; changed without a rollback: touch",
        "{web}"
    );
}

#[test]
fn wait_times_out_on_a_container_that_never_becomes_healthy() {
    let stack = Stack::new("wait");
    let broken = stack.add("api", 1, "runbook-fixture:broken", true);
    let plain = stack.add("worker", 1, "runbook-fixture:1", false);
    let sandbox = Sandbox::new();
    sandbox.write(
        "wait.yml",
        &r#"
version: 1
name: wait
steps:
  - id: no-healthcheck
    continue_on_error: true
    docker.wait: { project: PROJECT, services: [worker], until: healthy }
  - id: running-is-enough
    docker.wait: { project: PROJECT, services: [worker], until: healthy, without_healthcheck: running }
  - id: healthy
    needs: [running-is-enough]
    timeout: 3s
    docker.wait: { project: PROJECT, services: [api], until: healthy, interval: 200ms }
"#
        .replace("PROJECT", &stack.project),
    );
    let output = sandbox.run(&["run", "wait.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let failed = events(&journal, "step_failed");
    assert_eq!(
        failed[0]["error"],
        format!(
            "{plain} has no healthcheck, so it never reports healthy; wait `until: running`, or set `without_healthcheck: running`"
        )
    );
    let error = failed[1]["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("still waiting for {broken} (running, ")),
        "{error}"
    );
}

#[test]
fn recreate_to_a_broken_image_puts_the_old_container_back_and_a_good_one_replaces_it() {
    let stack = Stack::new("recreate");
    let api = stack.add("api", 1, "runbook-fixture:1", true);
    stack.wait_healthy(&[&api]);
    let before = stack.state(&api);
    let sandbox = Sandbox::new();
    let playbook = |image: &str| {
        format!(
            r#"
version: 1
name: deploy
steps:
  - id: deploy
    timeout: 60s
    docker.recreate: {{ project: {}, services: [api], image: "{image}", env: {{ VERSION: "{image}" }}, healthy_within: 4s }}
"#,
            stack.project
        )
    };
    sandbox.write("broken.yml", &playbook("runbook-fixture:broken"));
    let output = sandbox.run(&["run", "broken.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let error = events(&sandbox.last_journal(), "step_failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("did not become healthy") && error.contains("the old container is back"),
        "{error}"
    );
    // The same container (same id and image), serving again.
    let after = stack.state(&api);
    assert_eq!(id(&after), id(&before));
    assert!(
        after.starts_with("running healthy") && after.ends_with("runbook-fixture:1"),
        "{after}"
    );
    docker(&["exec", &api, "/fixture-service", "probe"]);
    assert_eq!(
        docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", stack.project),
            "-q"
        ])
        .lines()
        .count(),
        1
    );

    sandbox.write("good.yml", &playbook("runbook-fixture:2"));
    let output = sandbox.run(&["run", "good.yml"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let now = stack.state(&api);
    assert_ne!(id(&now), id(&before));
    assert!(
        now.starts_with("running healthy") && now.ends_with("runbook-fixture:2"),
        "{now}"
    );
    let outputs = events(&sandbox.last_journal(), "step_succeeded")[0]["outputs"].clone();
    assert_eq!(outputs["old_image"], "runbook-fixture:1");
    assert_eq!(outputs["new_image"], "runbook-fixture:2");
    assert_eq!(
        docker(&["exec", &api, "sh", "-c", "echo $VERSION"]),
        "runbook-fixture:2"
    );
}

fn replicas(stack: &Stack) -> Vec<String> {
    (1..=3)
        .map(|n| stack.add("api", n, "runbook-fixture:1", true))
        .collect()
}

fn rolling_playbook(stack: &Stack) -> String {
    format!(
        r#"
version: 1
name: rolling
steps:
  - id: roll
    timeout: 120s
    docker.rolling_restart: {{ project: {}, services: [api], healthy_within: 20s, soak: 300ms }}
"#,
        stack.project
    )
}

#[test]
fn rolling_restart_never_has_more_than_one_replica_down() {
    let stack = Stack::new("rolling");
    let names = replicas(&stack);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    stack.wait_healthy(&refs);
    let before: Vec<String> = names.iter().map(|n| started_at(&stack.state(n))).collect();
    let sandbox = Sandbox::new();
    sandbox.write("roll.yml", &rolling_playbook(&stack));
    let mut child = sandbox.spawn(&["run", "roll.yml"]);
    let mut most_down = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("poll").is_none() {
        let down = names
            .iter()
            .filter(|n| !stack.state(n).starts_with("running healthy"))
            .count();
        most_down = most_down.max(down);
        assert!(Instant::now() < deadline, "rolling restart never ended");
        std::thread::sleep(Duration::from_millis(30));
    }
    let output = child.wait_with_output().expect("ends");
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        most_down, 1,
        "polling saw {most_down} replicas down at once"
    );
    for (name, old) in names.iter().zip(&before) {
        assert_ne!(
            started_at(&stack.state(name)),
            *old,
            "{name} was not restarted"
        );
    }
    let outputs = events(&sandbox.last_journal(), "step_succeeded")[0]["outputs"].clone();
    assert_eq!(outputs["batches"], 3);
}

#[test]
fn rolling_restart_stops_at_the_first_replica_that_does_not_come_back() {
    let stack = Stack::new("rollstop");
    let names = replicas(&stack);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    stack.wait_healthy(&refs);
    // Replica 2 will come back unhealthy: the flag file survives a restart.
    docker(&["exec", &names[1], "touch", "/tmp/unhealthy"]);
    let third_before = started_at(&stack.state(&names[2]));
    let sandbox = Sandbox::new();
    sandbox.write(
        "roll.yml",
        &rolling_playbook(&stack).replace("healthy_within: 20s", "healthy_within: 3s"),
    );
    let output = sandbox.run(&["run", "roll.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let error = events(&sandbox.last_journal(), "step_failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.starts_with("batch 2 of 3 did not come back healthy within 3s")
            && error.ends_with(&format!(
                "stopped there, {} (running, healthy) left as they were",
                names[2]
            )),
        "{error}"
    );
    assert_eq!(started_at(&stack.state(&names[2])), third_before);
}

#[test]
fn check_mode_on_a_live_stack_changes_nothing_and_says_what_would_happen() {
    let stack = Stack::new("check");
    let api = stack.add("api", 1, "runbook-fixture:1", true);
    let web = stack.add("web", 1, "runbook-fixture:1", false);
    stack.wait_healthy(&[&api]);
    let before = (stack.state(&api), stack.state(&web));
    let sandbox = Sandbox::new();
    sandbox.write(
        "all.yml",
        &r#"
version: 1
name: all
steps:
  - id: look
    docker.inspect: { project: PROJECT }
  - id: stop
    needs: [look]
    docker.stop: { project: PROJECT, services: [web] }
  - id: restart
    needs: [stop]
    docker.restart: { project: PROJECT, services: [api] }
  - id: deploy
    needs: [restart]
    docker.recreate: { project: PROJECT, services: [api], image: "runbook-fixture:2" }
  - id: roll
    needs: [deploy]
    docker.rolling_restart: { project: PROJECT, services: [api, web] }
  - id: kill
    needs: [roll]
    docker.kill: { project: PROJECT, services: [web] }
  - id: remove
    needs: [kill]
    docker.remove: { project: PROJECT, services: [web], force: true }
  - id: flip
    needs: [remove]
    docker.exec: { project: PROJECT, services: [api], command: [touch, /tmp/unhealthy] }
  - id: start
    needs: [flip]
    docker.start: { project: PROJECT, services: [web] }
"#
        .replace("PROJECT", &stack.project),
    );
    let output = sandbox.run(&["run", "all.yml", "--dry-run"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!((stack.state(&api), stack.state(&web)), before);
    let journal = sandbox.last_journal();
    let previews: Vec<String> = events(&journal, "step_previewed")
        .iter()
        .map(|e| e["preview"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        previews,
        [
            format!("would stop {web} (running)"),
            format!("would restart {api} (running, healthy)"),
            format!(
                "would recreate {api} (running, healthy) with image runbook-fixture:2 (the old containers are kept until the new ones are healthy)"
            ),
            format!(
                "would restart in 2 batch(es), each healthy before the next: {api} (running, healthy) | {web} (running)"
            ),
            // Previews start from what the previews before them would have done: `stop`
            // left web exited.
            format!("would send SIGKILL to nothing; {web} (exited, as previewed) not running"),
            format!("would remove {web} (running)"),
            format!("would run `touch /tmp/unhealthy` in {api} (running, healthy)"),
            format!("would start {web} (exited, as previewed)"),
        ]
    );
    let look = &events(&journal, "step_succeeded")[0]["outputs"];
    assert_eq!(look["count"], 2);
    assert_eq!(look["healthy"], 1);
}

#[test]
fn exec_logs_kill_remove_and_volume_backup_restore() {
    let stack = Stack::new("verbs");
    let api = stack.add("api", 1, "runbook-fixture:1", true);
    let worker = stack.add("worker", 1, "runbook-fixture:1", false);
    stack.wait_healthy(&[&api]);
    docker(&["volume", "create", &stack.project]);
    docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/data", stack.project),
        "runbook-fixture:1",
        "sh",
        "-c",
        "echo precious > /data/file.txt",
    ]);
    let sandbox = Sandbox::new();
    sandbox.write(
        "verbs.yml",
        &r#"
version: 1
name: verbs
steps:
  - id: ping
    docker.exec:
      project: PROJECT
      services: [api]
      command: [sh, -c, "echo pong; echo $GREETING >&2"]
      env: { GREETING: hello }
      expect: { stdout: "^pong" }
      read_only: true
  - id: logs
    needs: [ping]
    docker.logs: { project: PROJECT, services: [api], tail: 50, match: "GET /health", absent: "(?i)panic" }
  - id: backup
    needs: [logs]
    docker.volume_backup: { volume: PROJECT, to: "{dir}/vol.tar", helper_image: "runbook-fixture:1" }
  - id: wipe
    needs: [backup]
    shell.run: { argv: [docker, run, --rm, -v, "PROJECT:/data", "runbook-fixture:1", sh, -c, "echo garbage > /data/file.txt; touch /data/extra"] }
  - id: restore
    needs: [wipe]
    docker.volume_restore: { volume: PROJECT, from: "{dir}/vol.tar", helper_image: "runbook-fixture:1", clean: true }
  - id: bounce
    needs: [restore]
    docker.restart: { project: PROJECT, services: [worker], grace: 1s }
  - id: kill
    needs: [bounce]
    docker.kill: { project: PROJECT, services: [worker] }
  - id: gone
    needs: [kill]
    docker.remove: { project: PROJECT, services: [worker] }
  - id: healthy
    needs: [gone]
    docker.assert: { project: PROJECT, services: [api], state: running, health: healthy, max_restarts: 0, image: "runbook-fixture:1" }
  - id: nothing-left
    needs: [healthy]
    docker.inspect: { project: PROJECT, services: [worker], allow_empty: true }
"#
        .replace("PROJECT", &stack.project),
    );
    let output = sandbox.run(&["run", "verbs.yml"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let out = |step: &str| {
        events(&journal, "step_succeeded")
            .into_iter()
            .find(|e| e["step"] == step)
            .unwrap_or_else(|| panic!("{step} did not succeed"))["outputs"]
            .clone()
    };
    assert_eq!(out("ping")["stdout"], "pong\n");
    assert_eq!(out("ping")["stderr"], "hello\n");
    assert!(
        out("logs")["matches"][0]
            .as_str()
            .unwrap()
            .contains("GET /health")
    );
    assert!(out("backup")["size"].as_u64().unwrap() > 0);
    assert_eq!(out("bounce")["restarted"], serde_json::json!([worker]));
    assert_eq!(out("kill")["killed"], serde_json::json!([worker]));
    assert_eq!(out("gone")["removed"], serde_json::json!([worker]));
    assert_eq!(out("nothing-left")["count"], 0);
    let restored = docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/data", stack.project),
        "runbook-fixture:1",
        "sh",
        "-c",
        "cat /data/file.txt; ls /data",
    ]);
    assert_eq!(restored, "precious\nfile.txt");

    // An unreachable engine is one clear line.
    sandbox.write(
        "nowhere.yml",
        "version: 1\nname: nowhere\nsteps:\n  - id: s\n    docker.inspect: { project: x, engine: \"tcp://127.0.0.1:9\" }\n",
    );
    let nowhere = sandbox.run(&["run", "nowhere.yml"]);
    assert_eq!(code(&nowhere), 1);
    let error = events(&sandbox.last_journal(), "step_failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.starts_with("cannot reach the Docker engine at `tcp://127.0.0.1:9`: "),
        "{error}"
    );

    // An empty selection is an error unless allowed.
    sandbox.write(
        "none.yml",
        &format!("version: 1\nname: none\nsteps:\n  - id: s\n    docker.stop: {{ project: {}, services: [ghost] }}\n", stack.project),
    );
    let none = sandbox.run(&["run", "none.yml"]);
    assert_eq!(code(&none), 1);
    assert!(
        events(&sandbox.last_journal(), "step_failed")[0]["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "no container matches project `{}`, services ghost",
                stack.project
            ))
    );
}

#[test]
fn a_rolling_restart_can_also_be_written_with_for_each_and_serial() {
    let stack = Stack::new("serial");
    let names: Vec<String> = (1..=2)
        .map(|n| stack.add("api", n, "runbook-fixture:1", true))
        .collect();
    stack.wait_healthy(&[&names[0], &names[1]]);
    let before: Vec<String> = names.iter().map(|n| id(&stack.state(n))).collect();
    let sandbox = Sandbox::new();
    sandbox.write(
        "serial.yml",
        &format!(
            r#"
version: 1
name: serial
steps:
  - id: roll
    for_each: [{a}, {b}]
    serial: true
    timeout: 60s
    docker.recreate: {{ containers: ["{{{{ item }}}}"], healthy_within: 20s }}
"#,
            a = names[0],
            b = names[1]
        ),
    );
    let output = sandbox.run(&["run", "serial.yml"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let order: Vec<String> = journal
        .iter()
        .filter(|e| e["event"] == "step_started" || e["event"] == "step_succeeded")
        .map(|e| {
            format!(
                "{} {}",
                e["event"].as_str().unwrap(),
                e["step"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            format!("step_started roll[{}]", names[0]),
            format!("step_succeeded roll[{}]", names[0]),
            format!("step_started roll[{}]", names[1]),
            format!("step_succeeded roll[{}]", names[1]),
        ]
    );
    for (name, old) in names.iter().zip(&before) {
        let now = stack.state(name);
        assert!(now.starts_with("running healthy"), "{now}");
        assert_ne!(id(&now), *old);
    }
}
