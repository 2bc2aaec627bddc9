//! The verified-token cache's byte bound counts what its entries really hold. A counting
//! allocator measures the heap the cache keeps; its own count must not fall short of it.
//! (Its own binary: the global allocator would count every other test too.)

use std::alloc::System;

use permiso::testing::SigningKey;
use permiso::{Algorithm, Clock, Issuer, ManualClock, Verifier};
use serde_json::json;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

#[test]
fn the_byte_bound_counts_what_entries_really_hold() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let clock = ManualClock::now();
    let now = clock.now_unix();
    let v = Verifier::builder(["keystone-auth"])
        .issuer(Issuer::permiso("keystone-auth", SECRET))
        .clock(clock)
        .build()
        .unwrap();
    let key = SigningKey::hmac(Algorithm::HS256, SECRET);
    // Claims with arrays of small values: cheap as JSON text, dear as parsed values.
    let tokens: Vec<String> = (0..200u64)
        .map(|i| {
            key.sign(&json!({
                "iss": "keystone-auth", "aud": ["keystone-auth"], "sub": "svc", "client_id": "svc",
                "type": "service", "exp": now + 600 + i, "iat": now, "scopes": ["read:x"],
                "groups": (0..100).collect::<Vec<u32>>(),
                "tags": (0..20).map(|n| json!({"n": n})).collect::<Vec<_>>(),
            }))
        })
        .collect();

    let region = Region::new(GLOBAL);
    rt.block_on(async {
        for t in &tokens {
            let _ = v.verify(t).await.unwrap();
        }
    });
    // What the verifier still holds after the calls returned is the cache's content.
    let change = region.change();
    // (stats_alloc books a realloc's growth or shrinkage in these two as well.)
    let held = change.bytes_allocated.saturating_sub(change.bytes_deallocated);
    let stats = v.cache_stats().unwrap();
    assert_eq!(stats.entries, 200);
    // Requested sizes understate the allocator's real use, so the count should be above
    // them, and not wildly (it bounds memory, it must not waste it either).
    assert!(stats.bytes >= held, "counted {} bytes, the entries hold {held}", stats.bytes);
    assert!(stats.bytes <= held * 2, "counted {} bytes, the entries hold {held}", stats.bytes);
}
