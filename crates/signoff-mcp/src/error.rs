//! The proxy's error.

/// Why the proxy could not run.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// A flag or value is not usable.
    #[error("{0}")]
    Usage(String),
    /// The MCP server could not be started.
    #[error("cannot start the MCP server `{command}`: {message}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        message: String,
    },
    /// Reading or writing a stream failed.
    #[error("{0}")]
    Io(String),
}
