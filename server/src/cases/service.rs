//! `xinfang.v1.CaseService`: declared by the foundation; every method answers `UNIMPLEMENTED` (the generated
//! default) until issue #4 builds it.

use xinfang_proto::v1::case_service_server::CaseService;

#[derive(Debug, Default)]
pub struct CaseApi;

impl CaseService for CaseApi {}
