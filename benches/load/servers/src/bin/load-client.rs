//! A load generator for what wrk cannot send: requests signed the way permiso's Python
//! client signs them, each with a fresh timestamp and a unique query (a signature is refused the second time).
//!
//! `load-client URL TOKEN SECONDS CONNECTIONS [SIGNING_SECRET]`
//!
//! With `PERMISO_LOAD_GRPC=1` it calls the payments gRPC service's `ListTransactions` (URL is
//! the server's base URL) over one HTTP/2 connection, with the token as metadata.
//!
//! With `PERMISO_LOAD_DPOP_KEY` (base64 PKCS#8 of the key TOKEN is bound to), each request is
//! `Authorization: DPoP TOKEN` with a fresh proof (RFC 9449) instead of `Bearer`.
//!
//! With `PERMISO_LOAD_HEADER="Name: value"`, every request also carries that header (the
//! certificate-binding variants' `X-Client-Cert`).
//!
//! With `PERMISO_LOAD_RATE=N`, the connections together send N requests a second (each on its
//! own schedule, a request due every CONNECTIONS/N s; one that is late is sent at once), so
//! every variant of a run is offered the same load: CPU per request is then compared at equal
//! batching, not at each variant's own throughput.
//!
//! Prints its results in wrk's words (`N requests in …`, `Requests/sec:`, the 50% and 99%
//! latencies, `Non-2xx or 3xx responses:`), so benches/load.sh reads both alike; the first
//! refusal's status and body (or the first failed request's error) go to stderr. Runs on one
//! thread (pin it with taskset); every run is bounded by SECONDS.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, token, seconds, connections, secret) = match &args[..] {
        [_, url, token, secs, conns, rest @ ..] if rest.len() <= 1 => (
            url.clone(),
            token.clone(),
            secs.parse::<u64>().expect("SECONDS"),
            conns.parse::<usize>().expect("CONNECTIONS"),
            rest.first().cloned(),
        ),
        _ => {
            eprintln!("usage: load-client URL TOKEN SECONDS CONNECTIONS [SIGNING_SECRET]");
            std::process::exit(2);
        }
    };
    let dpop = std::env::var("PERMISO_LOAD_DPOP_KEY").ok().map(|k| {
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, k.trim()).expect("base64 key");
        permiso::dpop::DpopKey::from_pkcs8(&der).expect("PKCS#8 P-256 key")
    });
    if std::env::var("PERMISO_LOAD_GRPC").is_ok_and(|v| v == "1") {
        return grpc(&url, &token, seconds, connections).await;
    }
    let http = reqwest::Client::builder().pool_max_idle_per_host(connections).build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    // Each connection's interval between requests at a fixed rate.
    let every = std::env::var("PERMISO_LOAD_RATE")
        .ok()
        .map(|r| Duration::from_secs_f64(connections as f64 / r.parse::<f64>().expect("PERMISO_LOAD_RATE")));
    let extra = std::env::var("PERMISO_LOAD_HEADER").ok().filter(|h| !h.is_empty()).map(|h| {
        let (name, value) = h.split_once(':').expect("PERMISO_LOAD_HEADER is Name: value");
        (name.trim().to_owned(), value.trim().to_owned())
    });
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..connections {
        let (http, url, token, secret, dpop) = (http.clone(), url.clone(), token.clone(), secret.clone(), dpop.clone());
        let extra = extra.clone();
        tasks.spawn(async move {
            let (mut latencies, mut failures, mut n) = (Vec::new(), 0u64, 0u64);
            // Spread the connections' schedules over one interval.
            let first = started + every.map_or(Duration::ZERO, |e| e.mul_f64(worker as f64 / connections as f64));
            while Instant::now() < deadline {
                if let Some(every) = every {
                    tokio::time::sleep_until((first + every * n as u32).into()).await;
                    if Instant::now() >= deadline {
                        break;
                    }
                }
                n += 1;
                let target = format!("{url}?w={worker}&n={n}");
                let mut req = match &dpop {
                    Some(key) => http
                        .get(&target)
                        .header("authorization", format!("DPoP {token}"))
                        .header("dpop", key.proof("GET", &url, Some(&token), None)),
                    None => http.get(&target).bearer_auth(&token),
                };
                if let Some((name, value)) = &extra {
                    req = req.header(name.as_str(), value.as_str());
                }
                if let Some(secret) = &secret {
                    let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string();
                    let sig = permiso::signing::signature(secret.as_bytes(), "GET", &target, b"", &ts);
                    req = req.header("X-Timestamp", ts).header("X-Signature", sig);
                }
                let sent = Instant::now();
                match req.send().await {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                        latencies.push(sent.elapsed().as_micros() as u32);
                    }
                    other => {
                        failures += 1;
                        // The first refusal's reason, once per run: what a skipped variant
                        // was answered.
                        if !FIRST_FAILURE_TOLD.swap(true, std::sync::atomic::Ordering::Relaxed) {
                            match other {
                                Ok(res) => {
                                    let status = res.status();
                                    eprintln!("first refusal: {status} {}", res.text().await.unwrap_or_default());
                                }
                                Err(e) => eprintln!("first failure: {e}"),
                            }
                        }
                    }
                }
            }
            (latencies, failures)
        });
    }
    report(tasks, started).await;
}

type Outcome = (Vec<u32>, u64);

/// Whether a refusal was already told on stderr.
static FIRST_FAILURE_TOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints the results in wrk's words.
async fn report(mut tasks: tokio::task::JoinSet<Outcome>, started: Instant) {
    let (mut latencies, mut failures) = (Vec::new(), 0);
    while let Some(r) = tasks.join_next().await {
        let (l, f) = r.expect("worker");
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or(0);
    let total = latencies.len() as u64 + failures;
    println!("  {total} requests in {elapsed:.2}s");
    println!("Requests/sec: {:.2}", total as f64 / elapsed);
    println!("     50%  {:.2}ms", f64::from(pct(0.50)) / 1000.0);
    println!("     99%  {:.2}ms", f64::from(pct(0.99)) / 1000.0);
    if failures > 0 {
        println!("  Non-2xx or 3xx responses: {failures}");
    }
}

#[path = "../../../../../examples/grpc_service/payments.v1.rs"]
#[allow(clippy::all, dead_code)]
mod pb;

/// The gRPC load: `connections` concurrent callers sharing one HTTP/2 channel.
async fn grpc(url: &str, token: &str, seconds: u64, connections: usize) {
    let channel = tonic::transport::Endpoint::try_from(url.to_owned()).expect("url").connect().await.expect("connect");
    let auth: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().expect("token");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let mut client = pb::payments_client::PaymentsClient::new(channel.clone());
        let auth = auth.clone();
        tasks.spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0u64);
            while Instant::now() < deadline {
                let mut req = tonic::Request::new(pb::ListTransactionsRequest { limit: 1 });
                req.metadata_mut().insert("authorization", auth.clone());
                let sent = Instant::now();
                match client.list_transactions(req).await {
                    Ok(_) => latencies.push(sent.elapsed().as_micros() as u32),
                    Err(_) => failures += 1,
                }
            }
            (latencies, failures)
        });
    }
    report(tasks, started).await;
}
