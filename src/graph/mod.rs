//! Microsoft Graph transport: clouds, paging, retry, throttling, `$batch`, errors.

pub mod batch;
pub mod client;
pub mod cloud;
pub mod error;
pub mod lenient;
pub mod pace;
pub mod retry;

pub use batch::BatchRequest;
pub use client::{ClientSettings, ClientStats, GraphClient, Page};
pub use cloud::{Cloud, Endpoints};
pub use error::GraphError;
pub use lenient::Lenient;
pub use pace::Pacer;
pub use retry::RetryPolicy;
