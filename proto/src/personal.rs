//! Petitioners' personal data: citizen ID numbers (GB 11643-1999) and phone numbers. Server and offline
//! client normalize them identically, so that the keyed hash used for 同人 matching sees one spelling per
//! person, and both mask them the same way for display (docs/personal-data.md).
//!
//! Descriptions of violations never repeat the number itself: they may end up in logs, and the ID number is
//! sensitive personal information (GB/T 35273-2020).

use crate::validate::FieldViolation;

/// ISO 7064 MOD 11-2 weights, 2^(18−i) mod 11 for positions 1..=17.
const CHECK_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder of the weighted sum mod 11.
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// Earliest accepted birth date, as YYYYMMDD. Not 1900-01-01: the standard's own published sample
/// 440524188001010014 carries 1880, and the check character already catches every single-digit typo and
/// adjacent swap, so a tighter bound would reject real reference data without catching more mistakes.
pub const EARLIEST_BIRTH_DATE: u32 = 18000101;

/// A citizen ID number, returned as the 18-character form with an upper-case X.
///
/// `today_yyyymmdd` is the current local date (Asia/Shanghai) as a number like `20250601`; the caller
/// supplies it so the rule stays pure and testable. A legacy 15-digit number (GB 11643-1989) is upgraded to
/// 18 characters (century "19" inserted, check character appended) and must then pass every check.
pub fn id_number(field: &str, value: &str, today_yyyymmdd: u32) -> Result<String, FieldViolation> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldViolation::new(field, "required"));
    }
    let id = match trimmed.chars().count() {
        18 => shape18(trimmed).ok_or_else(|| {
            FieldViolation::new(field, "must be 17 digits followed by a digit or X")
        })?,
        15 => upgrade15(trimmed).ok_or_else(|| {
            FieldViolation::new(field, "a 15-digit (pre-1999) ID number must be all digits")
        })?,
        n => {
            return Err(FieldViolation::new(
                field,
                format!("must be 18 characters (or a 15-digit pre-1999 number), not {n}"),
            ));
        }
    };

    let (y, m, d) = date_digits(&id);
    if !is_real_date(y, m, d) {
        return Err(FieldViolation::new(
            field,
            "the birth date (digits 7–14) is not a real calendar date",
        ));
    }
    let birth = y * 10_000 + m * 100 + d;
    if birth < EARLIEST_BIRTH_DATE {
        return Err(FieldViolation::new(
            field,
            "the birth date (digits 7–14) is implausibly early",
        ));
    }
    if birth > today_yyyymmdd {
        return Err(FieldViolation::new(
            field,
            "the birth date (digits 7–14) lies in the future",
        ));
    }

    let province = digit(id[0]) * 10 + digit(id[1]);
    if !is_province_code(province) {
        return Err(FieldViolation::new(
            field,
            format!("unknown province code {province:02} (first two digits)"),
        ));
    }

    let expected = check_char(&id);
    if id[17] != expected {
        return Err(FieldViolation::new(
            field,
            format!(
                "check character should be {}: a digit is probably mistyped",
                char::from(expected)
            ),
        ));
    }

    Ok(id.iter().copied().map(char::from).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

/// The birth date encoded in an 18-character ID number, or `None` when it does not have that shape or the
/// date is not a real one. Meant for numbers that [`id_number`] already accepted.
pub fn birth_date(id18: &str) -> Option<(i32, u32, u32)> {
    let id = shape18(id18.trim())?;
    let (y, m, d) = date_digits(&id);
    if !is_real_date(y, m, d) {
        return None;
    }
    Some((i32::try_from(y).ok()?, m, d))
}

/// The sex encoded in an 18-character ID number: the sequence number (17th digit) is odd for men.
pub fn sex(id18: &str) -> Option<Sex> {
    let id = shape18(id18.trim())?;
    Some(if digit(id[16]) % 2 == 1 {
        Sex::Male
    } else {
        Sex::Female
    })
}

/// An ID number for display: region code and the last four characters stay, the birth date and the rest
/// of the sequence go (`510422********123X`). Anything that is not an 18-character ID number is masked
/// whole, since we cannot tell which part of it is safe to show.
pub fn mask_id_number(id: &str) -> String {
    let trimmed = id.trim();
    match shape18(trimmed) {
        Some(id) => {
            let mut masked: String = id[..6].iter().copied().map(char::from).collect();
            masked.push_str("********");
            masked.extend(id[14..].iter().copied().map(char::from));
            masked
        }
        None => "*".repeat(trimmed.chars().count()),
    }
}

/// A mainland phone number: a mobile (`1[3-9]` and 9 more digits, optionally after +86 or 86) returned as
/// its 11 digits, or a landline with area code returned as `0812-3456789`, with an extension as
/// `0812-3456789-123`. Spaces and hyphens between digit groups are allowed.
pub fn phone(field: &str, value: &str) -> Result<String, FieldViolation> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldViolation::new(field, "required"));
    }
    let (international, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    if !rest
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b' ' || b == b'-')
    {
        return Err(FieldViolation::new(
            field,
            "may contain only digits, spaces, hyphens and a leading +86",
        ));
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();

    if international {
        return match digits.strip_prefix("86") {
            Some(national) if is_mobile(national) => Ok(national.to_owned()),
            Some(_) => Err(FieldViolation::new(
                field,
                "after +86 a mobile number of 11 digits starting with 13–19 is expected; \
                 write landlines with their area code, e.g. 0812-3456789",
            )),
            None => Err(FieldViolation::new(
                field,
                "only mainland numbers (+86) are accepted",
            )),
        };
    }
    if is_mobile(&digits) {
        return Ok(digits);
    }
    // No mainland number starts with 8, so a leading 86 in front of a complete mobile number can only be
    // the country code written without its plus.
    if let Some(national) = digits.strip_prefix("86") {
        if is_mobile(national) {
            return Ok(national.to_owned());
        }
    }
    if digits.starts_with('0') {
        return landline(field, rest);
    }
    Err(FieldViolation::new(
        field,
        "must be a mobile number (11 digits starting with 13–19) or a landline with area code, \
         e.g. 0812-3456789",
    ))
}

/// A phone number for display: a mobile keeps its first 3 and last 4 digits (`138****5678`), a landline its
/// area code and last 2 digits (`0812-*****89`). Anything [`phone`] would reject is masked whole.
pub fn mask_phone(phone_number: &str) -> String {
    let Ok(normalized) = phone("", phone_number) else {
        return "*".repeat(phone_number.trim().chars().count());
    };
    // Normalized numbers are ASCII, so byte slicing below stays on character boundaries.
    if !normalized.starts_with('0') {
        return format!("{}****{}", &normalized[..3], &normalized[7..]);
    }
    let mut parts = normalized.split('-');
    let area = parts.next().unwrap_or_default();
    let local = parts.next().unwrap_or_default();
    let keep = local.len().saturating_sub(2);
    let mut masked = format!("{area}-{}{}", "*".repeat(keep), &local[keep..]);
    if let Some(extension) = parts.next() {
        masked.push('-');
        masked.push_str(&"*".repeat(extension.len()));
    }
    masked
}

/// `^\d{17}[\dXx]$` as bytes, with the x upper-cased.
fn shape18(s: &str) -> Option<[u8; 18]> {
    let mut id: [u8; 18] = s.as_bytes().try_into().ok()?;
    if !id[..17].iter().all(u8::is_ascii_digit) {
        return None;
    }
    id[17] = match id[17] {
        b'x' | b'X' => b'X',
        b @ b'0'..=b'9' => b,
        _ => return None,
    };
    Some(id)
}

/// Region code + "19" + YYMMDD + sequence + computed check character.
fn upgrade15(s: &str) -> Option<[u8; 18]> {
    let old: &[u8; 15] = s.as_bytes().try_into().ok()?;
    if !old.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut id = [0u8; 18];
    id[..6].copy_from_slice(&old[..6]);
    id[6..8].copy_from_slice(b"19");
    id[8..17].copy_from_slice(&old[6..]);
    id[17] = check_char(&id);
    Some(id)
}

/// Only called on bytes already known to be ASCII digits.
fn digit(b: u8) -> u32 {
    u32::from(b.wrapping_sub(b'0'))
}

fn date_digits(id: &[u8; 18]) -> (u32, u32, u32) {
    let number =
        |range: std::ops::Range<usize>| id[range].iter().fold(0, |n, &b| n * 10 + digit(b));
    (number(6..10), number(10..12), number(12..14))
}

fn is_real_date(y: u32, m: u32, d: u32) -> bool {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// Province-level codes of GB/T 2260, plus 81–83: Hong Kong, Macao and Taiwan residents' residence
/// permits (港澳台居民居住证, since 2018) carry numbers in this format with 810000, 820000 and 830000 as
/// their address code. 71 (Taiwan in GB/T 2260) is kept though no numbers are issued under it.
fn is_province_code(code: u32) -> bool {
    matches!(
        code,
        11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81..=83
    )
}

/// The ISO 7064 MOD 11-2 check character of the first 17 digits.
fn check_char(id: &[u8; 18]) -> u8 {
    let sum: u32 = id
        .iter()
        .zip(CHECK_WEIGHTS)
        .map(|(&b, weight)| digit(b) * weight)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

fn is_mobile(digits: &str) -> bool {
    let b = digits.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

/// `rest` holds only digits, spaces and hyphens and its first digit is 0. The digits alone do not say where
/// the area code ends, so its length follows the national plan: 010 and 02x have three digits, every other
/// area code four. Digit groups after the area code make up the local number until it has 7 digits
/// (`028 8765 4321`); one group after that is an extension, which therefore needs a separator before it.
fn landline(field: &str, rest: &str) -> Result<String, FieldViolation> {
    let mut groups = rest.split([' ', '-']).filter(|g| !g.is_empty());
    let first = groups.next().unwrap_or_default();
    if first.starts_with("00") {
        return Err(FieldViolation::new(
            field,
            "international numbers other than +86 mobiles are not accepted",
        ));
    }
    let area_len = if first.starts_with("01") || first.starts_with("02") {
        3
    } else {
        4
    };
    if first.len() < area_len {
        return Err(FieldViolation::new(
            field,
            format!("this area code has {area_len} digits, e.g. 0812 or 028"),
        ));
    }
    // ASCII digits only, so the byte index is a character boundary.
    let (area, head) = first.split_at(area_len);
    let mut local = head.to_owned();
    while local.len() < 7 {
        match groups.next() {
            Some(group) => local.push_str(group),
            None => break,
        }
    }
    if !(7..=8).contains(&local.len()) {
        return Err(FieldViolation::new(
            field,
            "a landline needs 7 or 8 digits after the area code",
        ));
    }
    let mut normalized = format!("{area}-{local}");
    match (groups.next(), groups.next()) {
        (None, _) => {}
        (Some(extension), None) if extension.len() <= 6 => {
            normalized.push('-');
            normalized.push_str(extension);
        }
        _ => {
            return Err(FieldViolation::new(
                field,
                "an extension has 1 to 6 digits, e.g. 0812-3456789-123",
            ));
        }
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: u32 = 20250601;

    fn id(value: &str) -> Result<String, FieldViolation> {
        id_number("petitioner.id_number", value, TODAY)
    }

    #[test]
    fn reference_vectors() {
        assert_eq!(id("11010519491231002X").unwrap(), "11010519491231002X");
        assert_eq!(id("440524188001010014").unwrap(), "440524188001010014");
        assert_eq!(id("34052419800101001X").unwrap(), "34052419800101001X");
        let err = id("110101199003077777").unwrap_err();
        assert_eq!(err.field, "petitioner.id_number");
        assert!(
            err.description.contains("check character should be 4"),
            "{err}"
        );
        assert_eq!(id("110101199003077774").unwrap(), "110101199003077774");
    }

    #[test]
    fn normalizes_case_and_whitespace() {
        assert_eq!(id(" 11010519491231002x\n").unwrap(), "11010519491231002X");
    }

    #[test]
    fn upgrades_legacy_15_digit_numbers() {
        // 11010519491231002X with the century and check character removed.
        assert_eq!(id("110105491231002").unwrap(), "11010519491231002X");
        assert_eq!(id("340524800101001").unwrap(), "34052419800101001X");
        // The upgraded number is checked like any other: 1949-02-30 does not exist.
        assert!(
            id("110105490230002")
                .unwrap_err()
                .description
                .contains("birth date")
        );
        assert!(id("99010549123100").is_err());
        assert!(id("99010549123100a").is_err());
        assert!(
            id("990105491231002")
                .unwrap_err()
                .description
                .contains("province")
        );
    }

    #[test]
    fn shape_errors() {
        assert_eq!(id("").unwrap_err().description, "required");
        assert_eq!(id("   ").unwrap_err().description, "required");
        assert!(
            id("1101051949123100")
                .unwrap_err()
                .description
                .contains("not 16")
        );
        assert!(id("11010519491231002XX").is_err());
        assert!(id("1101051949123100ZX").is_err());
        assert!(id("11010519491231002Y").is_err());
        // Full-width digits count as 18 characters but are not ASCII digits.
        assert!(
            id("１１０１０５１９４９１２３１００２Ｘ")
                .unwrap_err()
                .description
                .contains("17 digits")
        );
        assert!(id("11010519491231 02X").is_err());
    }

    /// Builds a number with a correct check character, so that only the rule under test can fail.
    fn with_check(first17: &str) -> String {
        let mut id = [0u8; 18];
        id[..17].copy_from_slice(first17.as_bytes());
        let check = check_char(&id);
        format!("{first17}{}", char::from(check))
    }

    #[test]
    fn birth_dates_must_be_real_and_not_in_the_future() {
        assert!(id(&with_check("11010520000229001")).is_ok());
        let feb29 = id(&with_check("11010519000229001")).unwrap_err();
        assert!(
            feb29.description.contains("not a real calendar date"),
            "{feb29}"
        );
        assert!(id(&with_check("11010519990229001")).is_err());
        assert!(id(&with_check("11010519991301001")).is_err());
        assert!(id(&with_check("11010519990100001")).is_err());
        assert!(id(&with_check("11010519990431001")).is_err());
        assert!(
            id(&with_check("11010517991231001"))
                .unwrap_err()
                .description
                .contains("early")
        );
        assert!(id(&with_check("11010520250601001")).is_ok());
        let future = id(&with_check("11010520250602001")).unwrap_err();
        assert!(future.description.contains("future"), "{future}");
    }

    #[test]
    fn province_codes() {
        let err = id(&with_check("99010519491231002")).unwrap_err();
        assert_eq!(
            err.description,
            "unknown province code 99 (first two digits)"
        );
        assert!(id(&with_check("00010519491231002")).is_err());
        assert!(id(&with_check("16010519491231002")).is_err());
        assert!(id(&with_check("51042219800101001")).is_ok());
        assert!(id(&with_check("83000019800101001")).is_ok());
        assert!(id(&with_check("84000019800101001")).is_err());
    }

    #[test]
    fn violations_do_not_echo_the_number() {
        for bad in [
            "110101199003077777",
            "99010519491231002X",
            "110105194902300021",
        ] {
            let err = id(bad).unwrap_err();
            assert!(!err.description.contains("1101"), "{err}");
            assert!(!err.description.contains("19490230"), "{err}");
        }
    }

    #[test]
    fn birth_date_and_sex() {
        assert_eq!(birth_date("11010519491231002X"), Some((1949, 12, 31)));
        assert_eq!(birth_date("11010519490230002X"), None);
        assert_eq!(birth_date("1101051949"), None);
        assert_eq!(sex("11010519491231002X"), Some(Sex::Female));
        assert_eq!(sex("440524188001010014"), Some(Sex::Male));
        assert_eq!(sex("not an id"), None);
    }

    #[test]
    fn id_masking() {
        assert_eq!(mask_id_number("51042219800101123X"), "510422********123X");
        assert_eq!(mask_id_number("11010519491231002x"), "110105********002X");
        assert_eq!(mask_id_number("110105491231002"), "***************");
        assert_eq!(mask_id_number("123"), "***");
        assert_eq!(mask_id_number(""), "");
        assert_eq!(
            mask_id_number("一二三四五六七八九十一二三四五六七八"),
            "*".repeat(18)
        );
        assert_eq!(
            mask_id_number("１１０１０５１９４９１２３１００２Ｘ"),
            "*".repeat(18)
        );
        assert_eq!(mask_id_number("5104221980010112é"), "*".repeat(17));
    }

    fn ph(value: &str) -> Result<String, FieldViolation> {
        phone("petitioner.phone", value)
    }

    #[test]
    fn mobiles() {
        assert_eq!(ph("13800138000").unwrap(), "13800138000");
        assert_eq!(ph(" 138-0013-8000 ").unwrap(), "13800138000");
        assert_eq!(ph("+86 138 0013 8000").unwrap(), "13800138000");
        assert_eq!(ph("+8613800138000").unwrap(), "13800138000");
        assert_eq!(ph("8613800138000").unwrap(), "13800138000");
        assert_eq!(ph("19912345678").unwrap(), "19912345678");
        assert!(ph("12800138000").is_err());
        assert!(ph("1380013800").is_err());
        assert!(ph("138001380001").is_err());
        assert!(ph("+1 415 555 0100").is_err());
        assert!(ph("+86 0812 3456789").is_err());
        assert!(ph("138 0013 800a").is_err());
        assert!(ph("１３８００１３８０００").is_err());
        assert!(ph("++8613800138000").is_err());
        assert_eq!(ph("").unwrap_err().description, "required");
    }

    #[test]
    fn landlines() {
        assert_eq!(ph("0812-3456789").unwrap(), "0812-3456789");
        assert_eq!(ph("08123456789").unwrap(), "0812-3456789");
        assert_eq!(ph("0812 3456789").unwrap(), "0812-3456789");
        assert_eq!(ph("010-12345678").unwrap(), "010-12345678");
        assert_eq!(ph("01012345678").unwrap(), "010-12345678");
        assert_eq!(ph("028 8765 4321").unwrap(), "028-87654321");
        assert_eq!(ph("0812-345-6789-12").unwrap(), "0812-3456789-12");
        assert_eq!(ph("028-87654321").unwrap(), "028-87654321");
        assert_eq!(ph("0812-3456789-123").unwrap(), "0812-3456789-123");
        assert_eq!(ph("08123456789-123456").unwrap(), "0812-3456789-123456");
        assert!(ph("0812-3456789-1234567").is_err());
        assert!(ph("0812-3456789-1-2").is_err());
        assert!(ph("081-23456789").is_err());
        assert!(ph("0812-345678").is_err());
        assert!(ph("0812-345678901").is_err());
        assert!(ph("0812-3456 78901").is_err());
        assert!(ph("0812").is_err());
        assert!(ph("0081234567890").is_err());
        assert!(ph("0-").is_err());
        assert!(ph("3456789").is_err());
    }

    #[test]
    fn phone_masking() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("+86 138 1234 5678"), "138****5678");
        assert_eq!(mask_phone("0812-3456789"), "0812-*****89");
        assert_eq!(mask_phone("010-12345678"), "010-******78");
        assert_eq!(mask_phone("0812-3456789-123"), "0812-*****89-***");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(mask_phone(""), "");
        assert_eq!(mask_phone("电话一三八"), "*****");
    }

    #[test]
    fn nothing_panics_on_odd_input() {
        let inputs = [
            "",
            " ",
            "+",
            "-",
            "+86",
            "86",
            "0",
            "00",
            "0-",
            "-0",
            "1",
            "x",
            "X",
            "é",
            "\u{0}",
            "１",
            "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
            "+86-",
            "0 - - 1",
            "99999999999999999",
            "999999999999999",
            "00000000000000000X",
        ];
        for input in inputs {
            let _ = id(input);
            let _ = ph(input);
            let _ = mask_id_number(input);
            let _ = mask_phone(input);
            let _ = birth_date(input);
            let _ = sex(input);
        }
    }
}
