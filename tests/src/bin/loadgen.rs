//! A closed-loop HTTP load generator for the benchmarks: N connections, each sending its
//! next request when the last one answered, for a fixed time; prints req/s and latency
//! percentiles as one JSON line.
//!
//! usage: loadgen <url> [--connections 64] [--seconds 30] [--webhook SECRET]
//! With `--webhook`, every request is a new signed Stripe event (a unique id each).

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
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let url = it.next().ok_or("usage: loadgen <url> [--connections N] [--seconds S] [--webhook SECRET]")?;
    let mut args = Args { url, connections: 64, seconds: 30, webhook_secret: None };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--connections" => args.connections = value.parse().map_err(|_| "bad --connections")?,
            "--seconds" => args.seconds = value.parse().map_err(|_| "bad --seconds")?,
            "--webhook" => args.webhook_secret = Some(value),
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
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let run = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (client, counter, errors, run) = (client.clone(), counter.clone(), errors.clone(), run.clone());
        let url: hyper::Uri = args.url.parse()?;
        let secret = args.webhook_secret.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let req = match &secret {
                    Some(secret) => {
                        let body = webhook_body(n, &run);
                        let sig = billing::stripe::signature::header(secret, chrono::Utc::now().timestamp(), &body);
                        hyper::Request::post(url.clone())
                            .header("content-type", "application/json")
                            .header("stripe-signature", sig)
                            .body(Full::new(Bytes::from(body)))
                    }
                    None => hyper::Request::get(url.clone()).body(Full::new(Bytes::new())),
                };
                let Ok(req) = req else { continue };
                let t = Instant::now();
                match client.request(req).await {
                    Ok(res) => {
                        let ok = res.status().is_success();
                        let _ = res.into_body().collect().await;
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
        })
    );
    Ok(())
}
