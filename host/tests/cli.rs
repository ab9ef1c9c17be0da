//! The real binary: `serve` prints the operator token once, answers on the port it was given,
//! stops on SIGTERM, refuses a broken platform policy; `policy test` runs the fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `serve` hands its child to the caller, which waits for it in `terminate`.
#![allow(clippy::zombie_processes)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tenantry"))
}

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

/// Starts `serve` and returns the child, its address, and the token line if one was printed.
fn serve(data: &Path, policies: &Path) -> (Child, String, Option<String>) {
    let mut command = binary();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--policies")
        .arg(policies);
    start(command)
}

/// Starts a `serve` command and waits for its address (see [`serve`]).
fn start(mut command: Command) -> (Child, String, Option<String>) {
    let mut child = command
        .env_remove("TENANTRY_OPERATOR_TOKEN")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    // Drain the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in BufReader::new(stderr).lines().map_while(Result::ok) {});
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut token = None;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server printed its address");
        if line.starts_with("operator token") {
            token = line.rsplit(' ').next().map(str::to_owned);
        }
        if let Some(address) = line.strip_prefix("listening on http://") {
            return (child, address.to_owned(), token);
        }
    }
}

fn http_get(address: &str, path: &str, token: Option<&str>) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    let auth = token
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {address}\r\n{auth}connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn terminate(mut child: Child) -> i32 {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap().code().unwrap_or(-1)
}

#[test]
fn serve_prints_the_operator_token_once_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let (child, address, token) = serve(data.path(), &policies());
    let token = token.expect("first start prints the operator token");
    assert!(token.starts_with("tnt_") && token.len() == 68, "{token}");
    assert!(http_get(&address, "/healthz", None).starts_with("HTTP/1.1 200"));
    assert!(http_get(&address, "/v1/orgs", Some(&token)).starts_with("HTTP/1.1 200"));
    assert!(http_get(&address, "/v1/orgs", Some("tnt_wrong")).starts_with("HTTP/1.1 401"));
    assert_eq!(terminate(child), 0, "graceful shutdown exits 0");
    assert!(data.path().join("tenantry.redb").exists());

    let (child, address, again) = serve(data.path(), &policies());
    assert_eq!(again, None, "the token is shown only on the first start");
    assert!(
        http_get(&address, "/v1/orgs", Some(&token)).starts_with("HTTP/1.1 200"),
        "the token survives a restart"
    );
    terminate(child);
}

#[test]
fn sigterm_the_moment_the_address_is_printed_still_stops_gracefully() {
    // A supervisor may stop the server as soon as it has announced itself: the handler must
    // already be installed then, or the default action kills the process mid-start.
    for _ in 0..5 {
        let data = tempfile::tempdir().unwrap();
        let (child, _address, _token) = serve(data.path(), &policies());
        assert_eq!(terminate(child), 0, "graceful shutdown exits 0");
    }
}

#[test]
fn serve_refuses_a_broken_platform_policy_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(policies()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        dir.path().join("share.rhai"),
        "fn share(input) {\n    allow(\"x\"\n}\n",
    )
    .unwrap();
    let output = binary()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--policies")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("share.rhai:3"), "{stderr}");
}

#[test]
fn policy_test_runs_the_fixtures() {
    let output = binary()
        .args(["policy", "test"])
        .arg(policies())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("PASS authorize: admin may not invite an admin"));
    assert!(stdout.trim_end().ends_with(" passed, 0 failed"), "{stdout}");
}

#[test]
fn policy_eval_prints_the_trace_and_says_deny_by_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    let decide = |input_json: serde_json::Value, policy: Option<&str>| {
        std::fs::write(&input, input_json.to_string()).unwrap();
        let mut cmd = binary();
        cmd.args(["policy", "eval", "--hook", "authorize", "--input"])
            .arg(&input)
            .arg("--policies")
            .arg(policies());
        if let Some(source) = policy {
            let file = dir.path().join("candidate.rhai");
            std::fs::write(&file, source).unwrap();
            cmd.arg("--policy").arg(file);
        }
        let output = cmd.output().unwrap();
        let trace: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        (output.status.code(), trace)
    };
    let owner = serde_json::json!({
        "action": "member.invite",
        "actor": {"operator": false, "relation": "member", "role": "owner", "provider_role": null, "grant": null},
        "org": {"id": "o", "tenant_id": "acme", "name": "Acme", "status": "active",
                "account_type": "business_user", "hierarchy": "node", "managed_by": "customer",
                "remote_support_requires_approval": true, "service_provider_id": null,
                "region": "default"},
        "resource": {"role": "admin"},
        "now": "2026-11-23T10:00:00Z",
    });
    let (code, trace) = decide(owner.clone(), None);
    assert_eq!(code, Some(0), "{trace}");
    assert_eq!(trace["answer"]["verdict"], "allow");
    assert_eq!(trace["layers"][0]["layer"], "platform");
    let mut admin = owner;
    admin["actor"]["role"] = "admin".into();
    let (code, trace) = decide(admin.clone(), None);
    assert_eq!(code, Some(2), "a deny is exit code 2");
    assert_eq!(
        trace["answer"]["reason"],
        "role `admin` may invite only `member`, not `admin`"
    );
    let (code, trace) = decide(
        admin,
        Some("fn authorize(input) { allow(\"a candidate that allows\") }"),
    );
    assert_eq!(code, Some(0), "{trace}");
}

#[test]
fn help_documents_flags_and_their_environment_twins() {
    let output = binary().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "TENANTRY_LISTEN",
        "--data-dir",
        "TENANTRY_DATA_DIR",
        "--policies",
        "TENANTRY_POLICIES",
        "--config",
        "TENANTRY_CONFIG",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn the_binary_copied_anywhere_runs_on_its_built_in_policies_and_init_writes_them_out() {
    // A directory with nothing but the binary in it: no policies/, no config.
    let site = tempfile::tempdir().unwrap();
    let copy = site.path().join("tenantry");
    std::fs::copy(env!("CARGO_BIN_EXE_tenantry"), &copy).unwrap();
    let mut command = Command::new(&copy);
    command
        .current_dir(site.path())
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let (child, address, token) = start(command);
    let token = token.unwrap();
    let policies = http_get(&address, "/v1/policies", Some(&token));
    assert!(policies.starts_with("HTTP/1.1 200"), "{policies}");
    assert!(policies.contains("(built in) authorize.rhai"), "{policies}");
    assert!(
        !policies.contains("last_error\":\""),
        "every built-in policy loaded: {policies}"
    );
    assert_eq!(terminate(child), 0);

    // `init` writes them out with a settings file, and refuses to overwrite them.
    let init = Command::new(&copy)
        .current_dir(site.path())
        .args(["init", "conf"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    let conf = site.path().join("conf");
    for file in [
        "tenantry.toml",
        "policies/authorize.rhai",
        "policies/tests/link.json",
        "policies/schema/share.json",
    ] {
        assert!(conf.join(file).is_file(), "{file}");
    }
    let again = Command::new(&copy)
        .current_dir(site.path())
        .args(["init", "conf"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing written"));

    // The written files serve, edited, with a setting from the environment on top.
    let link = conf.join("policies/link.rhai");
    let edited = std::fs::read_to_string(&link).unwrap() + "\n// edited by the operator\n";
    std::fs::write(&link, edited).unwrap();
    let mut command = Command::new(&copy);
    command
        .current_dir(site.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            "conf/tenantry.toml",
        ])
        .args(["--policies", "conf/policies", "--data-dir", "data2"])
        .env("TENANTRY_RATE_LIMIT__PER_SECOND", "0");
    let (child, address, token) = start(command);
    let policies = http_get(&address, "/v1/policies", Some(&token.unwrap()));
    assert!(policies.contains("conf/policies/link.rhai"), "{policies}");
    terminate(child);
    // The same database with its policy directory missing (a typo, a volume not mounted) does
    // not quietly fall back to the built-in policies.
    let missing = Command::new(&copy)
        .current_dir(site.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data2"])
        .args(["--policies", "conf/policy"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("does not exist, but this database"),
        "{missing:?}"
    );

    // A variable that names no setting stops the server, named.
    let typo = Command::new(&copy)
        .current_dir(site.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TENANTRY_WASM__FUELL", "1")
        .output()
        .unwrap();
    assert!(!typo.status.success());
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("`TENANTRY_WASM__FUELL` is not a setting"),
        "{typo:?}"
    );
}

#[test]
fn offline_commands_run_under_the_limits_of_the_servers_settings() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("tenantry.toml");
    std::fs::write(&settings, "[rhai]\nmax_operations = 5\n").unwrap();
    let run = |config: Option<&Path>| {
        let mut command = binary();
        command.args(["policy", "test"]).arg(policies());
        if let Some(file) = config {
            command.env("TENANTRY_CONFIG", file);
        }
        command.output().unwrap()
    };
    assert_eq!(run(None).status.code(), Some(0), "the defaults pass");
    let limited = run(Some(&settings));
    let stdout = String::from_utf8_lossy(&limited.stdout);
    assert_eq!(limited.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("operation_limit"), "{stdout}");
}
