// mimalloc: glibc's malloc serialises threads on its arena locks under load (seen in
// profiles of the verify benchmark); mimalloc keeps per-thread heaps.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = match platform::startup::init() {
        Ok(s) => s,
        Err(code) => return code,
    };
    platform::startup::exit(api::run(settings).await, "api")
}
