//! What every domain shares and no domain owns: the bureau's calendar and the conversion of times
//! ([`time`]), registration numbers and their yearly counters ([`numbers`]), the service's stored settings
//! ([`settings`]) and the change feed the domains append to ([`feed`]). The kernel imports no domain module: arrows point toward it (docs/architecture.md).

pub mod feed;
pub mod numbers;
pub mod settings;
pub mod time;

pub use xinfang_proto::input::Clock;
