//! nginx (Debian's package; `scripts/test` installs it when missing) on a free loopback
//! port, terminating TLS in front of a service and forwarding the client's certificate in a
//! header, as the README's snippet configures it. One process (`master_process off`) running
//! as the test's user, everything under a temporary directory; killed when dropped.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::certs::Pem;

/// The address nginx connects to the service from (`proxy_bind`): the only trusted proxy.
pub(crate) const PROXY_ADDR: &str = "127.0.0.2";

pub(crate) struct Nginx {
    child: Child,
    dir: PathBuf,
    pub(crate) base: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn binary() -> PathBuf {
    let on_path = Command::new("nginx").arg("-v").stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if on_path {
        return PathBuf::from("nginx");
    }
    let sbin = PathBuf::from("/usr/sbin/nginx");
    assert!(
        sbin.exists(),
        "nginx is required for this test (`apt-get install -y nginx-light`, which scripts/test does when it is missing)"
    );
    sbin
}

/// nginx on `https://127.0.0.1:PORT`, proxying to `upstream` (`host:port`) from
/// [`PROXY_ADDR`] with the client's certificate (asked for, any accepted) in `X-Client-Cert`
/// as `$ssl_client_escaped_cert`.
pub(crate) fn start(server: &Pem, upstream: &str) -> Nginx {
    let dir = std::env::temp_dir().join(format!("permiso-nginx-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let (crt, key) = server.write(&dir, "server");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let d = dir.display();
    let conf = format!(
        r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        ssl_verify_client optional_no_ca;
        location / {{
            proxy_pass http://{upstream};
            proxy_bind {PROXY_ADDR};
            proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
        }}
    }}
}}
"#
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(binary())
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx { child, dir, base: format!("https://127.0.0.1:{port}") };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return nginx;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let log = std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default();
    panic!("nginx did not listen on 127.0.0.1:{port}: {log}");
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos().into()
}
