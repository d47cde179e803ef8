#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use signoff::audit::{CheckpointConfig, CheckpointKeySource, Durability};
use signoff::redact::RedactionKey;
use signoff::{Approver, Gate, JsonlSink, Policy, Queue, Routes, ServerDispatch, Terminal};
use signoff_slack::{SlackApp, SlackConfig};
use signoff_teams::{TeamsApprover, TeamsConfig};
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
    /// A candidate policy run in shadow beside the live one (DESIGN §12):
    /// where it decides differently a `policy.shadow` record says how.
    #[serde(default)]
    pub shadow_policy: Option<PathBuf>,
    /// The approval store URL: `memory` (default).
    #[serde(default = "memory")]
    pub store: String,
    /// Audit sinks by URL: `jsonl:PATH`.
    #[serde(default)]
    pub audit: Vec<String>,
    /// `every-record`, `group` (default) or `os-buffered`.
    #[serde(default)]
    pub durability: Option<String>,
    /// `queue` (default: reviewers vote through the server's page and API),
    /// `terminal`, `server` (an approval server sharing the store posts to
    /// the channels), `channels` (this process posts to the channels of
    /// `[routes]`), or one channel: `slack`, `teams`, `webhook`.
    #[serde(default)]
    pub approver: Option<String>,
    /// Who is acting: the gate's defaults (`[identity]`, DESIGN §9).
    #[serde(default)]
    pub identity: Option<IdentityConfig>,
    /// The key of the digests that replace redacted values (`[redaction]`).
    #[serde(default)]
    pub redaction: Option<RedactionConfig>,
    /// The Slack channel (`[slack]`).
    #[serde(default)]
    pub slack: Option<SlackConfig>,
    /// The Teams channel (`[teams]`).
    #[serde(default)]
    pub teams: Option<TeamsConfig>,
    /// The signed webhook channel (`[webhook]`).
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// Which rules or groups go to which channels (`[routes]`).
    #[serde(default)]
    pub routes: Option<RoutesConfig>,
    /// How `approver = "server"` agents and dispatchers behave (`[dispatch]`).
    #[serde(default)]
    pub dispatch: Option<DispatchSettings>,
    /// Where `signoff serve` listens; agents reading the same file ignore it.
    #[serde(default)]
    pub listen: Option<String>,
    /// The approval server's own settings (`[server]`: tokens, proxy,
    /// limits), read by `signoff serve`; agents reading the same file ignore it.
    #[serde(default)]
    pub server: Option<toml::Table>,
    /// The file this configuration came from, for error messages.
    #[serde(skip)]
    pub source: String,
    /// Set in a forked child process: each audit sink gets a new stream of
    /// its own, so two processes never write one chain.
    #[serde(skip)]
    pub child_process: bool,
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

/// `[identity]`: the defaults every action without its own value takes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The agent, e.g. `agent:billing-bot`.
    #[serde(default)]
    pub actor: Option<String>,
    /// The person who launched it.
    #[serde(default)]
    pub on_behalf_of: Option<String>,
    /// The environment, e.g. `prod`.
    #[serde(default)]
    pub env: Option<String>,
    /// Context keys every action carries.
    #[serde(default)]
    pub context: Option<toml::Table>,
}

/// `[redaction]`: the secret keying redaction digests, by file or variable.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    /// A file holding at least 16 bytes of random data (relative to the config file).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// An environment variable holding it.
    #[serde(default)]
    pub key_env: Option<String>,
}

/// `[routes]`: `to` maps rule ids or approver groups to channel names
/// (`slack`, `teams`, `webhook`); requests no entry names go to `fallback`
/// (default: every configured channel).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesConfig {
    /// Rule id or group → channels.
    #[serde(default)]
    pub to: BTreeMap<String, Vec<String>>,
    /// Channels for everything else.
    #[serde(default)]
    pub fallback: Option<Vec<String>>,
}

/// `[dispatch]`: server-dispatched approvals.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchSettings {
    /// An agent fails a request at once when the newest dispatcher heartbeat
    /// is older than this (default `"30s"`).
    #[serde(default)]
    pub max_silence: Option<String>,
    /// How long a dispatcher's claim on posting holds (default `"30s"`).
    #[serde(default)]
    pub lease: Option<String>,
}

/// The channels a configuration names, ready to post.
pub struct Channels {
    /// Every configured channel behind the routes.
    pub approver: Arc<dyn Approver>,
    /// The Slack app, whose interactivity endpoint the server mounts.
    pub slack: Option<Arc<SlackApp>>,
    /// The names configured (`slack`, `teams`, `webhook`).
    pub names: Vec<&'static str>,
}

fn duration(key: &str, text: &str) -> Result<std::time::Duration, ConfigError> {
    humantime::parse_duration(text)
        .map_err(|e| ConfigError::Invalid(format!("`{key} = \"{text}\"`: {e}")))
}

impl GateConfig {
    /// Parses TOML; relative paths are resolved against `base`.
    pub fn from_toml_str(text: &str, base: &Path, file: &str) -> Result<Self, ConfigError> {
        let mut c: GateConfig = toml::from_str(text).map_err(|e| ConfigError::File {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        c.source = file.to_owned();
        c.resolve(base);
        Ok(c)
    }

    /// Reads a gate configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            file: shown.clone(),
            message: format!("cannot read: {e}"),
        })?;
        Self::from_toml_str(&text, path.parent().unwrap_or(Path::new(".")), &shown)
    }

    fn err(&self, table: &str, message: impl std::fmt::Display) -> ConfigError {
        ConfigError::File {
            file: if self.source.is_empty() {
                "<config>".to_owned()
            } else {
                self.source.clone()
            },
            message: format!("{table}: {message}"),
        }
    }

    /// Whether an approval server posts this gate's requests (`approver = "server"`).
    pub fn server_dispatched(&self) -> bool {
        self.approver.as_deref() == Some("server")
    }

    /// How long a dispatcher's claim holds (`[dispatch] lease`, default 30 s).
    pub fn lease(&self) -> Result<std::time::Duration, ConfigError> {
        match self.dispatch.as_ref().and_then(|d| d.lease.as_deref()) {
            None => Ok(std::time::Duration::from_secs(30)),
            Some(t) => duration("[dispatch] lease", t),
        }
    }

    /// Opens the configured channels (reading their secrets now) behind the
    /// routes. `None` when no channel table is present.
    pub fn channels(&self) -> Result<Option<Channels>, ConfigError> {
        let mut by_name: BTreeMap<&'static str, Arc<dyn Approver>> = BTreeMap::new();
        let mut slack_app = None;
        if let Some(cfg) = &self.slack {
            let app = SlackApp::new(cfg.clone()).map_err(|e| self.err("[slack]", e))?;
            by_name.insert("slack", Arc::new(app.approver()));
            slack_app = Some(app);
        }
        if let Some(cfg) = &self.teams {
            let t = TeamsApprover::new(cfg.clone()).map_err(|e| self.err("[teams]", e))?;
            by_name.insert("teams", Arc::new(t));
        }
        if let Some(cfg) = &self.webhook {
            let w = WebhookApprover::new(cfg.clone()).map_err(|e| self.err("[webhook]", e))?;
            by_name.insert("webhook", Arc::new(w));
        }
        if by_name.is_empty() {
            if self.routes.is_some() {
                return Err(self.err(
                    "[routes]",
                    "routes name channels, but no [slack], [teams] or [webhook] table is configured",
                ));
            }
            return Ok(None);
        }
        let pick = |key: &str, names: &[String]| -> Result<Vec<Arc<dyn Approver>>, ConfigError> {
            names
                .iter()
                .map(|n| {
                    by_name.get(n.as_str()).cloned().ok_or_else(|| {
                        self.err(
                            "[routes]",
                            format!(
                                "`{key}` names channel `{n}`, which is not configured (configured: {})",
                                by_name.keys().copied().collect::<Vec<_>>().join(", ")
                            ),
                        )
                    })
                })
                .collect()
        };
        let mut routes = Routes::new();
        let default_fallback: Vec<String> = by_name.keys().map(|k| (*k).to_owned()).collect();
        let (to, fallback) = match &self.routes {
            Some(r) => (r.to.clone(), r.fallback.clone().unwrap_or(default_fallback)),
            None => (BTreeMap::new(), default_fallback),
        };
        for (key, names) in &to {
            routes = routes.route(key.clone(), pick(key, names)?);
        }
        routes = routes.fallback(pick("fallback", &fallback)?);
        Ok(Some(Channels {
            approver: Arc::new(routes),
            slack: slack_app,
            names: by_name.keys().copied().collect(),
        }))
    }

    /// Resolves relative paths against `base`.
    pub fn resolve(&mut self, base: &Path) {
        if self.policy.is_relative() {
            self.policy = base.join(&self.policy);
        }
        if let Some(path) = self.shadow_policy.as_mut()
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
        if let Some(path) = self.checkpoints.as_mut().and_then(|c| c.key_file.as_mut())
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
        if let Some(path) = self.redaction.as_mut().and_then(|c| c.key_file.as_mut())
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

    /// Opens every backend (connecting to databases) and builds the gate of
    /// an agent: its approver is the one `approver` names.
    pub async fn build(&self) -> Result<Gate, ConfigError> {
        let approver: Arc<dyn Approver> = match self.approver.as_deref().unwrap_or("queue") {
            "queue" => Arc::new(Queue),
            "terminal" => Arc::new(Terminal::new()),
            "server" => {
                if self.store == "memory" {
                    return Err(self.err(
                        "approver = \"server\"",
                        "needs a store shared with the approval server (`store = \"sqlite:PATH\"` or `\"postgres://...\"`), not `memory`",
                    ));
                }
                let silence = match self
                    .dispatch
                    .as_ref()
                    .and_then(|d| d.max_silence.as_deref())
                {
                    None => std::time::Duration::from_secs(30),
                    Some(t) => duration("[dispatch] max_silence", t)?,
                };
                Arc::new(ServerDispatch::new(silence))
            }
            one @ ("slack" | "teams" | "webhook") => {
                let table = format!("[{one}]");
                let present = match one {
                    "slack" => self.slack.is_some(),
                    "teams" => self.teams.is_some(),
                    _ => self.webhook.is_some(),
                };
                if !present {
                    return Err(self.err(
                        &format!("approver = \"{one}\""),
                        format!("needs a {table} table"),
                    ));
                }
                self.channels()?
                    .map(|c| c.approver)
                    .ok_or_else(|| self.err(&table, "is missing"))?
            }
            "channels" => self.channels()?.map(|c| c.approver).ok_or_else(|| {
                self.err(
                    "approver = \"channels\"",
                    "needs at least one of [slack], [teams], [webhook]",
                )
            })?,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "approver `{other}` is not known (queue, terminal, server, channels, slack, teams, webhook)"
                )));
            }
        };
        self.build_with(approver).await
    }

    /// Builds the gate with the given approver (the approval server passes
    /// its channels, so votes it takes refresh the posts at once).
    pub async fn build_with(&self, approver: Arc<dyn Approver>) -> Result<Gate, ConfigError> {
        let policy = Policy::from_file(&self.policy)?;
        let durability: Durability = self
            .durability
            .as_deref()
            .unwrap_or("group")
            .parse()
            .map_err(ConfigError::Invalid)?;
        let mut b = Gate::builder().policy(policy);
        if let Some(path) = &self.shadow_policy {
            b = b.shadow(Policy::from_file(path)?);
        }
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
        let own_stream = if self.child_process {
            None
        } else {
            self.stream.as_deref()
        };
        for sink in &self.audit {
            match sink.split_once(':') {
                Some(("jsonl", path)) => {
                    let s = if self.child_process {
                        JsonlSink::open_new_stream(path, durability)
                    } else {
                        JsonlSink::open_with(path, durability)
                    }
                    .map_err(|e| ConfigError::Backend(e.to_string()))?;
                    b = b.audit(s);
                }
                Some(("sqlite", path)) => {
                    let s = signoff_sqlite::SqliteSink::open(path, own_stream)
                        .map_err(|e| ConfigError::Backend(e.to_string()))?;
                    b = b.audit(s);
                }
                Some(("postgres" | "postgresql", _)) => {
                    let s = signoff_postgres::PgSink::connect(sink, own_stream)
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
        b = b.approver_arc(approver);
        if let Some(id) = &self.identity {
            if let Some(a) = &id.actor {
                b = b.actor(a.clone());
            }
            if let Some(o) = &id.on_behalf_of {
                b = b.on_behalf_of(o.clone());
            }
            if let Some(e) = &id.env {
                b = b.env(e.clone());
            }
            if let Some(ctx) = &id.context {
                let value =
                    serde_json::to_value(ctx).map_err(|e| self.err("[identity] context", e))?;
                b = b.context(value);
            }
        }
        if let Some(r) = &self.redaction {
            let key = match (&r.key_file, &r.key_env) {
                (Some(path), None) => RedactionKey::from_file(path),
                (None, Some(var)) => RedactionKey::from_env(var),
                (Some(_), Some(_)) => Err("set `key_file` or `key_env`, not both".to_owned()),
                (None, None) => Err("needs `key_file` or `key_env`".to_owned()),
            }
            .map_err(|e| self.err("[redaction]", e))?;
            b = b.redaction_key(key);
        }
        if let Some(s) = &self.stream {
            b = b.stream(if self.child_process {
                format!("{s}-{}", std::process::id())
            } else {
                s.clone()
            });
        }
        b.build().map_err(|e| match e {
            signoff::Error::Config(m) => self.err("[identity]", m),
            other => ConfigError::Backend(other.to_string()),
        })
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
