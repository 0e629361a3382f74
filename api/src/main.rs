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
    match api::run(settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "api failed");
            std::process::ExitCode::FAILURE
        }
    }
}
