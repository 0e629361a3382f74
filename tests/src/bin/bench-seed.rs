//! Seeds a benchmark database with API keys spread over accounts, each account holding
//! credits, and prints the keys one per line (they exist nowhere else).
//!
//! usage: bench-seed <database_url> <keys> <accounts> <usd_per_account> [tier|credit] [free|starter|growth|enterprise]
//! (tier keys are Enterprise unless named)

use billing::ledger::{self, SystemAccount, TransferRequest};
use entities::{ApiKeyKind, KeyTier, TransferKind};
use sea_orm::TransactionTrait;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench-seed <database_url> <keys> <accounts> <usd_per_account> [tier|credit] [free|starter|growth|enterprise]";
    let [url, keys, accounts, usd, rest @ ..] = args.as_slice() else { return Err(usage.into()) };
    let (keys, accounts): (usize, usize) = (keys.parse()?, accounts.parse()?);
    let usd: i64 = usd.parse()?;
    let kind = match rest.first().map(String::as_str) {
        None | Some("tier") => ApiKeyKind::Tier,
        Some("credit") => ApiKeyKind::Credit,
        Some(_) => return Err(usage.into()),
    };
    let tier = match rest.get(1).map(String::as_str) {
        None | Some("enterprise") => KeyTier::Enterprise,
        Some("free") => KeyTier::Free,
        Some("starter") => KeyTier::Starter,
        Some("growth") => KeyTier::Growth,
        Some(_) => return Err(usage.into()),
    };
    let db = sea_orm::Database::connect(url.as_str()).await?;
    let mut owners = Vec::with_capacity(accounts);
    for i in 0..accounts.max(1) {
        let account = billing::accounts::ensure(&db, &format!("bench-account-{i}")).await?;
        if usd > 0 {
            let txn = db.begin().await?;
            let debit = ledger::system_account(&txn, SystemAccount::Grants).await?;
            let credit = ledger::customer_account(&txn, account.id).await?;
            let amount = billing::Micros::from_usd(usd).ok_or("amount out of range")?;
            let req = TransferRequest {
                id: format!("bench-grant:{}", account.id),
                debit,
                credit,
                amount,
                kind: TransferKind::Grant,
                account_id: Some(account.id),
                reference: "bench".into(),
                description: "benchmark credits".into(),
            };
            ledger::post(&txn, req).await?;
            txn.commit().await?;
        }
        owners.push(account.id);
    }
    for i in 0..keys {
        let new = billing::api_keys::NewKey {
            account_id: owners[i % owners.len()],
            kind,
            name: format!("bench-{i}"),
            tier: (kind == ApiKeyKind::Tier).then_some(tier),
            subscription_id: None,
            pledge_id: None,
            organization_name: None,
            contact_email: None,
            scopes: billing::api_keys::DEFAULT_SCOPES.into(),
            brand: None,
        };
        let (_, key) = billing::api_keys::create(&db, new).await?;
        println!("{key}");
    }
    Ok(())
}
