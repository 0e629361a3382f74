//! Every malformed or unauthentic delivery is a 400 in the envelope, and stores nothing.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::Value;
use tollgate_tests::events::{WEBHOOK_SECRET, checkout_session_completed, now, signature};
use tollgate_tests::{Backend, TestApp, TestOptions};

async fn assert_rejected(app: &TestApp, body: Vec<u8>, header: Option<String>, code: &str, case: &str) {
    let res = app.post_webhook(body, header).await;
    assert_eq!(res.status(), 400, "{case}: status");
    let json: Value = res.json().await.unwrap_or_else(|e| panic!("{case}: JSON envelope: {e}"));
    assert_eq!(json["success"], Value::Bool(false), "{case}: {json}");
    assert_eq!(json["error"]["code"], Value::String(code.into()), "{case}: {json}");
    assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: {json}");
}

async fn rejections(backend: Backend) {
    let app = TestApp::with(TestOptions { backend, ..Default::default() }).await;
    let event = checkout_session_completed("evt_rejected", billing::OrderId::generate(), 1000);
    let body = serde_json::to_vec(&event).expect("json");

    let forged = signature(&body, now(), "whsec_someone_else");
    assert_rejected(&app, body.clone(), Some(forged), "invalid_signature", "bad signature").await;

    let stale = signature(&body, now() - 301, WEBHOOK_SECRET);
    assert_rejected(&app, body.clone(), Some(stale), "invalid_signature", "stale timestamp").await;

    let good = signature(&body, now(), WEBHOOK_SECRET);
    let mut tampered = body.clone();
    let pos = tampered.iter().position(|b| *b == b'1').expect("a digit to change");
    tampered[pos] = b'9';
    assert_rejected(&app, tampered, Some(good.clone()), "invalid_signature", "body changed after signing").await;

    assert_rejected(&app, body.clone(), None, "invalid_signature", "missing header").await;
    assert_rejected(&app, body.clone(), Some("t=abc,v1=zz".into()), "invalid_signature", "garbled header").await;

    let not_json = b"{\"id\": \"evt_x\", \"type\": ".to_vec();
    let sig = signature(&not_json, now(), WEBHOOK_SECRET);
    assert_rejected(&app, not_json, Some(sig), "invalid_payload", "malformed JSON").await;

    let not_event = br#"{"hello":"world"}"#.to_vec();
    let sig = signature(&not_event, now(), WEBHOOK_SECRET);
    assert_rejected(&app, not_event, Some(sig), "invalid_payload", "JSON that is not an event").await;

    // The harness sets MAX_BODY_BYTES=65536; this event is signed correctly but too large.
    let mut big = event.clone();
    big["data"]["object"]["metadata"]["padding"] = Value::String("x".repeat(70_000));
    let big = serde_json::to_vec(&big).expect("json");
    let sig = signature(&big, now(), WEBHOOK_SECRET);
    assert_rejected(&app, big, Some(sig), "payload_too_large", "body over the limit").await;

    let db = &app.db.conn;
    assert_eq!(entities::stripe_events::Entity::find().count(db).await.expect("count"), 0, "no event stored");
    let event_jobs = entities::jobs::Entity::find()
        .filter(entities::jobs::Column::Queue.eq(entities::JobQueue::StripeEvent))
        .count(db)
        .await
        .expect("count");
    assert_eq!(event_jobs, 0, "no job enqueued");
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deliveries_are_400_and_store_nothing_postgres() {
    rejections(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deliveries_are_400_and_store_nothing_sqlite() {
    rejections(Backend::Sqlite).await;
}
