#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;
use signoff::audit::Durability;
use signoff::{Gate, JsonlSink, Policy, Queue, Terminal};
use signoff_webhook::{WebhookApprover, WebhookConfig};

/// Why a configuration could not be turned into a gate.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error("{file}: {message}")]
    File {
        /// The configuration file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A value is not understood.
    #[error("{0}")]
    Invalid(String),
    /// The policy failed to load.
    #[error(transparent)]
    Policy(#[from] signoff::PolicyError),
    /// A backend failed to open.
    #[error("{0}")]
    Backend(String),
}

/// How a gate is assembled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// The policy file.
    pub policy: PathBuf,
    /// The approval store URL: `memory` (default).
    #[serde(default = "memory")]
    pub store: String,
    /// Audit sinks by URL: `jsonl:PATH`.
    #[serde(default)]
    pub audit: Vec<String>,
    /// `every-record`, `group` (default) or `os-buffered`.
    #[serde(default)]
    pub durability: Option<String>,
    /// `queue` (default: reviewers vote through the server), `terminal` or `webhook`.
    #[serde(default)]
    pub approver: Option<String>,
    /// The webhook, when `approver = "webhook"`.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// Audit stream name.
    #[serde(default)]
    pub stream: Option<String>,
}

fn memory() -> String {
    "memory".to_owned()
}

impl GateConfig {
    /// Parses TOML; relative paths are resolved against `base`.
    pub fn from_toml_str(text: &str, base: &Path, file: &str) -> Result<Self, ConfigError> {
        let mut c: GateConfig = toml::from_str(text).map_err(|e| ConfigError::File {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        c.resolve(base);
        Ok(c)
    }

    /// Resolves relative paths against `base`.
    pub fn resolve(&mut self, base: &Path) {
        if self.policy.is_relative() {
            self.policy = base.join(&self.policy);
        }
        for sink in self
            .audit
            .iter_mut()
            .chain(std::iter::once(&mut self.store))
        {
            for scheme in ["jsonl", "sqlite"] {
                if let Some(p) = sink.strip_prefix(scheme).and_then(|r| r.strip_prefix(':'))
                    && Path::new(p).is_relative()
                {
                    *sink = format!("{scheme}:{}", base.join(p).display());
                }
            }
        }
    }

    /// Opens every backend (connecting to databases) and builds the gate.
    pub async fn build(&self) -> Result<Gate, ConfigError> {
        let policy = Policy::from_file(&self.policy)?;
        let durability: Durability = self
            .durability
            .as_deref()
            .unwrap_or("group")
            .parse()
            .map_err(ConfigError::Invalid)?;
        let mut b = Gate::builder().policy(policy);
        match self.store.split_once(':') {
            _ if self.store == "memory" => {}
            Some(("sqlite", path)) => {
                let store = signoff_sqlite::SqliteStore::open(path)
                    .map_err(|e| ConfigError::Backend(e.to_string()))?;
                b = b.store(store);
            }
            Some(("postgres" | "postgresql", _)) => {
                let store = signoff_postgres::PgStore::connect(&self.store)
                    .await
                    .map_err(|e| ConfigError::Backend(e.to_string()))?;
                b = b.store(store);
            }
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "store `{}` is not known (memory, sqlite:PATH, postgres://...)",
                    self.store
                )));
            }
        }
        for sink in &self.audit {
            match sink.split_once(':') {
                Some(("jsonl", path)) => {
                    let s = JsonlSink::open_with(path, durability)
                        .map_err(|e| ConfigError::Backend(e.to_string()))?;
                    b = b.audit(s);
                }
                Some(("sqlite", path)) => {
                    let s = signoff_sqlite::SqliteSink::open(path, self.stream.as_deref())
                        .map_err(|e| ConfigError::Backend(e.to_string()))?;
                    b = b.audit(s);
                }
                Some(("postgres" | "postgresql", _)) => {
                    let s = signoff_postgres::PgSink::connect(sink, self.stream.as_deref())
                        .await
                        .map_err(|e| ConfigError::Backend(e.to_string()))?;
                    b = b.audit(s);
                }
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "audit sink `{sink}` is not known (use jsonl:PATH, sqlite:PATH or postgres://...)"
                    )));
                }
            }
        }
        b = match self.approver.as_deref().unwrap_or("queue") {
            "queue" => b.approver(Queue),
            "terminal" => b.approver(Terminal::new()),
            "webhook" => {
                let cfg = self.webhook.clone().ok_or_else(|| {
                    ConfigError::Invalid("approver = \"webhook\" needs a [webhook] table".into())
                })?;
                b.approver(
                    WebhookApprover::new(cfg).map_err(|e| ConfigError::Backend(e.to_string()))?,
                )
            }
            other => {
                return Err(ConfigError::Invalid(format!(
                    "approver `{other}` is not known (queue, terminal, webhook)"
                )));
            }
        };
        if let Some(s) = &self.stream {
            b = b.stream(s);
        }
        b.build().map_err(|e| ConfigError::Backend(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_config_builds_a_gate_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.toml"), "[policy]\ndefault = \"allow\"\n").unwrap();
        let c = GateConfig::from_toml_str(
            "policy = \"p.toml\"\naudit = [\"jsonl:a.jsonl\"]\n",
            dir.path(),
            "c.toml",
        )
        .unwrap();
        assert!(c.build().await.is_ok());
        assert!(dir.path().join("a.jsonl").exists());
        let c = GateConfig::from_toml_str(
            "policy = \"p.toml\"\nstore = \"sqlite:s.db\"\naudit = [\"sqlite:s.db\"]\n",
            dir.path(),
            "c.toml",
        )
        .unwrap();
        assert!(c.build().await.is_ok());
        assert!(dir.path().join("s.db").exists());
        for (text, needle) in [
            ("policy = \"p.toml\"\nstore = \"redis://x\"", "redis://x"),
            (
                "policy = \"p.toml\"\nstore = \"sqlite:/nonexistent-dir/x.db\"",
                "nonexistent-dir",
            ),
            ("policy = \"p.toml\"\naudit = [\"s3:x\"]", "s3:x"),
            (
                "policy = \"p.toml\"\napprover = \"carrier-pigeon\"",
                "carrier-pigeon",
            ),
            ("policy = \"p.toml\"\napprover = \"webhook\"", "[webhook]"),
            (
                "policy = \"p.toml\"\ndurability = \"sometimes\"",
                "sometimes",
            ),
        ] {
            let err = GateConfig::from_toml_str(text, dir.path(), "c.toml")
                .unwrap()
                .build()
                .await
                .unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
        let err = GateConfig::from_toml_str("polcy = 1", dir.path(), "c.toml").unwrap_err();
        assert!(
            err.to_string().contains("c.toml") && err.to_string().contains("unknown field"),
            "{err}"
        );
    }
}
