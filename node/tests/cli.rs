//! `hotstuff run` with bad configuration files: the process must exit non-zero before it binds
//! anything, with one line naming the file and what is wrong in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const HOTSTUFF: &str = env!("CARGO_BIN_EXE_hotstuff");

/// Runs the binary to completion; a run that does not end within 20 s is killed and fails the
/// test (a bad configuration must stop the replica before it starts serving).
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(HOTSTUFF)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hotstuff binary starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("hotstuff {args:?} did not exit: {:?}", child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A fresh key file from `hotstuff keys`, and its public key (the command's output).
fn keys(dir: &Path, name: &str) -> (PathBuf, String) {
    let file = dir.join(name);
    let output = run(&["keys", "--filename", path(&file)]);
    assert!(output.status.success(), "{output:?}");
    let public = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert_eq!(public.len(), 64, "a public key in hex: {public:?}");
    (file, public)
}

/// Writes a committee file whose first member is `name`, then three more members.
fn committee(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> PathBuf {
    let mut nodes = vec![serde_json::json!({
        "name": name, "address": "127.0.0.1:1", "transactions": "127.0.0.1:2"
    })];
    for i in 1..4u16 {
        nodes.push(serde_json::json!({
            "name": hotstuff_core::KeyPair::from_seed(1, i).public().to_hex(),
            "address": format!("127.0.0.1:{}", 10 + i),
            "transactions": format!("127.0.0.1:{}", 20 + i),
        }));
    }
    edit(&mut nodes);
    let file = dir.join("committee.json");
    std::fs::write(&file, serde_json::json!({ "nodes": nodes }).to_string()).unwrap();
    file
}

/// `hotstuff run` fails; returns its stderr.
fn run_fails(keys: &Path, committee: &Path, store: &Path, extra: &[&str]) -> String {
    let mut args = vec!["run", "--keys", path(keys), "--committee", path(committee), "--store", path(store)];
    args.extend_from_slice(extra);
    let output = run(&args);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success(), "hotstuff run must fail: {stderr}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    stderr
}

#[test]
fn run_with_a_bad_committee_file_exits_non_zero_naming_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("db");
    let (key_file, public) = keys(dir.path(), "node0.json");

    let file = committee(dir.path(), &public, |nodes| {
        nodes[2].as_object_mut().unwrap().remove("transactions");
    });
    let stderr = run_fails(&key_file, &file, &store, &[]);
    assert!(stderr.contains("committee.json") && stderr.contains("missing field `transactions`"), "{stderr}");

    let file = committee(dir.path(), &public, |nodes| nodes[3]["address"] = "localhost:7000".into());
    let stderr = run_fails(&key_file, &file, &store, &[]);
    assert!(stderr.contains("committee.json") && stderr.contains("nodes[3]: field `address`"), "{stderr}");

    let file = committee(dir.path(), &public, |nodes| nodes[1]["name"] = nodes[0]["name"].clone());
    let stderr = run_fails(&key_file, &file, &store, &[]);
    assert!(stderr.contains("nodes[1].name repeats nodes[0].name"), "{stderr}");

    // A well-formed committee that does not include this replica's key.
    let file = committee(dir.path(), &public, |nodes| {
        nodes.remove(0);
    });
    let stderr = run_fails(&key_file, &file, &store, &[]);
    assert!(stderr.contains(&public) && stderr.contains("not a member of the committee"), "{stderr}");
    assert!(!store.exists(), "nothing is created before the configuration is accepted");
}

#[test]
fn run_with_a_bad_key_or_parameters_file_exits_non_zero_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("db");
    let (key_file, public) = keys(dir.path(), "node0.json");
    let committee_file = committee(dir.path(), &public, |_| {});

    let short_key = dir.path().join("short.json");
    let mut key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    key["secret"] = "00".repeat(31).into();
    std::fs::write(&short_key, key.to_string()).unwrap();
    let stderr = run_fails(&short_key, &committee_file, &store, &[]);
    assert!(stderr.contains("short.json") && stderr.contains("field `secret`"), "{stderr}");

    let parameters = dir.path().join("params.json");
    std::fs::write(&parameters, r#"{ "round_timeout_ms": 100, "max_block_delay_ms": 100 }"#).unwrap();
    let stderr = run_fails(&key_file, &committee_file, &store, &["--parameters", path(&parameters)]);
    assert!(stderr.contains("params.json") && stderr.contains("max_block_delay_ms"), "{stderr}");

    let stderr = run_fails(&key_file, &dir.path().join("absent.json"), &store, &[]);
    assert!(stderr.contains("absent.json"), "{stderr}");
}
