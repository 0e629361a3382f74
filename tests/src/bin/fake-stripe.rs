//! The fake Stripe as a server, for the quick start (Stripe cannot be reached from here).
//! usage: fake-stripe [addr]   (default 127.0.0.1:12111)
//! Point the api and worker at it with `STRIPE_API_BASE=http://127.0.0.1:12111` and
//! `STRIPE_SECRET_KEY=sk_test_anything`; `FAKE_STRIPE_WEBHOOK_URL` (default
//! `http://127.0.0.1:8080/payment/webhook/stripe`) and `STRIPE_WEBHOOK_SECRET` say where
//! events go. Open a session's URL and press Pay to complete it.

use tollgate_tests::fake_stripe::FakeStripe;

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:12111".into());
    let stripe = FakeStripe::start_on(&addr).await;
    let webhook = std::env::var("FAKE_STRIPE_WEBHOOK_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8080/payment/webhook/stripe".into());
    let secret = std::env::var("STRIPE_WEBHOOK_SECRET").unwrap_or_else(|_| "whsec_dev_only_insecure".into());
    stripe.deliver_to(&webhook, &secret);
    println!("fake Stripe at {} delivering to {webhook}", stripe.base_url);
    let _ = tokio::signal::ctrl_c().await;
}
