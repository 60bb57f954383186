//! The engine's modules form stages, each importing only stages below it, so the pipeline
//! reads bottom-up as the README draws it (load -> compile -> plan; execute on compile and
//! journal; report on journal). This reads every `crate::<module>` path in the sources
//! (comments left out) and fails on one that looks up.

/// Bottom first.
const STAGES: &[&str] = &[
    "source",
    "parallel",
    "params",
    "suggest",
    "diagnostic",
    "secrets",
    "template",
    "action",
    "load",
    "schema",
    "reference",
    "compile",
    "plan",
    "journal",
    "report",
    "execute",
];

/// Imports that still look up, with the issue that removes them (none left).
const KNOWN: &[(&str, &str)] = &[];

fn files(module: &str) -> Vec<std::path::PathBuf> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let single = src.join(format!("{module}.rs"));
    if single.exists() {
        return vec![single];
    }
    let mut found = Vec::new();
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("module directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn no_module_imports_a_later_stage() {
    let mut upward = Vec::new();
    for (rank, module) in STAGES.iter().enumerate() {
        for file in files(module) {
            let text = std::fs::read_to_string(&file).expect("source");
            for (number, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                for (at, _) in code.match_indices("crate::") {
                    let used: String = code[at + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    let Some(used_rank) = STAGES.iter().position(|s| *s == used) else {
                        continue;
                    };
                    if used_rank > rank && !KNOWN.contains(&(module, used.as_str())) {
                        upward.push(format!(
                            "{}:{}: `{module}` uses `{used}`",
                            file.display(),
                            number + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports of later stages:\n{}",
        upward.join("\n")
    );
}

/// Every module of the engine has a place in the order.
#[test]
fn every_module_is_a_stage() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(src).expect("src").flatten() {
        let name = entry
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if name == "lib" {
            continue;
        }
        assert!(
            STAGES.contains(&name.as_str()),
            "`{name}` has no stage in STAGES"
        );
    }
}
