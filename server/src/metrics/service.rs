//! `xinfang.v1.MetricsService`: declared by the foundation; every method answers `UNIMPLEMENTED` (the generated
//! default) until issue #7 builds it.

use xinfang_proto::v1::metrics_service_server::MetricsService;

#[derive(Debug, Default)]
pub struct MetricsApi;

impl MetricsService for MetricsApi {}
