//! Sign-in from an identity provider: tokens signed with the provider's published keys
//! (RS256, ES256) against a local JWKS server, with the attacks a bearer route meets —
//! wrong issuer or audience, expired, the `alg` switched to HS256 with the public key as the
//! secret, a flood of made-up `kid`s — and key rotation.

use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::identity::{AUDIENCE, ISSUER, IdentityProvider, SigningKey, rsa_a_public_pem};
use tollgate_tests::{TestApp, TestOptions, eventually};

fn claims(sub: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600})
}

fn with(mut c: Value, key: &str, value: Value) -> Value {
    c[key] = value;
    c
}

async fn app_trusting(idp: &IdentityProvider, extra: &[(&str, &str)]) -> TestApp {
    let mut env = idp.env();
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    TestApp::with(TestOptions { worker: false, env, ..Default::default() }).await
}

async fn account_of(app: &TestApp, subject: &str) -> Option<entities::accounts::Model> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entities::accounts::Entity::find()
        .filter(entities::accounts::Column::Subject.eq(subject))
        .one(&app.db.conn)
        .await
        .expect("query")
}

async fn status(app: &TestApp, path: &str, token: &str) -> u16 {
    app.get(path, token).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_tokens_sign_in_and_forgeries_do_not() {
    let (rsa, ec) = (SigningKey::rsa_a(), SigningKey::ec());
    let idp = IdentityProvider::start(&[&rsa, &ec]).await;
    let app = app_trusting(&idp, &[("ADMIN_SUBJECTS", "ops-1")]).await;

    // RS256 and ES256 tokens sign their subject in; the account is made on first sight.
    for (key, sub) in [(&rsa, "firebase-uid-rs"), (&ec, "firebase-uid-es")] {
        let (code, body) = app.get("/credits/balance", &key.sign(&claims(sub))).await;
        assert_eq!((code, body["data"]["balance"].clone()), (200, json!(0)), "{sub}: {body}");
        let account = account_of(&app, sub).await;
        assert!(account.is_some(), "{sub} has an account");
    }
    // A provider's token makes its user the account owner, never an operator...
    let user = rsa.sign(&claims("firebase-uid-rs"));
    assert_eq!(status(&app, "/admin/jobs/dead", &user).await, 403);
    // ...even when its scope claim says admin; operators are configured.
    let claims_admin = with(claims("firebase-uid-rs"), "scope", json!("admin billing:read"));
    assert_eq!(status(&app, "/admin/jobs/dead", &rsa.sign(&claims_admin)).await, 403);
    assert_eq!(status(&app, "/admin/jobs/dead", &rsa.sign(&claims("ops-1"))).await, 200);

    let now = chrono::Utc::now().timestamp();
    let refused = [
        ("wrong issuer", rsa.sign(&with(claims("u"), "iss", json!("https://securetoken.example/other")))),
        ("wrong audience", rsa.sign(&with(claims("u"), "aud", json!("another-project")))),
        ("expired", rsa.sign(&with(claims("u"), "exp", json!(now - 120)))),
        (
            "no exp",
            rsa.sign(&{
                let mut c = claims("u");
                c.as_object_mut().map(|o| o.remove("exp"));
                c
            }),
        ),
        ("not yet valid", rsa.sign(&with(claims("u"), "nbf", json!(now + 600)))),
        ("no subject", rsa.sign(&with(claims("u"), "sub", json!("")))),
        ("bad signature", {
            let good = rsa.sign(&claims("u"));
            let (rest, _) = good.rsplit_once('.').expect("jwt");
            format!("{rest}.AAAA")
        }),
        ("unknown kid", {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            header.kid = Some("rsa-b".into());
            let key = jsonwebtoken::EncodingKey::from_rsa_pem(
                &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/identity/rsa-b.pem")).expect("pem"),
            )
            .expect("key");
            jsonwebtoken::encode(&header, &claims("u"), &key).expect("sign")
        }),
        ("alg switched to HS256, the public key as secret", {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            header.kid = Some(rsa.kid.clone());
            let secret = jsonwebtoken::EncodingKey::from_secret(&rsa_a_public_pem());
            jsonwebtoken::encode(&header, &claims("u"), &secret).expect("sign")
        }),
        ("HS256 with JWT_SECRET, once a provider is configured", app.jwt("u", "billing:read")),
    ];
    for (what, token) in refused {
        assert_eq!(status(&app, "/credits/balance", &token).await, 401, "{what}");
    }
    let stray = account_of(&app, "u").await;
    assert!(stray.is_none(), "no refused token made an account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_fetched_and_a_withdrawn_key_is_refused() {
    let (old, new) = (SigningKey::rsa_a(), SigningKey::rsa_b());
    let idp = IdentityProvider::start(&[&old]).await;
    let app = app_trusting(&idp, &[("JWT_JWKS_MIN_REFETCH", "1")]).await;
    let old_token = old.sign(&claims("rotating-user"));
    assert_eq!(status(&app, "/credits/balance", &old_token).await, 200);

    // The provider rotates: the new key is published, the old one withdrawn. A token under
    // the new kid makes the api fetch the set again (once the refetch interval allows).
    idp.publish(&[&new]);
    let new_token = new.sign(&claims("rotating-user"));
    eventually(Duration::from_secs(10), "the new key accepted", || async {
        (status(&app, "/credits/balance", &new_token).await == 200).then_some(())
    })
    .await;
    assert_eq!(status(&app, "/credits/balance", &old_token).await, 401, "the withdrawn key signs nothing more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_fetches_the_key_set_a_bounded_number_of_times() {
    let rsa = SigningKey::rsa_a();
    let idp = IdentityProvider::start(&[&rsa]).await;
    let app = app_trusting(&idp, &[]).await;
    assert_eq!(status(&app, "/credits/balance", &rsa.sign(&claims("flood-user"))).await, 200);
    let before = idp.fetches();
    assert_eq!(before, 1, "the first token fetched the set");

    let floods = (0..200).map(|i| {
        let mut junk = rsa.clone();
        junk.kid = format!("junk-{i}");
        let token = junk.sign(&claims("flood-user"));
        let app = &app;
        async move { status(app, "/credits/balance", &token).await }
    });
    let codes = futures::future::join_all(floods).await;
    assert!(codes.iter().all(|c| *c == 401), "every made-up kid is refused");
    // The default refetch interval is 30 s: the whole flood costs the provider at most one
    // more request.
    assert!(idp.fetches() - before <= 1, "{} fetches for 200 made-up kids", idp.fetches() - before);
    assert_eq!(status(&app, "/credits/balance", &rsa.sign(&claims("flood-user"))).await, 200, "real tokens still work");
}
