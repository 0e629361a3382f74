//! `migrate`: applies pending migrations to `DATABASE_URL` and loads the plan catalog
//! (`CATALOG_FILE`, default `catalog.json`) — the Procfile's release step.
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
        None | Some("up") => {
            Migrator::up(&db, None).await?;
            let path = std::env::var("CATALOG_FILE").unwrap_or_else(|_| "catalog.json".to_owned());
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let n = billing::catalog::load(&db, &text).await?;
                    println!("loaded {n} plans from {path}");
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!("no catalog at {path}; plans unchanged"),
                Err(e) => return Err(format!("{path}: {e}").into()),
            }
        }
        Some("down") => Migrator::down(&db, Some(1)).await?,
        Some("fresh") => Migrator::fresh(&db).await?,
        Some("status") => Migrator::status(&db).await?,
        Some(other) => {
            return Err(format!("unknown command {other:?}: use up, down, fresh or status").into());
        }
    }
    Ok(())
}
