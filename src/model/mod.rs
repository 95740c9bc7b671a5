//! Serde types of the Graph resources gdap-audit reads: only the fields used, lenient everywhere.
//!
//! Graph adds enum members and `@odata.type`s over time: unknown values are kept as strings, missing
//! optional fields default, so a new Graph release never breaks an audit.

pub mod azure;
pub mod customer;
pub mod duration;
pub mod gdap;
pub mod logs;
pub mod roles;
pub mod tenant_id;

pub use tenant_id::TenantId;

use chrono::{DateTime, Utc};

/// Graph timestamps carry 0-7 fractional digits and a `Z`; chrono's RFC 3339 parser accepts them all.
pub type Timestamp = DateTime<Utc>;

#[cfg(test)]
mod proptests;
