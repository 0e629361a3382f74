use billing::config::Settings;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    billing::telemetry::init(settings.log_format);
    if !settings.dev_defaults.is_empty() {
        tracing::warn!(settings = ?settings.dev_defaults, "using development defaults; set these in production");
    }
    match worker::run(settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "worker failed");
            std::process::ExitCode::FAILURE
        }
    }
}
