//! The API's contract, checked against the live api: the OpenAPI document describes every
//! served route completely, and schemathesis (a property-based OpenAPI fuzzer) finds no
//! response that breaks it.

use reqwest::Method;
use serde_json::{Value, json};
use tollgate_tests::TestApp;
use tollgate_tests::chain::TestChain;
use tollgate_tests::fake_stripe::FakeStripe;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((m.to_owned(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// Every documented operation is routed (none answers the unknown-route fallback), and
/// every one documents its parameters, its success body and a body for each error.
/// (The reverse, that every routed path is documented, holds by construction: the surfaces
/// register routes only through utoipa-axum's `routes!`, which documents them; a unit test
/// in `api` forbids the undocumented `.route(`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_served_and_documented_completely() {
    let app = TestApp::with(tollgate_tests::TestOptions { worker: false, ..Default::default() }).await;
    let doc: Value =
        app.http.get(format!("{}/openapi.json", app.base_url)).send().await.expect("doc").json().await.expect("json");
    let ops = operations(&doc);
    assert!(ops.len() >= 72, "{} operations", ops.len());
    let mut problems = Vec::new();
    for (method, path, op) in &ops {
        let name = format!("{} {path}", method.to_uppercase());
        let responses = op["responses"].as_object().expect("responses");
        let success: Vec<_> = responses.iter().filter(|(s, _)| s.starts_with('2')).collect();
        // The one retired route answers 410 only.
        if path != "/api/billing/subscribe" && !success.iter().any(|(_, r)| r["content"].is_object()) {
            problems.push(format!("{name}: no success body"));
        }
        for (status, r) in responses {
            if (status.starts_with('4') || status.starts_with('5')) && !r["content"]["application/json"].is_object() {
                problems.push(format!("{name}: error {status} has no body schema"));
            }
        }
        for needed in ["400", "500"] {
            if !responses.contains_key(needed)
                && !path.starts_with("/health")
                && !path.starts_with("/ready")
                && !path.starts_with("/metrics")
            {
                problems.push(format!("{name}: {needed} undocumented"));
            }
        }
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            if !params.contains(&name) {
                problems.push(format!("{} {path}: path parameter {name} undocumented", method.to_uppercase()));
            }
        }
        // Routed: a request reaches the operation (whatever it answers), not the fallback.
        let url = format!("{}{}", app.base_url, path.replace('{', "x").replace('}', ""));
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let res = app.http.request(m, &url).send().await.expect("call");
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status == 404 && body.to_string().contains("route not found") {
            problems.push(format!("{name}: documented but not routed"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // The API surfaces' error envelopes are all described.
    for schema in ["SuccessError", "FlatError", "TypedError"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

const SERVICE_TOKEN: &str = "contract-gateway-service-token-0123456789";
const METRICS_TOKEN: &str = "contract-metrics-token-0123456789abcdef0123";

/// schemathesis, pinned and installed by `.ci/run`, against a live api with its worker,
/// the fake Stripe and a local chain, with every check on. Its config supplies real ids
/// (a pool, an order, a key, a dead job) so that it reaches past 404s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failures() {
    let chain = TestChain::start().await;
    let stripe = FakeStripe::start().await;
    let mut env = chain.env(1);
    env.push(("STRIPE_SECRET_KEY".into(), stripe.secret_key.clone()));
    env.push(("STRIPE_API_BASE".into(), stripe.base_url.clone()));
    // Creem too, so its channel and webhook are reached past "not configured".
    let creem = tollgate_tests::fake_creem::FakeCreem::start().await;
    creem.one_time_product("prod_contract_dollar", 100);
    env.extend(creem.env(Some("prod_contract_dollar")));
    // The fuzzer is one client sending hundreds of requests a second.
    env.push(("PUBLIC_RATE_PER_SECOND".into(), "100000".into()));
    env.push(("VERIFY_RATE_PER_MINUTE".into(), "100000".into()));
    // With a token the scrape is served here, and asks for it.
    env.push(("METRICS_TOKEN".into(), METRICS_TOKEN.into()));
    env.push(("SERVICE_TOKEN".into(), SERVICE_TOKEN.into()));
    let app = TestApp::with(tollgate_tests::TestOptions { env, ..Default::default() }).await;
    stripe.deliver_to(&format!("{}/payment/webhook/stripe", app.base_url), tollgate_tests::events::WEBHOOK_SECRET);
    let admin = app.jwt("contract-admin", "billing:read billing:write admin");

    // Real ids for the parameters, so that operations reach past their 404s.
    let (_, order) = app
        .call(Method::POST, "/api/billing/topup", Some(&admin), Some(&json!({"amount": 25, "method": "stripe"})))
        .await;
    let (_, orders) = app.call(Method::GET, "/orders", Some(&admin), None).await;
    let order_id = orders["data"][0]["id"].as_str().map(str::to_owned).unwrap_or_else(|| panic!("an order: {order}"));
    let (_, key) = app.call(Method::POST, "/api/keys/credit", Some(&admin), Some(&json!({"name": "fuzzed"}))).await;
    let key_id = key["data"]["id"].as_str().expect("key").to_owned();
    let key_secret = key["data"]["key"].as_str().expect("the key's secret, shown once").to_owned();
    let (_, pools) = app.call(Method::GET, "/api/pools", Some(&admin), None).await;
    let pool = pools["data"][0]["slug"].as_str().expect("a pool").to_owned();
    let (_, plans) = app.call(Method::GET, "/admin/billing/plans", Some(&admin), None).await;
    let plan = plans["data"][0]["slug"].as_str().expect("a plan").to_owned();

    let config = std::env::temp_dir().join(format!("tollgate-schemathesis-{}.toml", uuid::Uuid::new_v4()));
    let template = include_str!("../../contract/schemathesis.toml");
    let text = template
        .replace("{order_id}", &order_id)
        .replace("{key_id}", &key_id)
        .replace("{key_secret}", &key_secret)
        .replace("{pool}", &pool)
        .replace("{plan}", &plan)
        .replace("{admin_token}", &admin)
        .replace("{service_token}", SERVICE_TOKEN)
        .replace("{metrics_token}", METRICS_TOKEN);
    std::fs::write(&config, text).expect("config");
    // CI runs a fixed seed; set these to explore further.
    let seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".to_owned());
    let examples = std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".to_owned());
    let out = tokio::process::Command::new("schemathesis")
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{}/openapi.json", app.base_url), "--checks", "all", "--max-examples", &examples])
        .args(["--seed", &seed, "--no-color"])
        .output()
        .await
        .expect("schemathesis is installed (.ci/run: pip install -r tests/contract/requirements.txt)");
    let _ = std::fs::remove_file(&config);
    let report = String::from_utf8_lossy(&out.stdout);
    // The summary section (operations, test cases, checks, warnings), for the log.
    let summary = report.rsplit_once("SUMMARY").map_or(report.as_ref(), |(_, tail)| tail);
    println!("schemathesis summary:{summary}");
    assert!(out.status.success(), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    app.assert_ledger_invariants().await;
}

/// A client generated from `/openapi.json` by a mainstream generator (openapi-python-client,
/// pinned and installed by `.ci/run`) builds from the document with no warning, and makes
/// authenticated calls whose answers it parses into its typed models.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_client_builds_and_calls_the_api() {
    let app = TestApp::with(tollgate_tests::TestOptions { worker: false, ..Default::default() }).await;
    let token = app.jwt("generated-client", "billing:read billing:write");
    app.call(Method::POST, "/checkin", Some(&token), None).await;
    let doc = app.http.get(format!("{}/openapi.json", app.base_url)).send().await.expect("doc");
    let doc = doc.text().await.expect("text");
    let dir = std::env::temp_dir().join(format!("tollgate-client-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("openapi.json"), doc).expect("write");
    let generated = tokio::process::Command::new("openapi-python-client")
        .current_dir(&dir)
        .args(["generate", "--path", "openapi.json", "--meta", "none", "--output-path", "tollgate_client"])
        .output()
        .await
        .expect("openapi-python-client is installed (.ci/run: pip install -r tests/contract/requirements.txt)");
    let log = format!("{}{}", String::from_utf8_lossy(&generated.stdout), String::from_utf8_lossy(&generated.stderr));
    assert!(generated.status.success(), "{log}");
    assert!(!log.contains("Warning"), "the document generates cleanly: {log}");
    let script = format!(
        r#"
import sys
sys.path.insert(0, ".")
from tollgate_client import AuthenticatedClient, Client
from tollgate_client.api.credits_ import get_credits_balance
from tollgate_client.api.subscriptions import get_plans
from tollgate_client.models import EnvelopeBalance, SuccessError
client = AuthenticatedClient(base_url="{base}", token="{token}")
balance = get_credits_balance.sync_detailed(client=client)
assert balance.status_code == 200, balance
assert isinstance(balance.parsed, EnvelopeBalance), balance.parsed
print("balance", balance.parsed.data.balance)
anonymous = get_credits_balance.sync_detailed(client=Client(base_url="{base}"))
assert anonymous.status_code == 401 and isinstance(anonymous.parsed, SuccessError), anonymous
print("anonymous", anonymous.parsed.error.code)
plans = get_plans.sync(client=Client(base_url="{base}"))
print("plans", len(plans))
"#,
        base = app.base_url
    );
    let run = tokio::process::Command::new("python3")
        .current_dir(&dir)
        .args(["-c", &script])
        .output()
        .await
        .expect("python3");
    let out = String::from_utf8_lossy(&run.stdout).to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(run.status.success(), "{out}{}", String::from_utf8_lossy(&run.stderr));
    // The daily check-in granted the account its credits; the client read them back.
    let (_, cfg) = app.call(Method::GET, "/credits/balance", Some(&token), None).await;
    let expected = cfg["data"]["balance"].as_i64().expect("balance");
    assert!(expected > 0, "{cfg}");
    assert!(out.contains(&format!("balance {expected}")), "{out}");
    assert!(out.contains("anonymous unauthorized"), "{out}");
}
