//! The stdio proxy against a scripted MCP server, line by line: what the
//! server receives, what the client gets back, and what the trail says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use signoff::{Gate, JsonlSink, Policy, Queue, RequestStatus, Verdict, Vote};
use signoff_mcp::{McpGate, ProxyOptions, proxy_streams};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;

const POLICY: &str = r#"
[policy]
default = "deny"
[groups]
reviewers = ["user:carol@example.com"]
[[rules]]
id = "reads"
effect = "allow"
actions = ["mcp.fake.read", "mcp.fake.fail"]
[[rules]]
id = "no-delete"
effect = "deny"
actions = ["mcp.fake.delete"]
reason = "deletes are never run by agents"
[[rules]]
id = "writes"
effect = "approve"
actions = ["mcp.fake.write"]
approvers = "reviewers"
allow_edit = true
"#;

struct Harness {
    gate: Gate,
    to_proxy: DuplexStream,
    from_proxy: mpsc::UnboundedReceiver<Value>,
    /// What the server received, in order.
    server_saw: mpsc::UnboundedReceiver<Value>,
    trail: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// A server that answers every request with its params echoed, `fail`
/// with `isError`, and sends nothing for notifications.
async fn fake_server(
    input: DuplexStream,
    mut output: DuplexStream,
    saw: mpsc::UnboundedSender<Value>,
) {
    let mut lines = BufReader::new(input).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let msg: Value = serde_json::from_str(&line).unwrap();
        let _ = saw.send(msg.clone());
        let answer = |m: &Value| -> Option<Value> {
            let id = m.get("id")?.clone();
            m.get("method")?;
            let tool = m["params"]["name"].as_str().unwrap_or("");
            Some(match (m["method"].as_str(), tool) {
                (Some("tools/list"), _) => {
                    json!({"jsonrpc":"2.0","id":id,"result":{"tools":[{"name":"read"},{"name":"write"},{"name":"delete"},{"name":"other"}]}})
                }
                (Some("tools/call"), "fail") => {
                    json!({"jsonrpc":"2.0","id":id,"result":{"content":[{"type":"text","text":"disk full"}],"isError":true}})
                }
                _ => json!({"jsonrpc":"2.0","id":id,"result":{"echo":m["params"].clone()}}),
            })
        };
        let out: Option<Value> = match &msg {
            Value::Array(items) => {
                let a: Vec<Value> = items.iter().filter_map(answer).collect();
                (!a.is_empty()).then_some(Value::Array(a))
            }
            m => answer(m),
        };
        if let Some(o) = out {
            output.write_all(format!("{o}\n").as_bytes()).await.unwrap();
        }
    }
}

async fn start(options: ProxyOptions) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit.jsonl");
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(Queue)
        .audit(JsonlSink::open(&trail).unwrap())
        .actor("agent:mcp-test")
        .build()
        .unwrap();
    let mcp = Arc::new(McpGate::new(gate.clone(), options).unwrap());
    let (client_side, proxy_client_in) = tokio::io::duplex(1 << 20);
    let (proxy_client_out, client_read) = tokio::io::duplex(1 << 20);
    let (proxy_server_in, server_read) = tokio::io::duplex(1 << 20);
    let (server_write, proxy_server_out) = tokio::io::duplex(1 << 20);
    let (saw_tx, server_saw) = mpsc::unbounded_channel();
    tokio::spawn(fake_server(server_read, server_write, saw_tx));
    tokio::spawn(async move {
        proxy_streams(
            mcp,
            proxy_client_in,
            proxy_client_out,
            proxy_server_in,
            proxy_server_out,
        )
        .await
        .unwrap();
    });
    let (tx, from_proxy) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(client_read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carried a line that is not JSON ({e}): {line}"));
            let _ = tx.send(v);
        }
    });
    Harness {
        gate,
        to_proxy: client_side,
        from_proxy,
        server_saw,
        trail,
        _dir: dir,
    }
}

impl Harness {
    async fn send(&mut self, msg: impl std::fmt::Display) {
        self.to_proxy
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
    }

    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), self.from_proxy.recv())
            .await
            .unwrap()
            .unwrap()
    }

    async fn server_next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), self.server_saw.recv())
            .await
            .unwrap()
            .unwrap()
    }

    async fn quiet(&mut self, what: &str) {
        if let Ok(Some(v)) =
            tokio::time::timeout(Duration::from_millis(300), self.from_proxy.recv()).await
        {
            panic!("{what}: the client got {v}");
        }
    }

    async fn pending(&self) -> signoff::StoredRequest {
        for _ in 0..200 {
            if let Some(r) = self
                .gate
                .store()
                .list(Some(RequestStatus::Pending))
                .await
                .unwrap()
                .pop()
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no pending request");
    }

    fn trail(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.trail)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn call(id: Value, tool: &str, args: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}})
}

fn approve(voter: &str) -> Vote {
    Vote::new(voter, Verdict::Approve)
        .channel("api")
        .authenticated()
}

#[tokio::test]
async fn an_allowed_call_reaches_the_server_and_its_answer_comes_back() {
    let mut h = start(ProxyOptions::new("fake")).await;
    h.send(call(json!(1), "read", json!({"path": "/a"}))).await;
    assert_eq!(
        h.server_next().await,
        call(json!(1), "read", json!({"path": "/a"}))
    );
    let answer = h.next().await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["result"]["echo"]["arguments"]["path"], "/a");
    h.gate.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.gate.close().await.unwrap();
    let trail = h.trail();
    let done = trail
        .iter()
        .find(|r| r["event"] == "action.completed")
        .unwrap();
    assert_eq!(done["outcome"], "success");
    assert_eq!(done["action"], "mcp.fake.read");
}

#[tokio::test]
async fn an_is_error_result_completes_the_permit_as_a_failure() {
    let mut h = start(ProxyOptions::new("fake")).await;
    h.send(call(json!(1), "fail", json!({}))).await;
    assert_eq!(h.next().await["result"]["isError"], true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.gate.close().await.unwrap();
    let done = h
        .trail()
        .into_iter()
        .find(|r| r["event"] == "action.completed")
        .unwrap();
    assert_eq!(done["outcome"], "failure");
    assert_eq!(done["error"], "disk full");
}

#[tokio::test]
async fn a_denied_call_never_reaches_the_server_and_the_model_reads_why() {
    let mut h = start(ProxyOptions::new("fake")).await;
    h.send(call(json!("d-1"), "delete", json!({"path": "/"})))
        .await;
    let answer = h.next().await;
    assert_eq!(answer["id"], "d-1");
    assert_eq!(answer["result"]["isError"], true);
    assert_eq!(
        answer["result"]["content"][0]["text"],
        "signoff: denied (rule no-delete): deletes are never run by agents"
    );
    assert!(
        answer.get("error").is_none(),
        "a tool result, not a JSON-RPC error"
    );
    h.send(json!({"jsonrpc":"2.0","id":2,"method":"ping"}))
        .await;
    assert_eq!(
        h.server_next().await["method"],
        "ping",
        "the server saw nothing before the ping"
    );
}

#[tokio::test]
async fn lines_that_are_not_json_and_calls_without_an_id_are_not_passed_on() {
    let mut h = start(ProxyOptions::new("fake")).await;
    h.send("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"delete\",\"x\":\"\\ud800\"}}").await;
    assert_eq!(h.next().await["error"]["code"], -32700);
    h.send(json!({"jsonrpc":"2.0","method":"tools/call","params":{"name":"read","arguments":{}}}))
        .await;
    h.send(json!({"jsonrpc":"2.0","id":3,"method":"ping"}))
        .await;
    assert_eq!(
        h.server_next().await["id"],
        3,
        "only the ping reached the server"
    );
}

#[tokio::test]
async fn everything_else_passes_through_with_the_same_ids() {
    let mut h = start(ProxyOptions::new("fake")).await;
    for m in [
        json!({"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25"}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"file:///x"}}),
        json!({"jsonrpc":"2.0","id":8,"method":"prompts/get","params":{"name":"p"}}),
        json!({"jsonrpc":"2.0","id":"s-1","result":{"role":"assistant","content":{"type":"text","text":"sampled"}}}),
    ] {
        h.send(&m).await;
        assert_eq!(h.server_next().await, m);
    }
}

#[tokio::test]
async fn a_batch_is_split_so_each_call_is_gated() {
    let mut h = start(ProxyOptions::new("fake")).await;
    let batch = json!([
        {"jsonrpc":"2.0","id":1,"method":"ping"},
        call(json!(2), "delete", json!({})),
        call(json!(3), "read", json!({"path": "/b"})),
    ]);
    h.send(&batch).await;
    let first = h.server_next().await;
    assert_eq!(
        first,
        json!([{"jsonrpc":"2.0","id":1,"method":"ping"}]),
        "the rest of the batch, without the calls"
    );
    assert_eq!(
        h.server_next().await,
        call(json!(3), "read", json!({"path": "/b"}))
    );
    let mut ids = Vec::new();
    for _ in 0..3 {
        let m = h.next().await;
        match &m {
            Value::Array(a) => ids.extend(a.iter().map(|x| x["id"].clone())),
            one => {
                if one["id"] == 2 {
                    assert_eq!(one["result"]["isError"], true);
                }
                ids.push(one["id"].clone());
            }
        }
    }
    ids.sort_by_key(|v| v.as_i64());
    assert_eq!(ids, [json!(1), json!(2), json!(3)]);
}

#[tokio::test]
async fn an_approved_call_runs_with_the_reviewers_edited_arguments() {
    let mut h = start(ProxyOptions::new("fake")).await;
    h.send(call(
        json!(5),
        "write",
        json!({"path": "/etc/x", "data": "1"}),
    ))
    .await;
    let req = h.pending().await;
    assert_eq!(req.action.name, "mcp.fake.write");
    assert_eq!(req.action.context["jsonrpc_id"], 5);
    let mut vote = approve("user:carol@example.com");
    vote.args = Some(json!({"path": "/tmp/x", "data": "1"}));
    h.gate.vote(&req.id, vote).await.unwrap();
    let saw = h.server_next().await;
    assert_eq!(saw["id"], 5);
    assert_eq!(saw["params"]["arguments"]["path"], "/tmp/x");
    assert_eq!(
        h.next().await["result"]["echo"]["arguments"]["path"],
        "/tmp/x"
    );
}

#[tokio::test]
async fn a_cancelled_waiting_call_is_withdrawn_and_gets_no_answer() {
    let mut h = start(ProxyOptions::new("fake")).await;
    h.send(call(json!(9), "write", json!({"path": "/x"}))).await;
    let req = h.pending().await;
    h.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9,"reason":"user pressed escape"}})).await;
    for _ in 0..100 {
        if h.gate.store().get(&req.id).await.unwrap().unwrap().status == RequestStatus::Cancelled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = h.gate.store().get(&req.id).await.unwrap().unwrap();
    assert_eq!(after.status, RequestStatus::Cancelled);
    assert!(
        after
            .resolution
            .unwrap()
            .reason
            .contains("user pressed escape")
    );
    h.quiet("a withdrawn call").await;
    // a cancel for a call that is not waiting here goes on to the server
    h.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":42}}))
        .await;
    assert_eq!(h.server_next().await["params"]["requestId"], 42);
}

#[tokio::test]
async fn a_call_past_max_wait_is_denied_with_progress_on_the_way() {
    let mut options = ProxyOptions::new("fake");
    options.max_wait = Duration::from_millis(700);
    options.progress_every = Duration::from_millis(200);
    let mut h = start(options).await;
    let mut c = call(json!(11), "write", json!({}));
    c["params"]["_meta"] = json!({"progressToken": "tok"});
    h.send(&c).await;
    let mut progress = Vec::new();
    let answer = loop {
        let m = h.next().await;
        if m["method"] == "notifications/progress" {
            assert_eq!(m["params"]["progressToken"], "tok");
            progress.push(m["params"]["progress"].as_u64().unwrap());
            continue;
        }
        break m;
    };
    assert!(
        progress.len() >= 2 && progress.windows(2).all(|w| w[0] < w[1]),
        "{progress:?}"
    );
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("signoff: denied (rule writes): no decision within 1s; approval request "),
        "{text}"
    );
    let all = h.gate.store().list(None).await.unwrap();
    assert_eq!(all[0].status, RequestStatus::Cancelled);
}

#[tokio::test]
async fn a_reused_id_gets_a_new_action_and_a_duplicate_in_flight_is_ignored() {
    let mut h = start(ProxyOptions::new("fake")).await;
    h.send(call(json!(1), "write", json!({"n": 1}))).await;
    let first = h.pending().await;
    h.send(call(json!(1), "write", json!({"n": 1}))).await; // the same id while waiting
    h.gate
        .vote(&first.id, approve("user:carol@example.com"))
        .await
        .unwrap();
    assert_eq!(h.server_next().await["params"]["arguments"]["n"], 1);
    assert_eq!(h.next().await["id"], 1);
    h.quiet("one answer for one call").await;
    // id 1 again, for another call, after the first was answered
    h.send(call(json!(1), "write", json!({"n": 2}))).await;
    let second = h.pending().await;
    assert_ne!(second.action.id, first.action.id);
    assert!(second.action.id.as_deref().unwrap().ends_with(":1~1"));
    assert_eq!(h.gate.store().list(None).await.unwrap().len(), 2);
}

#[tokio::test]
async fn hide_denied_filters_tools_list_and_only_that() {
    let mut options = ProxyOptions::new("fake");
    options.hide_denied = true;
    let mut h = start(options).await;
    h.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))
        .await;
    let tools: Vec<String> = h.next().await["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    // `delete` has a deny rule, `other` only the deny default; `write` may be approved
    assert_eq!(tools, ["read", "write"]);
}

#[tokio::test]
async fn bad_server_names_are_refused() {
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .build()
        .unwrap();
    for bad in ["", "a.b", "sp ace", "ünï"] {
        assert!(
            McpGate::new(gate.clone(), ProxyOptions::new(bad)).is_err(),
            "{bad}"
        );
    }
}
