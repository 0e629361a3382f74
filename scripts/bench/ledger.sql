-- pgbench custom script: one double-entry ledger transaction, the shape of ours: insert a
-- transfer, move two balances. Run by scripts/bench-webhook.sh.
\set a random(1, 100000)
\set b random(1, 100000)
\set amt random(1, 1000)
BEGIN;
INSERT INTO bench_transfers (debit, credit, amount) VALUES (:a, :b, :amt);
UPDATE bench_accounts SET balance = balance - :amt WHERE id = :a;
UPDATE bench_accounts SET balance = balance + :amt WHERE id = :b;
END;
