//! Money on the wire is a decimal string in yuan with at most two places (`"275900.00"`), never a float:
//! fund requests and approvals must add up to the fen, and a binary float cannot hold 0.10. Amounts are
//! stored as NUMERIC(14,2), so the rules here bound them to what that column holds and reject anything a
//! person or a program could read two ways.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::validate::FieldViolation;

/// NUMERIC(14,2) leaves 12 digits before the point.
const MAX_INTEGER_DIGITS: usize = 12;

const PLAIN: &str =
    "must be an amount in yuan such as 275900.00: digits, optionally a point and one or two more";

/// A required, non-negative amount of at most 999999999999.99, returned with exactly two places.
///
/// Only plain notation is accepted: `1e5`, `1,000.00`, `+5`, `.5`, `5.` and non-ASCII digits are refused
/// rather than guessed at, since whatever reading we picked could differ from the one the sender meant.
/// Surrounding whitespace is ignored; leading zeros are harmless and accepted.
pub fn amount(field: &str, value: &str) -> Result<Decimal, FieldViolation> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldViolation::new(
            field,
            "required: an amount in yuan, e.g. 275900.00",
        ));
    }
    let Some((integer, fraction)) = split_plain(trimmed) else {
        return Err(FieldViolation::new(field, describe_malformed(trimmed)));
    };
    if fraction.len() > 2 {
        return Err(FieldViolation::new(
            field,
            "at most two decimal places (fen)",
        ));
    }
    let significant = integer.trim_start_matches('0');
    if significant.len() > MAX_INTEGER_DIGITS {
        return Err(FieldViolation::new(
            field,
            "must not exceed 999999999999.99",
        ));
    }
    // At most 14 digits in all, so the fen count fits an i64 with room to spare.
    let fen = significant
        .bytes()
        .chain(fraction.bytes())
        .chain(std::iter::repeat_n(b'0', 2 - fraction.len()))
        .fold(0_i64, |n, b| n * 10 + i64::from(b - b'0'));
    Ok(Decimal::new(fen, 2))
}

/// Like [`amount`], but an empty (or blank) value means "not given".
pub fn optional_amount(field: &str, value: &str) -> Result<Option<Decimal>, FieldViolation> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    amount(field, value).map(Some)
}

/// Like [`amount`], but zero is refused too: for requested and approved sums, where 0.00 is a mistake.
pub fn positive_amount(field: &str, value: &str) -> Result<Decimal, FieldViolation> {
    let value = amount(field, value)?;
    if value.is_zero() {
        return Err(FieldViolation::new(field, "must be more than 0.00"));
    }
    Ok(value)
}

/// The wire form of an amount: always two places (`"275900.00"`, `"0.50"`). Values with more places, which
/// only arise from arithmetic, are rounded half away from zero (四舍五入), the way fen are rounded in
/// bookkeeping.
pub fn format(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    if rounded.is_zero() {
        // A negative zero (from -0.001, say) would otherwise print as "-0.00".
        return "0.00".to_owned();
    }
    format!("{rounded:.2}")
}

/// `digits[.d[d…]]` split into its integer and fraction digits; the fraction is empty without a point.
fn split_plain(s: &str) -> Option<(&str, &str)> {
    let (integer, fraction) = match s.split_once('.') {
        Some((integer, fraction)) if !fraction.is_empty() => (integer, fraction),
        Some(_) => return None,
        None => (s, ""),
    };
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    (!integer.is_empty() && digits(integer) && digits(fraction)).then_some((integer, fraction))
}

/// Names the common mistake when there is one, so the person fixing the input knows what to change.
fn describe_malformed(s: &str) -> &'static str {
    if s.strip_prefix('-').and_then(split_plain).is_some() {
        return "must not be negative";
    }
    if s.strip_prefix('+').and_then(split_plain).is_some() {
        return "must be written without a sign, e.g. 100.00";
    }
    if s.contains(char::is_whitespace) {
        return "must not contain spaces";
    }
    if s.contains([',', '，', '_', '\'']) {
        return "must be written without thousands separators, e.g. 1000000.00";
    }
    let scientific = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if scientific && s.contains(['e', 'E']) {
        return "must be written out in full, without an exponent, e.g. 100000.00";
    }
    PLAIN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(value: &str) -> String {
        format(amount("fund_request.amount", value).unwrap())
    }

    fn err(value: &str) -> String {
        let violation = amount("fund_request.amount", value).unwrap_err();
        assert_eq!(violation.field, "fund_request.amount");
        violation.description
    }

    #[test]
    fn plain_amounts_are_rescaled_to_two_places() {
        assert_eq!(ok("275900.00"), "275900.00");
        assert_eq!(ok("275900"), "275900.00");
        assert_eq!(ok("275900.5"), "275900.50");
        assert_eq!(ok("0.5"), "0.50");
        assert_eq!(ok("0"), "0.00");
        assert_eq!(ok(" 12.34\n"), "12.34");
        assert_eq!(ok("007.10"), "7.10");
        assert_eq!(ok("999999999999.99"), "999999999999.99");
        assert_eq!(ok("0000000000000000000001.00"), "1.00");
        let value = amount("a", "275900.5").unwrap();
        assert_eq!(value.scale(), 2);
        assert_eq!(value, Decimal::new(27_590_050, 2));
        assert_eq!(value.to_string(), "275900.50");
    }

    #[test]
    fn refuses_anything_but_plain_notation() {
        assert!(err("1e5").contains("exponent"));
        assert!(err("1E+5").contains("exponent"));
        assert!(err("1,000.00").contains("thousands separators"));
        assert!(err("1_000").contains("thousands separators"));
        assert!(err("1 000.00").contains("spaces"));
        assert!(err("-1").contains("negative"));
        assert!(err("-0.00").contains("negative"));
        assert!(err("+5").contains("without a sign"));
        assert!(err("0.001").contains("two decimal places"));
        assert!(err("1.000").contains("two decimal places"));
        assert!(err("").starts_with("required"));
        assert!(err("  ").starts_with("required"));
        for bad in [
            "NaN", "inf", "-inf", "Infinity", "١٢", "１２", "一百", ".5", "5.", ".", "1.2.3",
            "--1", "0x10", "¥100", "100元", "12a", "-", "+",
        ] {
            assert_eq!(err(bad), PLAIN, "{bad}");
        }
    }

    #[test]
    fn bounded_by_numeric_14_2() {
        assert!(err("1000000000000").contains("999999999999.99"));
        assert!(err("1000000000000.00").contains("exceed"));
        assert!(err(&"9".repeat(40)).contains("exceed"));
        assert!(err(&format!("{}.00", "9".repeat(10_000))).contains("exceed"));
    }

    #[test]
    fn optional_and_positive() {
        assert_eq!(optional_amount("a", "").unwrap(), None);
        assert_eq!(optional_amount("a", "  ").unwrap(), None);
        assert_eq!(
            optional_amount("a", "1.5").unwrap(),
            Some(Decimal::new(150, 2))
        );
        assert!(optional_amount("a", "1e5").is_err());
        assert_eq!(positive_amount("a", "0.01").unwrap(), Decimal::new(1, 2));
        assert!(positive_amount("a", "0").is_err());
        assert!(positive_amount("a", "0.00").is_err());
        assert!(positive_amount("a", "").is_err());
        assert!(positive_amount("a", "-1").is_err());
    }

    #[test]
    fn formats_with_exactly_two_places() {
        assert_eq!(format(Decimal::new(275_900, 0)), "275900.00");
        assert_eq!(format(Decimal::new(5, 1)), "0.50");
        assert_eq!(format(Decimal::new(50, 2)), "0.50");
        assert_eq!(format(Decimal::ZERO), "0.00");
        assert_eq!(format(Decimal::new(-1, 3)), "0.00");
        assert_eq!(format(Decimal::new(-250, 2)), "-2.50");
        assert_eq!(format(Decimal::new(1005, 3)), "1.01");
        assert_eq!(format(Decimal::new(-1005, 3)), "-1.01");
        assert_eq!(format(Decimal::new(1004, 3)), "1.00");
        assert_eq!(format(Decimal::MAX), "79228162514264337593543950335.00");
        assert_eq!(format(Decimal::MIN), "-79228162514264337593543950335.00");
        assert_eq!(format(Decimal::from_i128_with_scale(1, 28)), "0.00");
    }

    #[test]
    fn format_round_trips_through_amount() {
        for value in ["0.00", "0.50", "275900.00", "999999999999.99", "12.34"] {
            assert_eq!(ok(&format(amount("a", value).unwrap())), value);
        }
    }
}
