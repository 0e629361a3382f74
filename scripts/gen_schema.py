#!/usr/bin/env python3
"""Generates entities/src/*.rs and the initial migration from one table spec.

Run once per schema change: `python3 scripts/gen_schema.py`. The spec below is the
single source for column names, types and nullability, so the entity and the DDL
cannot drift apart. Later schema changes get their own migration file.
"""
import os, re, textwrap

ENUMS = {
    "OrderKind": ["topup", "plan_checkout", "pool_subscription", "recurring_subscription", "card_setup", "portal", "key_tier"],
    "OrderStatus": ["pending", "awaiting_payment", "completed", "expired", "failed", "canceled"],
    "PayMethod": ["stripe", "stripe_direct", "usdc"],
    "PaymentProvider": ["stripe", "usdc", "manual"],
    "PaymentStatus": ["succeeded", "refunded", "partially_refunded", "disputed"],
    "PlanKind": ["flat_30d", "recurring", "key_tier"],
    "SubscriptionStatus": ["incomplete", "trialing", "active", "past_due", "canceled", "paused", "expired"],
    "BillingInterval": ["month", "year"],
    "PledgeStatus": ["pending", "active", "pending_key", "past_due", "canceled", "expired"],
    "ApiKeyKind": ["subscription", "pool", "credit", "tier"],
    "KeyTier": ["free", "starter", "growth", "enterprise"],
    "KeyStatus": ["active", "disabled", "revoked"],
    "LedgerAccountKind": ["customer_credits", "revenue", "stripe_clearing", "usdc_clearing", "grants", "refunds", "usage"],
    "TransferKind": ["topup", "plan_payment", "usage", "refund", "dispute", "grant", "checkin", "manual", "reversal"],
    "StripeEventStatus": ["received", "processed", "ignored", "failed"],
    "UsdcTransferStatus": ["claimed", "credited", "unmatched", "rejected"],
    "JobStatus": ["pending", "dispatched", "running", "done", "dead"],
    "JobQueue": ["checkout", "stripe_event", "usdc_verify", "usage_metering", "expiry", "reconcile"],
    "IdempotencyStatus": ["in_flight", "completed"],
}

# column spec: name type [?]   type: uuid text str i64 i32 bool ts json E:EnumName ; "pk" marks primary key
TABLES = {
 "accounts": ("Accounts: one per subject (a user or a team).", """
    id uuid pk
    subject text
    email text?
    stripe_customer_id text?
    wallet_address text?
    created_at ts
    updated_at ts
 """, ["UNIQUE (subject)", "UNIQUE (stripe_customer_id)"]),
 "management_keys": ("Management keys (`mk_…`): only the SHA-256 hash is stored.", """
    id uuid pk
    account_id uuid
    name text
    prefix text
    key_hash text
    scopes text
    created_at ts
    last_used_at ts?
    revoked_at ts?
 """, ["UNIQUE (key_hash)", "INDEX (account_id)"]),
 "api_keys": ("API keys for the gateway: only the SHA-256 hash is stored.", """
    id uuid pk
    account_id uuid
    kind E:ApiKeyKind
    tier E:KeyTier?
    subscription_id uuid?
    pledge_id uuid?
    name text
    prefix text
    key_hash text
    status E:KeyStatus
    organization_name text?
    contact_email text?
    expires_at ts?
    created_at ts
    revoked_at ts?
 """, ["UNIQUE (key_hash)", "INDEX (account_id)", "INDEX (subscription_id)", "INDEX (pledge_id)"]),
 "plans": ("The plan catalog: 30-day flat plans, recurring plans and key tiers. Prices in micro-USD.", """
    id uuid pk
    slug text
    name text
    description text
    kind E:PlanKind
    price_monthly i64?
    price_yearly i64?
    credits_per_period i64
    stripe_price_monthly text?
    stripe_price_yearly text?
    features json
    is_active bool
    sort_order i32
    created_at ts
    updated_at ts
 """, ["UNIQUE (slug)"]),
 "plan_limits": ("A plan's limits (label, unit); a null value means unlimited.", """
    id uuid pk
    plan_id uuid
    key text
    label text
    unit text
    value i64?
 """, ["UNIQUE (plan_id, key)"]),
 "pools": ("Time-block pools sold as reserved UTC blocks (asia, europe, americas).", """
    id uuid pk
    slug text
    name text
    description text
    price_per_block_monthly i64
    price_per_block_yearly i64
    capacity i32
    is_active bool
    created_at ts
    updated_at ts
 """, ["UNIQUE (slug)"]),
 "pool_pledges": ("A subscription to one or more blocks of a pool.", """
    id uuid pk
    pool_id uuid
    account_id uuid
    blocks json
    quantity i32
    billing_cycle E:BillingInterval
    status E:PledgeStatus
    stripe_subscription_id text?
    current_period_end ts?
    cancel_at_period_end bool
    created_at ts
    updated_at ts
 """, ["INDEX (account_id)", "UNIQUE (stripe_subscription_id)"]),
 "subscriptions": ("Subscriptions: 30-day flat, recurring (Stripe) and key tiers.", """
    id uuid pk
    account_id uuid
    plan_id uuid
    kind E:PlanKind
    status E:SubscriptionStatus
    interval E:BillingInterval?
    stripe_subscription_id text?
    current_period_start ts?
    current_period_end ts?
    cancel_at_period_end bool
    pending_plan_id uuid?
    provider_version i64
    created_at ts
    updated_at ts
 """, ["INDEX (account_id)", "UNIQUE (stripe_subscription_id)"]),
 "orders": ("Orders: every checkout, top-up, subscribe, setup or portal request. Amounts in micro-USD.", """
    id uuid pk
    account_id uuid
    kind E:OrderKind
    status E:OrderStatus
    method E:PayMethod
    amount i64
    currency text
    plan_id uuid?
    pool_id uuid?
    coupon_id uuid?
    details json
    provider_session_id text?
    checkout_url text?
    last_error text?
    created_at ts
    updated_at ts
    completed_at ts?
 """, ["INDEX (account_id)", "UNIQUE (provider_session_id)"]),
 "payments": ("Money received, one row per provider payment.", """
    id uuid pk
    account_id uuid
    order_id uuid?
    provider E:PaymentProvider
    provider_ref text
    amount i64
    amount_refunded i64
    status E:PaymentStatus
    created_at ts
    updated_at ts
 """, ["UNIQUE (provider, provider_ref)", "INDEX (account_id)"]),
 "ledger_accounts": ("Double-entry ledger accounts: one credit account per customer plus system accounts.", """
    id uuid pk
    code text
    kind E:LedgerAccountKind
    account_id uuid?
    balance i64
    allow_negative bool
    created_at ts
    updated_at ts
 """, ["CHECK (allow_negative OR balance >= 0)", "UNIQUE (code)", "INDEX (account_id)"]),
 "ledger_transfers": ("Ledger transfers; the id is the idempotency key, so a transfer posts once.", """
    id text pk
    debit_account_id uuid
    credit_account_id uuid
    amount i64
    kind E:TransferKind
    account_id uuid?
    reference text
    description text
    created_at ts
 """, ["CHECK (amount > 0)", "CHECK (debit_account_id <> credit_account_id)", "INDEX (debit_account_id)", "INDEX (credit_account_id)", "INDEX (account_id, created_at)"]),
 "stripe_events": ("The Stripe event inbox: the raw event, stored once per event id.", """
    id text pk
    event_type text
    api_version text?
    created i64
    livemode bool
    payload text
    status E:StripeEventStatus
    received_at ts
    processed_at ts?
    last_error text?
 """, []),
 "usdc_transfers": ("USDC transfers seen or claimed; (chain_id, tx_hash, log_index) is claimed once.", """
    id uuid pk
    chain_id i64
    tx_hash text
    log_index i64
    account_id uuid?
    order_id uuid?
    from_address text
    to_address text
    amount i64
    block_number i64
    status E:UsdcTransferStatus
    created_at ts
    updated_at ts
 """, ["UNIQUE (chain_id, tx_hash, log_index)", "INDEX (account_id)"]),
 "chain_cursors": ("Block cursors of the chain scan, one per chain and contract.", """
    id text pk
    block_number i64
    updated_at ts
 """, []),
 "usage_counters": ("Per-key, per-period usage aggregates.", """
    id uuid pk
    api_key_id uuid
    account_id uuid
    metric text
    period text
    quantity i64
    cost i64
    updated_at ts
 """, ["UNIQUE (api_key_id, metric, period)", "INDEX (account_id)"]),
 "usage_events": ("Usage event ids already counted, per account (idempotent ingestion).", """
    id uuid pk
    account_id uuid
    event_id text
    api_key_id uuid
    metric text
    quantity i64
    cost i64
    occurred_at ts
    batch_id text
    created_at ts
 """, ["UNIQUE (account_id, event_id)", "INDEX (batch_id)"]),
 "coupons": ("Coupons accepted at checkout.", """
    id uuid pk
    code text
    percent_off i32?
    amount_off i64?
    max_redemptions i32?
    times_redeemed i32
    stripe_coupon_id text?
    expires_at ts?
    is_active bool
    created_at ts
    updated_at ts
 """, ["UNIQUE (code)"]),
 "coupon_redemptions": ("One redemption per order.", """
    id uuid pk
    coupon_id uuid
    account_id uuid
    order_id uuid
    created_at ts
 """, ["UNIQUE (order_id)", "INDEX (coupon_id)"]),
 "checkins": ("Daily check-ins: one per account per UTC day.", """
    id uuid pk
    account_id uuid
    day text
    credits i64
    created_at ts
 """, ["UNIQUE (account_id, day)"]),
 "checkin_config": ("Check-in configuration (a single row, id 1).", """
    id i32 pk
    daily_credits i64
    enabled bool
    updated_at ts
 """, []),
 "payment_methods": ("Saved cards, mirrored from Stripe.", """
    id text pk
    account_id uuid
    brand text
    last4 text
    exp_month i32
    exp_year i32
    is_default bool
    created_at ts
    detached_at ts?
 """, ["INDEX (account_id)"]),
 "idempotency_keys": ("HTTP Idempotency-Key records: the first response, replayed for 24 h.", """
    id uuid pk
    scope text
    key text
    request_hash text
    status E:IdempotencyStatus
    response_status i32?
    response_body text?
    created_at ts
    expires_at ts
 """, ["UNIQUE (scope, key)"]),
 "jobs": ("The job outbox: every job is a row first, written with the intent it serves.", """
    id uuid pk
    queue E:JobQueue
    job_key text
    payload json
    status E:JobStatus
    attempts i32
    max_attempts i32
    available_at ts
    last_error text?
    result json?
    created_at ts
    updated_at ts
    started_at ts?
    finished_at ts?
 """, ["UNIQUE (job_key)", "INDEX (queue, status, available_at)"]),
 "audit_log": ("Who did what, for operators and admins.", """
    id uuid pk
    actor text
    action text
    target text
    details json
    request_id text?
    created_at ts
 """, ["INDEX (created_at)"]),
}

RUST = {"uuid": "Uuid", "text": "String", "i64": "i64", "i32": "i32", "bool": "bool", "ts": "DateTimeUtc", "json": "Json"}
SQL = {"uuid": "{uuid}", "text": "text", "i64": "bigint", "i32": "integer", "bool": "boolean", "ts": "{ts}", "json": "{json}"}

def camel(s):
    return "".join(p.capitalize() for p in s.split("_"))

def parse(cols):
    out = []
    for line in cols.strip().splitlines():
        parts = line.split()
        name, ty = parts[0], parts[1]
        pk = "pk" in parts[2:]
        opt = ty.endswith("?")
        ty = ty.rstrip("?")
        out.append((name, ty, opt, pk))
    return out

root = os.path.join(os.path.dirname(__file__), "..")
ent = os.path.join(root, "entities", "src")
os.makedirs(ent, exist_ok=True)

# enums
lines = ["//! State enums, stored as short strings so the schema runs on Postgres and SQLite.", "",
         "use sea_orm::entity::prelude::*;", "use serde::{Deserialize, Serialize};", ""]
for en, vals in ENUMS.items():
    lines.append("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]")
    lines.append('#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]')
    lines.append('#[serde(rename_all = "snake_case")]')
    lines.append(f"pub enum {en} {{")
    for v in vals:
        var = camel(v) if v != "flat_30d" else "Flat30d"
        lines.append(f'    #[sea_orm(string_value = "{v}")]')
        if v == "flat_30d":
            lines.append('    #[serde(rename = "flat_30d")]')
        lines.append(f"    {var},")
    lines.append("}")
    lines.append("")
    lines.append(f"impl {en} {{")
    lines.append("    /// The stored and serialized name.")
    lines.append("    pub fn as_str(self) -> &'static str {")
    lines.append("        match self {")
    for v in vals:
        var = camel(v) if v != "flat_30d" else "Flat30d"
        lines.append(f'            Self::{var} => "{v}",')
    lines.append("        }")
    lines.append("    }")
    lines.append("}")
    lines.append("")
open(os.path.join(ent, "enums.rs"), "w").write("\n".join(lines))

mods = []
ddl = []
for table, (doc, cols, extra) in TABLES.items():
    cols = parse(cols)
    mods.append(table)
    body = [f"//! {doc}", "", "use crate::enums::*;" if any(t.startswith("E:") for _, t, _, _ in cols) else "",
            "use sea_orm::entity::prelude::*;", "use serde::{Deserialize, Serialize};", "",
            "#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]",
            f'#[sea_orm(table_name = "{table}")]', "pub struct Model {"]
    body = [b for b in body if b != ""] if False else body
    sql_cols = []
    for name, ty, opt, pk in cols:
        if ty.startswith("E:"):
            rty = ty[2:]
            sty = "varchar(32)"
        else:
            rty = RUST[ty]
            sty = SQL[ty]
        if pk:
            body.append("    #[sea_orm(primary_key, auto_increment = false)]")
        if ty == "text" and not pk:
            body.append('    #[sea_orm(column_type = "Text")]')
        if ty == "json":
            body.append('    #[sea_orm(column_type = "JsonBinary")]')
        body.append(f"    pub {name}: {'Option<' + rty + '>' if opt else rty},")
        sql_cols.append(f"    {name} {sty}{'' if opt else ' NOT NULL'}{' PRIMARY KEY' if pk else ''}")
    body += ["}", "", "#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]", "pub enum Relation {}", "",
             "impl ActiveModelBehavior for ActiveModel {}", ""]
    text = "\n".join(body)
    text = text.replace("\n\nuse sea_orm", "\nuse sea_orm") if "use crate::enums" not in text else text
    open(os.path.join(ent, f"{table}.rs"), "w").write(re.sub(r"\n\n\n+", "\n\n", text))
    idx = []
    uniq = []
    checks = [e for e in extra if e.startswith("CHECK")]
    for e in extra:
        if e.startswith("CHECK"):
            continue
        m = re.match(r"(UNIQUE|INDEX) \((.*)\)", e)
        kind, cs = m.group(1), m.group(2)
        nm = f"{table}_{'_'.join(c.strip() for c in cs.split(','))}_{'key' if kind == 'UNIQUE' else 'idx'}"
        idx.append(f"CREATE {'UNIQUE ' if kind == 'UNIQUE' else ''}INDEX {nm} ON {table} ({cs})")
    ddl.append(f"CREATE TABLE {table} (\n" + ",\n".join(sql_cols + ["    " + c for c in checks]) + "\n)")
    ddl += idx

lib = ["//! SeaORM entities: one module per table, nothing else.", "//!",
       "//! Generated from the table spec in `scripts/gen_schema.py`; the same spec writes the",
       "//! initial migration, so entity and DDL agree column for column.", "", "pub mod enums;"]
lib += [f"pub mod {m};" for m in mods]
lib += ["", "pub use enums::*;", ""]
open(os.path.join(ent, "lib.rs"), "w").write("\n".join(lib))

mig = os.path.join(root, "migrations", "src", "initial_schema.sql")
open(mig, "w").write("-- Generated by scripts/gen_schema.py. {uuid}, {ts} and {json} are filled per backend.\n" + ";\n\n".join(ddl) + ";\n")
print(f"{len(mods)} tables, {len(ENUMS)} enums")
