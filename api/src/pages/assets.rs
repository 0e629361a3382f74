//! The pages' scripts and styles, compiled into the binary.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const FILES: [(&str, &str, &str); 6] = [
    ("admin.js", "text/javascript; charset=utf-8", include_str!("assets/admin.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("assets/app.js")),
    ("pricing.js", "text/javascript; charset=utf-8", include_str!("assets/pricing.js")),
    ("subscription.js", "text/javascript; charset=utf-8", include_str!("assets/subscription.js")),
    ("upgrade-modal.js", "text/javascript; charset=utf-8", include_str!("assets/upgrade-modal.js")),
];

pub async fn serve(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => {
            ([(header::CONTENT_TYPE, *kind), (header::CACHE_CONTROL, "public, max-age=300")], *body).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
