//! `xinfang.v1.VisitService`: declared by the foundation; every method answers `UNIMPLEMENTED` (the generated
//! default) until issue #3 builds it.

use xinfang_proto::v1::visit_service_server::VisitService;

#[derive(Debug, Default)]
pub struct VisitApi;

impl VisitService for VisitApi {}
