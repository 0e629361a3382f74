DROP TABLE IF EXISTS bench_transfers;
DROP TABLE IF EXISTS bench_accounts;
CREATE TABLE bench_accounts (id integer PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE bench_transfers (id bigserial PRIMARY KEY, debit integer NOT NULL, credit integer NOT NULL, amount bigint NOT NULL);
INSERT INTO bench_accounts SELECT g, 0 FROM generate_series(1, 100000) g;
