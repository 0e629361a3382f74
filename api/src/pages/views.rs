//! The pages' handlers: each reads what it shows and renders its template.

use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use entities::PlanKind;
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("pricing.html", include_str!("templates/pricing.html")),
            ("subscription.html", include_str!("templates/subscription.html")),
            ("admin.html", include_str!("templates/admin.html")),
        ] {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a page template does not parse");
            }
        }
        env
    })
}

fn render(name: &str, ctx: minijinja::Value) -> Response {
    match templates().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "cannot render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>This page could not be shown."),
            )
                .into_response()
        }
    }
}

/// US dollars from cents, with two decimals and thousands separated: `$1,234.50`.
pub fn usd(cents: i64) -> String {
    let (sign, cents) = if cents < 0 { ("-", cents.unsigned_abs()) } else { ("", cents.unsigned_abs()) };
    format!("{sign}${}.{:02}", group(cents / 100), cents % 100)
}

/// An integer with thousands separated: `10,000`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Serialize)]
struct PlanCard {
    slug: String,
    name: String,
    description: String,
    monthly: Option<String>,
    yearly: Option<String>,
    credits: String,
    features: Vec<String>,
    self_serve: bool,
    /// Sold by contact (no price).
    contact: bool,
    free: bool,
}

#[derive(Serialize)]
struct LimitRow {
    label: String,
    values: Vec<String>,
}

fn limit_text(value: Option<i64>, unit: &str) -> String {
    match value {
        None => "Unlimited".to_owned(),
        Some(0) => "—".to_owned(),
        Some(v) => {
            let n = group(v.unsigned_abs());
            if unit.is_empty() { n } else { format!("{n} {unit}") }
        }
    }
}

#[derive(Deserialize)]
pub struct PricingQuery {
    /// `yearly` shows yearly prices first (the toggle's state, also without scripts).
    interval: Option<String>,
}

/// `/pricing`: the plans, a comparison table of their limits, a monthly/yearly toggle.
pub async fn pricing(State(state): State<AppState>, Query(q): Query<PricingQuery>) -> Response {
    let plans = match billing::catalog::plans_of_kind(&state.db, PlanKind::Recurring).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the plans");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Html("<!doctype html><title>Pricing</title><p>Pricing is unavailable; try again shortly."),
            )
                .into_response();
        }
    };
    let mut cards = Vec::new();
    let mut rows: Vec<(String, String, String, Vec<String>)> = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        let self_serve = billing::catalog::self_serve(p);
        // A plan priced at zero is the free tier; one with no price is sold by contact.
        let free = p.price_monthly.is_some_and(|m| !m.is_positive());
        cards.push(PlanCard {
            slug: p.slug.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            monthly: p.price_monthly.map(|m| usd(m.to_cents())),
            yearly: p.price_yearly.map(|m| usd(m.to_cents())),
            credits: group(p.credits_per_period.to_credits().unsigned_abs()),
            features: serde_json::from_value(p.features.clone()).unwrap_or_default(),
            self_serve,
            contact: !self_serve && !free,
            free,
        });
        let limits = billing::catalog::limits(&state.db, p.id).await.unwrap_or_default();
        for l in limits {
            let at = match rows.iter().position(|r| r.0 == l.key) {
                Some(at) => at,
                None => {
                    rows.push((l.key.clone(), l.label.clone(), l.unit.clone(), vec!["—".to_owned(); plans.len()]));
                    rows.len() - 1
                }
            };
            rows[at].3[i] = limit_text(l.value, &rows[at].2);
        }
    }
    let rows: Vec<LimitRow> = rows.into_iter().map(|(_, label, _, values)| LimitRow { label, values }).collect();
    let yearly = q.interval.as_deref() == Some("yearly");
    render("pricing.html", context! { title => "Pricing", plans => cards, rows => rows, yearly => yearly })
}

/// `/settings/billing/subscription`: the plan, usage, credits and recent transactions,
/// filled in by its script from the JSON API.
pub async fn subscription() -> Response {
    render("subscription.html", context! { title => "Subscription" })
}

/// `/admin`: the operator dashboard, filled in by its script from the admin API (which
/// refuses anyone without the admin scope).
pub async fn admin() -> Response {
    render("admin.html", context! { title => "Operations" })
}

#[derive(Deserialize)]
pub struct BillingQuery {
    checkout: Option<String>,
}

/// `/billing?checkout=success`: where earlier default checkout URLs pointed.
pub async fn billing_redirect(Query(q): Query<BillingQuery>) -> Redirect {
    match q.checkout.as_deref() {
        Some("success") => Redirect::to("/settings/billing/subscription?success=1"),
        _ => Redirect::to("/settings/billing/subscription"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_people_write_it() {
        assert_eq!(usd(2000), "$20.00");
        assert_eq!(usd(123_456_789), "$1,234,567.89");
        assert_eq!(usd(5), "$0.05");
        assert_eq!(usd(-150), "-$1.50");
        assert_eq!(group(10_000), "10,000");
        assert_eq!(group(999), "999");
        assert_eq!(limit_text(None, "MB"), "Unlimited");
        assert_eq!(limit_text(Some(0), ""), "—");
        assert_eq!(limit_text(Some(1024), "MB"), "1,024 MB");
    }
}
