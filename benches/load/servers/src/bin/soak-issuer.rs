//! The key server for benches/soak.sh: a `TestIssuer` that rotates once and goes down for a
//! while, on a timeline, and writes the soak's token classes to files.
//!
//! `soak-issuer DIR START_DELAY_SECS`: writes DIR/{valid,rotated,expired,forged,random}.txt
//! and prints `iss=…` and `jwks=…`. Then, counted from START_DELAY_SECS after start:
//! at 20 s it promotes key-2 (published for the first time), at 30 s it stops listening, at
//! 40 s it listens again. On Ctrl-C (SIGINT) it prints `jwks_fetches=N` and exits.

use std::time::Duration;

use base64::Engine as _;
use permiso::Algorithm;
use permiso::testing::{SigningKey, TestIssuer};

fn write(dir: &str, name: &str, tokens: &[String]) {
    std::fs::write(format!("{dir}/{name}.txt"), tokens.join("\n") + "\n").expect("write tokens");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, delay) = (&args[1], args[2].parse::<u64>().expect("delay"));
    let idp = TestIssuer::builder().token_lifetime(3600).start().await;
    let key2 = idp.add_key(Algorithm::RS256);
    idp.retire(&key2); // unpublished until the rotation
    let scopes = ["read:transactions"];
    let claims = || idp.claims_for("payment-service", &scopes);
    let key1 = idp.active_key();
    let rotated = idp.key(&key2).unwrap();
    let forger = SigningKey::generate(Algorithm::RS256).with_kid("key-1");

    let valid: Vec<String> = (0..8).map(|_| key1.sign(&claims())).collect();
    let later: Vec<String> = (0..8).map(|_| rotated.sign(&claims())).collect();
    let expired: Vec<String> = (0..8)
        .map(|_| {
            let mut c = claims();
            c["exp"] = (c["iat"].as_u64().unwrap() - 120).into();
            key1.sign(&c)
        })
        .collect();
    let forged: Vec<String> = (0..8).map(|_| forger.sign(&claims())).collect();
    // Random kids: the valid token's payload and signature under headers naming unknown keys.
    let (_, rest) = valid[0].split_once('.').unwrap();
    let random: Vec<String> = (0..2000)
        .map(|i| {
            let header = format!(r#"{{"alg":"RS256","typ":"JWT","kid":"random-{i}-{}"}}"#, i * 7919 % 10007);
            format!("{}.{rest}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header))
        })
        .collect();
    write(dir, "valid", &valid);
    write(dir, "rotated", &later);
    write(dir, "expired", &expired);
    write(dir, "forged", &forged);
    write(dir, "random", &random);
    println!("iss={}", idp.issuer());
    println!("jwks={}", idp.jwks_url());

    let timeline = async {
        tokio::time::sleep(Duration::from_secs(delay + 20)).await;
        idp.promote(&key2);
        println!("t=20s rotated: key-2 published and signing");
        tokio::time::sleep(Duration::from_secs(10)).await;
        idp.shutdown();
        println!("t=30s key server down");
        tokio::time::sleep(Duration::from_secs(10)).await;
        idp.restart().await;
        println!("t=40s key server back");
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = timeline => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("jwks_fetches={}", idp.jwks_fetches());
}
