//! The ledger's invariant check reads one snapshot: while transfers commit all the time, it
//! never reports a difference that is not there (read apart, a balance and the transfers
//! behind it disagree whenever a transfer commits between the two reads).

use billing::Micros;
use billing::ledger::{self, SystemAccount, TransferRequest};
use entities::TransferKind;
use sea_orm::TransactionTrait;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tollgate_tests::db::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invariant_check_sees_no_difference_while_transfers_commit() {
    let db = TestDb::postgres().await;
    let conn = db.conn.clone();
    let account = billing::accounts::ensure(&conn, "ledger-check").await.expect("account");
    let debit = ledger::system_account(&conn, SystemAccount::Grants).await.expect("grants");
    let credit = ledger::customer_account(&conn, account.id).await.expect("credits");
    let stop = Arc::new(AtomicBool::new(false));
    let posted = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (conn, stop, posted) = (conn.clone(), stop.clone(), posted.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let txn = conn.begin().await.expect("begin");
                let req = TransferRequest {
                    id: format!("check:{w}:{i}"),
                    debit,
                    credit,
                    amount: Micros::new(1),
                    kind: TransferKind::Grant,
                    account_id: Some(account.id),
                    reference: "check".into(),
                    description: "while the check runs".into(),
                };
                ledger::post(&txn, req).await.expect("post");
                txn.commit().await.expect("commit");
                posted.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    let mut checks = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while (checks < 200 || posted.load(Ordering::Relaxed) < 500) && std::time::Instant::now() < deadline {
        let violations = ledger::check_invariants(&conn).await.expect("check");
        assert!(violations.is_empty(), "after {checks} checks: {violations:?}");
        checks += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    let posted = posted.load(Ordering::Relaxed);
    assert!(posted >= 500, "transfers must commit while the checks run: {posted}");
    assert!(ledger::check_invariants(&conn).await.expect("check").is_empty());
}
