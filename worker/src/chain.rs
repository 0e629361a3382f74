//! The chain client (alloy): receipts, the head, and USDC `Transfer` logs to the payment
//! address. Only the configured USDC contract's logs count, never "any token".

use alloy::primitives::{Address as EvmAddress, B256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, Log};
use alloy::sol;
use alloy::sol_types::SolEvent;
use billing::Micros;
use billing::chain::{Address, TxHash};
use billing::usdc::SeenTransfer;
use platform::config::Settings;
use tokio::sync::OnceCell;

sol! {
    interface IERC20 {
        event Transfer(address indexed from, address indexed to, uint256 value);
    }
}

/// An RPC failure: always worth retrying (timeouts, 5xx, rate limits, a node restarting).
/// Its text never holds the RPC URL, which usually carries a provider key: it ends up in
/// logs and in `jobs.last_error`.
#[derive(Debug, thiserror::Error)]
#[error("chain RPC: {0}")]
pub struct RpcError(String);

/// The forms in which an RPC URL may appear in an error's text, longest first.
fn secret_forms(raw: &str) -> Vec<String> {
    let mut forms = vec![raw.to_owned(), raw.trim_end_matches('/').to_owned()];
    if let Ok(url) = raw.parse::<alloy::transports::http::reqwest::Url>() {
        forms.push(url.to_string());
        let tail = format!("{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default());
        if tail.len() > 1 {
            forms.push(tail);
        }
        if !url.username().is_empty() {
            forms.push(url.username().to_owned());
        }
        if let Some(p) = url.password() {
            forms.push(p.to_owned());
        }
    }
    forms.retain(|f| f.len() > 1);
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}

/// `text` with every form of the RPC URL replaced by a placeholder.
pub fn redact(text: &str, forms: &[String]) -> String {
    forms.iter().fold(text.to_owned(), |t, f| t.replace(f.as_str(), "[CHAIN_RPC_URL]"))
}

pub enum Receipt {
    /// Not mined (or not known to this node), or dropped by a reorg.
    NotFound,
    Reverted,
    Mined {
        block: u64,
        transfers: Vec<SeenTransfer>,
    },
}

pub struct ChainClient {
    provider: DynProvider,
    usdc: EvmAddress,
    payment: EvmAddress,
    chain_id: u64,
    rpc_chain_id: OnceCell<u64>,
    /// What to take out of error texts (see [`RpcError`]).
    secret_forms: Vec<String>,
}

impl ChainClient {
    fn rpc<E: std::fmt::Display>(&self, e: E) -> RpcError {
        RpcError(redact(&e.to_string(), &self.secret_forms))
    }

    /// `None` when USDC payments are not configured (no `PAYMENT_ADDRESS`).
    pub fn from_settings(settings: &Settings) -> Result<Option<ChainClient>, String> {
        if settings.payment_address.is_empty() {
            return Ok(None);
        }
        let url = settings.chain_rpc_url.expose().parse().map_err(|e| format!("CHAIN_RPC_URL: {e}"))?;
        let usdc = settings.usdc_contract.parse().map_err(|e| format!("USDC_CONTRACT: {e}"))?;
        let payment = settings.payment_address.parse().map_err(|e| format!("PAYMENT_ADDRESS: {e}"))?;
        let provider = ProviderBuilder::new().connect_http(url).erased();
        Ok(Some(ChainClient {
            provider,
            usdc,
            payment,
            chain_id: settings.chain_id,
            rpc_chain_id: OnceCell::new(),
            secret_forms: secret_forms(settings.chain_rpc_url.expose()),
        }))
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    pub fn cursor_id(&self) -> String {
        format!("{}:{:#x}:{:#x}", self.chain_id, self.usdc, self.payment)
    }

    /// Fails unless the RPC serves the configured chain: a transfer on another chain pays
    /// nothing here.
    pub async fn check_chain(&self) -> Result<Result<(), String>, RpcError> {
        let served = *self
            .rpc_chain_id
            .get_or_try_init(|| async { self.provider.get_chain_id().await.map_err(|e| self.rpc(e)) })
            .await?;
        Ok(if served == self.chain_id {
            Ok(())
        } else {
            Err(format!("the RPC serves chain {served}, not {}", self.chain_id))
        })
    }

    pub async fn head(&self) -> Result<u64, RpcError> {
        self.provider.get_block_number().await.map_err(|e| self.rpc(e))
    }

    fn ours(&self, log: &Log) -> Option<SeenTransfer> {
        if log.address() != self.usdc {
            return None;
        }
        let decoded = log.log_decode::<IERC20::Transfer>().ok()?;
        let event = &decoded.inner.data;
        if event.to != self.payment {
            return None;
        }
        // USDC has 6 decimals: one base unit is one micro-USD.
        let amount = i64::try_from(event.value).ok()?;
        Some(SeenTransfer {
            chain_id: self.chain_id as i64,
            tx_hash: TxHash::parse(&format!("{:#x}", log.transaction_hash?))?,
            log_index: log.log_index? as i64,
            from: Address::parse(&format!("{:#x}", event.from))?,
            to: Address::parse(&format!("{:#x}", event.to))?,
            amount: Micros::new(amount),
            block_number: log.block_number? as i64,
        })
    }

    pub async fn receipt(&self, tx: &TxHash) -> Result<Receipt, RpcError> {
        let hash: B256 = tx.as_str().parse().map_err(|e| self.rpc(e))?;
        let Some(receipt) = self.provider.get_transaction_receipt(hash).await.map_err(|e| self.rpc(e))? else {
            return Ok(Receipt::NotFound);
        };
        if !receipt.status() {
            return Ok(Receipt::Reverted);
        }
        let Some(block) = receipt.block_number else { return Ok(Receipt::NotFound) };
        let transfers = receipt.inner.logs().iter().filter_map(|l| self.ours(l)).collect();
        Ok(Receipt::Mined { block, transfers })
    }

    /// USDC transfers to the payment address in blocks `from..=to`.
    pub async fn transfers(&self, from: u64, to: u64) -> Result<Vec<SeenTransfer>, RpcError> {
        let filter = Filter::new()
            .address(self.usdc)
            .event_signature(IERC20::Transfer::SIGNATURE_HASH)
            .topic2(self.payment.into_word())
            .from_block(from)
            .to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(|e| self.rpc(e))?;
        Ok(logs.iter().filter_map(|l| self.ours(l)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rpc_url_and_its_key_never_survive_in_an_error() {
        let forms = secret_forms("https://base-mainnet.g.alchemy.com/v2/SECRETKEY123");
        let text = "error sending request for url (https://base-mainnet.g.alchemy.com/v2/SECRETKEY123): timed out; \
                    path /v2/SECRETKEY123";
        let out = redact(text, &forms);
        assert!(!out.contains("SECRETKEY123"), "{out}");
        assert!(out.contains("[CHAIN_RPC_URL]"));
        let forms = secret_forms("https://user:pa55word@rpc.example.com/");
        assert!(!redact("GET https://user:pa55word@rpc.example.com/ failed", &forms).contains("pa55word"));
    }
}
