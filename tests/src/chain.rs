//! A real local chain for the USDC tests: anvil (from npm, `tools/`) with chain id 8453,
//! the test USDC (a plain 6-decimal ERC-20 compiled from `fixtures/chain/TestUSDC.sol`)
//! and a second ERC-20 at another address, funded test wallets.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::sol;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

sol!(
    #[sol(rpc)]
    TestUSDC,
    "fixtures/chain/TestUSDC.json"
);

pub struct TestChain {
    _anvil: Child,
    pub port: u16,
    pub url: String,
    pub provider: DynProvider,
    pub usdc: Address,
    pub other_token: Address,
    /// Where customers pay.
    pub payment: Address,
    /// Funded customer wallets (anvil's unlocked accounts 1..=5).
    pub payers: Vec<Address>,
    deployer: Address,
}

fn anvil_path() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.join("tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
}

/// One dollar of USDC in base units.
pub const USD: u64 = 1_000_000;

impl TestChain {
    pub async fn start() -> TestChain {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let path = anvil_path();
        assert!(path.exists(), "anvil missing at {}: run `npm ci --prefix tools`", path.display());
        let anvil = Command::new(path)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--chain-id", "8453", "--silent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn anvil");
        let url = format!("http://127.0.0.1:{port}");
        let provider = ProviderBuilder::new().connect_http(url.parse().expect("url")).erased();
        for _ in 0..200 {
            if provider.get_chain_id().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(provider.get_chain_id().await.expect("anvil answers"), 8453);
        let accounts = provider.get_accounts().await.expect("accounts");
        let deployer = accounts[0];
        let payment = accounts[9];
        let payers = accounts[1..=5].to_vec();
        let usdc = TestUSDC::deploy_builder(&provider, "USD Coin".to_string(), "USDC".to_string())
            .from(deployer)
            .deploy()
            .await
            .expect("deploy USDC");
        let other_token = TestUSDC::deploy_builder(&provider, "Other Dollar".to_string(), "ODOL".to_string())
            .from(deployer)
            .deploy()
            .await
            .expect("deploy the other token");
        let chain = TestChain { _anvil: anvil, port, url, provider, usdc, other_token, payment, payers, deployer };
        for payer in chain.payers.clone() {
            for token in [usdc, other_token] {
                let c = TestUSDC::new(token, &chain.provider);
                c.mint(payer, U256::from(100_000 * USD))
                    .from(deployer)
                    .send()
                    .await
                    .expect("mint")
                    .get_receipt()
                    .await
                    .expect("mined");
            }
        }
        chain
    }

    /// The environment the api and worker need to use this chain.
    pub fn env(&self, confirmations: u64) -> Vec<(String, String)> {
        vec![
            ("CHAIN_RPC_URL".into(), self.url.clone()),
            ("CHAIN_ID".into(), "8453".into()),
            ("USDC_CONTRACT".into(), format!("{:#x}", self.usdc)),
            ("PAYMENT_ADDRESS".into(), format!("{:#x}", self.payment)),
            ("USDC_CONFIRMATIONS".into(), confirmations.to_string()),
        ]
    }

    /// Sends `amount` base units of `token` from `from` to `to`; returns the mined hash.
    pub async fn pay(&self, token: Address, from: Address, to: Address, amount: u64) -> String {
        let c = TestUSDC::new(token, &self.provider);
        let receipt = c
            .transfer(to, U256::from(amount))
            .from(from)
            .send()
            .await
            .expect("send transfer")
            .get_receipt()
            .await
            .expect("mined");
        assert!(receipt.status(), "transfer succeeded");
        format!("{:#x}", receipt.transaction_hash)
    }

    /// The wallet signs `message` (EIP-191 `personal_sign`), as a browser wallet does: anvil
    /// holds the keys of its unlocked accounts.
    pub async fn sign(&self, wallet: Address, message: &str) -> String {
        let hex_message = format!("0x{}", hex::encode(message.as_bytes()));
        self.provider
            .raw_request::<_, String>("personal_sign".into(), (hex_message, wallet))
            .await
            .expect("personal_sign")
    }

    /// Binds `wallet` to `token`'s account the only way there is: a challenge, signed by
    /// `signer` (the wallet itself unless a test plays an impostor). The bind's answer.
    pub async fn prove_wallet(
        &self,
        app: &crate::TestApp,
        token: &str,
        wallet: Address,
        signer: Address,
    ) -> (u16, serde_json::Value) {
        let (status, ch) = app
            .post("/api/billing/wallet/challenge", token, &serde_json::json!({"walletAddress": format!("{wallet:#x}")}))
            .await;
        assert_eq!(status, 200, "{ch}");
        let message = ch["data"]["message"].as_str().expect("message").to_owned();
        let signature = self.sign(signer, &message).await;
        let body = serde_json::json!({"nonce": ch["data"]["nonce"], "signature": signature, "message": message});
        app.call(reqwest::Method::PUT, "/api/billing/wallet", Some(token), Some(&body)).await
    }

    /// One transaction paying each amount to the payment address (a batched payout): two
    /// or more `Transfer` logs to us under one hash. Returns the hash.
    pub async fn pay_usdc_batch(&self, from: Address, amounts: &[u64]) -> String {
        let c = TestUSDC::new(self.usdc, &self.provider);
        let to = vec![self.payment; amounts.len()];
        let values = amounts.iter().map(|a| U256::from(*a)).collect();
        let receipt = c
            .batchTransfer(to, values)
            .from(from)
            .send()
            .await
            .expect("send batch")
            .get_receipt()
            .await
            .expect("mined");
        assert!(receipt.status(), "batch succeeded");
        format!("{:#x}", receipt.transaction_hash)
    }

    /// `n` USDC transfers of `amount` from `from` to the payment address, sent back to back;
    /// returns once the last is mined.
    pub async fn pay_usdc_many(&self, from: Address, amount: u64, n: usize) {
        let c = TestUSDC::new(self.usdc, &self.provider);
        let mut last = None;
        for _ in 0..n {
            last = Some(c.transfer(self.payment, U256::from(amount)).from(from).send().await.expect("send transfer"));
        }
        if let Some(pending) = last {
            pending.get_receipt().await.expect("mined");
        }
    }

    /// USDC from `from` to the payment address.
    pub async fn pay_usdc(&self, from: Address, amount: u64) -> String {
        self.pay(self.usdc, from, self.payment, amount).await
    }

    /// A transfer that reverts on chain (more than the sender holds), mined anyway.
    pub async fn reverted_payment(&self, from: Address) -> String {
        let c = TestUSDC::new(self.usdc, &self.provider);
        let call = c.transfer(self.payment, U256::from(u64::MAX)).from(from).gas(200_000);
        let receipt = call.send().await.expect("send").get_receipt().await.expect("mined");
        assert!(!receipt.status(), "the transfer must revert");
        format!("{:#x}", receipt.transaction_hash)
    }

    /// Mines `n` empty blocks.
    pub async fn mine(&self, n: u64) {
        let _: Value = self.provider.raw_request("anvil_mine".into(), (n,)).await.expect("anvil_mine");
    }

    /// Plain ETH transfer, to have blocks with nothing of ours in them.
    pub async fn noise(&self) {
        let tx =
            TransactionRequest::default().with_from(self.deployer).with_to(self.payers[0]).with_value(U256::from(1));
        self.provider.send_transaction(tx).await.expect("send").get_receipt().await.expect("mined");
    }

    pub fn random_hash() -> String {
        let bytes: [u8; 32] = rand::random();
        format!("{:#x}", B256::from(bytes))
    }
}

type Value = serde_json::Value;

impl TestChain {
    pub async fn provider_head(&self) -> u64 {
        self.provider.get_block_number().await.expect("head")
    }
}

impl TestChain {
    /// `evm_snapshot`: the chain state to return to with [`TestChain::revert_to`].
    pub async fn snapshot(&self) -> String {
        let id: serde_json::Value = self.provider.raw_request("evm_snapshot".into(), ()).await.expect("evm_snapshot");
        id.as_str().map(str::to_owned).unwrap_or_else(|| id.to_string())
    }

    /// `evm_revert`: drops every block after the snapshot, as a reorg does.
    pub async fn revert_to(&self, snapshot: &str) {
        let ok: bool = self.provider.raw_request("evm_revert".into(), (snapshot,)).await.expect("evm_revert");
        assert!(ok, "reverted to the snapshot");
    }
}
