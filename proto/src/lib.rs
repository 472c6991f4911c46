//! The `xinfang.v1` contract: generated message types, service traits and clients, the encoded file
//! descriptor set (for reflection), and [`validate`], the input rules that the server and the offline client
//! both apply.

pub mod calendar;
pub mod codec;
pub mod input;
pub mod money;
pub mod personal;
pub mod validate;

pub mod v1 {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("xinfang.v1");
}

/// The encoded `FileDescriptorSet` of every `xinfang.v1` file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/xinfang_v1_descriptor.bin"));

/// Full names of the six services, in the order the README lists them.
pub const SERVICE_NAMES: [&str; 6] = [
    "xinfang.v1.OrgService",
    "xinfang.v1.VisitService",
    "xinfang.v1.CaseService",
    "xinfang.v1.FundService",
    "xinfang.v1.MetricsService",
    "xinfang.v1.SyncService",
];
