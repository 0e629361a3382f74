//! Chain identifiers as validated newtypes: a transaction hash and an address, checked at
//! the edge so a malformed value is a 400 before any job exists.

use serde::{Deserialize, Serialize};
use std::fmt;

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A 32-byte transaction hash, `0x`-prefixed, stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TxHash(String);

impl TryFrom<String> for TxHash {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        TxHash::parse(&s).ok_or_else(|| "a transaction hash is 0x and 64 hex digits".to_owned())
    }
}

impl From<TxHash> for String {
    fn from(h: TxHash) -> String {
        h.0
    }
}

impl TxHash {
    pub fn parse(s: &str) -> Option<TxHash> {
        let hex = s.strip_prefix("0x")?;
        (hex.len() == 64 && is_hex(hex)).then(|| TxHash(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 20-byte address, `0x`-prefixed, compared and stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address(String);

impl TryFrom<String> for Address {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Address::parse(&s).ok_or_else(|| "an address is 0x and 40 hex digits".to_owned())
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.0
    }
}

impl Address {
    pub fn parse(s: &str) -> Option<Address> {
        let hex = s.strip_prefix("0x")?;
        (hex.len() == 40 && is_hex(hex)).then(|| Address(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_hashes_and_addresses() {
        let h = format!("0x{}", "aB".repeat(32));
        assert_eq!(TxHash::parse(&h).map(|h| h.to_string()), Some(h.to_lowercase()));
        assert!(TxHash::parse("0x1234").is_none());
        assert!(TxHash::parse(&"ab".repeat(33)).is_none());
        assert!(TxHash::parse(&format!("0x{}", "zz".repeat(32))).is_none());
        assert!(Address::parse(&format!("0x{}", "A0".repeat(20))).is_some());
        assert!(Address::parse("0xdead").is_none());
    }
}
