//! `xinfang.v1.FundService`: declared by the foundation; every method answers `UNIMPLEMENTED` (the generated
//! default) until issue #5 builds it.

use xinfang_proto::v1::fund_service_server::FundService;

#[derive(Debug, Default)]
pub struct FundApi;

impl FundService for FundApi {}
