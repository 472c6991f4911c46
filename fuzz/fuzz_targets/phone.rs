//! Phone numbers: `phone` never panics, its normal form is a fixed point of it, masks keep the length of
//! the normal form and show only the digits they promise to show, and errors never repeat the number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xinfang_proto::personal::{mask_phone, phone};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let masked = mask_phone(&input);
    match phone("phone", &input) {
        Ok(number) => {
            assert_eq!(phone("phone", &number).as_deref(), Ok(number.as_str()));
            assert!(
                number.bytes().all(|b| b.is_ascii_digit() || b == b'-'),
                "{number}"
            );
            assert_eq!(mask_phone(&number), masked, "one mask per number");
            assert_eq!(masked.len(), number.len(), "{number} → {masked}");
            if number.starts_with('0') {
                let parts: Vec<&str> = number.split('-').collect();
                assert!(parts.len() == 2 || parts.len() == 3, "{number}");
                assert!(matches!(parts[0].len(), 3 | 4), "{number}");
                assert!(matches!(parts[1].len(), 7 | 8), "{number}");
                assert!(masked.starts_with(parts[0]));
                // The local number shows its last two digits, the extension nothing.
                let shown = masked.bytes().filter(u8::is_ascii_digit).count();
                assert_eq!(shown, parts[0].len() + 2, "{number} → {masked}");
            } else {
                assert_eq!(number.len(), 11, "{number}");
                assert_eq!(&masked[..3], &number[..3]);
                assert_eq!(&masked[3..7], "****");
                assert_eq!(&masked[7..], &number[7..]);
            }
        }
        Err(violation) => {
            assert_eq!(
                masked.chars().count(),
                input.trim().chars().count(),
                "a refused number is masked whole"
            );
            assert!(!masked.contains(|c: char| c.is_ascii_digit()));
            let digits: String = input.chars().filter(char::is_ascii_digit).collect();
            // "3456789" is the local number of the examples the descriptions give (0812-3456789).
            if digits.len() >= 7 && digits != "3456789" {
                assert!(
                    !violation.description.contains(&digits),
                    "an error repeats the number: {violation:?}"
                );
            }
        }
    }
});
