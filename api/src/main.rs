#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = match billing::startup::init() {
        Ok(s) => s,
        Err(code) => return code,
    };
    billing::startup::exit(api::run(settings).await, "api")
}
