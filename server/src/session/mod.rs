//! Who is calling (`xinfang.v1.SessionService`): the caller's principal as the server knows it, so that a client
//! shows its user only what the role may do. The role table (`auth::access`) stays the one place that decides.

pub mod service;

pub use service::SessionApi;
