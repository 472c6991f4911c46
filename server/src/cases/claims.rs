//! Which cases have a statutory conclusion period (docs/deadlines.md): under the 2022 regulation the 60 days
//! (plus an extension of at most 30) bind 申诉求决 cases handled by a written opinion; 建议意见 and 检举控告
//! follow procedures of their own. Under the 2005 regulation every case has the 60 days. The table is data
//! (`data/claim-types.csv`), one row per regulation and claim type, so a local rule is a row, not code.

use std::collections::BTreeMap;

pub const CLAIM_TYPES_CSV: &str = include_str!("../../data/claim-types.csv");

#[derive(Debug, thiserror::Error)]
pub enum ClaimRulesError {
    #[error("claim-type CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("claim-type CSV line {line}: {message}")]
    Row { line: u64, message: String },
}

/// `(regulation, claim type) → (name, has a statutory conclusion period)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRules {
    statutory: BTreeMap<(String, i32), (String, bool)>,
}

#[derive(serde::Deserialize)]
struct Row {
    regulation: String,
    claim_type: i32,
    name: String,
    statutory_conclusion: bool,
}

impl ClaimRules {
    pub fn from_csv(text: &str) -> Result<Self, ClaimRulesError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut statutory = BTreeMap::new();
        for row in reader.deserialize::<Row>() {
            let row = row?;
            if !(0..=3).contains(&row.claim_type) {
                return Err(ClaimRulesError::Row {
                    line: statutory.len() as u64 + 2,
                    message: format!(
                        "claim_type {} is not a xinfang.v1.ClaimType",
                        row.claim_type
                    ),
                });
            }
            statutory.insert(
                (row.regulation, row.claim_type),
                (row.name, row.statutory_conclusion),
            );
        }
        Ok(Self { statutory })
    }

    /// The bundled table ([`CLAIM_TYPES_CSV`]).
    pub fn builtin() -> Result<Self, ClaimRulesError> {
        Self::from_csv(CLAIM_TYPES_CSV)
    }

    /// Whether a case of `claim_type` under `regulation` has the statutory conclusion period. A pair the
    /// table does not list has it: a deadline nobody should miss is safer than one nobody counts.
    pub fn statutory_conclusion(&self, regulation: &str, claim_type: i32) -> bool {
        self.statutory
            .get(&(regulation.to_owned(), claim_type))
            .is_none_or(|(_, statutory)| *statutory)
    }

    /// The claim types of `regulation` in the table: `(claim type, name, statutory conclusion period)`.
    pub fn of_regulation(&self, regulation: &str) -> Vec<(i32, &str, bool)> {
        self.statutory
            .iter()
            .filter(|((r, _), _)| r == regulation)
            .map(|((_, t), (name, statutory))| (*t, name.as_str(), *statutory))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_grievances_have_the_sixty_days_under_2022() {
        let rules = ClaimRules::builtin().unwrap();
        assert!(rules.statutory_conclusion("2022", 0));
        assert!(rules.statutory_conclusion("2022", 1));
        assert!(!rules.statutory_conclusion("2022", 2));
        assert!(!rules.statutory_conclusion("2022", 3));
        for claim in 0..=3 {
            assert!(rules.statutory_conclusion("2005", claim));
        }
        assert!(
            rules.statutory_conclusion("2031", 2),
            "unknown pairs keep the deadline"
        );
    }

    #[test]
    fn bad_rows_are_named() {
        assert!(
            ClaimRules::from_csv(
                "regulation,claim_type,name,statutory_conclusion\n2022,9,x,true\n"
            )
            .is_err()
        );
        assert!(
            ClaimRules::from_csv(
                "regulation,claim_type,name,statutory_conclusion\n2022,1,x,maybe\n"
            )
            .is_err()
        );
    }
}
