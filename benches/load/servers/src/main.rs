//! One axum 0.8 route, `GET /api/v1/transactions`, served on one thread:
//!
//! `load-server VARIANT ALG ISS AUD JWKS_URL SECRET BIND`
//!
//! - `bare`: no authentication;
//! - `permiso`: permiso's `AuthLayer` (JWKS for rs256, shared secret for hs256);
//! - `permiso-revocation`: the same, checking revocation in the Redis at
//!   `PERMISO_LOAD_REDIS_URL` with the default policy (1 s staleness);
//! - `permiso-signed`: permiso's `AuthLayer` requiring request signatures (the token's
//!   client signs with `PERMISO_LOAD_SIGNING_SECRET`; send with `load-client`);
//!   `permiso-sent-signed`: plain permiso, sent the same signed requests, which it does not
//!   check (what the bigger requests cost without the check);
//! - `permiso-observed`: permiso's `AuthLayer` with a Prometheus recorder installed (every
//!   permiso metric recorded) and an in-process rate limit that never triggers;
//! - `permiso-metrics`: permiso's `AuthLayer` with the Prometheus recorder alone;
//! - `permiso-everything`: every stage at once, in the one `AuthLayer`: revocation in Redis
//!   (as `permiso-revocation`), required signatures (as `permiso-signed`), an in-process rate
//!   limit that never triggers and a Prometheus recorder (as `permiso-observed`);
//! - `permiso-dpop`: plain permiso with DPoP allowed (its public origin is the bound address), loaded by `load-client`
//!   with a DPoP-bound token and a fresh proof per request;
//! - `grpc-bare` / `grpc-permiso`: the payments gRPC service of `examples/grpc_service`
//!   (`ListTransactions`) bare, and behind `AuthLayer` with its `GrpcMethods` requirement;
//!   loaded by `load-client` with `PERMISO_LOAD_GRPC=1`;
//! - `permiso-mtls`: plain permiso with a certificate-bound token whose certificate comes in
//!   `X-Client-Cert` (URL-encoded PEM, as nginx forwards it) from loopback, a trusted proxy;
//!   `permiso-proxied`: plain permiso sent the same header and served the same way;
//! - `tower-oauth2`: tower-oauth2-resource-server (JWKS; rs256 only);
//! - `oauth-resource-server`: oauth-resource-server 0.4's axum `AuthLayer`, wired as its
//!   README's quickstart (config resolved, one validator refreshing in the background, the
//!   layer from `static_token_policy`), JWKS from `jwks_uri`, scopes from `scopes`; rs256 only;
//! - `huskarl-resource-server`: huskarl-resource-server 0.11's `Rfc9068Validator` as its
//!   README builds it (issuer, audience, `jwks_uri`, its reqwest client), called from a
//!   middleware the way its example calls it (no axum layer is released); an RFC 9068
//!   `at+jwt` token; rs256 only;
//! - `handwritten`: a middleware calling `jsonwebtoken::decode` with the key fetched once.
//!
//! Prints `listening on http://ADDR` when ready.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use jsonwebtoken::{DecodingKey, Validation};

#[path = "../../../../examples/grpc_service/payments.v1.rs"]
#[allow(clippy::all)]
mod pb;

struct Payments;

#[tonic::async_trait]
impl pb::payments_server::Payments for Payments {
    async fn list_transactions(
        &self,
        _: tonic::Request<pb::ListTransactionsRequest>,
    ) -> Result<tonic::Response<pb::ListTransactionsReply>, tonic::Status> {
        Ok(tonic::Response::new(pb::ListTransactionsReply::default()))
    }
    async fn create_transaction(
        &self,
        _: tonic::Request<pb::CreateTransactionRequest>,
    ) -> Result<tonic::Response<pb::Transaction>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in the bench"))
    }
    async fn billing_report(
        &self,
        _: tonic::Request<pb::BillingReportRequest>,
    ) -> Result<tonic::Response<pb::BillingReportReply>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in the bench"))
    }
}

fn grpc_route() -> Router {
    Router::new().route_service(
        "/payments.v1.Payments/{*method}",
        pb::payments_server::PaymentsServer::new(Payments),
    )
}

async fn handler() -> &'static str {
    "[]"
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Claims {
    iss: String,
    sub: String,
    exp: u64,
    aud: Vec<String>,
    client_id: String,
    scopes: Vec<String>,
}

struct Handwritten {
    key: DecodingKey,
    validation: Validation,
}

async fn handwritten(State(auth): State<Arc<Handwritten>>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.map(|t| jsonwebtoken::decode::<Claims>(t, &auth.key, &auth.validation)) {
        Some(Ok(_)) => next.run(req).await,
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

struct Huskarl {
    validator: huskarl_resource_server::validator::rfc9068::Rfc9068Validator,
    metadata: huskarl_resource_server::validator::metadata::ValidatorMetadata,
    origin: String,
}

async fn huskarl(State(auth): State<Arc<Huskarl>>, req: Request, next: Next) -> Response {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(url) = format!("{}{path}", auth.origin).parse::<axum::http::Uri>() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let result = auth.validator.validate_request(req.headers(), req.method(), &url, None).await;
    if let Some(rejection) = result.rejection(&auth.metadata, None) {
        return rejection.apply(Response::builder()).body(axum::body::Body::empty()).expect("rejection");
    }
    match result.outcome {
        Ok(Some(_validated)) => next.run(req).await,
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, variant, alg, iss, aud, jwks_url, secret, bind] = &args[..] else {
        eprintln!("usage: load-server VARIANT ALG ISS AUD JWKS_URL SECRET BIND");
        std::process::exit(2);
    };
    let hs = alg == "hs256";
    let route = Router::new().route("/api/v1/transactions", get(handler));
    let app = match variant.as_str() {
        "bare" => route,
        "grpc-bare" => grpc_route(),
        "grpc-permiso" => {
            let issuer = if hs {
                permiso::Issuer::permiso(iss.clone(), secret)
            } else {
                permiso::Issuer::jwks_url(iss.clone(), jwks_url.clone())
            };
            let verifier = permiso::Verifier::builder([aud.clone()]).issuer(issuer).build().expect("config");
            verifier.warm_up().await.expect("keys");
            let methods = permiso::grpc::GrpcMethods::new().method(
                "/payments.v1.Payments/ListTransactions",
                permiso::RequireLayer::scopes(["read:transactions"]),
            );
            let grpc = tower::ServiceBuilder::new()
                .layer(methods)
                .service(pb::payments_server::PaymentsServer::new(Payments));
            Router::new()
                .route_service("/payments.v1.Payments/{*method}", grpc)
                .layer(permiso::AuthLayer::new(verifier))
        }
        "permiso-introspection" if !hs => {
            // An opaque token, judged by RFC 7662 introspection at the key server: the first
            // request calls it, every other one is answered from the answer cache.
            let url = std::env::var("PERMISO_LOAD_INTROSPECT_URL").expect("PERMISO_LOAD_INTROSPECT_URL");
            let introspection = permiso::introspection::Introspection::rfc7662(url)
                .client_secret_basic("payments-api", "load-bench-introspection-secret");
            let verifier = permiso::Verifier::builder([aud.clone()])
                .issuer(permiso::Issuer::introspected(iss.clone(), introspection))
                .build()
                .expect("config");
            route.layer(permiso::AuthLayer::new(verifier))
        }
        "permiso" | "permiso-revocation" | "permiso-signed" | "permiso-observed" | "permiso-metrics"
        | "permiso-dpop" | "permiso-everything" | "permiso-mtls" | "permiso-proxied" | "permiso-sent-signed" => {
            let everything = variant == "permiso-everything";
            // DPoP proofs and signatures are checked against this server's public origin:
            // bind first (the port is chosen here), then build.
            let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
            let origin = format!("http://{}", listener.local_addr().expect("addr"));
            let issuer = if hs {
                permiso::Issuer::permiso(iss.clone(), secret)
            } else {
                permiso::Issuer::jwks_url(iss.clone(), jwks_url.clone())
            };
            let mut builder = permiso::Verifier::builder([aud.clone()]).issuer(issuer);
            if variant == "permiso-revocation" || everything {
                let url = std::env::var("PERMISO_LOAD_REDIS_URL").expect("PERMISO_LOAD_REDIS_URL");
                builder = builder.revocation(permiso::RedisRevocations::new(&url).expect("redis url").revocation());
            }
            if variant == "permiso-dpop" {
                // DPoP is opt-in.
                builder = builder.dpop(permiso::dpop::Dpop::new(permiso::dpop::DpopMode::Allowed).public_base_url(origin.clone()));
            }
            let verifier = builder.build().expect("config");
            verifier.warm_up().await.expect("keys");
            let mut auth = permiso::AuthLayer::builder(verifier);
            if variant == "permiso-mtls" {
                // The certificate as nginx forwards it ($ssl_client_escaped_cert), trusted from
                // loopback, where the load generator plays the proxy.
                let binding = permiso::mtls::CertificateBinding::builder()
                    .header("x-client-cert", permiso::mtls::CertHeaderFormat::PemUrlEncoded)
                    .trusted_proxies(["127.0.0.1"])
                    .build()
                    .expect("binding");
                auth = auth.client_certificates(binding);
            }
            if variant == "permiso-observed" || variant == "permiso-metrics" || everything {
                // Buckets, as a Prometheus user would set them (summaries cost more per sample).
                let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                    .set_buckets(&[1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
                    .expect("buckets")
                    .install_recorder()
                    .expect("recorder");
                // The recorder's upkeep (histogram buckets), as a scraping exporter would run it.
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                        handle.run_upkeep();
                    }
                });
            }
            let limits = || {
                permiso::limit::RateLimits::new()
                    .client("payment-service", 1_000_000_000)
                    .default_per_minute(1_000_000_000)
                    .build()
                    .expect("limits")
            };
            let app = if variant == "permiso-signed" || everything {
                let secret = std::env::var("PERMISO_LOAD_SIGNING_SECRET").expect("PERMISO_LOAD_SIGNING_SECRET");
                // One client sends every request here, tens of thousands a second: with the
                // default ±300 s window its live signatures would pass the replay memory's
                // per-client bound (250,000) within seconds, and further requests would be
                // answered 503 (by design: the memory never forgets a live signature). The
                // load-client stamps each request fresh, so a ±2 s window loses nothing.
                // benches/instructions.sh, at 400 requests/s under valgrind, where a request
                // can wait seconds, sets a wider one (PERMISO_LOAD_SIGNING_WINDOW, seconds).
                let window = std::env::var("PERMISO_LOAD_SIGNING_WINDOW").map_or(2, |w| w.parse().expect("seconds"));
                let signing = permiso::signing::RequestSigning::new(permiso::signing::SignatureMode::Required, origin)
                    .client_secret("payment-service", secret)
                    .window(std::time::Duration::from_secs(window))
                    .build()
                    .expect("signing");
                let auth = auth.signatures(signing);
                let auth = if everything { auth.rate_limits(limits()) } else { auth };
                route.layer(auth.build())
            } else if variant == "permiso-observed" {
                route.layer(auth.rate_limits(limits()).build())
            } else {
                route.layer(auth.build())
            };
            println!("listening on http://{}", listener.local_addr().expect("addr"));
            if variant == "permiso-mtls" || variant == "permiso-proxied" {
                // The peer address goes with each request (the binding's trusted proxies need
                // it): part of what this variant costs, as it is in a deployment.
                let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
                axum::serve(listener, app).await.expect("serve");
            } else {
                axum::serve(listener, app).await.expect("serve");
            }
            return;
        }
        "oauth-resource-server" if !hs => {
            use oauth_resource_server::axum::AuthLayer;
            use oauth_resource_server::{KeyNaming, OAuthConfig, OAuthValidator, static_token_policy};
            let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
            let config = OAuthConfig {
                enabled: true,
                issuer: iss.clone(),
                jwks_uri: Some(jwks_url.clone()),
                audience: aud.clone(),
                resource: format!("http://{}", listener.local_addr().expect("addr")),
                scope_claims: vec!["scopes".into()],
                // As its README: a required scope tells access tokens from ID tokens.
                required_scope: Some("read:transactions".into()),
                algorithms: vec!["RS256".into()],
                ..OAuthConfig::default()
            };
            let resolved = config.resolve(KeyNaming::Dotted("oauth")).expect("config").expect("enabled");
            let oauth = Arc::new(OAuthValidator::new(&resolved).expect("validator"));
            oauth.refresh_now().await.expect("keys");
            oauth.spawn_background_refresh();
            let decision = static_token_policy(None, Some(&resolved), false).expect("policy");
            let auth = AuthLayer::from_decision(decision, Some(oauth)).expect("layer");
            println!("listening on http://{}", listener.local_addr().expect("addr"));
            axum::serve(listener, route.layer(auth)).await.expect("serve");
            return;
        }
        "huskarl-resource-server" if !hs => {
            // As its README: an RFC 9068 validator on the issuer's JWKS, fetched with its
            // reqwest client. It ships no axum layer (huskarl-axum is unreleased), so a
            // middleware calls it the way its example does, with the request's absolute URL,
            // and answers its rejection. Loaded with an RFC 9068 (`at+jwt`) token.
            use huskarl_resource_server::validator::rfc9068::Rfc9068Validator;
            let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
            let http = huskarl_reqwest::ReqwestClient::builder().build().await.expect("http client");
            let validator = Rfc9068Validator::builder()
                .issuer(iss.clone())
                .audience(aud.clone())
                .jwks_uri(jwks_url.parse().expect("jwks uri"))
                .jwks_source(http)
                .build()
                .await
                .expect("validator");
            let metadata = validator.validator_metadata(None);
            let origin = format!("http://{}", listener.local_addr().expect("addr"));
            let state = Arc::new(Huskarl { validator, metadata, origin });
            let app = route.layer(middleware::from_fn_with_state(state, huskarl));
            println!("listening on http://{}", listener.local_addr().expect("addr"));
            axum::serve(listener, app).await.expect("serve");
            return;
        }
        "tower-oauth2" if !hs => {
            use tower_oauth2_resource_server::{
                server::OAuth2ResourceServer, tenant::TenantConfiguration, validation::ClaimsValidationSpec,
            };
            let spec = ClaimsValidationSpec::new().exp(true).iss(iss).aud(&vec![aud.clone()]);
            let tenant = TenantConfiguration::builder(iss.clone())
                .jwks_url(jwks_url.clone())
                .audiences(&[aud.clone()])
                .claims_validation(spec)
                .build()
                .await
                .expect("tenant");
            let server = <OAuth2ResourceServer>::builder().add_tenant(tenant).build().await.expect("server");
            route.layer(server.into_layer())
        }
        "handwritten" => {
            let (key, algorithm) = if hs {
                (DecodingKey::from_secret(secret.as_bytes()).expect("secret"), jsonwebtoken::Algorithm::HS256)
            } else {
                let jwks: jsonwebtoken::jwk::JwkSet =
                    reqwest::get(jwks_url).await.expect("jwks").json().await.expect("jwks json");
                (DecodingKey::from_jwk(&jwks.keys[0]).expect("jwk"), jsonwebtoken::Algorithm::RS256)
            };
            let mut validation = Validation::new(algorithm);
            validation.set_issuer(&[iss]);
            validation.set_audience(&[aud]);
            let state = Arc::new(Handwritten { key, validation });
            route.layer(middleware::from_fn_with_state(state, handwritten))
        }
        other => {
            eprintln!("load-server: variant {other} does not support {alg}");
            std::process::exit(3);
        }
    };
    serve(bind, app).await;
}

async fn serve(bind: &str, app: Router) {
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().expect("addr"));
    axum::serve(listener, app).await.expect("serve");
}
