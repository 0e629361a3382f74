//! A closed-loop HTTP load generator for the benchmarks: N connections, each sending its
//! next request when the last one answered, for a fixed time; prints req/s and latency
//! percentiles as one JSON line.
//!
//! usage: loadgen <url> [--connections 64] [--seconds 30] [--rate R] [--webhook SECRET]
//!                      [--token T --verify KEYS_FILE | --token T --usage KEYS_FILE --batch N]
//! With `--rate`, the connections together send at most R requests a second (a steady
//! load for the soak benchmark) instead of as fast as answers come.
//! With `--webhook`, every request is a new signed Stripe event (a unique id each).
//! With `--verify`, every request verifies the next key of the file (the gateway's call).
//! With `--usage`, every request is a batch of N usage events with unique ids over the
//! keys of the file, 1 unit and 1 micro-USD each. `accepted` counts the events the api
//! accepted (usage) or the answers that said valid (verify).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Args {
    url: String,
    connections: usize,
    seconds: u64,
    webhook_secret: Option<String>,
    token: Option<String>,
    verify_keys: Option<String>,
    usage_keys: Option<String>,
    batch: usize,
    rate: Option<f64>,
}

/// What each request carries.
#[derive(Clone)]
enum Mode {
    Get,
    Webhook(String),
    Verify(Arc<Vec<String>>),
    Usage(Arc<Vec<String>>, usize),
}

fn read_keys(path: &str) -> Result<Arc<Vec<String>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let keys: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if keys.is_empty() {
        return Err(format!("{path}: no keys"));
    }
    Ok(Arc::new(keys))
}

fn usage_body(keys: &[String], batch: usize, n: u64, run: &str) -> Vec<u8> {
    let now = chrono::Utc::now().to_rfc3339();
    let events: Vec<serde_json::Value> = (0..batch)
        .map(|j| {
            let i = n as usize * batch + j;
            serde_json::json!({"id": format!("{run}-{n}-{j}"), "key": keys[i % keys.len()], "metric": "tokens",
                               "quantity": 1, "cost": 1, "timestamp": now})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"events": events})).unwrap_or_default()
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let url = it.next().ok_or("usage: loadgen <url> [--connections N] [--seconds S] [--webhook SECRET]")?;
    let mut args = Args {
        url,
        connections: 64,
        seconds: 30,
        webhook_secret: None,
        token: None,
        verify_keys: None,
        usage_keys: None,
        batch: 1000,
        rate: None,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--connections" => args.connections = value.parse().map_err(|_| "bad --connections")?,
            "--seconds" => args.seconds = value.parse().map_err(|_| "bad --seconds")?,
            "--webhook" => args.webhook_secret = Some(value),
            "--token" => args.token = Some(value),
            "--verify" => args.verify_keys = Some(value),
            "--usage" => args.usage_keys = Some(value),
            "--batch" => args.batch = value.parse().map_err(|_| "bad --batch")?,
            "--rate" => args.rate = Some(value.parse().map_err(|_| "bad --rate")?).filter(|r: &f64| *r > 0.0),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn webhook_body(n: u64, run: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": format!("evt_bench_{run}_{n}"),
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "type": "invoice.paid",
        "data": {"object": {"id": format!("in_bench_{n}"), "object": "invoice", "amount_paid": 4900, "currency": "usd",
                             "customer": "cus_bench", "status": "paid"}},
    }))
    .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let client: Client<_, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(args.connections).build_http();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mode = match (&args.webhook_secret, &args.verify_keys, &args.usage_keys) {
        (Some(secret), None, None) => Mode::Webhook(secret.clone()),
        (None, Some(path), None) => Mode::Verify(read_keys(path)?),
        (None, None, Some(path)) => Mode::Usage(read_keys(path)?, args.batch.max(1)),
        (None, None, None) => Mode::Get,
        _ => return Err("one of --webhook, --verify, --usage".into()),
    };
    let token = args.token.clone().unwrap_or_default();
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let run = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (client, counter, errors, run) = (client.clone(), counter.clone(), errors.clone(), run.clone());
        let (mode, token, accepted) = (mode.clone(), token.clone(), accepted.clone());
        let url: hyper::Uri = args.url.parse()?;
        // Each connection's share of the rate: one request per period.
        let mut pace = args.rate.map(|r| {
            let mut i = tokio::time::interval(Duration::from_secs_f64(args.connections as f64 / r));
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            while Instant::now() < deadline {
                if let Some(p) = pace.as_mut() {
                    p.tick().await;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let post = |body: Vec<u8>| {
                    hyper::Request::post(url.clone())
                        .header("content-type", "application/json")
                        .header("authorization", format!("Bearer {token}"))
                        .body(Full::new(Bytes::from(body)))
                };
                let req = match &mode {
                    Mode::Webhook(secret) => {
                        let body = webhook_body(n, &run);
                        let sig = billing::stripe::signature::header(secret, chrono::Utc::now().timestamp(), &body);
                        hyper::Request::post(url.clone())
                            .header("content-type", "application/json")
                            .header("stripe-signature", sig)
                            .body(Full::new(Bytes::from(body)))
                    }
                    Mode::Verify(keys) => {
                        let key = &keys[n as usize % keys.len()];
                        post(serde_json::to_vec(&serde_json::json!({"key": key})).unwrap_or_default())
                    }
                    Mode::Usage(keys, batch) => post(usage_body(keys, *batch, n, &run)),
                    Mode::Get => hyper::Request::get(url.clone()).body(Full::new(Bytes::new())),
                };
                let Ok(req) = req else { continue };
                let t = Instant::now();
                match client.request(req).await {
                    Ok(res) => {
                        let ok = res.status().is_success();
                        let body = res.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        // Usage: the events accepted; verify: the keys answered valid.
                        let n = match &mode {
                            Mode::Usage(..) if ok => serde_json::from_slice::<serde_json::Value>(&body)
                                .ok()
                                .and_then(|v| v["accepted"].as_u64())
                                .unwrap_or(0),
                            Mode::Verify(_) if ok => u64::from(body.windows(12).any(|w| w == b"\"valid\":true")),
                            _ => 0,
                        };
                        accepted.fetch_add(n, Ordering::Relaxed);
                        if ok {
                            latencies.push(t.elapsed().as_micros() as u64);
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "{}",
        serde_json::json!({
            "url": args.url,
            "connections": args.connections,
            "seconds": elapsed,
            "ok": all.len(),
            "errors": errors.load(Ordering::Relaxed),
            "req_per_s": (all.len() as f64 / elapsed).round(),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": pct(1.0),
            "accepted": accepted.load(Ordering::Relaxed),
            "accepted_per_s": (accepted.load(Ordering::Relaxed) as f64 / elapsed).round(),
        })
    );
    Ok(())
}
