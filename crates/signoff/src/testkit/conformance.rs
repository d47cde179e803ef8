//! The contract of each backend trait, written once. Backends call these from
//! their tests: `signoff::testkit::store_conformance(|| MyStore::new()).await`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::action::Action;
use crate::approval::{RequestStatus, StoredRequest};
use crate::audit::{AuditLog, AuditRecord, AuditSink, Event};
use crate::policy::{ApprovalRequirements, Decision, Effect, OnTimeout, Requirement};
use crate::store::ApprovalStore;

fn request(id: &str, action_id: &str) -> StoredRequest {
    StoredRequest {
        id: id.to_owned(),
        action: Action::new("db.export")
            .id(action_id)
            .actor("agent:bot")
            .args(json!({"rows": 5})),
        args_digest: "blake3:x".to_owned(),
        shown_args: serde_json::json!({}),
        shown_context: serde_json::json!({}),
        submitted_digest: String::new(),
        deliveries: Vec::new(),
        claim: None,
        escalated: Vec::new(),
        reminded_at: None,
        decision: Decision {
            effect: Effect::Approve,
            rules: vec!["r".to_owned()],
            reason: "because".to_owned(),
            approval: Some(ApprovalRequirements {
                requirements: vec![Requirement {
                    group: "g".to_owned(),
                    min: 1,
                    rule: Some("r".to_owned()),
                    escalate_after: Some(Duration::from_secs(1800)),
                    escalate_to: Some("sre".to_owned()),
                    max_grant: Some(Duration::from_secs(3600)),
                    remind_every: Some(Duration::from_secs(600)),
                }],
                timeout: Duration::from_secs(60),
                on_timeout: OnTimeout::Deny,
                allow_edit: false,
                redact: Vec::new(),
                channels: None,
                risk: None,
            }),
            policy_digest: "blake3:p".to_owned(),
            errors: Vec::new(),
            invalid_action: None,
        },
        status: RequestStatus::Pending,
        votes: Vec::new(),
        created_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::minutes(1),
        resolution: None,
        version: 0,
    }
}

/// Runs the [`ApprovalStore`] contract against a fresh store from `make`.
pub async fn store_conformance<S, F>(make: F)
where
    S: ApprovalStore + 'static,
    F: Fn() -> S,
{
    let store: Arc<dyn ApprovalStore> = Arc::new(make());

    // create returns version 1 and the request reads back equal
    let created = store.create(request("req-1", "act-1")).await.unwrap();
    assert_eq!(created.version, 1, "create sets version 1");
    let got = store
        .get("req-1")
        .await
        .unwrap()
        .expect("created request is readable");
    assert_eq!(got, created);
    assert_eq!(
        store.get_by_action("act-1").await.unwrap().as_ref(),
        Some(&created)
    );
    assert!(store.get("nope").await.unwrap().is_none());
    assert!(store.get_by_action("nope").await.unwrap().is_none());

    // a second create for the same action returns the first request
    let again = store.create(request("req-2", "act-1")).await.unwrap();
    assert_eq!(again.id, "req-1", "create is idempotent per action id");
    assert!(store.get("req-2").await.unwrap().is_none());

    // compare-and-swap on version
    let mut next = got.clone();
    next.version = 2;
    next.status = RequestStatus::Approved;
    assert!(
        store.update(&next).await.unwrap(),
        "update at version+1 succeeds"
    );
    let mut stale = got.clone();
    stale.version = 2;
    stale.status = RequestStatus::Denied;
    assert!(
        !store.update(&stale).await.unwrap(),
        "a stale update is refused"
    );
    assert_eq!(
        store.get("req-1").await.unwrap().unwrap().status,
        RequestStatus::Approved
    );

    // list filters by status, oldest first
    store.create(request("req-3", "act-3")).await.unwrap();
    store.create(request("req-4", "act-4")).await.unwrap();
    let pending: Vec<String> = store
        .list(Some(RequestStatus::Pending))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(pending, ["req-3", "req-4"]);
    assert_eq!(store.list(None).await.unwrap().len(), 3);

    // wait_change returns at once for an older version, and wakes on update
    store.wait_change("req-1", 1).await.unwrap();
    let waiter = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.wait_change("req-3", 1).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut r3 = store.get("req-3").await.unwrap().unwrap();
    r3.version = 2;
    r3.status = RequestStatus::Denied;
    assert!(store.update(&r3).await.unwrap());
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("wait_change wakes on update")
        .unwrap()
        .unwrap();

    // concurrent updates from the same version: exactly one wins
    let base = store.get("req-4").await.unwrap().unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        let mut r = base.clone();
        r.version = base.version + 1;
        r.votes.push(crate::approval::Vote::approve(format!(
            "user:u{i}@example.com"
        )));
        tasks.push(tokio::spawn(async move { store.update(&r).await.unwrap() }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1, "exactly one concurrent update wins");
    assert_eq!(store.get("req-4").await.unwrap().unwrap().votes.len(), 1);

    // deliveries and the dispatch claim are kept with the request
    let mut r4 = store.get("req-4").await.unwrap().unwrap();
    r4.deliveries.push(crate::approval::Delivery {
        channel: "slack".into(),
        reference: json!({"channel": "C1", "ts": "1.2"}),
        at: Utc::now(),
        shown_version: r4.version + 1,
    });
    r4.claim = Some(crate::approval::Claim {
        by: "replica-a".into(),
        until: Utc::now() + chrono::Duration::seconds(30),
        done: true,
    });
    r4.version += 1;
    assert!(store.update(&r4).await.unwrap());
    assert_eq!(store.get("req-4").await.unwrap().unwrap(), r4);

    // dispatcher heartbeats: the newest of any replica
    assert_eq!(store.latest_beat().await.unwrap(), None, "no beat yet");
    let t0 = Utc::now() - chrono::Duration::seconds(60);
    let t1 = Utc::now();
    store.beat("replica-a", t0).await.unwrap();
    store.beat("replica-b", t1).await.unwrap();
    store
        .beat("replica-a", t0 + chrono::Duration::seconds(1))
        .await
        .unwrap();
    let latest = store.latest_beat().await.unwrap().unwrap();
    assert_eq!(latest.timestamp_millis(), t1.timestamp_millis());

    // claims race through compare-and-swap: one dispatcher wins a request
    let gate = crate::Gate::builder()
        .policy(crate::Policy::from_toml_str("[policy]").unwrap())
        .store_arc(Arc::clone(&store))
        .build()
        .unwrap();
    store.create(request("req-5", "act-5")).await.unwrap();
    let mut claims = Vec::new();
    for i in 0..6 {
        let gate = gate.clone();
        claims.push(tokio::spawn(async move {
            gate.claim_dispatch("req-5", &format!("replica-{i}"), Duration::from_secs(30))
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for c in claims {
        won += usize::from(c.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one dispatcher claims a request");
    let holder = store.get("req-5").await.unwrap().unwrap().claim.unwrap().by;
    // an expired lease is taken over; a finished one never is
    assert!(
        !gate
            .claim_dispatch("req-5", "late", Duration::from_secs(30))
            .await
            .unwrap()
    );
    let mut r5 = store.get("req-5").await.unwrap().unwrap();
    r5.claim = Some(crate::approval::Claim {
        by: holder,
        until: Utc::now() - chrono::Duration::seconds(1),
        done: false,
    });
    r5.version += 1;
    assert!(store.update(&r5).await.unwrap());
    assert!(
        gate.claim_dispatch("req-5", "late", Duration::from_secs(30))
            .await
            .unwrap()
    );
    gate.finish_dispatch("req-5", "late").await.unwrap();
    assert!(
        !gate
            .claim_dispatch("req-5", "other", Duration::from_secs(0))
            .await
            .unwrap()
    );

    // escalation marks and reminders are kept with the request
    let mut r5 = store.get("req-5").await.unwrap().unwrap();
    r5.escalated.push("sre".into());
    r5.reminded_at = Some(Utc::now());
    r5.version += 1;
    assert!(store.update(&r5).await.unwrap());
    assert_eq!(store.get("req-5").await.unwrap().unwrap(), r5);

    grant_conformance(store.as_ref()).await;
}

fn grant(id: &str, key: &str) -> crate::grant::Grant {
    let now = Utc::now();
    let mut scope = serde_json::Map::new();
    scope.insert("action".into(), json!("db.export"));
    scope.insert("resource".into(), serde_json::Value::Null);
    crate::grant::Grant {
        id: id.to_owned(),
        rule: "r".to_owned(),
        binding: "blake3:b".to_owned(),
        key: key.to_owned(),
        scope,
        approvers: vec!["user:carol@example.com".to_owned()],
        request_id: "req-1".to_owned(),
        policy_digest: "blake3:p".to_owned(),
        created_at: now,
        expires_at: now + chrono::Duration::minutes(30),
        revoked: None,
    }
}

/// The grant part of the store contract (DESIGN §13): grants read back
/// equal, are found by key, listed oldest first, and a revoke is seen by
/// the next read (no cache) and kept once made.
async fn grant_conformance(store: &dyn ApprovalStore) {
    assert!(
        store.list_grants().await.unwrap().is_empty(),
        "no grant yet"
    );
    assert!(store.grants_by_key("k1").await.unwrap().is_empty());
    let g1 = grant("grant-1", "k1");
    let g2 = grant("grant-2", "k2");
    let g3 = grant("grant-3", "k1");
    store.put_grant(&g1).await.unwrap();
    store.put_grant(&g2).await.unwrap();
    store.put_grant(&g3).await.unwrap();
    assert!(
        store.put_grant(&g1).await.is_err(),
        "a grant id is stored once"
    );
    let mut by_key: Vec<String> = store
        .grants_by_key("k1")
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id)
        .collect();
    by_key.sort();
    assert_eq!(by_key, ["grant-1", "grant-3"]);
    let listed = store.list_grants().await.unwrap();
    assert_eq!(
        listed.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        ["grant-1", "grant-2", "grant-3"],
        "listed oldest first"
    );
    assert_eq!(listed[1], g2, "a grant reads back equal");

    let first = crate::grant::Revocation {
        by: "user:alice@example.com".into(),
        at: Utc::now(),
        reason: Some("done".into()),
    };
    let revoked = store
        .revoke_grant("grant-1", first.clone())
        .await
        .unwrap()
        .expect("a stored grant can be revoked");
    assert_eq!(revoked.revoked.as_ref(), Some(&first));
    let seen = store.grants_by_key("k1").await.unwrap();
    let g = seen.iter().find(|g| g.id == "grant-1").unwrap();
    assert_eq!(
        g.revoked.as_ref(),
        Some(&first),
        "the next read sees the revoke"
    );
    // a second revoke keeps the first
    let again = store
        .revoke_grant(
            "grant-1",
            crate::grant::Revocation {
                by: "user:bob@example.com".into(),
                at: Utc::now(),
                reason: None,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked.as_ref(), Some(&first));
    assert!(
        store
            .revoke_grant("nope", first.clone())
            .await
            .unwrap()
            .is_none(),
        "revoking an unknown grant finds nothing"
    );
    let other = store.grants_by_key("k1").await.unwrap();
    assert!(
        other
            .iter()
            .find(|g| g.id == "grant-3")
            .unwrap()
            .revoked
            .is_none(),
        "a revoke touches only its grant"
    );
}

/// Runs the [`AuditSink`] contract: `make` opens the sink at a location and
/// `reopen` opens the same location again (a restart); `lines` reads back
/// what was stored, one canonical line per record.
pub async fn audit_sink_conformance<S, F, G, L>(make: F, reopen: G, lines: L)
where
    S: AuditSink + 'static,
    F: Fn() -> S,
    G: Fn() -> S,
    L: Fn() -> Vec<String>,
{
    let sink: Arc<dyn AuditSink> = Arc::new(make());
    let head = sink.head().await.unwrap();
    assert_eq!(head.seq, 0, "a new sink is empty");
    let log = AuditLog::new(vec![Arc::clone(&sink)], Some("conformance".into()), None);
    for i in 0..10 {
        let mut r = AuditRecord::new(Event::PolicyDecided);
        r.action = Some(format!("tool{i}"));
        r.args = Some(json!({"i": i, "text": "ünïcode \"quoted\"\n"}));
        log.append(vec![r]).await.unwrap();
    }
    // concurrent appends keep one order
    let mut tasks = Vec::new();
    for i in 0..50 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = AuditRecord::new(Event::ActionCompleted);
            r.action = Some(format!("c{i}"));
            log.append(vec![r]).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stored = lines();
    assert_eq!(stored.len(), 60, "every acknowledged record is stored");
    let text = stored.iter().map(|l| format!("{l}\n")).collect::<String>();
    let report = crate::audit::verify_reader(text.as_bytes(), None, None).unwrap();
    assert_eq!(report.records, 60);
    drop(log);
    drop(sink);

    // a reopened sink continues the same chain
    let sink: Arc<dyn AuditSink> = Arc::new(reopen());
    let head = sink.head().await.unwrap();
    assert_eq!(head.seq, 60, "reopening continues at the last seq");
    let log = AuditLog::new(vec![sink], None, None);
    log.append(vec![AuditRecord::new(Event::ActionAbandoned)])
        .await
        .unwrap();
    let stored = lines();
    assert_eq!(stored.len(), 61);
    let text = stored.iter().map(|l| format!("{l}\n")).collect::<String>();
    let report = crate::audit::verify_reader(text.as_bytes(), None, None).unwrap();
    assert_eq!(report.streams.get("conformance").map(|s| s.0), Some(61));
}
