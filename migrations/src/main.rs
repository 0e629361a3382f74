//! `migrate`: applies pending migrations to `DATABASE_URL` (the Procfile's release step).
//! `migrate down` rolls back the last migration; `migrate fresh` drops and re-applies all.

use migrations::Migrator;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Database;

/// The same default as the api and worker: an embedded SQLite file, so the quick start needs
/// no database server.
const DEFAULT_DATABASE_URL: &str = "sqlite://tollgate.sqlite?mode=rwc";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    let db = Database::connect(&url).await?;
    match std::env::args().nth(1).as_deref() {
        None | Some("up") => Migrator::up(&db, None).await?,
        Some("down") => Migrator::down(&db, Some(1)).await?,
        Some("fresh") => Migrator::fresh(&db).await?,
        Some("status") => Migrator::status(&db).await?,
        Some(other) => {
            return Err(format!("unknown command {other:?}: use up, down, fresh or status").into());
        }
    }
    Ok(())
}
