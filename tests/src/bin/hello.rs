//! The baseline for the HTTP benchmarks: axum's hello world, same axum and tokio as the api.
//! usage: hello <addr>

use axum::{Router, routing::get};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8099".into());
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
