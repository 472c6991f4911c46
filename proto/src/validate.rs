//! Input rules of the contract, applied identically by the server and by the offline client, the way
//! protovalidate keeps rules with the schema. Every rule names the offending field with its proto path
//! (`org_unit.code`), so the server can answer `INVALID_ARGUMENT` with `google.rpc.BadRequest` field violations
//! and the client can point at the same field before anything leaves the laptop.

use std::fmt;

use uuid::Uuid;

/// One bad field: its proto path and what is wrong with it, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

/// Collects every violation of a message instead of stopping at the first, so one round trip shows the
/// user all that needs fixing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Records the error of a field-level check and returns its value when it passed.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(violation) => {
                self.0.push(violation);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }

    /// `Ok(value)` when nothing was recorded. `value` is only built when every field passed, which is what
    /// lets callers unwrap the `Option`s that `check` returned inside the closure.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, Violations> {
        if !self.0.is_empty() {
            return Err(self);
        }
        value().ok_or(self)
    }
}

impl From<FieldViolation> for Violations {
    fn from(violation: FieldViolation) -> Self {
        Self(vec![violation])
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for Violations {}

/// The idempotency key of a mutating request: a UUID chosen by the client (any version; the offline client
/// uses UUIDv7 so that keys sort by time).
pub fn request_id(field: &str, value: &str) -> Result<Uuid, FieldViolation> {
    if value.is_empty() {
        return Err(FieldViolation::new(
            field,
            "required: a client-generated UUID that identifies this request",
        ));
    }
    match Uuid::parse_str(value) {
        Ok(id) if !id.is_nil() => Ok(id),
        Ok(_) => Err(FieldViolation::new(field, "must not be the nil UUID")),
        Err(_) => Err(FieldViolation::new(field, "must be a UUID")),
    }
}

/// A required, trimmed text of at most `max_chars` characters.
pub fn required_text(field: &str, value: &str, max_chars: usize) -> Result<String, FieldViolation> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldViolation::new(field, "required"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(FieldViolation::new(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// A required free text that may span lines (letters, complaints, reports): like [`required_text`], but
/// line breaks and tabs are kept.
pub fn required_multiline(
    field: &str,
    value: &str,
    max_chars: usize,
) -> Result<String, FieldViolation> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldViolation::new(field, "required"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(FieldViolation::new(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// A dictionary code such as a category: lower-case ASCII letters and underscores.
pub fn dictionary_code(field: &str, value: &str) -> Result<String, FieldViolation> {
    if value.is_empty() {
        return Err(FieldViolation::new(field, "required"));
    }
    let ok = (2..=41).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if !ok {
        return Err(FieldViolation::new(
            field,
            "must be a dictionary code of lower-case letters and underscores, e.g. labor",
        ));
    }
    Ok(value.to_owned())
}

/// An org-unit code: 6 to 12 upper-case ASCII letters or digits (`510422`, `510422100`, `510422D01`).
pub fn org_code(field: &str, value: &str) -> Result<String, FieldViolation> {
    if value.is_empty() {
        return Err(FieldViolation::new(field, "required"));
    }
    let ok_len = (6..=12).contains(&value.len());
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    if !ok_len || !ok_chars {
        return Err(FieldViolation::new(
            field,
            "must be 6 to 12 upper-case letters or digits, e.g. 510422100",
        ));
    }
    Ok(value.to_owned())
}

/// A proto3 enum field that must be set to a known, non-zero value. `T::try_from(i32)` is what prost
/// generates for every enum.
pub fn required_enum<T>(field: &str, value: i32) -> Result<T, FieldViolation>
where
    T: TryFrom<i32>,
{
    if value == 0 {
        return Err(FieldViolation::new(field, "required"));
    }
    T::try_from(value).map_err(|_| FieldViolation::new(field, format!("unknown value {value}")))
}

/// An optional enum filter: 0 means "any".
pub fn optional_enum<T>(field: &str, value: i32) -> Result<Option<T>, FieldViolation>
where
    T: TryFrom<i32>,
{
    if value == 0 {
        return Ok(None);
    }
    required_enum(field, value).map(Some)
}

/// Default and maximum page sizes of every List method (AIP-158: larger requests are coerced down).
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;

/// `page_size` of a List request: 0 means the default; above the maximum is coerced to it; negative is an
/// error.
pub fn page_size(field: &str, value: i32) -> Result<u32, FieldViolation> {
    match u32::try_from(value) {
        Err(_) => Err(FieldViolation::new(field, "must not be negative")),
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
    }
}

/// How far into the future an `occurred_at` may lie, to absorb clocks of offline laptops that run fast.
pub const CLOCK_SKEW_ALLOWANCE_SECS: i64 = 300;

/// `occurred_at` of a mutation, as seconds since the epoch: defaults to `now`; may not lie in the future
/// beyond the clock-skew allowance, nor before 1900.
pub fn occurred_at(
    field: &str,
    value: Option<&prost_types::Timestamp>,
    now_secs: i64,
) -> Result<prost_types::Timestamp, FieldViolation> {
    let Some(ts) = value else {
        return Ok(prost_types::Timestamp {
            seconds: now_secs,
            nanos: 0,
        });
    };
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(FieldViolation::new(field, "nanos out of range"));
    }
    // 1900-01-01T00:00:00Z
    const EARLIEST: i64 = -2_208_988_800;
    if ts.seconds < EARLIEST {
        return Err(FieldViolation::new(field, "must not be before 1900"));
    }
    if ts.seconds > now_secs + CLOCK_SKEW_ALLOWANCE_SECS {
        return Err(FieldViolation::new(
            field,
            "must not lie in the future (check the device clock)",
        ));
    }
    Ok(*ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_must_be_a_non_nil_uuid() {
        assert!(request_id("request_id", "").is_err());
        assert!(request_id("request_id", "not-a-uuid").is_err());
        assert!(request_id("request_id", "00000000-0000-0000-0000-000000000000").is_err());
        let id = request_id("request_id", "0192e6b4-7c1a-7cc2-9a57-2f1f0b3c4d5e").unwrap();
        assert_eq!(id.to_string(), "0192e6b4-7c1a-7cc2-9a57-2f1f0b3c4d5e");
    }

    #[test]
    fn org_codes() {
        assert_eq!(org_code("c", "510422100").unwrap(), "510422100");
        assert!(org_code("c", "510422D01").is_ok());
        assert!(org_code("c", "51042").is_err());
        assert!(org_code("c", "510422d01").is_err());
        assert!(org_code("c", "5104221000000").is_err());
        assert!(org_code("c", "51 0422").is_err());
        assert_eq!(
            org_code("org_unit.code", "").unwrap_err().field,
            "org_unit.code"
        );
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(required_text("n", "  桐子林镇 ", 10).unwrap(), "桐子林镇");
        assert!(required_text("n", "   ", 10).is_err());
        assert!(required_text("n", "一二三四五六七八九十一", 10).is_err());
        assert!(required_text("n", "a\u{0}b", 10).is_err());
    }

    #[test]
    fn multiline_text_keeps_paragraphs() {
        assert_eq!(
            required_multiline("c", "第一段\n\t第二段", 100).unwrap(),
            "第一段\n\t第二段"
        );
        assert!(required_multiline("c", "a\u{0}b", 100).is_err());
        assert!(required_text("c", "a\nb", 100).is_err());
    }

    #[test]
    fn dictionary_codes() {
        assert!(dictionary_code("c", "labor").is_ok());
        assert!(dictionary_code("c", "politics_law").is_ok());
        assert!(dictionary_code("c", "Labor").is_err());
        assert!(dictionary_code("c", "la\u{0}bor").is_err());
        assert!(dictionary_code("c", "").is_err());
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size("page_size", 0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size("page_size", 7).unwrap(), 7);
        assert_eq!(page_size("page_size", 100_000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size("page_size", -1).is_err());
    }

    #[test]
    fn occurred_at_defaults_and_rejects_the_future() {
        let now = 1_600_000_000;
        assert_eq!(occurred_at("o", None, now).unwrap().seconds, now);
        let past = prost_types::Timestamp {
            seconds: now - 86_400,
            nanos: 0,
        };
        assert_eq!(occurred_at("o", Some(&past), now).unwrap(), past);
        let skewed = prost_types::Timestamp {
            seconds: now + 60,
            nanos: 0,
        };
        assert!(occurred_at("o", Some(&skewed), now).is_ok());
        let future = prost_types::Timestamp {
            seconds: now + 3_600,
            nanos: 0,
        };
        assert!(occurred_at("o", Some(&future), now).is_err());
        let bad_nanos = prost_types::Timestamp {
            seconds: now,
            nanos: -1,
        };
        assert!(occurred_at("o", Some(&bad_nanos), now).is_err());
    }

    #[test]
    fn violations_collect_every_field() {
        let mut v = Violations::new();
        let a = v.check(org_code("org_unit.code", "x"));
        let b = v.check(required_text("org_unit.name", "", 10));
        assert!(a.is_none() && b.is_none());
        let err = v.finish(|| Some(())).unwrap_err();
        let fields: Vec<_> = err.into_vec().into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["org_unit.code", "org_unit.name"]);
    }
}
