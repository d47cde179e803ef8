//! What both transports share: the gate, the options, the per-session book
//! of waiting and forwarded calls, and the decision for one `tools/call`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use signoff::adapter::{call_action_id, deadline_text, denial_text, mcp_tool_action};
use signoff::{Action, Gate, Permit};
use tokio::sync::oneshot;

use crate::error::McpError;
use crate::jsonrpc::{self, Kind};

/// The default `--max-wait`: below the 60 s request timeout of the
/// TypeScript SDK, so the proxy answers before the client gives up.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(50);

/// How often a waiting call with a `progressToken` gets a progress notification.
pub const DEFAULT_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How the proxy behaves.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// The server's name in action names: `mcp.<server>.<tool>`.
    pub server: String,
    /// How long a call may wait for reviewers before it is denied (and its
    /// request withdrawn).
    pub max_wait: Duration,
    /// How often a waiting call that carries a `progressToken` gets a
    /// progress notification (clients that reset their timeout on progress
    /// then wait as long as `max_wait`).
    pub progress_every: Duration,
    /// Leave the tools the policy denies outright out of `tools/list`.
    pub hide_denied: bool,
}

impl ProxyOptions {
    /// Options for server `server` with the defaults.
    pub fn new(server: impl Into<String>) -> Self {
        ProxyOptions {
            server: server.into(),
            max_wait: DEFAULT_MAX_WAIT,
            progress_every: DEFAULT_PROGRESS_EVERY,
            hide_denied: false,
        }
    }
}

/// The gate of one proxy: decides `tools/call`s as `mcp.<server>.<tool>`.
pub struct McpGate {
    gate: Gate,
    options: ProxyOptions,
    /// Namespaces this proxy's action ids (a new one per proxy process).
    instance: String,
}

/// What became of one `tools/call`.
pub(crate) enum Verdict {
    /// Forward this request (its arguments replaced if a reviewer edited
    /// them); complete the permit with the server's response.
    Allow { permit: Permit, request: Value },
    /// Answer the client with this `isError` result text.
    Deny(String),
    /// The client cancelled it: say nothing.
    Withdrawn,
}

/// Where progress notifications for a waiting call go.
pub(crate) trait ProgressSink: Send {
    /// Sends one notification; false when nobody listens any more.
    fn send(&self, notification: Value) -> bool;
}

impl McpGate {
    /// A proxy gate for `options.server`; the server name must be one
    /// dot-free segment of letters, digits, `-` and `_`.
    pub fn new(gate: Gate, options: ProxyOptions) -> Result<Self, McpError> {
        let name = &options.server;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(McpError::Usage(format!(
                "`--name {name}`: use letters, digits, `-` and `_` (it becomes the `<server>` of `mcp.<server>.<tool>`)"
            )));
        }
        if options.max_wait.is_zero() {
            return Err(McpError::Usage("`--max-wait` must be more than 0".into()));
        }
        Ok(McpGate {
            gate,
            options,
            instance: uuid::Uuid::now_v7().simple().to_string(),
        })
    }

    /// The gate.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The options.
    pub fn options(&self) -> &ProxyOptions {
        &self.options
    }

    pub(crate) fn log(&self, message: impl std::fmt::Display) {
        eprintln!("signoff mcp-proxy [{}]: {message}", self.options.server);
    }

    /// A new session book; `label` (an `Mcp-Session-Id`, or nothing for a
    /// stdio proxy) namespaces its calls' action ids with this proxy's own id.
    pub(crate) fn session(&self, label: Option<&str>, transport: &'static str) -> Session {
        let name = match label {
            Some(l) => format!("{}.{}", self.instance, l),
            None => self.instance.clone(),
        };
        Session {
            name,
            label: label.map(str::to_owned),
            transport,
            book: Mutex::new(Book::default()),
        }
    }

    fn action(
        &self,
        session: &Session,
        call_key: &str,
        id: &Value,
        params: &Value,
    ) -> Result<Action, String> {
        let Some(tool) = params.get("name").and_then(Value::as_str) else {
            return Err("signoff: denied (invalid action): `tools/call` names no tool".into());
        };
        let args = match params.get("arguments") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(a @ Value::Object(_)) => a.clone(),
            Some(_) => {
                return Err(
                    "signoff: denied (invalid action): `tools/call` arguments are not an object"
                        .into(),
                );
            }
        };
        let mut context = Map::new();
        context.insert("framework".into(), Value::from("mcp"));
        context.insert("transport".into(), Value::from(session.transport));
        context.insert("server".into(), Value::from(self.options.server.as_str()));
        context.insert("jsonrpc_id".into(), id.clone());
        if let Some(l) = &session.label {
            context.insert("session_id".into(), Value::from(l.as_str()));
        }
        let mut action = Action::new(mcp_tool_action(&self.options.server, tool))
            .args(args)
            .context(Value::Object(context));
        action.id = Some(call_action_id(
            "mcp",
            &format!("{}.{}", self.options.server, session.name),
            call_key,
        ));
        Ok(action)
    }

    /// Decides one `tools/call` request: waits for reviewers (sending
    /// progress where the call asked for it) until the deadline, the
    /// client's cancel, or a decision.
    pub(crate) async fn decide(
        &self,
        session: &Session,
        call_key: &str,
        request: Value,
        progress: Option<Box<dyn ProgressSink>>,
        mut cancel: oneshot::Receiver<String>,
    ) -> Verdict {
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let params = request.get("params").cloned().unwrap_or(Value::Null);
        let action = match self.action(session, call_key, &id, &params) {
            Ok(a) => a,
            Err(text) => return Verdict::Deny(text),
        };
        let tool = action.name.clone();
        let action_id = action.id.clone().unwrap_or_default();
        let rules = self.gate.evaluate(&action).rules;
        let token = params
            .get("_meta")
            .and_then(|m| m.get("progressToken"))
            .filter(|t| t.is_string() || t.is_number())
            .cloned();
        let progress = progress.zip(token);

        enum End {
            Decided(Result<Permit, signoff::Error>),
            Cancelled(String),
            Deadline,
        }
        let mut require = Box::pin(self.gate.require(action));
        let deadline = tokio::time::sleep(self.options.max_wait);
        tokio::pin!(deadline);
        let every = self.options.progress_every.max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut sent = 0u64;
        let mut request_id: Option<String> = None;
        let end = loop {
            tokio::select! {
                biased;
                r = &mut require => break End::Decided(r),
                reason = &mut cancel => {
                    break End::Cancelled(reason.unwrap_or_else(|_| "the client went away".into()));
                }
                () = &mut deadline => break End::Deadline,
                _ = ticks.tick(), if progress.is_some() => {
                    if request_id.is_none() {
                        request_id = self.pending_request(&action_id).await;
                    }
                    sent += 1;
                    let text = match &request_id {
                        Some(r) => format!("signoff: waiting for approval of {tool} (request {r})"),
                        None => format!("signoff: waiting for approval of {tool}"),
                    };
                    if let Some((sink, token)) = &progress
                        && !sink.send(jsonrpc::progress(token, sent, &text))
                    {
                        break End::Cancelled("the client went away".into());
                    }
                }
            }
        };
        drop(require);
        match end {
            End::Decided(Ok(permit)) => {
                let mut request = request;
                if permit.args() != &params["arguments"]
                    && !(params.get("arguments").is_none()
                        && permit.args().as_object().is_some_and(Map::is_empty))
                {
                    request["params"]["arguments"] = permit.args().clone();
                }
                self.log(format!("{tool} id={id} allowed"));
                Verdict::Allow { permit, request }
            }
            End::Decided(Err(e)) => {
                let text = denial_text(&e);
                self.log(format!("{tool} id={id} {text}"));
                Verdict::Deny(text)
            }
            End::Cancelled(reason) => {
                let withdrawn = self.withdraw(&action_id, &reason).await;
                self.log(format!(
                    "{tool} id={id} withdrawn ({reason}){}",
                    withdrawn
                        .map(|r| format!(": request {r}"))
                        .unwrap_or_default()
                ));
                Verdict::Withdrawn
            }
            End::Deadline => {
                let withdrawn = self
                    .withdraw(
                        &action_id,
                        "the MCP proxy stopped waiting (its --max-wait passed)",
                    )
                    .await;
                let text = deadline_text(&rules, withdrawn.as_deref(), self.options.max_wait);
                self.log(format!("{tool} id={id} {text}"));
                Verdict::Deny(text)
            }
        }
    }

    async fn pending_request(&self, action_id: &str) -> Option<String> {
        let found = self.gate.store().get_by_action(action_id).await.ok()??;
        Some(found.id)
    }

    /// Cancels the request a call was waiting on; returns its id.
    async fn withdraw(&self, action_id: &str, reason: &str) -> Option<String> {
        let bounded = Duration::from_secs(5);
        let found = tokio::time::timeout(bounded, self.gate.store().get_by_action(action_id))
            .await
            .ok()?
            .ok()??;
        if let Err(e) = tokio::time::timeout(bounded, self.gate.cancel(&found.id, reason)).await {
            self.log(format!("could not withdraw request {}: {e}", found.id));
        }
        Some(found.id)
    }

    /// Looks at one message from the server: completes the permit of a call
    /// it answers and, with `hide_denied`, filters a `tools/list` result.
    /// Returns true when it changed the message.
    pub(crate) fn server_message(&self, session: &Session, msg: &mut Value) -> bool {
        if let Value::Array(items) = msg {
            let mut changed = false;
            for item in items {
                changed |= self.server_message(session, item);
            }
            return changed;
        }
        let Kind::Response { id } = jsonrpc::kind(msg) else {
            return false;
        };
        let key = jsonrpc::id_key(id);
        let (permit, listed) = session.answered(&key);
        if let Some(permit) = permit {
            let outcome = jsonrpc::outcome(msg);
            tokio::spawn(async move {
                let _ = permit.complete(outcome).await;
            });
        }
        listed && self.options.hide_denied && self.hide_denied_tools(msg)
    }

    /// Drops from a `tools/list` result the tools the policy denies outright.
    fn hide_denied_tools(&self, msg: &mut Value) -> bool {
        let Some(tools) = msg
            .get_mut("result")
            .and_then(|r| r.get_mut("tools"))
            .and_then(Value::as_array_mut)
        else {
            return false;
        };
        let policy = self.gate.policy();
        let before = tools.len();
        tools.retain(|t| {
            let Some(name) = t.get("name").and_then(Value::as_str) else {
                return true;
            };
            let action = self
                .gate
                .with_defaults(Action::new(mcp_tool_action(&self.options.server, name)));
            !policy.denies_outright(&action)
        });
        tools.len() != before
    }
}

/// One client session: its waiting calls (to cancel), the permits of the
/// calls forwarded (to complete), the `tools/list` ids (to filter) and how
/// often each id was used (a reused id gets a new action id).
pub(crate) struct Session {
    name: String,
    label: Option<String>,
    transport: &'static str,
    book: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    waiting: HashMap<String, oneshot::Sender<String>>,
    forwarded: HashMap<String, Permit>,
    lists: HashSet<String>,
    uses: HashMap<String, u32>,
}

impl Session {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        match self.book.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Starts waiting on call `key`: its call key for the action id and the
    /// receiver of a cancel. `None` if a call with this id is already waiting.
    pub(crate) fn begin(&self, key: &str) -> Option<(String, oneshot::Receiver<String>)> {
        let mut book = self.book();
        if book.waiting.contains_key(key) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        book.waiting.insert(key.to_owned(), tx);
        let uses = book.uses.entry(key.to_owned()).or_insert(0);
        let call_key = if *uses == 0 {
            key.to_owned()
        } else {
            format!("{key}~{uses}")
        };
        *uses += 1;
        Some((call_key, rx))
    }

    /// The call stopped waiting (decided, withdrawn).
    pub(crate) fn end(&self, key: &str) {
        self.book().waiting.remove(key);
    }

    /// Cancels waiting call `key`; false when no such call waits.
    pub(crate) fn cancel(&self, key: &str, reason: String) -> bool {
        match self.book().waiting.remove(key) {
            Some(tx) => {
                let _ = tx.send(reason);
                true
            }
            None => false,
        }
    }

    /// Cancels every waiting call (the client or the server went away).
    pub(crate) fn cancel_all(&self, reason: &str) {
        let waiting: Vec<_> = self.book().waiting.drain().collect();
        for (_, tx) in waiting {
            let _ = tx.send(reason.to_owned());
        }
    }

    pub(crate) fn forwarded(&self, key: String, permit: Permit) {
        self.book().forwarded.insert(key, permit);
    }

    pub(crate) fn listing(&self, key: String) {
        self.book().lists.insert(key);
    }

    fn answered(&self, key: &str) -> (Option<Permit>, bool) {
        let mut book = self.book();
        (book.forwarded.remove(key), book.lists.remove(key))
    }

    /// Whether calls are waiting.
    pub(crate) fn is_waiting(&self) -> bool {
        !self.book().waiting.is_empty()
    }
}

/// What the proxy does with one message from the client.
pub(crate) enum ClientMessage {
    /// Gate this `tools/call` request.
    ToolCall { key: String, token: bool },
    /// A `tools/call` without an id: it can carry no answer, so it is dropped.
    DropCall,
    /// A cancel for a call that is waiting here: withdraw it, say nothing.
    CancelWaiting,
    /// Pass it on.
    Forward,
}

/// Sorts one client message, recording `tools/list` ids and cancelling a
/// waiting call named by `notifications/cancelled`.
pub(crate) fn classify(gate: &Arc<McpGate>, session: &Session, msg: &Value) -> ClientMessage {
    match jsonrpc::kind(msg) {
        Kind::Request {
            id,
            method: "tools/call",
        } => ClientMessage::ToolCall {
            key: jsonrpc::id_key(id),
            token: msg["params"]["_meta"].get("progressToken").is_some(),
        },
        Kind::Notification {
            method: "tools/call",
        } => {
            gate.log("dropped a `tools/call` without an id (a notification cannot be answered)");
            ClientMessage::DropCall
        }
        Kind::Notification {
            method: "notifications/cancelled",
        } => {
            let params = &msg["params"];
            let Some(id) = params.get("requestId") else {
                return ClientMessage::Forward;
            };
            let reason = params["reason"].as_str().unwrap_or("no reason given");
            if session.cancel(
                &jsonrpc::id_key(id),
                format!("the client cancelled the call: {reason}"),
            ) {
                ClientMessage::CancelWaiting
            } else {
                ClientMessage::Forward
            }
        }
        Kind::Request {
            id,
            method: "tools/list",
        } => {
            if gate.options.hide_denied {
                session.listing(jsonrpc::id_key(id));
            }
            ClientMessage::Forward
        }
        _ => ClientMessage::Forward,
    }
}
