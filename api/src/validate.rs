//! The key-tier API's validation: every bad field of a request is named at once in `details`, as
//! `{field: rule}`, in a 400 `validation_error`.

use crate::error::ApiError;
use serde_json::{Map, Value, json};

#[derive(Default)]
pub struct Fields(Map<String, Value>);

impl Fields {
    /// A required string field that must pass `ok`; its value when it does.
    pub fn required<'a>(
        &mut self,
        name: &str,
        v: Option<&'a Value>,
        ok: impl Fn(&str) -> bool,
        rule: &str,
    ) -> Option<&'a str> {
        match v.and_then(Value::as_str) {
            Some(s) if storable(s) && ok(s) => Some(s),
            Some(_) => self.bad(name, rule),
            None => self.bad(name, "required"),
        }
    }

    /// An optional string field (absent or null is fine) that must pass `ok` when given.
    pub fn optional<'a>(
        &mut self,
        name: &str,
        v: Option<&'a Value>,
        ok: impl Fn(&str) -> bool,
        rule: &str,
    ) -> Option<&'a str> {
        match v {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if storable(s) && ok(s) => Some(s),
            Some(_) => self.bad(name, rule),
        }
    }

    pub fn bad<T>(&mut self, name: &str, rule: &str) -> Option<T> {
        self.0.insert(name.to_owned(), json!(rule));
        None
    }

    /// `Ok` when every field passed.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Ok(());
        }
        Err(ApiError::bad_request("validation_error", "the request has invalid fields")
            .with_details(Value::Object(self.0)))
    }
}

/// The longest URL accepted for redirects.
pub const MAX_URL: usize = 2000;

/// An absolute http(s) URL of at most 2,000 characters.
pub fn valid_url(u: &str) -> bool {
    u.len() <= MAX_URL
        && (u.starts_with("https://") || u.starts_with("http://"))
        && u.split_once("://").is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains(char::is_whitespace))
        // No control characters (a NUL cannot even be stored in Postgres' jsonb).
        && !u.contains(char::is_control)
}

/// Text a field may hold: anything but NUL, which a Postgres `text` column cannot store (the
/// insert would fail as a 500 instead of the 400 the field deserves).
pub fn storable(s: &str) -> bool {
    !s.contains('\0')
}
