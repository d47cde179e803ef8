//! Grants across processes sharing one PostgreSQL database (DESIGN §13):
//! a grant given through `signoff serve` covers the same action in two
//! separate agent processes, and a revoke by `signoff grants revoke` (a
//! third process) stops the next action in both at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

mod common;

use common::{Killed, admin_url, binary};

/// An agent process in `submit` mode: one action id in, one line out.
struct Agent {
    _child: Killed,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Agent {
    fn start(bin: &Path, config: &Path) -> Self {
        let mut child = Command::new(bin)
            .args(["submit", "--config"])
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Agent {
            _child: Killed(child),
            stdin,
            stdout,
        }
    }

    /// Submits `id`; the agent's answer (`PERMIT id by` or `PENDING id req`).
    fn submit(&mut self, id: &str) -> Vec<String> {
        writeln!(self.stdin, "{id}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        assert!(words.len() == 3 && words[1] == id, "agent said: {line:?}");
        words
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_agent_processes_see_a_grant_and_its_revoke_from_a_third() {
    let Some(admin) = admin_url("the grants test") else {
        return;
    };
    let name = format!("signoff_grants_{}", std::process::id());
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let db = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[groups]\nowners = [\"user:carol@example.com\", \"user:dan@example.com\"]\n\
         [[rules]]\nid = \"no-huge\"\neffect = \"deny\"\nactions = [\"db.export\"]\nwhen = \"args.rows > 1000000\"\n\
         [[rules]]\nid = \"export\"\neffect = \"approve\"\nactions = [\"db.export\"]\napprovers = \"owners\"\nmax_grant = \"1h\"\n",
    )
    .unwrap();
    let tokens = format!(
        "[server]\ntokens = [{{ principal = \"user:carol@example.com\", token_hash = \"{}\" }}, {{ principal = \"user:dan@example.com\", token_hash = \"{}\" }}]\n",
        signoff_server::hash_token("carol"),
        signoff_server::hash_token("dan")
    );
    let write = |file: &str, text: String| {
        let p = dir.path().join(file);
        std::fs::write(&p, text).unwrap();
        p
    };
    let base = |stream: &str| {
        format!(
            "policy = \"policy.toml\"\nstore = \"{db}\"\naudit = [\"{db}\"]\nstream = \"{stream}\"\n"
        )
    };
    let server = write(
        "server.toml",
        format!("listen = \"127.0.0.1:0\"\n{}{tokens}", base("server")),
    );
    let signoff = binary("signoff", &["build", "-q", "-p", "signoff-cli"]);
    let (_server, url) = common::serve(&signoff, &server, &[]);
    let agent = binary(
        "examples/signoff_agent",
        &["build", "-q", "--example", "signoff_agent"],
    );
    let mut one = Agent::start(&agent, &write("agent-1.toml", base("agent-1")));
    let mut two = Agent::start(&agent, &write("agent-2.toml", base("agent-2")));

    // agent 1 asks; carol approves through the server with a 30-minute grant
    let asked = one.submit("a-1");
    assert_eq!(asked[0], "PENDING");
    let http = reqwest::Client::new();
    let voted: Value = http
        .post(format!("{url}/v1/requests/{}/votes", asked[2]))
        .bearer_auth("carol")
        .json(&json!({"verdict": "approve", "grant": "30m"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(voted["status"], "approved", "{voted}");

    // both agent processes: the same action is permitted at once, by carol's grant
    assert_eq!(
        one.submit("a-2"),
        ["PERMIT", "a-2", "user:carol@example.com"]
    );
    assert_eq!(
        two.submit("b-1"),
        ["PERMIT", "b-1", "user:carol@example.com"]
    );

    // a third process revokes it; the next action in both asks again
    let list = Command::new(&signoff)
        .args(["grants", "list", "--live", "--json", "--server", &url])
        .env("SIGNOFF_TOKEN", "dan")
        .output()
        .unwrap();
    assert!(list.status.success());
    let grants: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(grants.as_array().unwrap().len(), 1);
    let grant_id = grants[0]["id"].as_str().unwrap().to_owned();
    let revoke = Command::new(&signoff)
        .args(["grants", "revoke", &grant_id, "--server", &url])
        .env("SIGNOFF_TOKEN", "dan")
        .output()
        .unwrap();
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    assert_eq!(one.submit("a-3")[0], "PENDING");
    assert_eq!(two.submit("b-2")[0], "PENDING");
    let shown = Command::new(&signoff)
        .args(["grants", "list", "--server", &url])
        .env("SIGNOFF_TOKEN", "dan")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains(&grant_id) && text.contains("revoked by user:dan@example.com"),
        "{text}"
    );
    // without a token: a usage error, nothing revoked
    let anonymous = Command::new(&signoff)
        .args(["grants", "revoke", &grant_id, "--server", &url])
        .env_remove("SIGNOFF_TOKEN")
        .output()
        .unwrap();
    assert_eq!(anonymous.status.code(), Some(2));

    // the trail: one grant.used per covered action, from each agent's stream
    drop(one);
    drop(two);
    let (db_client, db_conn) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(db_conn);
    let rows = db_client
        .query(
            "SELECT stream FROM signoff_audit WHERE line LIKE '%\"event\":\"grant.used\"%' ORDER BY stream",
            &[],
        )
        .await
        .unwrap();
    let streams: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(streams, ["agent-1", "agent-2"]);
    let revoked = db_client
        .query(
            "SELECT line FROM signoff_audit WHERE line LIKE '%\"event\":\"grant.revoked\"%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(revoked.len(), 1);
}
