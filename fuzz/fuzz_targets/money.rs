//! Money: `amount` never panics; what it accepts is between 0.00 and 999999999999.99 with exactly two
//! places, and formatting it and parsing that again gives the same value; `format` of any decimal rounds
//! to the fen and, when that is an amount, parses back to exactly the rounded value.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rust_decimal::{Decimal, RoundingStrategy};
use xinfang_proto::money::{amount, format, optional_amount, positive_amount};

#[derive(Debug, Arbitrary)]
enum Input<'a> {
    Text(&'a str),
    Digits {
        integer: Vec<u8>,
        fraction: Vec<u8>,
        pad: u8,
    },
    Value {
        mantissa: i128,
        scale: u8,
    },
}

fn max() -> Decimal {
    Decimal::new(99_999_999_999_999, 2)
}

fn check_text(text: &str) {
    let parsed = amount("a", text);
    match &parsed {
        Ok(value) => {
            assert_eq!(value.scale(), 2, "{text:?} → {value}");
            assert!(
                *value >= Decimal::ZERO && *value <= max(),
                "{text:?} → {value}"
            );
            let wire = format(*value);
            assert_eq!(amount("a", &wire), Ok(*value), "{text:?} → {wire}");
            assert_eq!(format(amount("a", &wire).expect("round trip")), wire);
            // Reading the plain text as a decimal agrees with the parser.
            if let Ok(read) = text.trim().parse::<Decimal>() {
                assert_eq!(read, *value, "{text:?}");
            }
        }
        Err(violation) => assert_eq!(violation.field, "a"),
    }
    match optional_amount("a", text) {
        Ok(None) => assert!(text.trim().is_empty()),
        Ok(Some(value)) => assert_eq!(parsed.as_ref().ok(), Some(&value)),
        Err(_) => assert!(parsed.is_err()),
    }
    match positive_amount("a", text) {
        Ok(value) => assert!(value > Decimal::ZERO && parsed.as_ref().ok() == Some(&value)),
        Err(_) => assert!(parsed.as_ref().map_or(true, Decimal::is_zero)),
    }
}

fuzz_target!(|input: Input<'_>| {
    match input {
        Input::Text(text) => check_text(text),
        Input::Digits {
            integer,
            fraction,
            pad,
        } => {
            // Plain notation built digit by digit, so that valid amounts are common.
            let digit = |b: &u8| char::from(b'0' + b % 10);
            let mut text: String = "0".repeat(usize::from(pad % 4));
            text.extend(integer.iter().take(16).map(digit));
            if !fraction.is_empty() {
                text.push('.');
                text.extend(fraction.iter().take(4).map(digit));
            }
            check_text(&text);
            if !integer.is_empty() && integer.len() <= 12 && fraction.len() <= 2 {
                assert!(amount("a", &text).is_ok(), "{text}");
            }
        }
        Input::Value { mantissa, scale } => {
            let Ok(value) = Decimal::try_from_i128_with_scale(mantissa, u32::from(scale % 29))
            else {
                return;
            };
            let wire = format(value);
            let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            let (integer, fraction) = wire
                .trim_start_matches('-')
                .split_once('.')
                .expect("two places");
            assert_eq!(fraction.len(), 2, "{value} → {wire}");
            assert!(integer.bytes().all(|b| b.is_ascii_digit()), "{wire}");
            assert_eq!(
                wire.parse::<Decimal>().ok(),
                Some(rounded),
                "{value} → {wire}"
            );
            if rounded >= Decimal::ZERO && rounded <= max() {
                assert_eq!(amount("a", &wire), Ok(rounded), "{value} → {wire}");
            } else {
                assert!(amount("a", &wire).is_err(), "{value} → {wire}");
            }
        }
    }
});
