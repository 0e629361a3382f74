//! The OpenAPI document's shared parts: its header, the bearer scheme, the three error
//! envelopes as schemas, and the error responses every operation of a kind can give. The
//! operations themselves come from the surfaces' `routes!` calls.

use crate::error::Envelope;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Tollgate",
        description = "Billing backend for API products: plans, subscriptions, pool time blocks, API-key tiers and \
                       prepaid credits, paid by card (Stripe) or USDC on Base. Each API surface keeps its own error \
                       envelope; the schemas `SuccessError`, `FlatError` and `TypedError` describe them."
    ),
    components(schemas(SuccessError, ErrorDetail, FlatError, TypedError, TypedErrorDetail)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT, mk_ management key, or the gateway's service token")
                    .build(),
            ),
        );
    }
}

/// The billing, credits and admin APIs' error: `{success: false, error: {code, message}}`.
#[derive(ToSchema)]
#[allow(dead_code)] // a schema only: `Envelope::body` writes it
pub struct SuccessError {
    #[schema(example = false)]
    success: bool,
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `invalid_request`, `not_found`, `rate_limited`.
    #[schema(example = "invalid_request")]
    code: String,
    #[schema(example = "amount: the minimum top-up is 10 USD")]
    message: String,
    /// Structured extras (field errors, limit metadata), when there are any.
    #[schema(nullable = false)]
    details: Option<Value>,
}

/// The key-tier API's and the gateway's error: `{error, message, details}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FlatError {
    #[schema(example = "invalid_request")]
    error: String,
    message: String,
    details: Option<Value>,
}

/// The subscription API's error: `{error: {type, message, ...}}`; limit errors add
/// `metadata` and the plan to upgrade to.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TypedError {
    error: TypedErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TypedErrorDetail {
    #[schema(rename = "type", example = "invalid_request")]
    kind: String,
    message: String,
}

/// Who may call an operation, which decides the errors it can give besides its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A bearer credential for an account; `Idempotency-Key` honoured.
    Account,
    /// Anyone, rate limited per client.
    Anyone,
    /// The gateway's service token.
    Service,
    /// A signed provider webhook, rate limited per sender.
    Signed,
    /// Probes and the scrape.
    Probe,
}

impl Access {
    fn statuses(self) -> &'static [(u16, &'static str)] {
        const BAD: (u16, &str) = (400, "The request is malformed or a field is invalid; nothing changed");
        const UNAUTHORIZED: (u16, &str) = (401, "No credential, or not a valid one");
        const FORBIDDEN: (u16, &str) = (403, "The credential lacks the scope this needs");
        const NOT_FOUND: (u16, &str) = (404, "No such resource for this caller (another account's ids included)");
        const TIMEOUT: (u16, &str) = (408, "The request took longer than the server allows");
        const IN_FLIGHT: (u16, &str) =
            (409, "A conflicting state, or a request with this Idempotency-Key is in flight");
        const TOO_LARGE: (u16, &str) = (413, "The body exceeds the size limit");
        const MEDIA: (u16, &str) = (415, "The body is not application/json");
        const REUSED: (u16, &str) = (422, "This Idempotency-Key was used with a different request");
        const LIMITED: (u16, &str) = (429, "Too many requests from this client");
        const INTERNAL: (u16, &str) = (500, "An internal error; its cause is logged, never returned");
        const UNAVAILABLE: (u16, &str) = (503, "A dependency is unavailable; retry later");
        match self {
            Access::Account => &[
                BAD,
                UNAUTHORIZED,
                FORBIDDEN,
                NOT_FOUND,
                TIMEOUT,
                IN_FLIGHT,
                TOO_LARGE,
                MEDIA,
                REUSED,
                INTERNAL,
                UNAVAILABLE,
            ],
            Access::Anyone => &[BAD, NOT_FOUND, TIMEOUT, TOO_LARGE, MEDIA, LIMITED, INTERNAL, UNAVAILABLE],
            Access::Service => &[BAD, UNAUTHORIZED, TIMEOUT, TOO_LARGE, MEDIA, LIMITED, INTERNAL, UNAVAILABLE],
            Access::Signed => &[BAD, TIMEOUT, LIMITED, INTERNAL, UNAVAILABLE],
            Access::Probe => &[UNAUTHORIZED, NOT_FOUND, TIMEOUT, INTERNAL, UNAVAILABLE],
        }
    }
}

fn operations(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
            item.head.as_mut(),
            item.options.as_mut(),
            item.trace.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

/// Names every operation in `doc` for generated clients: the surface as its tag, and an
/// operation id made of the method and path (`post_api_pools_slug_subscribe`), unique
/// because method and path are (handler names such as `list` repeat across surfaces).
pub fn name_operations(doc: &mut OpenApi, tag: &str) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let slug: String = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_matches(|c| c == '{' || c == '}').replace('-', "_"))
            .collect::<Vec<_>>()
            .join("_");
        let ops = [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("delete", item.delete.as_mut()),
            ("patch", item.patch.as_mut()),
        ];
        for (method, op) in ops {
            if let Some(op) = op {
                op.operation_id = Some(format!("{method}_{slug}"));
                op.tags = Some(vec![tag.to_owned()]);
            }
        }
    }
}

/// Adds the errors that `access` can give to every operation in `doc` that does not
/// document them itself.
pub fn errors_of(doc: &mut OpenApi, access: Access) {
    for op in operations(doc) {
        for (status, description) in access.statuses() {
            op.responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(*description).build()));
        }
    }
}

/// Gives every error response in `doc` that has no body the surface's envelope.
pub fn envelope_of(doc: &mut OpenApi, envelope: Envelope) {
    let schema = match envelope {
        Envelope::Success => "SuccessError",
        Envelope::Flat => "FlatError",
        Envelope::Typed => "TypedError",
    };
    for op in operations(doc) {
        for (status, response) in op.responses.responses.iter_mut() {
            let is_error = status.starts_with('4') || status.starts_with('5');
            if let (true, RefOr::T(response)) = (is_error, response)
                && response.content.is_empty()
            {
                let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build();
                response.content.insert("application/json".to_owned(), content);
            }
        }
    }
}
