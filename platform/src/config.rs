//! Typed settings from the environment, validated at start. Every bad value is named at
//! once, so an operator fixes a deployment in one pass rather than one error per restart.

use crate::secret::Secret;
use billing::jobs::QueuePolicy;
use entities::JobQueue;
use sea_orm::Iterable;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// The quick start's database: an embedded SQLite file, no server needed.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tollgate.sqlite?mode=rwc";
/// Published values, used only in explicit development mode (`TOLLGATE_ENV=development`)
/// when the real ones are unset. Outside development they are refused even when set, so a
/// deployment cannot run on a secret anyone can read in this file.
const DEV_JWT_SECRET: &str = "dev-only-insecure-jwt-secret-change-me-000000";
const DEV_WEBHOOK_SECRET: &str = "whsec_dev_only_insecure";

/// `TOLLGATE_ENV`: production unless development is asked for by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Production,
    Development,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: Secret,
    pub redis_url: Secret,
    /// Prefix of every Redis key, so several deployments (or tests) share one Redis.
    pub redis_prefix: String,
    pub bind_addr: SocketAddr,
    /// Where users reach the api (`PUBLIC_URL`); its host is the domain wallets sign for.
    pub public_url: String,
    /// Where a worker serves `/metrics`; unset: not served (the api serves it on `BIND_ADDR`).
    pub metrics_addr: Option<SocketAddr>,
    pub jwt_secret: Secret,
    /// When set, a JWT's `iss` must equal it.
    pub jwt_issuer: Option<String>,
    /// When set, a JWT's `aud` (a string or a list) must contain it.
    pub jwt_audience: Option<String>,
    /// Sign-in from an identity provider, admin grants, API keys as bearers.
    pub identity: Identity,
    /// Bearer token for `/metrics` on `BIND_ADDR`; unset: `/metrics` is served only on
    /// `METRICS_ADDR` (an internal address), never publicly.
    pub metrics_token: Secret,
    pub service_token: Secret,
    pub stripe_secret_key: Secret,
    pub stripe_webhook_secret: Secret,
    pub stripe_api_base: String,
    /// Creem, the second card provider; off while `CREEM_API_KEY` is unset.
    pub creem: Creem,
    /// Webhooks out to customers' endpoints.
    pub webhooks: Webhooks,
    /// Where Stripe Checkout sends the customer back to.
    pub checkout_success_url: String,
    pub checkout_cancel_url: String,
    /// Usually carries the RPC provider's key: a secret, never printed.
    pub chain_rpc_url: Secret,
    pub chain_id: u64,
    pub usdc_contract: String,
    pub payment_address: String,
    pub usdc_confirmations: u64,
    /// Transfers below this are dust: recorded once and listed, never matched.
    pub usdc_dust_below: billing::Micros,
    /// How long a verification keeps re-checking a transfer that is not found or not
    /// confirmed before it gives the answer "not found" / "not confirmed".
    pub usdc_pending_deadline: Duration,
    /// How often the chain scan runs, and how many blocks one `eth_getLogs` covers.
    pub chain_scan_interval: Duration,
    /// How often 30-day subscriptions and pledges past their end are expired.
    pub expiry_interval: Duration,
    /// How often reconciliation runs (Stripe events catch-up, subscriptions re-fetched, report).
    pub reconcile_interval: Duration,
    /// Most Stripe events one reconciliation run lists; a longer listing resumes next run.
    pub reconcile_max_events: usize,
    pub chain_scan_range: u64,
    /// The block the first scan starts from (later scans resume from the stored cursor).
    pub chain_scan_from_block: u64,
    pub log_format: LogFormat,
    /// Settings that were defaulted to development values; logged as a warning at start.
    pub dev_defaults: Vec<&'static str>,
    pub queues: HashMap<JobQueue, QueuePolicy>,
    /// Most wake-up messages one queue's Redis list may hold.
    pub redis_window: usize,
    /// How often each worker re-reads the paused queues.
    pub relay_interval: Duration,
    /// Margin past a job's time limit before another worker may take over its run.
    pub lease_margin: Duration,
    pub checkout_wait: Duration,
    pub webhook_tolerance: Duration,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// How long an api process trusts what it read about a key before reading it again:
    /// the most a revocation or a top-up takes to reach every api process.
    pub key_cache_ttl: Duration,
    /// Most keys (not revoked) one account may hold.
    pub max_keys_per_account: u64,
    /// USDC verification requests one account may make per minute.
    pub verify_rate_per_minute: u32,
    /// Requests a second one client (peer address) may make to the public routes, and to
    /// the webhook; bursts of twice that.
    pub public_rate_per_second: u32,
    pub webhook_rate_per_second: u32,
    /// How late a usage event may arrive and still count (in its own period).
    pub usage_lateness: Duration,
    /// How key verifications are admitted: exactly (a Redis script each) or approximately.
    pub verify_mode: crate::limiter::VerifyMode,
    /// How long stored records are kept, and how the pruning runs (`billing::retention`).
    pub retention: billing::retention::Windows,
    /// How often a retention pass is scheduled.
    pub retention_interval: Duration,
}

/// How webhooks are delivered to customers' endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhooks {
    /// `WEBHOOK_DISABLE_AFTER` (3 days): an endpoint failing every delivery this long is disabled.
    pub disable_after: Duration,
    /// `WEBHOOK_TIMEOUT_MS` (10 s): one delivery's whole request, the answer's read included.
    pub timeout: Duration,
    /// `WEBHOOK_ALLOW_PRIVATE_TARGETS` (true only in development): deliver to loopback, private
    /// and link-local addresses too. Off, such a target is refused, checked after DNS resolution.
    pub allow_private_targets: bool,
}

/// Creem's API and webhooks.
#[derive(Debug, Clone)]
pub struct Creem {
    /// `CREEM_API_KEY` (`creem_…`, `creem_test_…` in test mode); empty: Creem is off.
    pub api_key: Secret,
    /// `CREEM_WEBHOOK_SECRET`: signs the deliveries to `/payment/webhook/creem`.
    pub webhook_secret: Secret,
    /// `CREEM_API_BASE`: Creem's test host for a test key, its live host otherwise.
    pub api_base: String,
    /// `CREEM_TOPUP_PRODUCT_ID`: a one-time product priced at one US dollar; a credit
    /// purchase buys as many units as dollars. Unset: credits are not sold through Creem.
    pub topup_product_id: Option<String>,
}

impl Creem {
    pub fn enabled(&self) -> bool {
        !self.api_key.is_empty()
    }
}

/// Who may sign in, and how a token's claims become an account and its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's JSON Web Key Set (`JWT_JWKS_URL`). Set: tokens are verified against
    /// its keys (RS256/384/512, PS256/384/512, ES256/384, EdDSA), and HS256 tokens are
    /// refused, so the provider is the only root of trust.
    pub jwks_url: Option<String>,
    /// How long a fetched key set is used before it is fetched again.
    pub jwks_ttl: Duration,
    /// The least time between two fetches of the key set on unknown `kid`s: a flood of
    /// made-up `kid`s costs the provider at most one request per interval.
    pub jwks_min_refetch: Duration,
    /// The claim naming the account's subject (`sub`; Firebase's `user_id` is the same).
    pub subject_claim: String,
    /// Subjects that are operators (`admin` scope), whatever their token says.
    pub admin_subjects: Vec<String>,
    /// A claim (`roles`, `groups`, or a Firebase custom claim) that grants `admin` when it
    /// is `true`, the string `admin`, or a list holding `admin`.
    pub admin_claim: Option<String>,
    /// A prefix API keys are minted with and accepted as bearers under, besides `tg_`
    /// (`API_KEY_BEARER_PREFIX`, e.g. `inf_`).
    pub api_key_bearer_prefix: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

/// Reads values from a lookup (the environment in production, a map in tests) and
/// collects every problem.
struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<String>,
}

impl Reader<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        (self.get)(name).filter(|v| !v.trim().is_empty())
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_owned())
    }

    fn parse<T: std::str::FromStr>(&mut self, name: &str, default: T) -> T {
        match self.raw(name) {
            None => default,
            Some(v) => match v.trim().parse() {
                Ok(x) => x,
                Err(_) => {
                    self.errors.push(format!("{name}: cannot parse {v:?}"));
                    default
                }
            },
        }
    }

    fn millis(&mut self, name: &str, default: u64) -> Duration {
        Duration::from_millis(self.parse(name, default))
    }

    /// A duration written for people (`7d`, `36h`, `1h 30m`) or as bare seconds.
    fn duration(&mut self, name: &str, default: Duration) -> Duration {
        let Some(v) = self.raw(name) else { return default };
        let v = v.trim();
        match v.parse::<u64>().map(Duration::from_secs).or_else(|_| humantime::parse_duration(v)) {
            Ok(d) => d,
            Err(_) => {
                self.errors.push(format!("{name}: cannot parse {v:?} (write e.g. 7d, 36h, 90m or seconds)"));
                default
            }
        }
    }

    /// A secret with a published development value: in development an unset one takes
    /// that value (and is listed as a development default); anywhere else it is required,
    /// and the published value itself is refused.
    fn secret(
        &mut self,
        name: &'static str,
        dev_value: &str,
        dev: bool,
        dev_defaults: &mut Vec<&'static str>,
    ) -> String {
        match self.raw(name) {
            Some(v) if !dev && v == dev_value => {
                self.errors.push(format!("{name}: the published development value is refused outside development"));
                v
            }
            Some(v) => v,
            None if dev => {
                dev_defaults.push(name);
                dev_value.to_owned()
            }
            None => {
                self.errors.push(format!(
                    "{name}: required (or set TOLLGATE_ENV=development to run on published development values)"
                ));
                dev_value.to_owned()
            }
        }
    }

    fn check(&mut self, ok: bool, message: impl Into<String>) {
        if !ok {
            self.errors.push(message.into());
        }
    }
}

/// Whether a URL points at this machine (plain http is allowed there: tests, sidecars).
fn is_local_url(url: &str) -> bool {
    let rest = url.trim_start_matches("http://");
    rest.starts_with("127.0.0.1") || rest.starts_with("localhost") || rest.starts_with("[::1]")
}

fn is_hex_address(s: &str) -> bool {
    s.len() == 42 && s.starts_with("0x") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(&|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let mut r = Reader { get, errors: Vec::new() };
        let mut dev_defaults = Vec::new();
        let environment = match r.string("TOLLGATE_ENV", "production").as_str() {
            "production" => Environment::Production,
            "development" => Environment::Development,
            other => {
                r.errors.push(format!("TOLLGATE_ENV: {other:?} is neither production nor development"));
                Environment::Production
            }
        };
        let dev = environment == Environment::Development;

        let database_url = r.string("DATABASE_URL", DEFAULT_DATABASE_URL);
        r.check(
            database_url.starts_with("postgres://")
                || database_url.starts_with("postgresql://")
                || database_url.starts_with("sqlite:"),
            "DATABASE_URL: must be a postgres:// or sqlite: URL",
        );
        let redis_url = r.string("REDIS_URL", "redis://127.0.0.1:6379");
        r.check(
            redis_url.starts_with("redis://") || redis_url.starts_with("rediss://"),
            "REDIS_URL: must be a redis:// or rediss:// URL",
        );
        let redis_prefix = r.string("REDIS_PREFIX", "tollgate:");
        let bind_addr = r.parse("BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)));
        let public_url = r.string("PUBLIC_URL", &format!("http://{bind_addr}"));
        r.check(
            public_url.starts_with("http://") || public_url.starts_with("https://"),
            "PUBLIC_URL: must be an http(s) URL",
        );
        let metrics_addr =
            r.raw("METRICS_ADDR").map(|_| r.parse("METRICS_ADDR", SocketAddr::from(([127, 0, 0, 1], 0))));

        let jwt_secret = r.secret("JWT_SECRET", DEV_JWT_SECRET, dev, &mut dev_defaults);
        r.check(jwt_secret.len() >= 32, "JWT_SECRET: must be at least 32 bytes");
        let jwt_issuer = r.raw("JWT_ISSUER");
        let jwt_audience = r.raw("JWT_AUDIENCE");
        let identity = Identity {
            jwks_url: r.raw("JWT_JWKS_URL"),
            jwks_ttl: r.duration("JWT_JWKS_TTL", Duration::from_secs(3_600)),
            jwks_min_refetch: r.duration("JWT_JWKS_MIN_REFETCH", Duration::from_secs(30)),
            subject_claim: r.string("JWT_SUBJECT_CLAIM", "sub"),
            admin_subjects: r
                .raw("ADMIN_SUBJECTS")
                .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
            admin_claim: r.raw("JWT_ADMIN_CLAIM"),
            api_key_bearer_prefix: r.raw("API_KEY_BEARER_PREFIX"),
        };
        if let Some(url) = &identity.jwks_url {
            r.check(
                url.starts_with("https://") || (is_local_url(url) && url.starts_with("http://")),
                "JWT_JWKS_URL: must be an https URL (http only to 127.0.0.1 or localhost)",
            );
            // Keys published by a provider sign tokens for every one of its customers: without
            // both checks, any project's users could sign in here.
            r.check(
                jwt_issuer.is_some() && jwt_audience.is_some(),
                "JWT_JWKS_URL: needs JWT_ISSUER and JWT_AUDIENCE (a provider's keys sign tokens for all its tenants)",
            );
        }
        r.check(
            identity.subject_claim.len() <= 64 && !identity.subject_claim.is_empty(),
            "JWT_SUBJECT_CLAIM: a claim name of at most 64 characters",
        );
        if let Some(p) = &identity.api_key_bearer_prefix {
            r.check(
                (2..=16).contains(&p.len())
                    && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !["mk_", "tg_", "whsec_"].iter().any(|taken| p.starts_with(taken)),
                "API_KEY_BEARER_PREFIX: 2–16 letters, digits or _, not mk_ or tg_ (e.g. inf_)",
            );
        }
        let metrics_token = r.raw("METRICS_TOKEN").unwrap_or_default();
        r.check(metrics_token.is_empty() || metrics_token.len() >= 24, "METRICS_TOKEN: must be at least 24 characters");
        let service_token = r.raw("SERVICE_TOKEN").unwrap_or_default();
        r.check(service_token.is_empty() || service_token.len() >= 24, "SERVICE_TOKEN: must be at least 24 characters");
        let stripe_secret_key = r.raw("STRIPE_SECRET_KEY").unwrap_or_default();
        r.check(
            stripe_secret_key.is_empty()
                || stripe_secret_key.starts_with("sk_")
                || stripe_secret_key.starts_with("rk_"),
            "STRIPE_SECRET_KEY: must start with sk_ or rk_",
        );
        let stripe_webhook_secret = r.secret("STRIPE_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET, dev, &mut dev_defaults);
        r.check(stripe_webhook_secret.starts_with("whsec_"), "STRIPE_WEBHOOK_SECRET: must start with whsec_");
        let stripe_api_base = r.string("STRIPE_API_BASE", "https://api.stripe.com");
        r.check(
            stripe_api_base.starts_with("http://") || stripe_api_base.starts_with("https://"),
            "STRIPE_API_BASE: must be an http(s) URL",
        );
        let creem = {
            let api_key = r.raw("CREEM_API_KEY").unwrap_or_default();
            r.check(api_key.is_empty() || api_key.starts_with("creem_"), "CREEM_API_KEY: must start with creem_");
            let webhook_secret = r.raw("CREEM_WEBHOOK_SECRET").unwrap_or_default();
            r.check(
                api_key.is_empty() || !webhook_secret.is_empty(),
                "CREEM_WEBHOOK_SECRET: required with CREEM_API_KEY (deliveries cannot be verified without it)",
            );
            let default_base =
                if api_key.starts_with("creem_test_") { "https://test-api.creem.io" } else { "https://api.creem.io" };
            let api_base = r.string("CREEM_API_BASE", default_base).trim_end_matches('/').to_owned();
            r.check(
                api_base.starts_with("https://") || (is_local_url(&api_base) && api_base.starts_with("http://")),
                "CREEM_API_BASE: must be an https URL (plain http only on this machine)",
            );
            let topup_product_id = r.raw("CREEM_TOPUP_PRODUCT_ID");
            r.check(
                topup_product_id.as_ref().is_none_or(|p| p.starts_with("prod_") && p.len() <= 255),
                "CREEM_TOPUP_PRODUCT_ID: a Creem product id (prod_…)",
            );
            Creem {
                api_key: Secret::new(api_key),
                webhook_secret: Secret::new(webhook_secret),
                api_base,
                topup_product_id,
            }
        };
        let webhooks = Webhooks {
            disable_after: r.duration("WEBHOOK_DISABLE_AFTER", Duration::from_secs(3 * 86_400)),
            timeout: r.millis("WEBHOOK_TIMEOUT_MS", 10_000),
            allow_private_targets: r.parse("WEBHOOK_ALLOW_PRIVATE_TARGETS", dev),
        };
        r.check(
            (Duration::from_millis(100)..=Duration::from_secs(60)).contains(&webhooks.timeout),
            "WEBHOOK_TIMEOUT_MS: 100 to 60000",
        );
        let checkout_success_url =
            r.string("CHECKOUT_SUCCESS_URL", "http://127.0.0.1:8080/settings/billing/subscription?success=1");
        let checkout_cancel_url =
            r.string("CHECKOUT_CANCEL_URL", "http://127.0.0.1:8080/settings/billing/subscription");
        for (name, url) in
            [("CHECKOUT_SUCCESS_URL", &checkout_success_url), ("CHECKOUT_CANCEL_URL", &checkout_cancel_url)]
        {
            r.check(
                url.starts_with("http://") || url.starts_with("https://"),
                format!("{name}: must be an http(s) URL"),
            );
        }
        let chain_rpc_url = r.string("CHAIN_RPC_URL", "http://127.0.0.1:8545");
        r.check(
            chain_rpc_url.starts_with("http://") || chain_rpc_url.starts_with("https://"),
            "CHAIN_RPC_URL: must be an http(s) URL",
        );
        let chain_id = r.parse("CHAIN_ID", 8453u64);
        // Base mainnet's USDC; PAYMENT_ADDRESS has no safe default and stays empty until set.
        let usdc_contract = r.string("USDC_CONTRACT", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913");
        r.check(is_hex_address(&usdc_contract), "USDC_CONTRACT: must be a 0x-prefixed 20-byte hex address");
        let payment_address = r.string("PAYMENT_ADDRESS", "");
        r.check(
            payment_address.is_empty() || is_hex_address(&payment_address),
            "PAYMENT_ADDRESS: must be a 0x-prefixed 20-byte hex address",
        );
        // Base produces a block every 2 s: 10 blocks is about 20 s.
        let usdc_confirmations = r.parse("USDC_CONFIRMATIONS", 10u64);
        let usdc_dust_below = billing::Micros::new(r.parse("USDC_DUST_BELOW_MICROS", 1_000_000i64));
        let usdc_pending_deadline = r.millis("USDC_PENDING_DEADLINE_MS", 30 * 60 * 1000);
        let chain_scan_interval = r.millis("CHAIN_SCAN_INTERVAL_MS", 15_000);
        let expiry_interval = r.millis("EXPIRY_INTERVAL_MS", 3_600_000);
        let reconcile_interval = r.millis("RECONCILE_INTERVAL_MS", 300_000);
        let reconcile_max_events = r.parse("RECONCILE_MAX_EVENTS", 10_000usize);
        r.check(reconcile_max_events >= 1, "RECONCILE_MAX_EVENTS: must be at least 1");
        let chain_scan_range = r.parse("CHAIN_SCAN_RANGE", 2_000u64);
        r.check(chain_scan_range >= 1, "CHAIN_SCAN_RANGE: must be at least 1");
        let chain_scan_from_block = r.parse("CHAIN_SCAN_FROM_BLOCK", 0u64);
        let log_format = match r.string("LOG_FORMAT", "pretty").as_str() {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => {
                r.errors.push(format!("LOG_FORMAT: {other:?} is neither json nor pretty"));
                LogFormat::Pretty
            }
        };

        let mut queues = HashMap::new();
        for queue in JobQueue::iter() {
            let mut policy = QueuePolicy::default_for(queue);
            let upper = queue.as_str().to_uppercase();
            policy.concurrency = r.parse(&format!("QUEUE_{upper}_CONCURRENCY"), policy.concurrency);
            policy.max_attempts = r.parse(&format!("QUEUE_{upper}_MAX_ATTEMPTS"), policy.max_attempts);
            policy.timeout = r.millis(&format!("QUEUE_{upper}_TIMEOUT_MS"), policy.timeout.as_millis() as u64);
            policy.base_backoff =
                r.millis(&format!("QUEUE_{upper}_BACKOFF_BASE_MS"), policy.base_backoff.as_millis() as u64);
            policy.max_backoff =
                r.millis(&format!("QUEUE_{upper}_BACKOFF_MAX_MS"), policy.max_backoff.as_millis() as u64);
            r.check(
                policy.base_backoff <= policy.max_backoff,
                format!("QUEUE_{upper}_BACKOFF_BASE_MS: must not exceed QUEUE_{upper}_BACKOFF_MAX_MS"),
            );
            r.check(policy.concurrency >= 1, format!("QUEUE_{upper}_CONCURRENCY: must be at least 1"));
            r.check(policy.max_attempts >= 1, format!("QUEUE_{upper}_MAX_ATTEMPTS: must be at least 1"));
            queues.insert(queue, policy);
        }
        let redis_window = r.parse("JOB_REDIS_WINDOW", 1_000usize);
        // apalis-redis 1.0 dies near 8,000 due jobs; our own backend does not, but a small
        // window keeps Redis memory flat whatever the backlog.
        r.check((1..=100_000).contains(&redis_window), "JOB_REDIS_WINDOW: must be 1..=100000");
        let relay_interval = r.millis("RELAY_INTERVAL_MS", 250);
        let lease_margin = r.millis("JOB_LEASE_MARGIN_MS", 30_000);
        let checkout_wait = r.millis("CHECKOUT_WAIT_MS", 3_000);
        let webhook_tolerance = Duration::from_secs(r.parse("STRIPE_WEBHOOK_TOLERANCE_SECS", 300u64));
        let max_body_bytes = r.parse("MAX_BODY_BYTES", 256 * 1024usize);
        r.check(max_body_bytes >= 1024, "MAX_BODY_BYTES: must be at least 1024");
        let request_timeout = r.millis("REQUEST_TIMEOUT_MS", 30_000);
        let shutdown_timeout = r.millis("SHUTDOWN_TIMEOUT_MS", 30_000);
        let key_cache_ttl = r.millis("KEY_CACHE_TTL_MS", 1_000);
        let max_keys_per_account = r.parse("MAX_KEYS_PER_ACCOUNT", 25u64);
        let verify_rate_per_minute = r.parse("VERIFY_RATE_PER_MINUTE", 30u32);
        let public_rate_per_second = r.parse("PUBLIC_RATE_PER_SECOND", 50u32);
        let webhook_rate_per_second = r.parse("WEBHOOK_RATE_PER_SECOND", 10_000u32);
        r.check(public_rate_per_second >= 1, "PUBLIC_RATE_PER_SECOND: must be at least 1");
        r.check(webhook_rate_per_second >= 1, "WEBHOOK_RATE_PER_SECOND: must be at least 1");
        r.check(verify_rate_per_minute >= 1, "VERIFY_RATE_PER_MINUTE: must be at least 1");
        r.check(max_keys_per_account >= 1, "MAX_KEYS_PER_ACCOUNT: must be at least 1");
        // Three days: a gateway whose reporter was down over a weekend can still settle.
        let usage_lateness = Duration::from_secs(r.parse("USAGE_LATENESS_SECS", 3 * 86_400u64));
        let verify_sync = r.millis("VERIFY_SYNC_MS", 50);
        let verify_mode = match r.string("VERIFY_MODE", "exact").as_str() {
            "exact" => crate::limiter::VerifyMode::Exact,
            "approximate" => crate::limiter::VerifyMode::Approximate { sync: verify_sync },
            other => {
                r.errors.push(format!("VERIFY_MODE: {other:?} is not exact or approximate"));
                crate::limiter::VerifyMode::Exact
            }
        };
        r.check((1..=10_000).contains(&verify_sync.as_millis()), "VERIFY_SYNC_MS: must be 1..=10000");
        let retention = billing::retention::Windows {
            jobs: r.duration("JOB_RETENTION", Duration::from_secs(7 * 86_400)),
            // Stripe lets an operator resend an event for 30 days, and reconciliation walks
            // back as far: the inbox remembers an event at least that long by default.
            inbox: r.duration("INBOX_RETENTION", Duration::from_secs(30 * 86_400)),
            // Past the lateness window a re-sent event is refused anyway; a day on top.
            usage_events: r.duration("USAGE_EVENT_RETENTION", usage_lateness + Duration::from_secs(86_400)),
            usage_early: billing::usage::EARLY_ALLOWANCE,
            usage_lateness,
            batch: r.parse("RETENTION_BATCH", 5_000u64),
        };
        let retention_interval = r.millis("RETENTION_INTERVAL_MS", 600_000);
        r.check(
            retention.usage_events > usage_lateness,
            "USAGE_EVENT_RETENTION: must be longer than the lateness window (USAGE_LATENESS_SECS), or a re-sent event could count twice",
        );
        r.check(retention.jobs >= Duration::from_secs(60), "JOB_RETENTION: must be at least 60s");
        r.check(retention.inbox >= Duration::from_secs(60), "INBOX_RETENTION: must be at least 60s");
        r.check((1..=100_000).contains(&retention.batch), "RETENTION_BATCH: must be 1..=100000");

        if !r.errors.is_empty() {
            return Err(ConfigError(r.errors));
        }
        Ok(Settings {
            environment,
            database_url: Secret::new(database_url),
            redis_url: Secret::new(redis_url),
            redis_prefix,
            bind_addr,
            public_url,
            metrics_addr,
            jwt_secret: Secret::new(jwt_secret),
            jwt_issuer,
            jwt_audience,
            identity,
            metrics_token: Secret::new(metrics_token),
            service_token: Secret::new(service_token),
            stripe_secret_key: Secret::new(stripe_secret_key),
            stripe_webhook_secret: Secret::new(stripe_webhook_secret),
            stripe_api_base,
            creem,
            webhooks,
            checkout_success_url,
            checkout_cancel_url,
            chain_rpc_url: Secret::new(chain_rpc_url),
            chain_id,
            usdc_contract,
            payment_address,
            usdc_confirmations,
            usdc_dust_below,
            usdc_pending_deadline,
            chain_scan_interval,
            expiry_interval,
            reconcile_interval,
            reconcile_max_events,
            chain_scan_range,
            chain_scan_from_block,
            log_format,
            dev_defaults,
            queues,
            redis_window,
            relay_interval,
            lease_margin,
            checkout_wait,
            webhook_tolerance,
            max_body_bytes,
            request_timeout,
            shutdown_timeout,
            key_cache_ttl,
            max_keys_per_account,
            verify_rate_per_minute,
            public_rate_per_second,
            webhook_rate_per_second,
            usage_lateness,
            verify_mode,
            retention,
            retention_interval,
        })
    }

    pub fn queue(&self, queue: JobQueue) -> QueuePolicy {
        self.queues.get(&queue).copied().unwrap_or_else(|| QueuePolicy::default_for(queue))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(&move |k| map.get(k).cloned())
    }

    #[test]
    fn development_mode_starts_the_quick_start() {
        let s = from(&[("TOLLGATE_ENV", "development")]).expect("defaults are valid in development");
        assert_eq!(s.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(s.chain_id, 8453);
        assert!(s.dev_defaults.contains(&"JWT_SECRET"));
        assert!(s.dev_defaults.contains(&"STRIPE_WEBHOOK_SECRET"));
    }

    #[test]
    fn outside_development_the_secrets_are_required_and_the_published_ones_refused() {
        let text = from(&[]).expect_err("no secrets").to_string();
        assert!(text.contains("JWT_SECRET: required"), "{text}");
        assert!(text.contains("STRIPE_WEBHOOK_SECRET: required"), "{text}");
        let text = from(&[("JWT_SECRET", DEV_JWT_SECRET), ("STRIPE_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET)])
            .expect_err("published secrets")
            .to_string();
        assert!(text.contains("JWT_SECRET: the published development value"), "{text}");
        assert!(text.contains("STRIPE_WEBHOOK_SECRET: the published development value"), "{text}");
        let s =
            from(&[("JWT_SECRET", "a-real-secret-of-at-least-32-bytes-000"), ("STRIPE_WEBHOOK_SECRET", "whsec_real")])
                .expect("real secrets");
        assert_eq!(s.environment, Environment::Production);
        assert!(s.dev_defaults.is_empty());
    }

    #[test]
    fn creem_is_off_until_keyed_and_then_needs_its_webhook_secret() {
        let dev = ("TOLLGATE_ENV", "development");
        let s = from(&[dev]).expect("defaults");
        assert!(!s.creem.enabled());
        let text = from(&[dev, ("CREEM_API_KEY", "creem_test_abc")]).expect_err("no webhook secret").to_string();
        assert!(text.contains("CREEM_WEBHOOK_SECRET: required"), "{text}");
        assert!(!text.contains("creem_test_abc"), "a secret's value must not be echoed: {text}");
        let s =
            from(&[dev, ("CREEM_API_KEY", "creem_test_abc"), ("CREEM_WEBHOOK_SECRET", "whsec_x")]).expect("test key");
        assert_eq!(s.creem.api_base, "https://test-api.creem.io", "a test key talks to the test host");
        let s = from(&[dev, ("CREEM_API_KEY", "creem_abc"), ("CREEM_WEBHOOK_SECRET", "whsec_x")]).expect("live key");
        assert_eq!(s.creem.api_base, "https://api.creem.io");
        let text = from(&[
            dev,
            ("CREEM_API_KEY", "sk_wrong"),
            ("CREEM_WEBHOOK_SECRET", "whsec_x"),
            ("CREEM_API_BASE", "http://creem.example"),
            ("CREEM_TOPUP_PRODUCT_ID", "dollar"),
        ])
        .expect_err("bad values")
        .to_string();
        for name in ["CREEM_API_KEY:", "CREEM_API_BASE:", "CREEM_TOPUP_PRODUCT_ID:"] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
    }

    #[test]
    fn names_every_bad_value_at_once() {
        let err = from(&[
            ("DATABASE_URL", "mysql://x"),
            ("JWT_SECRET", "short"),
            ("CHAIN_ID", "base"),
            ("QUEUE_CHECKOUT_CONCURRENCY", "0"),
            ("LOG_FORMAT", "xml"),
        ])
        .expect_err("invalid");
        let text = err.to_string();
        for name in ["DATABASE_URL", "JWT_SECRET", "CHAIN_ID", "QUEUE_CHECKOUT_CONCURRENCY", "LOG_FORMAT"] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
        assert!(!text.contains("short"), "a secret's value must not be echoed: {text}");
    }

    #[test]
    fn retention_windows_read_as_people_write_them_and_refuse_unsafe_ones() {
        let dev = ("TOLLGATE_ENV", "development");
        let s = from(&[dev]).expect("defaults");
        assert_eq!(s.retention.jobs, Duration::from_secs(7 * 86_400));
        assert_eq!(s.retention.inbox, Duration::from_secs(30 * 86_400));
        assert_eq!(s.retention.usage_events, s.usage_lateness + Duration::from_secs(86_400));
        let s = from(&[dev, ("JOB_RETENTION", "36h"), ("INBOX_RETENTION", "45d"), ("USAGE_EVENT_RETENTION", "600")])
            .expect_err("usage events kept shorter than the lateness window")
            .to_string();
        assert!(s.contains("USAGE_EVENT_RETENTION: must be longer"), "{s}");
        let s = from(&[dev, ("JOB_RETENTION", "36h"), ("USAGE_LATENESS_SECS", "60"), ("USAGE_EVENT_RETENTION", "2m")])
            .expect("valid");
        assert_eq!(s.retention.jobs, Duration::from_secs(36 * 3_600));
        assert_eq!(s.retention.usage_events, Duration::from_secs(120));
        let text = from(&[dev, ("JOB_RETENTION", "a week")]).expect_err("unreadable").to_string();
        assert!(text.contains("JOB_RETENTION: cannot parse"), "{text}");
    }
}
