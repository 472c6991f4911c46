//! GB 11643 ID numbers: whatever the input, `id_number` never panics, accepts only what it can give back
//! unchanged, keeps the number out of its error messages, and (through the check character) refuses every
//! single mistyped digit and every swap of two adjacent digits of a number it accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xinfang_proto::personal::{birth_date, id_number, mask_id_number, sex};

const TODAY: u32 = 20250601;

fuzz_target!(|data: &[u8]| {
    let Some((&edit, rest)) = data.split_first() else {
        return;
    };
    let input = String::from_utf8_lossy(rest);
    let masked = mask_id_number(&input);
    assert!(
        masked.chars().count() == input.trim().chars().count(),
        "a mask keeps the length"
    );
    match id_number("id", &input, TODAY) {
        Ok(id) => accepted(&input, &id, edit),
        Err(violation) => {
            // Descriptions are fixed texts with short numbers (18, 7–14, 1999, a province code): an input
            // with a run of six digits showing up in one is the number repeated.
            let trimmed = input.trim();
            let longest_run = trimmed
                .split(|c: char| !c.is_ascii_digit())
                .map(str::len)
                .max()
                .unwrap_or(0);
            if longest_run >= 6 {
                assert!(
                    !violation.description.contains(trimmed),
                    "an error repeats the number: {violation:?}"
                );
            }
        }
    }
});

fn accepted(input: &str, id: &str, edit: u8) {
    let bytes = id.as_bytes();
    assert_eq!(bytes.len(), 18, "{id}");
    assert!(bytes[..17].iter().all(u8::is_ascii_digit), "{id}");
    assert!(bytes[17].is_ascii_digit() || bytes[17] == b'X', "{id}");
    // Normalized form is a fixed point: the hash used for 同人 matching sees one spelling.
    assert_eq!(id_number("id", id, TODAY).as_deref(), Ok(id));
    assert_eq!(
        id_number("id", &id.to_lowercase(), TODAY).as_deref(),
        Ok(id)
    );
    let trimmed = input.trim();
    if trimmed.len() == 15 {
        assert_eq!(&id[..6], &trimmed[..6]);
        assert_eq!(&id[6..8], "19");
        assert_eq!(&id[8..17], &trimmed[6..]);
    } else {
        assert_eq!(id, trimmed.to_uppercase());
    }

    let (y, m, d) = birth_date(id).expect("an accepted number has a birth date");
    let birth = y as u32 * 10_000 + m * 100 + d;
    assert!((18000101..=TODAY).contains(&birth), "{id}");
    assert!(sex(id).is_some());

    let masked = mask_id_number(id);
    assert_eq!(masked.len(), 18);
    assert_eq!(&masked[..6], &id[..6]);
    assert_eq!(&masked[6..14], "********");
    assert_eq!(&masked[14..], &id[14..]);
    assert_eq!(mask_id_number(&id.to_lowercase()), masked);

    // One digit mistyped: position and replacement from the fuzzer's byte.
    let position = usize::from(edit % 17);
    let mut typo = bytes.to_vec();
    typo[position] = b'0' + (typo[position] - b'0' + 1 + (edit / 17) % 9) % 10;
    let typo = String::from_utf8(typo).expect("ascii");
    assert!(
        id_number("id", &typo, TODAY).is_err(),
        "{id} with digit {position} mistyped is accepted as {typo}"
    );
    // Two adjacent digits swapped.
    let position = usize::from(edit % 16);
    if bytes[position] != bytes[position + 1] {
        let mut swapped = bytes.to_vec();
        swapped.swap(position, position + 1);
        let swapped = String::from_utf8(swapped).expect("ascii");
        assert!(
            id_number("id", &swapped, TODAY).is_err(),
            "{id} with digits {position} and {} swapped is accepted",
            position + 1
        );
    }
}
