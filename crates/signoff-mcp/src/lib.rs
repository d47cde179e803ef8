#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod error;
mod gate;
mod http;
mod jsonrpc;
mod sse;
mod stdio;

pub use error::McpError;
pub use gate::{DEFAULT_MAX_WAIT, DEFAULT_PROGRESS_EVERY, McpGate, ProxyOptions};
pub use http::HttpProxy;
pub use stdio::{proxy as proxy_streams, run_stdio};
