//! Opaque page tokens for every List method.
//!
//! A token holds the list's filter and the sort key of the last row served, base64-encoded. It never carries
//! authorization: each page is filtered by the caller's scope again. A token used with a different filter is
//! refused, as AIP-158 asks, because it would silently skip or repeat rows.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use xinfang_proto::validate::FieldViolation;

const VERSION: &str = "p1";
const FIELD: &str = "page_token";

/// Encodes the position after `last_key` for the list identified by `filter`.
pub fn encode(filter: &str, last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}\n{filter}\n{last_key}"))
}

/// The sort key to continue after, `None` for the first page.
pub fn decode(token: &str, filter: &str) -> Result<Option<String>, FieldViolation> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || FieldViolation::new(FIELD, "not a page token of this list");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '\n');
    let (Some(VERSION), Some(token_filter), Some(last_key)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    if token_filter != filter {
        return Err(FieldViolation::new(
            FIELD,
            "was issued for a different filter; start again without a page token",
        ));
    }
    Ok(Some(last_key.to_owned()))
}

/// Ends a page read with one row more than `page_size` (which tells whether another page exists without a
/// count): drops the extra row and returns the token of the next page, empty on the last one.
pub fn next_page<T>(
    rows: &mut Vec<T>,
    page_size: u32,
    filter: &str,
    key: impl Fn(&T) -> String,
) -> String {
    if rows.len() <= page_size as usize {
        return String::new();
    }
    rows.truncate(page_size as usize);
    rows.last()
        .map(|last| encode(filter, &key(last)))
        .unwrap_or_default()
}

/// The sort key of lists ordered newest first by a time and an id.
pub fn time_key(at: chrono::DateTime<chrono::Utc>, id: uuid::Uuid) -> String {
    format!("{}|{id}", at.timestamp_micros())
}

/// The (time, id) of a [`time_key`]; `None` for anything else, including times PostgreSQL cannot hold, so
/// that a forged token is bad input rather than a database error.
pub fn parse_time_key(key: &str) -> Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)> {
    const YEAR_1900: i64 = -2_208_988_800_000_000;
    const YEAR_9999: i64 = 253_402_300_799_000_000;
    let (micros, id) = key.split_once('|')?;
    let micros: i64 = micros.parse().ok()?;
    if !(YEAR_1900..=YEAR_9999).contains(&micros) {
        return None;
    }
    Some((
        chrono::DateTime::from_timestamp_micros(micros)?,
        uuid::Uuid::parse_str(id).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_read_with_one_extra_row() {
        let mut rows = vec![1, 2, 3];
        let token = next_page(&mut rows, 2, "f", |r| r.to_string());
        assert_eq!(rows, [1, 2]);
        assert_eq!(decode(&token, "f").unwrap().as_deref(), Some("2"));
        let mut last = vec![1, 2];
        assert_eq!(next_page(&mut last, 2, "f", |r| r.to_string()), "");
        assert_eq!(last, [1, 2]);
    }

    #[test]
    fn round_trip() {
        let token = encode("kind=township", "510422105");
        assert_eq!(
            decode(&token, "kind=township").unwrap().as_deref(),
            Some("510422105")
        );
        assert_eq!(decode("", "kind=township").unwrap(), None);
    }

    #[test]
    fn time_keys_round_trip_within_postgres_range() {
        let at = chrono::DateTime::from_timestamp(1_600_000_000, 5_000).unwrap();
        let id = uuid::Uuid::from_u128(42);
        assert_eq!(parse_time_key(&time_key(at, id)), Some((at, id)));
        assert_eq!(
            parse_time_key("999999999999999999|00000000-0000-0000-0000-00000000002a"),
            None
        );
        assert_eq!(parse_time_key("1|nope"), None);
    }

    #[test]
    fn refuses_garbage_and_other_filters() {
        let token = encode("kind=township", "510422105");
        assert!(decode(&token, "kind=department").is_err());
        assert!(decode("!!!", "").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("p0\n\nx"), "").is_err());
    }
}
