//! Integration tests: one binary (linking is the slow step on 2 cores), one module per area.

mod auth;
mod transport;
