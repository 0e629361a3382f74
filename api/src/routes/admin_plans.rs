//! Admin plans (credits API): `GET/POST /admin/billing/plans`, `PUT /admin/billing/plans/:id`.
//! Prices in cents, included credits in credits (credits API's units); every bad field named at
//! once. The admin view shows what the public one hides: Stripe price ids, inactive plans.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, created, ok};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::validate::Fields;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use billing::catalog::LimitEntry;
use billing::plan_admin::PlanFields;
use chrono::{DateTime, Utc};
use entities::PlanKind;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// A plan as operators see it: prices in cents, included credits in credits, Stripe ids.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AdminPlan {
    id: Uuid,
    slug: String,
    name: String,
    description: String,
    kind: PlanKind,
    price_monthly: Option<i64>,
    price_yearly: Option<i64>,
    credits_included: i64,
    #[schema(value_type = Vec<String>)]
    features: Value,
    limits: Vec<PlanLimit>,
    is_active: bool,
    sort_order: i32,
    self_serve: bool,
    stripe_price_monthly: Option<String>,
    stripe_price_yearly: Option<String>,
    /// The Creem product sold for a month of the plan (Creem checkouts need it).
    creem_product_id: Option<String>,
    /// The Creem product sold for a year of the plan.
    creem_product_id_yearly: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One limit: absent `value` is unlimited.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlanLimit {
    key: String,
    label: String,
    unit: String,
    value: Option<i64>,
}

/// The fields of a plan a request may set (creating: `slug` and `name` required; changing:
/// any but `slug` and `kind`). Every bad field is named at once.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // the document's view: the handler reads the fields one by one to name every bad one
pub struct PlanRequest {
    #[schema(example = "pro")]
    slug: Option<String>,
    name: Option<String>,
    description: Option<String>,
    kind: Option<PlanKind>,
    /// Cents.
    price_monthly: Option<i64>,
    /// Cents.
    price_yearly: Option<i64>,
    credits_included: Option<i64>,
    features: Option<Vec<String>>,
    limits: Option<Vec<LimitEntry>>,
    is_active: Option<bool>,
    sort_order: Option<i32>,
    /// The Creem product selling a month of the plan (`prod_…`), or null to clear it.
    #[schema(pattern = "^prod_[A-Za-z0-9_]+$", max_length = 255)]
    creem_product_id: Option<String>,
    /// The Creem product selling a year of the plan, or null to clear it.
    #[schema(pattern = "^prod_[A-Za-z0-9_]+$", max_length = 255)]
    creem_product_id_yearly: Option<String>,
}

async fn admin_plan(state: &AppState, p: entities::plans::Model) -> Result<AdminPlan, ApiError> {
    let limits = billing::catalog::limits(&state.db, p.id).await?;
    let self_serve = billing::catalog::self_serve(&p);
    Ok(AdminPlan {
        id: p.id,
        slug: p.slug,
        name: p.name,
        description: p.description,
        kind: p.kind,
        price_monthly: p.price_monthly.map(|m| m.to_cents()),
        price_yearly: p.price_yearly.map(|m| m.to_cents()),
        credits_included: p.credits_per_period.to_credits(),
        features: p.features,
        limits: limits
            .into_iter()
            .map(|l| PlanLimit { key: l.key, label: l.label, unit: l.unit, value: l.value })
            .collect(),
        is_active: p.is_active,
        sort_order: p.sort_order,
        self_serve,
        stripe_price_monthly: p.stripe_price_monthly,
        stripe_price_yearly: p.stripe_price_yearly,
        creem_product_id: p.creem_product_id,
        creem_product_id_yearly: p.creem_product_id_yearly,
        created_at: p.created_at,
        updated_at: p.updated_at,
    })
}

/// Reads the plan fields of a request body, naming every field that is missing (`creating`:
/// slug and name), of the wrong type or out of range, all at once.
fn fields(body: &Value, creating: bool) -> Result<PlanFields, ApiError> {
    let obj = body.as_object().cloned().unwrap_or_default();
    let mut bad = Fields::default();
    let mut f = PlanFields::default();
    let text = |bad: &mut Fields, name: &str, obj: &Map<String, Value>| match obj.get(name) {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => bad.bad(name, "a string"),
    };
    f.slug = text(&mut bad, "slug", &obj);
    f.name = text(&mut bad, "name", &obj);
    f.description = text(&mut bad, "description", &obj);
    f.kind = match obj.get("kind") {
        None => None,
        Some(v) => serde_json::from_value::<PlanKind>(v.clone())
            .ok()
            .or_else(|| bad.bad("kind", "recurring, flat_30d or key_tier")),
    };
    for (name, slot) in [("price_monthly", &mut f.price_monthly), ("price_yearly", &mut f.price_yearly)] {
        *slot = match obj.get(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => v.as_i64().map(|c| Some(Some(c))).unwrap_or_else(|| bad.bad(name, "integer cents or null")),
        };
    }
    f.credits_included = match obj.get("credits_included") {
        None => None,
        Some(v) => v.as_i64().or_else(|| bad.bad("credits_included", "an integer")),
    };
    f.features = match obj.get("features") {
        None => None,
        Some(v) => serde_json::from_value(v.clone()).ok().or_else(|| bad.bad("features", "an array of strings")),
    };
    f.limits = match obj.get("limits") {
        None => None,
        Some(v) => serde_json::from_value::<Vec<LimitEntry>>(v.clone())
            .ok()
            .or_else(|| bad.bad("limits", "an array of {key, label, unit?, value}")),
    };
    f.is_active = match obj.get("is_active") {
        None => None,
        Some(v) => v.as_bool().or_else(|| bad.bad("is_active", "a boolean")),
    };
    f.sort_order = match obj.get("sort_order") {
        None => None,
        Some(v) => v.as_i64().and_then(|o| i32::try_from(o).ok()).or_else(|| bad.bad("sort_order", "an integer")),
    };
    for (name, slot) in
        [("creem_product_id", &mut f.creem_product_id), ("creem_product_id_yearly", &mut f.creem_product_id_yearly)]
    {
        *slot = match obj.get(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(id)) => Some(Some(id.clone())),
            Some(_) => bad.bad(name, "a Creem product id (prod_…) or null"),
        };
    }
    for (name, rule) in billing::plan_admin::problems(&f) {
        bad.bad::<()>(name, rule);
    }
    if creating {
        for (name, given) in [("slug", obj.contains_key("slug")), ("name", obj.contains_key("name"))] {
            if !given {
                bad.bad::<()>(name, "required");
            }
        }
    }
    bad.finish()?;
    Ok(f)
}

/// Every plan, active or not.
#[utoipa::path(get, path = "/admin/billing/plans", security(("bearer" = [])), responses((status = 200, body = Envelope<Vec<AdminPlan>>)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<Vec<AdminPlan>>>, ApiError> {
    principal.require(Scope::Admin)?;
    let plans = billing::plan_admin::list(&state.db).await?;
    let mut out = Vec::with_capacity(plans.len());
    for p in plans {
        out.push(admin_plan(&state, p).await?);
    }
    Ok(ok(out))
}

/// Create a plan: `slug` and `name` required; `kind` defaults to recurring.
#[utoipa::path(post, path = "/admin/billing/plans", security(("bearer" = [])), request_body = PlanRequest,
    responses((status = 201, body = Envelope<AdminPlan>), (status = 409, description = "The slug exists, or another plan sells the Creem product")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Envelope<AdminPlan>>), ApiError> {
    principal.require(Scope::Admin)?;
    let f = fields(&body, true)?;
    let plan = billing::plan_admin::create(&state.db, f).await?;
    state.plans.forget_all();
    Ok(created(admin_plan(&state, plan).await?))
}

/// Change a plan (by id or slug): any field but `slug` and `kind`. A new price is a new
/// Stripe Price at the next checkout; running subscriptions keep theirs.
#[utoipa::path(put, path = "/admin/billing/plans/{id}", security(("bearer" = [])), request_body = PlanRequest,
    params(("id" = String, Path, description = "The plan's id or slug")),
    responses((status = 200, body = Envelope<AdminPlan>), (status = 404, description = "No such plan"),
    (status = 409, description = "Another plan sells the Creem product")))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Envelope<AdminPlan>>, ApiError> {
    principal.require(Scope::Admin)?;
    let f = fields(&body, false)?;
    let plan = billing::plan_admin::update(&state.db, &id, f).await?;
    state.plans.forget_all();
    Ok(ok(admin_plan(&state, plan).await?))
}
