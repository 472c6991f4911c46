//! The `xinfang.v1` contract: generated message types, service traits and clients, the encoded file
//! descriptor set (for reflection), and [`validate`], the input rules that the server and the offline client
//! both apply.

pub mod calendar;
pub mod codec;
pub mod input;
pub mod money;
pub mod personal;
pub mod push;
pub mod validate;

pub mod v1 {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("xinfang.v1");
}

/// The Chinese names of the contract's enum values, from the `label` option of `common.proto`: `LABELS`
/// lists them, and every enum of [`v1`] has `label()`.
pub mod labels {
    include!(concat!(env!("OUT_DIR"), "/labels.rs"));
}

/// The encoded `FileDescriptorSet` of every `xinfang.v1` file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/xinfang_v1_descriptor.bin"));

/// Full names of the eight services, in the order the README lists them.
pub const SERVICE_NAMES: [&str; 8] = [
    "xinfang.v1.OrgService",
    "xinfang.v1.VisitService",
    "xinfang.v1.CaseService",
    "xinfang.v1.FundService",
    "xinfang.v1.MetricsService",
    "xinfang.v1.SyncService",
    "xinfang.v1.SessionService",
    "xinfang.v1.DictionaryService",
];

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::labels::LABELS;
    use super::v1::{DeclineGround, Role};

    /// A user sees Chinese for every value a record can hold; only "not set" may go without.
    #[test]
    fn every_value_but_unspecified_has_a_label() {
        let pool = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET).unwrap();
        let mut missing = Vec::new();
        for file in pool.file.iter().filter(|f| f.package() == "xinfang.v1") {
            for e in &file.enum_type {
                for v in &e.value {
                    let full = format!("xinfang.v1.{}", e.name());
                    let labelled = LABELS
                        .iter()
                        .any(|(en, n, _, _)| *en == full && *n == v.number());
                    if !labelled && !v.name().ends_with("_UNSPECIFIED") {
                        missing.push(v.name().to_owned());
                    }
                }
            }
        }
        assert!(missing.is_empty(), "values without a label: {missing:?}");
        assert_eq!(DeclineGround::Leapfrog.label(), "越级走访");
        assert_eq!(Role::TownshipClerk.label(), "承办单位工作人员");
        assert_eq!(Role::Unspecified.label(), "ROLE_UNSPECIFIED");
    }
}
