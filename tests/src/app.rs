//! Starts the real `api` and `worker` processes for one test.

use crate::db::TestDb;
use crate::events::{WEBHOOK_SECRET, signature};
use crate::proxy::Proxy;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef0123456789";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub struct TestOptions {
    pub backend: Backend,
    /// Start one worker with the api.
    pub worker: bool,
    /// Put a cuttable proxy between the processes and Postgres / Redis.
    pub db_proxy: bool,
    pub redis_proxy: bool,
    pub env: Vec<(String, String)>,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions { backend: Backend::Postgres, worker: true, db_proxy: false, redis_proxy: false, env: Vec::new() }
    }
}

pub struct TestApp {
    pub db: TestDb,
    pub base_url: String,
    pub http: reqwest::Client,
    pub redis_prefix: String,
    pub db_proxy: Option<Proxy>,
    pub redis_proxy: Option<Proxy>,
    api: Child,
    /// Further api processes sharing the database and Redis (see [`TestApp::start_api`]).
    more_apis: Vec<Child>,
    pub workers: Vec<Child>,
    env: Vec<(String, String)>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::with(TestOptions::default()).await
    }

    pub async fn with(opts: TestOptions) -> TestApp {
        let db = match opts.backend {
            Backend::Postgres => TestDb::postgres().await,
            Backend::Sqlite => TestDb::sqlite().await,
        };
        let db_proxy = if opts.db_proxy { Some(Proxy::start("127.0.0.1:5432".into()).await) } else { None };
        let redis_proxy = if opts.redis_proxy { Some(Proxy::start("127.0.0.1:6379".into()).await) } else { None };
        let database_url = match &db_proxy {
            Some(p) => db.url.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", p.port)),
            None => db.url.clone(),
        };
        let redis_url = match &redis_proxy {
            Some(p) => format!("redis://127.0.0.1:{}", p.port),
            None => REDIS_URL.to_owned(),
        };
        let port = free_port();
        let redis_prefix = format!("tgtest:{}:", uuid::Uuid::new_v4().simple());
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database_url),
            ("REDIS_URL".into(), redis_url),
            ("REDIS_PREFIX".into(), redis_prefix.clone()),
            ("BIND_ADDR".into(), format!("127.0.0.1:{port}")),
            ("JWT_SECRET".into(), JWT_SECRET.into()),
            ("STRIPE_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into()),
            ("RELAY_INTERVAL_MS".into(), "100".into()),
            ("JOB_LEASE_MARGIN_MS".into(), "1000".into()),
            ("MAX_BODY_BYTES".into(), "65536".into()),
            ("RUST_LOG".into(), std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into())),
        ];
        env.extend(opts.env);
        let api = spawn_bin("api", &env);
        let mut app = TestApp {
            db,
            base_url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client"),
            redis_prefix,
            db_proxy,
            redis_proxy,
            api,
            more_apis: Vec::new(),
            workers: Vec::new(),
            env,
        };
        app.wait_healthy().await;
        if opts.worker {
            app.start_worker(&[]).await;
        }
        app
    }

    async fn wait_healthy(&mut self) {
        let url = format!("{}/health", self.base_url);
        wait_healthy(&self.http, &mut self.api, &url).await;
    }

    /// Starts another api process on its own port, sharing the database, Redis and its key
    /// prefix with the first; returns its base URL.
    pub async fn start_api(&mut self) -> String {
        let port = free_port();
        let mut env = self.env.clone();
        env.retain(|(k, _)| k != "BIND_ADDR");
        env.push(("BIND_ADDR".into(), format!("127.0.0.1:{port}")));
        let mut api = spawn_bin("api", &env);
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(&self.http, &mut api, &format!("{base}/health")).await;
        self.more_apis.push(api);
        base
    }

    /// Starts another worker process; `extra` overrides the environment. Returns its index.
    pub async fn start_worker(&mut self, extra: &[(&str, &str)]) -> usize {
        let mut env = self.env.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.workers.push(spawn_bin("worker", &env));
        self.workers.len() - 1
    }

    /// Kills the first api process (as a crash would).
    pub async fn kill_api(&mut self) {
        self.api.kill().await.expect("kill api");
    }

    pub async fn kill_worker(&mut self, index: usize) {
        let w = &mut self.workers[index];
        w.kill().await.expect("kill worker");
    }

    /// Sends SIGTERM, as a process manager does on a rolling restart.
    pub fn terminate_worker(&self, index: usize) {
        if let Some(pid) = self.workers[index].id() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        }
    }

    pub fn worker_alive(&mut self, index: usize) -> bool {
        matches!(self.workers[index].try_wait(), Ok(None))
    }

    pub async fn wait_worker_exit(&mut self, index: usize, timeout: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(timeout, self.workers[index].wait())
            .await
            .expect("worker exits in time")
            .expect("wait worker")
    }

    /// A JWT for `sub` with `scope`, signed HS256 as an identity provider would.
    pub fn jwt(&self, sub: &str, scope: &str) -> String {
        let exp = chrono::Utc::now().timestamp() + 3600;
        sign_jwt(&serde_json::json!({"sub": sub, "scope": scope, "exp": exp}))
    }
}

/// Any claims, signed HS256 with the tests' `JWT_SECRET`.
pub fn sign_jwt(claims: &Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &key).expect("sign")
}

impl TestApp {
    /// Posts raw bytes to the Stripe webhook with the given signature header.
    pub async fn post_webhook(&self, body: Vec<u8>, signature_header: Option<String>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/payment/webhook/stripe", self.base_url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(h) = signature_header {
            req = req.header("stripe-signature", h);
        }
        req.send().await.expect("webhook request")
    }

    /// Signs and delivers an event as Stripe does.
    pub async fn deliver(&self, event: &Value) -> reqwest::Response {
        let body = serde_json::to_vec(event).expect("event json");
        let sig = signature(&body, crate::events::now(), WEBHOOK_SECRET);
        self.post_webhook(body, Some(sig)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let res = self.http.get(format!("{}{path}", self.base_url)).bearer_auth(token).send().await.expect("GET");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A pending card top-up order of `usd` dollars for `subject`'s account.
    pub async fn topup_order(&self, subject: &str, usd: i64) -> entities::orders::Model {
        let account = billing::accounts::ensure(&self.db.conn, subject).await.expect("account");
        let amount = billing::Micros::from_usd(usd).expect("amount");
        billing::orders::create_topup(&self.db.conn, account.id, amount, entities::PayMethod::Stripe)
            .await
            .expect("order")
    }

    /// `n` pending card top-up orders of `micros` each, inserted in bulk; their ids.
    pub async fn seed_topup_orders(
        &self,
        account_id: billing::AccountId,
        n: usize,
        micros: i64,
    ) -> Vec<billing::OrderId> {
        let ids: Vec<billing::OrderId> = (0..n).map(|_| billing::OrderId::generate()).collect();
        let orders: Vec<_> = ids.iter().map(|id| (*id, account_id)).collect();
        crate::db::insert_topup_orders(&self.db.conn, &orders, micros).await.expect("insert orders");
        ids
    }

    /// Gives `subject`'s account a live key tier (`tier-starter`, `tier-growth`), as a paid
    /// tier subscription would.
    pub async fn give_key_tier(&self, subject: &str, slug: &str) {
        use sea_orm::{ActiveValue::Set, EntityTrait};
        let account = self.account_id(subject).await;
        let plan = billing::catalog::plan_by_slug(&self.db.conn, slug).await.expect("plan").expect("tier plan");
        let now = chrono::Utc::now();
        entities::subscriptions::Entity::insert(entities::subscriptions::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            account_id: Set(account),
            plan_id: Set(plan.id),
            kind: Set(entities::PlanKind::KeyTier),
            status: Set(entities::SubscriptionStatus::Active),
            interval: Set(None),
            stripe_subscription_id: Set(Some(format!("sub_test_{}", uuid::Uuid::new_v4().simple()))),
            creem_subscription_id: Set(None),
            current_period_start: Set(Some(now)),
            current_period_end: Set(Some(now + chrono::Duration::days(30))),
            cancel_at_period_end: Set(false),
            pending_plan_id: Set(None),
            provider_version: Set(0),
            order_id: Set(None),
            trial_end: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&self.db.conn)
        .await
        .expect("tier subscription");
    }

    /// The id of `subject`'s account (created on first use, as the api does).
    pub async fn account_id(&self, subject: &str) -> billing::AccountId {
        billing::accounts::ensure(&self.db.conn, subject).await.expect("account").id
    }

    /// The customer's credit balance, straight from the ledger.
    pub async fn balance(&self, account_id: billing::AccountId) -> billing::Micros {
        billing::ledger::customer_balance(&self.db.conn, account_id).await.expect("balance")
    }

    /// The outbox row of a job by key.
    pub async fn job(&self, key: &str) -> Option<entities::jobs::Model> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entities::jobs::Entity::find()
            .filter(entities::jobs::Column::JobKey.eq(key))
            .one(&self.db.conn)
            .await
            .expect("job")
    }

    /// Any method, optionally authenticated, optionally with a JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base_url)).header("x-api-version", "2");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Waits until no job is pending, dispatched or running.
    pub async fn wait_drained(&self, timeout: Duration) {
        let db = &self.db.conn;
        crate::eventually(timeout, "queues to drain", || async {
            match billing::jobs::outbox::unfinished(db).await {
                Ok(0) => Some(()),
                _ => None,
            }
        })
        .await
    }

    /// The ledger's invariants: balances sum to zero; each equals its transfers.
    pub async fn assert_ledger_invariants(&self) {
        let violations = billing::ledger::check_invariants(&self.db.conn).await.expect("check ledger");
        assert!(violations.is_empty(), "ledger invariants violated: {violations:?}");
    }

    /// Jobs in the dead-letter state, with their errors.
    pub async fn dead_jobs(&self) -> Vec<(String, Option<String>)> {
        billing::jobs::outbox::dead(&self.db.conn, 100)
            .await
            .expect("dead jobs")
            .into_iter()
            .map(|j| (j.job_key, j.last_error))
            .collect()
    }

    /// Redis list length of a queue.
    pub async fn redis_depth(&self, queue: billing::jobs::JobQueue) -> usize {
        let client = redis::Client::open(REDIS_URL).expect("redis url");
        let mut conn = client.get_multiplexed_async_connection().await.expect("redis");
        let key = platform::dispatch::queue_key(&self.redis_prefix, queue);
        redis::cmd("LLEN").arg(key).query_async(&mut conn).await.expect("LLEN")
    }
}

async fn wait_healthy(http: &reqwest::Client, api: &mut Child, url: &str) {
    for _ in 0..300 {
        if let Ok(Some(status)) = api.try_wait() {
            panic!("api exited at start: {status}");
        }
        if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("api did not become healthy");
}

pub fn spawn_bin(name: &str, env: &[(String, String)]) -> Child {
    let path = crate::bin_dir().join(name);
    assert!(path.exists(), "{} is missing: build the binaries first (cargo build --workspace --bins)", path.display());
    let mut cmd = Command::new(path);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"))
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the processes before the database is dropped under them.
        let _ = self.api.start_kill();
        for a in &mut self.more_apis {
            let _ = a.start_kill();
        }
        for w in &mut self.workers {
            let _ = w.start_kill();
        }
        let prefix = self.redis_prefix.clone();
        let _ = std::thread::spawn(move || {
            let client = redis::Client::open(REDIS_URL).ok()?;
            let mut conn = client.get_connection().ok()?;
            let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut conn).ok()?;
            if !keys.is_empty() {
                let _: () = redis::cmd("DEL").arg(keys).query(&mut conn).ok()?;
            }
            Some(())
        })
        .join();
    }
}
