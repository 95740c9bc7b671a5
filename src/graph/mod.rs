//! Microsoft Graph transport: clouds, paging, retry, throttling, `$batch`, errors.

pub mod cloud;
pub mod error;

pub use cloud::{Cloud, Endpoints};
pub use error::GraphError;
