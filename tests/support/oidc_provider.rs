//! panva's `oidc-provider` (`examples/oidc-provider/provider.mjs`) on a free loopback port,
//! installed from the npm registry on first use (`npm ci`). Needs `node` and `npm`, which
//! `.ci/run` installs when they are missing.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The secret of `payments-api`, the resource server's client at the provider.
pub(crate) const PAYMENTS_API_SECRET: &str = "payments-api-secret-for-the-oidc-provider-check";

/// A running provider, killed when dropped.
pub(crate) struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Checks that `node` and `npm` are there, and installs the locked packages of the example
/// `examples/{example}` (`npm ci`) unless `package` is installed already.
pub(crate) fn npm_packages(example: &str, package: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(example);
    let have = |tool: &str| {
        Command::new(tool).arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success())
    };
    assert!(
        have("node") && have("npm"),
        "node and npm are required for this test (`apt-get install -y nodejs npm`, which .ci/run does when they are missing)"
    );
    if !dir.join("node_modules").join(package).exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .status()
            .expect("npm ci");
        assert!(status.success(), "npm ci in examples/{example} failed (is the npm registry reachable?)");
    }
    dir
}

/// Starts oidc-provider on a free loopback port, installing it first when needed.
pub(crate) fn start_provider() -> (Node, u16) {
    start_provider_with(&[])
}

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// [`start_provider`] with more variables for `provider.mjs` (its mTLS listener's). A provider
/// that has not said `ready` within a minute is killed and started once more on another
/// port (a node stuck loading its modules on a loaded machine was seen once), so that a test
/// fails with a message instead of hanging.
pub(crate) fn start_provider_with(env: &[(&str, String)]) -> (Node, u16) {
    let dir = npm_packages("oidc-provider", "oidc-provider");
    for attempt in 1..=2 {
        if let Some(started) = try_start(&dir, env) {
            return started;
        }
        eprintln!("oidc-provider did not say ready within a minute (attempt {attempt})");
    }
    panic!("oidc-provider did not start (node provider.mjs in examples/oidc-provider)");
}

fn try_start(dir: &std::path::Path, env: &[(&str, String)]) -> Option<(Node, u16)> {
    let port = free_port();
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .arg(port.to_string())
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PAYMENT_CLIENT_SECRET", "payment-secret-for-the-oidc-provider-test")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node provider.mjs");
    let stdout = child.stdout.take().unwrap();
    let node = Node(child);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    // Keeps reading after `ready`: the provider logs notices to stdout, and a closed pipe
    // would kill it.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line == "ready" {
                let _ = ready_tx.send(());
            }
        }
    });
    ready_rx.recv_timeout(std::time::Duration::from_secs(60)).ok().map(|()| (node, port))
}
