#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod claude_code;
mod input;
pub mod install;
mod ordered;
mod transcript;

pub use claude_code::{HookOptions, HookReply};
pub use input::{InputError, PreToolUse};
pub use install::{InstallError, InstallOptions, Installed, SettingsScope};
