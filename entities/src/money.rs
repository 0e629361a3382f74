//! Money: integer micro-USD, never a float.
//!
//! 1 micro-USD is one USDC base unit (6 decimals); 1 cent is 10,000 micro-USD. Each API
//! surface converts at its edge: USD numbers (billing API), cents (subscription API), credits (credits API).

use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt;

/// An amount of money in micro-USD. Entities store it as is (a `BIGINT` column), so a row's
/// money is `Micros` from the database on, never a bare integer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, DeriveValueType,
)]
#[serde(transparent)]
pub struct Micros(i64);

/// Micro-USD per cent.
pub const MICROS_PER_CENT: i64 = 10_000;
/// Micro-USD per dollar.
pub const MICROS_PER_USD: i64 = 1_000_000;
/// Micro-USD per credit: one credit is one cent (credits API speaks integer credits).
pub const MICROS_PER_CREDIT: i64 = MICROS_PER_CENT;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    Malformed,
    TooPrecise,
    Overflow,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoneyError::Malformed => "not a decimal amount",
            MoneyError::TooPrecise => "more than 6 decimal places",
            MoneyError::Overflow => "amount out of range",
        })
    }
}

impl std::error::Error for MoneyError {}

impl Micros {
    pub const ZERO: Micros = Micros(0);

    pub const fn new(micros: i64) -> Self {
        Micros(micros)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    pub fn from_cents(cents: i64) -> Option<Self> {
        cents.checked_mul(MICROS_PER_CENT).map(Micros)
    }

    pub fn from_usd(dollars: i64) -> Option<Self> {
        dollars.checked_mul(MICROS_PER_USD).map(Micros)
    }

    /// Whether the amount is a whole number of cents: the only amounts a card can be
    /// charged exactly. A card amount that is not is refused, never rounded, so what is
    /// charged is what is credited.
    pub fn is_whole_cents(self) -> bool {
        self.0 % MICROS_PER_CENT == 0
    }

    /// Whole cents, rounded toward zero (what Stripe charges for an amount).
    pub fn to_cents(self) -> i64 {
        self.0 / MICROS_PER_CENT
    }

    /// Whole credits, rounded toward zero.
    pub fn to_credits(self) -> i64 {
        self.0 / MICROS_PER_CREDIT
    }

    pub fn checked_add(self, other: Micros) -> Option<Micros> {
        self.0.checked_add(other.0).map(Micros)
    }

    pub fn checked_sub(self, other: Micros) -> Option<Micros> {
        self.0.checked_sub(other.0).map(Micros)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// Parses a decimal USD amount such as `50`, `50.5` or `0.000001`. Exponents and more
    /// than six decimals are refused rather than rounded: money is never guessed.
    pub fn parse_usd(text: &str) -> Result<Micros, MoneyError> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || (digits.contains('.') && frac.is_empty()) {
            return Err(MoneyError::Malformed);
        }
        if frac.len() > 6 {
            return Err(MoneyError::TooPrecise);
        }
        let whole: i64 = whole.parse().map_err(|_| MoneyError::Overflow)?;
        let frac_micros: i64 = if frac.is_empty() {
            0
        } else {
            let padded = format!("{frac:0<6}");
            padded.parse().map_err(|_| MoneyError::Malformed)?
        };
        let value =
            whole.checked_mul(MICROS_PER_USD).and_then(|w| w.checked_add(frac_micros)).ok_or(MoneyError::Overflow)?;
        Ok(Micros(if negative { -value } else { value }))
    }

    /// The amount as a JSON number of dollars (`74.5`), written from integers: the API documents that
    /// speak USD numbers get one without a float ever holding money.
    pub fn usd_json(self) -> Box<RawValue> {
        // A decimal string of digits is always valid JSON, so this cannot fail.
        RawValue::from_string(self.to_string())
            .unwrap_or_else(|_| RawValue::from_string("0".to_owned()).unwrap_or_default())
    }
}

/// Dollars with the shortest exact decimal: `74.5`, `10`, `0.000001`.
impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / MICROS_PER_USD as u64;
        let frac = abs % MICROS_PER_USD as u64;
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let frac = format!("{frac:06}");
            write!(f, "{sign}{whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_usd_exactly() {
        for (text, micros, printed) in [
            ("50", 50_000_000, "50"),
            ("74.50", 74_500_000, "74.5"),
            ("0.000001", 1, "0.000001"),
            ("-1.25", -1_250_000, "-1.25"),
        ] {
            let m = Micros::parse_usd(text).expect("valid");
            assert_eq!(m.get(), micros);
            assert_eq!(m.to_string(), printed);
            assert_eq!(m.usd_json().get(), printed);
        }
    }

    #[test]
    fn refuses_what_it_cannot_represent() {
        assert_eq!(Micros::parse_usd("1e3"), Err(MoneyError::Malformed));
        assert_eq!(Micros::parse_usd("1."), Err(MoneyError::Malformed));
        assert_eq!(Micros::parse_usd("abc"), Err(MoneyError::Malformed));
        assert_eq!(Micros::parse_usd("0.0000001"), Err(MoneyError::TooPrecise));
        assert_eq!(Micros::parse_usd("99999999999999999"), Err(MoneyError::Overflow));
    }

    #[test]
    fn converts_units() {
        assert_eq!(Micros::from_cents(1999).map(Micros::get), Some(19_990_000));
        assert_eq!(Micros::new(19_990_000).to_cents(), 1999);
        assert!(Micros::new(10_000_000).is_whole_cents());
        assert!(!Micros::new(10_009_999).is_whole_cents());
        assert_eq!(Micros::new(19_990_000).to_credits(), 1999);
        assert_eq!(Micros::from_cents(i64::MAX), None);
    }
}
