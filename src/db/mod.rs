//! `cosmo.db`: the `plugins` table shared with the server, cosmo-bundle's own state table,
//! and the rule that the rows follow `current`.

pub mod follow;
pub mod table;

pub use table::Db;
