//! The end-to-end test harness: the real `api` and `worker` binaries against a fresh
//! Postgres database (or SQLite file) and a Redis namespace per test, on random ports.

pub mod app;
pub mod browser;
pub mod chain;
pub mod db;
pub mod events;
pub mod fake_creem;
pub mod fake_stripe;
pub mod identity;
pub mod proxy;
pub mod receiver;

pub use app::{Backend, TestApp, TestOptions};

/// The directory holding the built binaries (`target/debug`): this test binary lives in
/// `target/debug/deps`. `TOLLGATE_BIN_DIR` overrides it.
pub fn bin_dir() -> std::path::PathBuf {
    if let Ok(dir) = std::env::var("TOLLGATE_BIN_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
