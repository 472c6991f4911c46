//! `xinfang.v1.SyncService`: declared by the foundation; every method answers `UNIMPLEMENTED` (the generated
//! default) until issue #6 builds it.

use xinfang_proto::v1::sync_service_server::SyncService;

#[derive(Debug, Default)]
pub struct SyncApi;

impl SyncService for SyncApi {}
