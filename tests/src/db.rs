//! A database per test: a fresh Postgres database (created, migrated, dropped) or a
//! fresh SQLite file.

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestDb {
    pub url: String,
    pub name: String,
    pub conn: DatabaseConnection,
    postgres: bool,
}

fn admin_url() -> String {
    std::env::var("TEST_PG_ADMIN_URL").unwrap_or_else(|_| PG_ADMIN_URL.to_owned())
}

impl TestDb {
    pub async fn postgres() -> TestDb {
        let name = format!("tollgate_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url()).await.expect("connect to Postgres (is it running?)");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
        admin.close().await.ok();
        let base = admin_url();
        let url = format!("{}/{name}", base.rsplit_once('/').map(|(b, _)| b).unwrap_or(&base));
        TestDb::migrated(url, name, true).await
    }

    pub async fn sqlite() -> TestDb {
        let name = format!("tollgate_test_{}", uuid::Uuid::new_v4().simple());
        let path = std::env::temp_dir().join(format!("{name}.sqlite"));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        TestDb::migrated(url, name, false).await
    }

    async fn migrated(url: String, name: String, postgres: bool) -> TestDb {
        let conn = platform::db::connect_url(&url, 5).await.expect("connect to the test database");
        Migrator::up(&conn, None).await.expect("migrations apply");
        let catalog = include_str!("../../catalog.json");
        billing::catalog::load(&conn, catalog).await.expect("catalog loads");
        TestDb { url, name, conn, postgres }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        if self.postgres {
            // Drop runs outside async; a short-lived runtime on its own thread does the I/O.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async move {
                    let admin = Database::connect(admin_url()).await.ok()?;
                    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()?;
                    admin.close().await.ok()
                })
            })
            .join();
        } else {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(std::env::temp_dir().join(format!("{name}.sqlite{suffix}")));
            }
        }
    }
}

/// Pending card top-up orders of `micros` each, one per `(order, account)` pair, inserted in
/// bulk (the harness's and the credit benchmark's seed).
pub async fn insert_topup_orders(
    db: &sea_orm::DatabaseConnection,
    orders: &[(billing::OrderId, billing::AccountId)],
    micros: i64,
) -> Result<(), sea_orm::DbErr> {
    use entities::{OrderKind, OrderStatus, PayMethod};
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let now = chrono::Utc::now();
    for chunk in orders.chunks(1000) {
        entities::orders::Entity::insert_many(chunk.iter().map(|(id, account)| entities::orders::ActiveModel {
            id: Set(*id),
            account_id: Set(*account),
            kind: Set(OrderKind::Topup),
            status: Set(OrderStatus::Pending),
            method: Set(PayMethod::Stripe),
            amount: Set(billing::Micros::new(micros)),
            currency: Set("usd".into()),
            plan_id: Set(None),
            pool_id: Set(None),
            coupon_id: Set(None),
            details: Set(serde_json::json!({})),
            provider_session_id: Set(None),
            checkout_url: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            completed_at: Set(None),
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}
