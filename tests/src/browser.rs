//! A real browser for the page tests: Debian's headless Chromium driven over WebDriver
//! (chromedriver, fantoccini). `.ci/run` and `scripts/test.sh` install both. Each test's
//! screenshots go to `target/screenshots/`, for a person to look at.

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Browser {
    /// A fresh headless Chromium, `width` × `height` pixels.
    pub async fn start(width: u32, height: u32) -> Browser {
        // One TLS provider for the process, as the api and worker choose (the WebDriver
        // client's rustls cannot pick one when two are compiled in).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let port = free_port();
        let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver is installed (.ci/run: apt-get install chromium chromium-driver)");
        let profile = std::env::temp_dir().join(format!("tollgate-chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).expect("profile dir");
        // The machine's network is closed: no background connections, no first-run fetches.
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut options = serde_json::json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()), "args": args
        });
        // A window is never narrower than 500 px: a phone's width is emulated instead.
        if width < 500 {
            options["mobileEmulation"] =
                serde_json::json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}});
        }
        let caps = serde_json::json!({ "goog:chromeOptions": options });
        let caps = match caps {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut last = String::new();
        for _ in 0..100 {
            match ClientBuilder::rustls().expect("tls").capabilities(caps.clone()).connect(&url).await {
                Ok(client) => return Browser { client, driver, profile },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start a session: {last}");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Waits for the element `css` and returns its text.
    pub async fn text(&self, css: &str) -> String {
        let el = self.client.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css(css)).await;
        el.unwrap_or_else(|e| panic!("no element {css}: {e}")).text().await.expect("text")
    }

    pub async fn click(&self, css: &str) {
        let el = self.client.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css(css)).await;
        el.unwrap_or_else(|e| panic!("no element {css}: {e}")).click().await.expect("click");
    }

    /// Presses Enter on the element `css` (keyboard use, no pointer).
    pub async fn press_enter(&self, css: &str) {
        let el = self.client.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css(css)).await;
        el.unwrap_or_else(|e| panic!("no element {css}: {e}")).send_keys("\u{E007}").await.expect("enter");
    }

    /// Runs a script in the page; its result.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.expect("script")
    }

    /// Polls a script until it returns true.
    pub async fn until(&self, what: &str, script: &str) {
        for _ in 0..150 {
            if self.eval(script).await == serde_json::json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Saves a screenshot as `target/screenshots/{name}.png`; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Whether the page scrolls sideways.
    pub async fn overflows_horizontally(&self) -> bool {
        self.eval("return document.documentElement.scrollWidth > window.innerWidth;").await == serde_json::json!(true)
    }

    pub async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// An integer as the pages write it: `1,024`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
