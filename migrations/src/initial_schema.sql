-- The initial schema, written once from a table spec (since retired: later changes are their own migrations). {uuid}, {ts} and {json} are filled per backend.
CREATE TABLE accounts (
    id {uuid} NOT NULL PRIMARY KEY,
    subject text NOT NULL,
    email text,
    stripe_customer_id text,
    wallet_address text,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE UNIQUE INDEX accounts_subject_key ON accounts (subject);

CREATE UNIQUE INDEX accounts_stripe_customer_id_key ON accounts (stripe_customer_id);

CREATE TABLE management_keys (
    id {uuid} NOT NULL PRIMARY KEY,
    account_id {uuid} NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    key_hash text NOT NULL,
    scopes text NOT NULL,
    created_at {ts} NOT NULL,
    last_used_at {ts},
    revoked_at {ts}
);

CREATE UNIQUE INDEX management_keys_key_hash_key ON management_keys (key_hash);

CREATE INDEX management_keys_account_id_idx ON management_keys (account_id);

CREATE TABLE api_keys (
    id {uuid} NOT NULL PRIMARY KEY,
    account_id {uuid} NOT NULL,
    kind varchar(32) NOT NULL,
    tier varchar(32),
    subscription_id {uuid},
    pledge_id {uuid},
    name text NOT NULL,
    prefix text NOT NULL,
    key_hash text NOT NULL,
    status varchar(32) NOT NULL,
    organization_name text,
    contact_email text,
    expires_at {ts},
    created_at {ts} NOT NULL,
    revoked_at {ts}
);

CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);

CREATE INDEX api_keys_account_id_idx ON api_keys (account_id);

CREATE INDEX api_keys_subscription_id_idx ON api_keys (subscription_id);

CREATE INDEX api_keys_pledge_id_idx ON api_keys (pledge_id);

CREATE TABLE plans (
    id {uuid} NOT NULL PRIMARY KEY,
    slug text NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    kind varchar(32) NOT NULL,
    price_monthly bigint,
    price_yearly bigint,
    credits_per_period bigint NOT NULL,
    stripe_price_monthly text,
    stripe_price_yearly text,
    features {json} NOT NULL,
    is_active boolean NOT NULL,
    sort_order integer NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE UNIQUE INDEX plans_slug_key ON plans (slug);

CREATE TABLE plan_limits (
    id {uuid} NOT NULL PRIMARY KEY,
    plan_id {uuid} NOT NULL,
    key text NOT NULL,
    label text NOT NULL,
    unit text NOT NULL,
    value bigint
);

CREATE UNIQUE INDEX plan_limits_plan_id_key_key ON plan_limits (plan_id, key);

CREATE TABLE pools (
    id {uuid} NOT NULL PRIMARY KEY,
    slug text NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    price_per_block_monthly bigint NOT NULL,
    price_per_block_yearly bigint NOT NULL,
    capacity integer NOT NULL,
    is_active boolean NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE UNIQUE INDEX pools_slug_key ON pools (slug);

CREATE TABLE pool_pledges (
    id {uuid} NOT NULL PRIMARY KEY,
    pool_id {uuid} NOT NULL,
    account_id {uuid} NOT NULL,
    blocks {json} NOT NULL,
    quantity integer NOT NULL,
    billing_cycle varchar(32) NOT NULL,
    status varchar(32) NOT NULL,
    stripe_subscription_id text,
    current_period_end {ts},
    cancel_at_period_end boolean NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE INDEX pool_pledges_account_id_idx ON pool_pledges (account_id);

CREATE UNIQUE INDEX pool_pledges_stripe_subscription_id_key ON pool_pledges (stripe_subscription_id);

CREATE TABLE subscriptions (
    id {uuid} NOT NULL PRIMARY KEY,
    account_id {uuid} NOT NULL,
    plan_id {uuid} NOT NULL,
    kind varchar(32) NOT NULL,
    status varchar(32) NOT NULL,
    interval varchar(32),
    stripe_subscription_id text,
    current_period_start {ts},
    current_period_end {ts},
    cancel_at_period_end boolean NOT NULL,
    pending_plan_id {uuid},
    provider_version bigint NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE INDEX subscriptions_account_id_idx ON subscriptions (account_id);

CREATE UNIQUE INDEX subscriptions_stripe_subscription_id_key ON subscriptions (stripe_subscription_id);

CREATE TABLE orders (
    id {uuid} NOT NULL PRIMARY KEY,
    account_id {uuid} NOT NULL,
    kind varchar(32) NOT NULL,
    status varchar(32) NOT NULL,
    method varchar(32) NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    plan_id {uuid},
    pool_id {uuid},
    coupon_id {uuid},
    details {json} NOT NULL,
    provider_session_id text,
    checkout_url text,
    last_error text,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    completed_at {ts}
);

CREATE INDEX orders_account_id_idx ON orders (account_id);

CREATE UNIQUE INDEX orders_provider_session_id_key ON orders (provider_session_id);

CREATE TABLE payments (
    id {uuid} NOT NULL PRIMARY KEY,
    account_id {uuid} NOT NULL,
    order_id {uuid},
    provider varchar(32) NOT NULL,
    provider_ref text NOT NULL,
    amount bigint NOT NULL,
    amount_refunded bigint NOT NULL,
    status varchar(32) NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE UNIQUE INDEX payments_provider_provider_ref_key ON payments (provider, provider_ref);

CREATE INDEX payments_account_id_idx ON payments (account_id);

CREATE TABLE ledger_accounts (
    id {uuid} NOT NULL PRIMARY KEY,
    code text NOT NULL,
    kind varchar(32) NOT NULL,
    account_id {uuid},
    balance bigint NOT NULL,
    allow_negative boolean NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    CHECK (allow_negative OR balance >= 0)
);

CREATE UNIQUE INDEX ledger_accounts_code_key ON ledger_accounts (code);

CREATE INDEX ledger_accounts_account_id_idx ON ledger_accounts (account_id);

CREATE TABLE ledger_transfers (
    id text NOT NULL PRIMARY KEY,
    debit_account_id {uuid} NOT NULL,
    credit_account_id {uuid} NOT NULL,
    amount bigint NOT NULL,
    kind varchar(32) NOT NULL,
    account_id {uuid},
    reference text NOT NULL,
    description text NOT NULL,
    created_at {ts} NOT NULL,
    CHECK (amount > 0),
    CHECK (debit_account_id <> credit_account_id)
);

CREATE INDEX ledger_transfers_debit_account_id_idx ON ledger_transfers (debit_account_id);

CREATE INDEX ledger_transfers_credit_account_id_idx ON ledger_transfers (credit_account_id);

CREATE INDEX ledger_transfers_account_id_created_at_idx ON ledger_transfers (account_id, created_at);

CREATE TABLE stripe_events (
    id text NOT NULL PRIMARY KEY,
    event_type text NOT NULL,
    api_version text,
    created bigint NOT NULL,
    livemode boolean NOT NULL,
    payload text NOT NULL,
    status varchar(32) NOT NULL,
    received_at {ts} NOT NULL,
    processed_at {ts},
    last_error text
);

CREATE TABLE usdc_transfers (
    id {uuid} NOT NULL PRIMARY KEY,
    chain_id bigint NOT NULL,
    tx_hash text NOT NULL,
    log_index bigint NOT NULL,
    account_id {uuid},
    order_id {uuid},
    from_address text NOT NULL,
    to_address text NOT NULL,
    amount bigint NOT NULL,
    block_number bigint NOT NULL,
    status varchar(32) NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE UNIQUE INDEX usdc_transfers_chain_id_tx_hash_log_index_key ON usdc_transfers (chain_id, tx_hash, log_index);

CREATE INDEX usdc_transfers_account_id_idx ON usdc_transfers (account_id);

CREATE TABLE chain_cursors (
    id text NOT NULL PRIMARY KEY,
    block_number bigint NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE TABLE usage_counters (
    id {uuid} NOT NULL PRIMARY KEY,
    api_key_id {uuid} NOT NULL,
    account_id {uuid} NOT NULL,
    metric text NOT NULL,
    period text NOT NULL,
    quantity bigint NOT NULL,
    cost bigint NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE UNIQUE INDEX usage_counters_api_key_id_metric_period_key ON usage_counters (api_key_id, metric, period);

CREATE INDEX usage_counters_account_id_idx ON usage_counters (account_id);

CREATE TABLE usage_events (
    id {uuid} NOT NULL PRIMARY KEY,
    account_id {uuid} NOT NULL,
    event_id text NOT NULL,
    api_key_id {uuid} NOT NULL,
    metric text NOT NULL,
    quantity bigint NOT NULL,
    cost bigint NOT NULL,
    occurred_at {ts} NOT NULL,
    batch_id text NOT NULL,
    created_at {ts} NOT NULL
);

CREATE UNIQUE INDEX usage_events_account_id_event_id_key ON usage_events (account_id, event_id);

CREATE INDEX usage_events_batch_id_idx ON usage_events (batch_id);

CREATE TABLE coupons (
    id {uuid} NOT NULL PRIMARY KEY,
    code text NOT NULL,
    percent_off integer,
    amount_off bigint,
    max_redemptions integer,
    times_redeemed integer NOT NULL,
    stripe_coupon_id text,
    expires_at {ts},
    is_active boolean NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE UNIQUE INDEX coupons_code_key ON coupons (code);

CREATE TABLE coupon_redemptions (
    id {uuid} NOT NULL PRIMARY KEY,
    coupon_id {uuid} NOT NULL,
    account_id {uuid} NOT NULL,
    order_id {uuid} NOT NULL,
    created_at {ts} NOT NULL
);

CREATE UNIQUE INDEX coupon_redemptions_order_id_key ON coupon_redemptions (order_id);

CREATE INDEX coupon_redemptions_coupon_id_idx ON coupon_redemptions (coupon_id);

CREATE TABLE checkins (
    id {uuid} NOT NULL PRIMARY KEY,
    account_id {uuid} NOT NULL,
    day text NOT NULL,
    credits bigint NOT NULL,
    created_at {ts} NOT NULL
);

CREATE UNIQUE INDEX checkins_account_id_day_key ON checkins (account_id, day);

CREATE TABLE checkin_config (
    id integer NOT NULL PRIMARY KEY,
    daily_credits bigint NOT NULL,
    enabled boolean NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE TABLE payment_methods (
    id text NOT NULL PRIMARY KEY,
    account_id {uuid} NOT NULL,
    brand text NOT NULL,
    last4 text NOT NULL,
    exp_month integer NOT NULL,
    exp_year integer NOT NULL,
    is_default boolean NOT NULL,
    created_at {ts} NOT NULL,
    detached_at {ts}
);

CREATE INDEX payment_methods_account_id_idx ON payment_methods (account_id);

CREATE TABLE idempotency_keys (
    id {uuid} NOT NULL PRIMARY KEY,
    scope text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status varchar(32) NOT NULL,
    response_status integer,
    response_body text,
    created_at {ts} NOT NULL,
    expires_at {ts} NOT NULL
);

CREATE UNIQUE INDEX idempotency_keys_scope_key_key ON idempotency_keys (scope, key);

CREATE TABLE jobs (
    id {uuid} NOT NULL PRIMARY KEY,
    queue varchar(32) NOT NULL,
    job_key text NOT NULL,
    payload {json} NOT NULL,
    status varchar(32) NOT NULL,
    attempts integer NOT NULL,
    max_attempts integer NOT NULL,
    available_at {ts} NOT NULL,
    last_error text,
    result {json},
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    started_at {ts},
    finished_at {ts}
);

CREATE UNIQUE INDEX jobs_job_key_key ON jobs (job_key);

CREATE INDEX jobs_queue_status_available_at_idx ON jobs (queue, status, available_at);

CREATE TABLE audit_log (
    id {uuid} NOT NULL PRIMARY KEY,
    actor text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    details {json} NOT NULL,
    request_id text,
    created_at {ts} NOT NULL
);

CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);
