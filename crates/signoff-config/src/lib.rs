#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;
use signoff::audit::{CheckpointConfig, CheckpointKeySource, Durability};
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
    /// The checkpoint signing key could not be loaded: the gate does not
    /// start without the checkpoints it was configured to write.
    #[error("[checkpoints]: {0}")]
    CheckpointKey(String),
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
    /// Signed checkpoints in the audit trail (`[checkpoints]`).
    #[serde(default)]
    pub checkpoints: Option<CheckpointsConfig>,
}

/// `[checkpoints]`: sign the audit trail with an ed25519 key named by file or
/// environment variable (never the key itself), so `signoff audit verify
/// --pubkey` can detect a rewritten or cut trail. A key that is configured
/// but missing stops the gate from being built.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointsConfig {
    /// A secret key file from `signoff audit keygen` (relative to the config file).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// An environment variable holding the key file's 64 hex characters.
    #[serde(default)]
    pub key_env: Option<String>,
    /// A checkpoint after this many records (default 1000).
    #[serde(default)]
    pub every_records: Option<u64>,
    /// A checkpoint when this much time passed since the last one, e.g. `"30s"`
    /// (default `"1m"`). A gate also writes one when it closes.
    #[serde(default)]
    pub every: Option<String>,
}

impl CheckpointsConfig {
    /// Where the key comes from: exactly one of `key_file` and `key_env`.
    pub fn key_source(&self) -> Result<CheckpointKeySource, ConfigError> {
        match (&self.key_file, &self.key_env) {
            (Some(path), None) => Ok(CheckpointKeySource::File(path.clone())),
            (None, Some(var)) => Ok(CheckpointKeySource::Env(var.clone())),
            (Some(_), Some(_)) => Err(ConfigError::CheckpointKey(
                "set `key_file` or `key_env`, not both".into(),
            )),
            (None, None) => Err(ConfigError::CheckpointKey(
                "needs `key_file` (from `signoff audit keygen`) or `key_env`".into(),
            )),
        }
    }

    /// Loads the key now and returns what the gate builder takes.
    pub fn load(&self) -> Result<CheckpointConfig, ConfigError> {
        let key = self
            .key_source()?
            .load()
            .map_err(ConfigError::CheckpointKey)?;
        let mut config = CheckpointConfig::new(key);
        if let Some(n) = self.every_records {
            if n == 0 {
                return Err(ConfigError::CheckpointKey(
                    "`every_records` must be at least 1".into(),
                ));
            }
            config.every_records = n;
        }
        if let Some(every) = &self.every {
            config.every = humantime::parse_duration(every)
                .map_err(|e| ConfigError::CheckpointKey(format!("`every = \"{every}\"`: {e}")))?;
        }
        Ok(config)
    }
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
        if let Some(path) = self.checkpoints.as_mut().and_then(|c| c.key_file.as_mut())
            && path.is_relative()
        {
            *path = base.join(&*path);
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
        if let Some(checkpoints) = &self.checkpoints {
            if self.audit.is_empty() {
                return Err(ConfigError::CheckpointKey(
                    "checkpoints need an audit trail: `audit` names no sink".into(),
                ));
            }
            b = b.checkpoints(checkpoints.load()?);
        }
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

    #[tokio::test]
    async fn a_checkpoint_key_file_makes_the_gate_sign_its_trail() {
        use signoff::audit::{generate_signing_key, signing_key_to_hex, verify_file};
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.toml"), "[policy]\ndefault = \"allow\"\n").unwrap();
        let key = generate_signing_key().unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/cp.key"), signing_key_to_hex(&key)).unwrap();
        let c = GateConfig::from_toml_str(
            "policy = \"p.toml\"\naudit = [\"jsonl:a.jsonl\"]\n\n[checkpoints]\nkey_file = \"keys/cp.key\"\nevery_records = 2\nevery = \"1h\"\n",
            dir.path(),
            "c.toml",
        )
        .unwrap();
        let gate = c.build().await.unwrap();
        for _ in 0..3 {
            let permit = gate
                .require(signoff::Action::new("db.read").actor("agent:bot"))
                .await
                .unwrap();
            permit.complete(signoff::Outcome::success()).await.unwrap();
        }
        gate.close().await.unwrap();
        let trail = dir.path().join("a.jsonl");
        let report = verify_file(&trail, Some(&key.verifying_key()), None).unwrap();
        assert!(report.signatures_verified >= 3, "{report:?}");
        assert!(report.unsigned_tail().is_empty(), "close signs the head");
        let other = generate_signing_key().unwrap().verifying_key();
        assert!(verify_file(&trail, Some(&other), None).is_err());
    }

    #[tokio::test]
    async fn a_configured_checkpoint_key_that_is_missing_or_unclear_fails_the_build() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.toml"), "[policy]\ndefault = \"allow\"\n").unwrap();
        let head = "policy = \"p.toml\"\naudit = [\"jsonl:a.jsonl\"]\n[checkpoints]\n";
        for (table, needles) in [
            (
                "key_file = \"missing.key\"",
                vec!["missing.key", "cannot read"],
            ),
            (
                "key_env = \"SIGNOFF_TEST_SURELY_UNSET_KEY\"",
                vec!["`SIGNOFF_TEST_SURELY_UNSET_KEY` is not set"],
            ),
            // set, but not a key
            ("key_env = \"PATH\"", vec!["`PATH`", "not hex"]),
            ("key_file = \"a.key\"\nkey_env = \"K\"", vec!["not both"]),
            ("every_records = 5", vec!["needs `key_file`"]),
        ] {
            let c = GateConfig::from_toml_str(&format!("{head}{table}\n"), dir.path(), "c.toml")
                .unwrap();
            let err = c.build().await.unwrap_err();
            for needle in needles {
                assert!(err.to_string().contains(needle), "{table}: {err}");
            }
            assert!(err.to_string().starts_with("[checkpoints]: "), "{err}");
        }
        let no_sink = GateConfig::from_toml_str(
            "policy = \"p.toml\"\n[checkpoints]\nkey_env = \"K\"\n",
            dir.path(),
            "c.toml",
        )
        .unwrap();
        let err = no_sink.build().await.unwrap_err();
        assert!(err.to_string().contains("names no sink"), "{err}");

        let err =
            GateConfig::from_toml_str(&format!("{head}key_fil = \"x\"\n"), dir.path(), "c.toml")
                .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("c.toml") && text.contains("unknown field `key_fil`"),
            "{text}"
        );
    }
}
