//! What every domain shares and no domain owns: the bureau's calendar and the conversion of times
//! ([`time`]), registration numbers and their yearly counters ([`numbers`]) and the service's stored settings
//! ([`settings`]). The kernel imports no domain module: arrows point toward it (docs/architecture.md).

pub mod numbers;
pub mod settings;
pub mod time;

pub use xinfang_proto::input::Clock;
