//! The dictionaries of the contract (`xinfang.v1.DictionaryService`): problem categories, claim types, org units
//! and the Chinese labels of every enum, read from where each lives (the category table, the claim-type table
//! of `cases::claims`, the org tree, the `label` option of the proto), so that a client's pick lists and
//! offline checks take exactly what the server accepts.

pub mod service;

pub use service::DictionaryApi;
