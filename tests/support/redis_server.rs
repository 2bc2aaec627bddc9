//! Real `redis-server` processes for tests: each on a free loopback port, no persistence,
//! stopped (killed) when dropped. `.ci/run` installs the Debian package when it is missing.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `redis-server`.
pub(crate) struct RedisServer {
    pub(crate) port: u16,
    child: Option<Child>,
    dir: PathBuf,
    cluster: bool,
}

fn free_port() -> u16 {
    // A Cluster node also listens on port + 10000: pick ports that leave room for it.
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn binary(name: &str) -> &str {
    let found = Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(
        found.is_ok_and(|s| s.success()),
        "{name} was not found: the Redis tests need a real server (`apt-get install -y redis-server`, \
         which .ci/run does when it is missing)"
    );
    name
}

impl RedisServer {
    /// Starts a standalone server and waits until it answers.
    pub(crate) fn start() -> Self {
        Self::spawn(free_port(), false)
    }

    fn spawn(port: u16, cluster: bool) -> Self {
        let dir = std::env::temp_dir().join(format!("permiso-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(binary("redis-server"));
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", dir.to_str().unwrap(), "--protected-mode", "no", "--enable-debug-command", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if cluster {
            cmd.args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]);
        }
        let child = cmd.spawn().expect("redis-server starts");
        let server = Self { port, child: Some(child), dir, cluster };
        server.wait_until_ready();
        server
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.cli(&["PING"]).is_ok_and(|out| out.trim() == "PONG") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` against this server (`-c`: following Cluster redirects).
    pub(crate) fn cli(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new(binary("redis-cli"));
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if self.cluster {
            cmd.arg("-c");
        }
        let out = cmd.args(args).output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// How many keys this server (this node) holds.
    pub(crate) fn dbsize(&self) -> u64 {
        self.cli(&["DBSIZE"]).unwrap().trim().parse().unwrap()
    }

    /// Revokes `jti` as the permiso server does: `revoked_token:<jti>` = "1", with a TTL.
    pub(crate) fn revoke(&self, jti: &str) {
        let out = self.cli(&["SET", &format!("revoked_token:{jti}"), "1", "EX", "3600"]).unwrap();
        assert_eq!(out.trim(), "OK", "{out}");
    }

    /// Kills the server (as an outage would), keeping its port for `restart`.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub(crate) fn restart(&mut self) {
        self.kill();
        let again = Self::spawn(self.port, self.cluster);
        self.child = again.into_child();
    }

    fn into_child(mut self) -> Option<Child> {
        self.child.take()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A three-node Redis Cluster (no replicas), created with `redis-cli --cluster create`.
pub(crate) struct RedisCluster {
    pub(crate) nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub(crate) fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::spawn(free_port(), true)).collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let out = Command::new(binary("redis-cli"))
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let cluster = Self { nodes };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ok = cluster
                .nodes
                .iter()
                .all(|n| n.cli(&["CLUSTER", "INFO"]).is_ok_and(|i| i.contains("cluster_state:ok")));
            if ok {
                return cluster;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the Redis Cluster did not become ready");
    }

    /// The seed list, as `PERMISO_REVOCATION_REDIS_URL` takes it.
    pub(crate) fn url(&self) -> String {
        self.nodes.iter().map(RedisServer::url).collect::<Vec<_>>().join(",")
    }
}
