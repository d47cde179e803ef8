//! The Streamable HTTP proxy: clients talk to us as to the server; every
//! request goes to the upstream server with the same method, path, headers
//! and body, except `tools/call`, which is gated first.
//!
//! A waiting call that carries a `progressToken` (and accepts an event
//! stream) is answered at once with an SSE stream: progress notifications
//! while reviewers decide, then the server's own answer or the denial.
//! Other calls hold the request until the decision. A client that cancels
//! (`notifications/cancelled`, or closing the connection) withdraws its
//! request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::serve::ListenerExt;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::error::McpError;
use crate::gate::{ClientMessage, McpGate, ProgressSink, Session, Verdict, classify};
use crate::jsonrpc;
use crate::sse;

/// The largest request body read (16 MiB) and JSON response buffered (64 MiB).
const MAX_BODY: usize = 16 * 1024 * 1024;
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// Headers that belong to one connection, never forwarded. `accept-encoding`
/// is dropped too, so the upstream answers in plain text the proxy can read.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "accept-encoding",
];

/// The gating proxy in front of one Streamable HTTP MCP server.
pub struct HttpProxy {
    gate: Arc<McpGate>,
    upstream: reqwest::Url,
    client: reqwest::Client,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

/// What a forwarded request keeps of the client's.
#[derive(Clone)]
struct Incoming {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl HttpProxy {
    /// A proxy to `upstream` (an `http://` or `https://` URL).
    pub fn new(gate: Arc<McpGate>, upstream: &str) -> Result<Arc<Self>, McpError> {
        let upstream = reqwest::Url::parse(upstream)
            .map_err(|e| McpError::Usage(format!("`--upstream {upstream}`: {e}")))?;
        if !matches!(upstream.scheme(), "http" | "https") {
            return Err(McpError::Usage(format!(
                "`--upstream {upstream}`: use an http:// or https:// URL"
            )));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| McpError::Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(Arc::new(HttpProxy {
            gate,
            upstream,
            client,
            sessions: Mutex::new(HashMap::new()),
        }))
    }

    /// Serves on `listener` until the process ends.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> Result<(), McpError> {
        if let Ok(addr) = listener.local_addr() {
            self.gate.log(format!(
                "listening on http://{addr}{}, upstream {}",
                self.upstream.path(),
                self.upstream
            ));
        }
        let app = axum::Router::new().fallback(handle).with_state(self);
        // small SSE chunks go out at once (Nagle would hold the last one
        // for the client's delayed ACK: 40 ms per call)
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app)
            .await
            .map_err(|e| McpError::Io(format!("serving: {e}")))
    }

    fn session(&self, id: Option<&str>) -> Arc<Session> {
        let Some(id) = id else {
            // no session: this request alone (its ids are namespaced afresh)
            let fresh = uuid::Uuid::now_v7().simple().to_string();
            return Arc::new(self.gate.session(Some(&fresh), "http"));
        };
        let mut sessions = match self.sessions.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        Arc::clone(
            sessions
                .entry(id.to_owned())
                .or_insert_with(|| Arc::new(self.gate.session(Some(id), "http"))),
        )
    }

    fn forget(&self, id: &str) {
        let removed = match self.sessions.lock() {
            Ok(mut s) => s.remove(id),
            Err(p) => p.into_inner().remove(id),
        };
        if let Some(s) = removed {
            s.cancel_all("the client ended the session");
        }
    }

    async fn route(self: &Arc<Self>, req: Request) -> Result<Response, String> {
        let (parts, body) = req.into_parts();
        let incoming = Incoming {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
        };
        let session_id = incoming
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if incoming.method == Method::POST {
            let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(b) => b,
                Err(e) => {
                    return Ok(json_response(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": format!("request body: {e}")}}),
                    ));
                }
            };
            return self.post(incoming, session_id.as_deref(), bytes).await;
        }
        let session = self.session(session_id.as_deref());
        let stream = reqwest::Body::wrap_stream(body.into_data_stream());
        let resp = self.send(&incoming, stream).await?;
        if incoming.method == Method::DELETE
            && let Some(id) = &session_id
        {
            self.forget(id);
        }
        Ok(self.relay(session, resp, Vec::new()).await)
    }

    async fn post(
        self: &Arc<Self>,
        incoming: Incoming,
        session_id: Option<&str>,
        bytes: Bytes,
    ) -> Result<Response, String> {
        let msg: Value = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => {
                self.gate
                    .log(format!("refused a body that is not JSON: {e}"));
                return Ok(json_response(
                    StatusCode::BAD_REQUEST,
                    &jsonrpc::parse_error(&e.to_string()),
                ));
            }
        };
        let session = self.session(session_id);
        if let Value::Array(items) = &msg
            && !items.is_empty()
        {
            return self.post_batch(incoming, session, items, bytes).await;
        }
        match classify(&self.gate, &session, &msg) {
            ClientMessage::ToolCall { key, token } => {
                let streams = accepts_sse(&incoming.headers);
                if token && streams {
                    Ok(self.call_streamed(incoming, session, key, msg))
                } else {
                    self.call_held(incoming, session, key, msg).await
                }
            }
            ClientMessage::DropCall | ClientMessage::CancelWaiting => Ok(accepted()),
            ClientMessage::Forward => {
                let resp = self.send(&incoming, bytes).await?;
                Ok(self.relay(session, resp, Vec::new()).await)
            }
        }
    }

    /// A call without progress: the client's request is held until the decision.
    async fn call_held(
        self: &Arc<Self>,
        incoming: Incoming,
        session: Arc<Session>,
        key: String,
        msg: Value,
    ) -> Result<Response, String> {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let Some((call_key, cancel)) = session.begin(&key) else {
            return Ok(json_response(StatusCode::OK, &already_waiting(&id)));
        };
        let _end = EndOnDrop(Arc::clone(&session), key.clone());
        match self
            .gate
            .decide(&session, &call_key, msg, None, cancel)
            .await
        {
            Verdict::Allow { permit, request } => {
                session.forwarded(key.clone(), permit);
                match self.send(&incoming, serialize(&request)).await {
                    Ok(resp) => Ok(self.relay(session, resp, Vec::new()).await),
                    Err(e) => {
                        // the answer completes the permit as a failure
                        let mut answer = unreachable(&id, &e);
                        self.gate.server_message(&session, &mut answer);
                        Ok(json_response(StatusCode::OK, &answer))
                    }
                }
            }
            Verdict::Deny(text) => Ok(json_response(
                StatusCode::OK,
                &jsonrpc::tool_error(&id, &text),
            )),
            Verdict::Withdrawn => Ok(accepted()),
        }
    }

    /// A call with a progress token: answered at once with an event stream
    /// that carries progress while it waits, then the answer.
    fn call_streamed(
        self: &Arc<Self>,
        incoming: Incoming,
        session: Arc<Session>,
        key: String,
        msg: Value,
    ) -> Response {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let (tx, rx) = mpsc::channel::<Bytes>(32);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let Some((call_key, cancel)) = session.begin(&key) else {
                let _ = tx.send(event(&already_waiting(&id))).await;
                return;
            };
            // a client that closes the stream withdraws the call
            let watcher = {
                let (session, key, tx) = (Arc::clone(&session), key.clone(), tx.clone());
                tokio::spawn(async move {
                    tx.closed().await;
                    session.cancel(&key, "the client closed the connection".into());
                })
            };
            let sink: Box<dyn ProgressSink> = Box::new(SseSink(tx.clone()));
            let verdict = this
                .gate
                .decide(&session, &call_key, msg, Some(sink), cancel)
                .await;
            session.end(&key);
            watcher.abort();
            match verdict {
                Verdict::Allow { permit, request } => {
                    session.forwarded(key.clone(), permit);
                    match this.send(&incoming, serialize(&request)).await {
                        Ok(resp) => this.relay_into(&session, &id, resp, &tx).await,
                        Err(e) => {
                            let mut answer = unreachable(&id, &e);
                            this.gate.server_message(&session, &mut answer);
                            let _ = tx.send(event(&answer)).await;
                        }
                    }
                }
                Verdict::Deny(text) => {
                    let _ = tx.send(event(&jsonrpc::tool_error(&id, &text))).await;
                }
                Verdict::Withdrawn => {}
            }
        });
        let mut resp = Response::new(Body::from_stream(receiver_stream(rx)));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp
    }

    /// A batch: its `tools/call`s are decided (together), the allowed ones
    /// forwarded with the rest, the denials added to the server's answer.
    async fn post_batch(
        self: &Arc<Self>,
        incoming: Incoming,
        session: Arc<Session>,
        items: &[Value],
        bytes: Bytes,
    ) -> Result<Response, String> {
        let mut rest = Vec::with_capacity(items.len());
        let mut calls = Vec::new();
        for item in items {
            match classify(&self.gate, &session, item) {
                ClientMessage::ToolCall { key, .. } => calls.push((key, item.clone())),
                ClientMessage::DropCall | ClientMessage::CancelWaiting => {}
                ClientMessage::Forward => rest.push(item.clone()),
            }
        }
        if calls.is_empty() && rest.len() == items.len() {
            let resp = self.send(&incoming, bytes).await?;
            return Ok(self.relay(session, resp, Vec::new()).await);
        }
        let decided = futures_util::future::join_all(calls.into_iter().map(|(key, msg)| {
            let session = Arc::clone(&session);
            async move {
                let id = msg.get("id").cloned().unwrap_or(Value::Null);
                let Some((call_key, cancel)) = session.begin(&key) else {
                    return (key, id, None);
                };
                let _end = EndOnDrop(Arc::clone(&session), key.clone());
                let v = self
                    .gate
                    .decide(&session, &call_key, msg, None, cancel)
                    .await;
                (key, id, Some(v))
            }
        }))
        .await;
        let mut extra = Vec::new();
        for (key, id, verdict) in decided {
            match verdict {
                None => extra.push(already_waiting(&id)),
                Some(Verdict::Allow { permit, request }) => {
                    session.forwarded(key, permit);
                    rest.push(request);
                }
                Some(Verdict::Deny(text)) => extra.push(jsonrpc::tool_error(&id, &text)),
                Some(Verdict::Withdrawn) => {}
            }
        }
        if rest.is_empty() {
            return Ok(if extra.is_empty() {
                accepted()
            } else {
                json_response(StatusCode::OK, &Value::Array(extra))
            });
        }
        let resp = self.send(&incoming, serialize(&Value::Array(rest))).await?;
        Ok(self.relay(session, resp, extra).await)
    }

    /// Sends the request on to the upstream server.
    async fn send(
        &self,
        incoming: &Incoming,
        body: impl Into<reqwest::Body>,
    ) -> Result<reqwest::Response, String> {
        let mut url = self.upstream.clone();
        url.set_path(incoming.uri.path());
        url.set_query(incoming.uri.query());
        let mut headers = incoming.headers.clone();
        for name in HOP_BY_HOP {
            headers.remove(*name);
        }
        self.client
            .request(incoming.method.clone(), url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "the MCP server at {} could not be reached: {e}",
                    self.upstream
                )
            })
    }

    /// The upstream's response for the client, looked at on the way:
    /// answers complete their permits, `tools/list` may be filtered, and
    /// `extra` messages (denials from a batch) are added.
    async fn relay(
        &self,
        session: Arc<Session>,
        resp: reqwest::Response,
        extra: Vec<Value>,
    ) -> Response {
        let status = resp.status();
        let mut headers = resp.headers().clone();
        for name in HOP_BY_HOP {
            headers.remove(*name);
        }
        let content_type = content_type(&headers);
        if content_type == "text/event-stream" {
            let (tx, rx) = mpsc::channel::<Bytes>(32);
            let gate = Arc::clone(&self.gate);
            tokio::spawn(async move {
                for m in &extra {
                    if tx.send(event(m)).await.is_err() {
                        return;
                    }
                }
                relay_events(&gate, &session, resp, &tx).await;
            });
            return with_headers(status, headers, Body::from_stream(receiver_stream(rx)));
        }
        if content_type == "application/json" || !extra.is_empty() {
            let body = match read_limited(resp).await {
                Ok(b) => b,
                Err(e) => {
                    return json_response(
                        StatusCode::BAD_GATEWAY,
                        &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32603, "message": e}}),
                    );
                }
            };
            let parsed = serde_json::from_slice::<Value>(&body).ok();
            let (status, out) = match parsed {
                Some(mut v) => {
                    let changed = self.gate.server_message(&session, &mut v);
                    if extra.is_empty() {
                        (status, if changed { serialize(&v) } else { body })
                    } else {
                        let mut all = match v {
                            Value::Array(a) => a,
                            one => vec![one],
                        };
                        all.extend(extra);
                        (status, serialize(&Value::Array(all)))
                    }
                }
                None if !extra.is_empty() => {
                    headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    (StatusCode::OK, serialize(&Value::Array(extra)))
                }
                None => (status, body),
            };
            return with_headers(status, headers, Body::from(out));
        }
        let stream = resp.bytes_stream();
        with_headers(status, headers, Body::from_stream(stream))
    }

    /// The upstream's answer to a streamed call, into the client's stream.
    async fn relay_into(
        &self,
        session: &Arc<Session>,
        id: &Value,
        resp: reqwest::Response,
        tx: &mpsc::Sender<Bytes>,
    ) {
        let status = resp.status();
        match content_type(resp.headers()).as_str() {
            "text/event-stream" => relay_events(&self.gate, session, resp, tx).await,
            _ if status.is_success() => {
                let body = read_limited(resp).await.unwrap_or_default();
                let mut answer = match serde_json::from_slice::<Value>(&body) {
                    Ok(v) => v,
                    Err(_) if status == StatusCode::ACCEPTED => return,
                    Err(e) => unreachable(id, &format!("the MCP server's answer is not JSON: {e}")),
                };
                self.gate.server_message(session, &mut answer);
                let _ = tx.send(event(&answer)).await;
            }
            _ => {
                let body = read_limited(resp).await.unwrap_or_default();
                let mut answer = unreachable(
                    id,
                    &format!(
                        "the MCP server answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    ),
                );
                self.gate.server_message(session, &mut answer);
                let _ = tx.send(event(&answer)).await;
            }
        }
    }
}

async fn handle(State(proxy): State<Arc<HttpProxy>>, req: Request) -> Response {
    match proxy.route(req).await {
        Ok(r) => r,
        Err(e) => {
            proxy.gate.log(&e);
            json_response(
                StatusCode::BAD_GATEWAY,
                &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32603, "message": e}}),
            )
        }
    }
}

/// Relays an upstream event stream, looking at each message.
async fn relay_events(
    gate: &Arc<McpGate>,
    session: &Arc<Session>,
    resp: reqwest::Response,
    tx: &mpsc::Sender<Bytes>,
) {
    let mut parser = sse::Parser::default();
    let mut stream = resp.bytes_stream();
    let pass = |e: sse::Event| -> Bytes {
        if let Some(data) = &e.data
            && let Ok(mut v) = serde_json::from_str::<Value>(data)
            && gate.server_message(session, &mut v)
        {
            return Bytes::from(e.with_data(&v.to_string()));
        }
        Bytes::from(format!("{}\n\n", e.raw))
    };
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        for e in parser.feed(&chunk) {
            if tx.send(pass(e)).await.is_err() {
                return;
            }
        }
    }
    if let Some(e) = parser.finish() {
        let _ = tx.send(pass(e)).await;
    }
}

/// Ends a call's wait even when the client's request is dropped mid-way.
struct EndOnDrop(Arc<Session>, String);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.0.end(&self.1);
    }
}

struct SseSink(mpsc::Sender<Bytes>);

impl ProgressSink for SseSink {
    fn send(&self, notification: Value) -> bool {
        match self.0.try_send(event(&notification)) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

fn receiver_stream(
    rx: mpsc::Receiver<Bytes>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    futures_util::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) },
    )
}

fn event(msg: &Value) -> Bytes {
    Bytes::from(sse::message_event(&msg.to_string()))
}

fn serialize(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

fn already_waiting(id: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": "signoff mcp-proxy: a call with this id is already waiting for approval"}})
}

fn unreachable(id: &Value, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": format!("signoff mcp-proxy: {message}")}})
}

fn accepts_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

async fn read_limited(resp: reqwest::Response) -> Result<Bytes, String> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the MCP server's answer: {e}"))?;
        if out.len() + chunk.len() > MAX_RESPONSE {
            return Err(format!(
                "the MCP server's answer is over {MAX_RESPONSE} bytes"
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

fn with_headers(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut resp = Response::new(Body::from(serialize(v)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn accepted() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::ACCEPTED;
    resp
}
