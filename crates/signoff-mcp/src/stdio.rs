//! The stdio proxy: the client speaks to us on stdin/stdout, we speak to
//! the real server, our child, on its stdin/stdout. One message per line.

use std::ffi::OsString;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::error::McpError;
use crate::gate::{ClientMessage, McpGate, ProgressSink, Session, Verdict, classify};
use crate::jsonrpc;

/// The largest line accepted from either side (64 MiB).
const MAX_LINE: usize = 64 * 1024 * 1024;

/// How long the server gets to exit after the client closed its stdin.
const EXIT_GRACE: Duration = Duration::from_secs(5);

type Lines = mpsc::UnboundedSender<Vec<u8>>;

/// Runs `command` as the MCP server and proxies the process's stdin and
/// stdout to it, gating every `tools/call`. Returns the server's exit code.
pub async fn run_stdio(gate: Arc<McpGate>, command: &[OsString]) -> Result<i32, McpError> {
    let Some((program, args)) = command.split_first() else {
        return Err(McpError::Usage(
            "give the MCP server's command after `--`".into(),
        ));
    };
    let shown = command
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| McpError::Spawn {
            command: shown.clone(),
            message: e.to_string(),
        })?;
    let (Some(child_in), Some(child_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(McpError::Spawn {
            command: shown,
            message: "no pipes".into(),
        });
    };
    let code = proxy(
        gate,
        tokio::io::stdin(),
        tokio::io::stdout(),
        child_in,
        child_out,
    )
    .await?;
    // the client is gone (or the server closed its stdout): let the server exit
    let status = match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
        Ok(Ok(s)) => s.code().unwrap_or(1),
        Ok(Err(e)) => return Err(McpError::Io(format!("waiting for the server: {e}"))),
        Err(_) => {
            let _ = child.kill().await;
            1
        }
    };
    Ok(code.unwrap_or(status))
}

/// Pumps both directions until the client or the server closes. Returns
/// `Some(code)` to override the server's exit status.
pub async fn proxy<CI, CO, SI, SO>(
    gate: Arc<McpGate>,
    client_in: CI,
    client_out: CO,
    server_in: SI,
    server_out: SO,
) -> Result<Option<i32>, McpError>
where
    CI: AsyncRead + Unpin + Send + 'static,
    CO: AsyncWrite + Unpin + Send + 'static,
    SI: AsyncWrite + Unpin + Send + 'static,
    SO: AsyncRead + Unpin + Send + 'static,
{
    let session = Arc::new(gate.session(None, "stdio"));
    let (to_client, client_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let (to_server, server_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let client_writer = tokio::spawn(write_lines(client_out, client_rx));
    let server_writer = tokio::spawn(write_lines(server_in, server_rx));

    // server → client: unchanged, except for the completions we note and the
    // tools/list we filter
    let server_reader = {
        let (gate, session, to_client) =
            (Arc::clone(&gate), Arc::clone(&session), to_client.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(server_out);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match read_line(&mut lines, &mut buf).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        gate.log(format!("reading the server: {e}"));
                        break;
                    }
                }
                let line = trim_newline(&buf);
                let out = match serde_json::from_slice::<Value>(line) {
                    Ok(mut msg) => {
                        if gate.server_message(&session, &mut msg) {
                            serialize(&msg)
                        } else {
                            line.to_vec()
                        }
                    }
                    Err(_) => line.to_vec(),
                };
                if to_client.send(out).is_err() {
                    break;
                }
            }
        })
    };

    let mut client = BufReader::new(client_in);
    let mut buf = Vec::new();
    let mut server_closed = false;
    let mut tasks = tokio::task::JoinSet::new();
    let mut server_done = server_reader;
    loop {
        buf.clear();
        let read = tokio::select! {
            r = read_line(&mut client, &mut buf) => r,
            _ = &mut server_done => { server_closed = true; break; }
        };
        match read {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                gate.log(format!("reading the client: {e}"));
                break;
            }
        }
        let line = trim_newline(&buf);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let msg: Value = match serde_json::from_slice(line) {
            Ok(m) => m,
            Err(e) => {
                gate.log(format!("refused a line that is not JSON: {e}"));
                let _ = to_client.send(serialize(&jsonrpc::parse_error(&e.to_string())));
                continue;
            }
        };
        match &msg {
            Value::Array(items) if !items.is_empty() => {
                let mut rest = Vec::with_capacity(items.len());
                for item in items {
                    match classify(&gate, &session, item) {
                        ClientMessage::ToolCall { key, .. } => {
                            spawn_call(
                                &mut tasks,
                                &gate,
                                &session,
                                key,
                                item.clone(),
                                &to_client,
                                &to_server,
                            );
                        }
                        ClientMessage::DropCall | ClientMessage::CancelWaiting => {}
                        ClientMessage::Forward => rest.push(item.clone()),
                    }
                }
                if rest.len() == items.len() {
                    let _ = to_server.send(line.to_vec());
                } else if !rest.is_empty() {
                    let _ = to_server.send(serialize(&Value::Array(rest)));
                }
            }
            _ => match classify(&gate, &session, &msg) {
                ClientMessage::ToolCall { key, .. } => {
                    spawn_call(
                        &mut tasks, &gate, &session, key, msg, &to_client, &to_server,
                    );
                }
                ClientMessage::DropCall | ClientMessage::CancelWaiting => {}
                ClientMessage::Forward => {
                    let _ = to_server.send(line.to_vec());
                }
            },
        }
        while tasks.try_join_next().is_some() {}
    }
    // withdraw what still waits; nobody will read its answer
    let reason = if server_closed {
        "the MCP server exited"
    } else {
        "the client closed the connection"
    };
    if session.is_waiting() {
        session.cancel_all(reason);
    }
    while tasks.join_next().await.is_some() {}
    drop(to_server);
    let _ = server_writer.await;
    if !server_closed {
        // the server answers what it still has, then exits on EOF
        if tokio::time::timeout(EXIT_GRACE, &mut server_done)
            .await
            .is_err()
        {
            server_done.abort();
        }
    }
    drop(to_client);
    let _ = client_writer.await;
    Ok(None)
}

fn spawn_call(
    tasks: &mut tokio::task::JoinSet<()>,
    gate: &Arc<McpGate>,
    session: &Arc<Session>,
    key: String,
    msg: Value,
    to_client: &Lines,
    to_server: &Lines,
) {
    let Some((call_key, cancel)) = session.begin(&key) else {
        gate.log(format!(
            "ignored a second `tools/call` with the id of a waiting one ({key})"
        ));
        return;
    };
    let (gate, session) = (Arc::clone(gate), Arc::clone(session));
    let (to_client, to_server) = (to_client.clone(), to_server.clone());
    tasks.spawn(async move {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let progress: Box<dyn ProgressSink> = Box::new(ToClient(to_client.clone()));
        let verdict = gate
            .decide(&session, &call_key, msg, Some(progress), cancel)
            .await;
        session.end(&key);
        match verdict {
            Verdict::Allow { permit, request } => {
                session.forwarded(key, permit);
                let _ = to_server.send(serialize(&request));
            }
            Verdict::Deny(text) => {
                let _ = to_client.send(serialize(&jsonrpc::tool_error(&id, &text)));
            }
            Verdict::Withdrawn => {}
        }
    });
}

struct ToClient(Lines);

impl ProgressSink for ToClient {
    fn send(&self, notification: Value) -> bool {
        self.0.send(serialize(&notification)).is_ok()
    }
}

fn serialize(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn trim_newline(buf: &[u8]) -> &[u8] {
    let buf = buf.strip_suffix(b"\n").unwrap_or(buf);
    buf.strip_suffix(b"\r").unwrap_or(buf)
}

/// Reads one line into `buf`; false at the end of the stream.
async fn read_line<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<bool> {
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(!buf.is_empty());
        }
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if buf.len() + take > MAX_LINE {
            return Err(std::io::Error::other(format!(
                "a line longer than {MAX_LINE} bytes"
            )));
        }
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        if done {
            return Ok(true);
        }
    }
}

/// Writes each message as one line, flushed, in order.
async fn write_lines<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(mut line) = rx.recv().await {
        line.push(b'\n');
        if w.write_all(&line).await.is_err() || w.flush().await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}
