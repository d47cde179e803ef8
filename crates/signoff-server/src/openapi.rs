//! The OpenAPI 3.1 document of the REST API, served at `/v1/openapi.json`.
//! It names every refusal the server makes, with its error code and (for a
//! rejected vote) its reasons. The server tests check real responses against
//! its schemas, and `scripts/schemathesis` fuzzes the server against it.

use serde_json::{Value, json};

/// Every `error` code the server sends.
pub const ERROR_CODES: [&str; 10] = [
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "unsupported_media_type",
    "vote_rejected",
    "unavailable",
    "error",
];

/// Every `reason` of a rejected vote (the core's codes).
pub const REJECT_REASONS: [&str; 11] = [
    "invalid_voter",
    "not_a_user",
    "self_approval",
    "not_eligible",
    "already_voted",
    "stale_args",
    "resolved",
    "edit_not_allowed",
    "bad_edit",
    "bad_grant",
    "break_glass_refused",
];

const STATUSES: [&str; 7] = [
    "pending",
    "approved",
    "denied",
    "expired",
    "cancelled",
    "issued",
    "completed",
];

/// A refusal: the `Error` schema narrowed to the codes (and vote reasons)
/// this response can carry.
fn refusal(description: &str, codes: &[&str], reasons: &[&str]) -> Value {
    let mut narrow = json!({"properties": {"error": {"enum": codes}}});
    if reasons.is_empty() {
        narrow["not"] = json!({"required": ["reason"]});
    } else {
        narrow["properties"]["reason"] = json!({"enum": reasons});
    }
    let schema = json!({"allOf": [{"$ref": "#/components/schemas/Error"}, narrow]});
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn unauthorized() -> Value {
    let mut r = refusal(
        "missing or unknown credentials (refused votes, and refused reads that presented a credential, are audited)",
        &["unauthorized"],
        &[],
    );
    r["headers"] = json!({"WWW-Authenticate": {
        "description": "`Bearer realm=\"signoff\"`",
        "required": true,
        "schema": {"type": "string"}
    }});
    r
}

fn unavailable() -> Value {
    refusal(
        "the store or audit trail is unavailable (fail closed)",
        &["unavailable"],
        &[],
    )
}

/// The document.
pub fn document() -> Value {
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let vote_fields = json!({
        "comment": {"type": "string", "description": "recorded in the audit trail"},
        "args_digest": {"type": "string", "description": "the digest of the args the reviewer saw; absent: the current args"}
    });
    let mut approve_fields = vote_fields.clone();
    approve_fields["verdict"] = json!({"type": "string", "enum": ["approve"]});
    approve_fields["args"] = json!({
        "type": "object",
        "description": "edited args, where the rule allows edits; re-evaluated by the policy; at most 64 levels deep"
    });
    approve_fields["grant"] = json!({
        "type": "string",
        "pattern": "^[1-9][0-9]{0,5}[smhd]$",
        "description": "a grant length (`30m`, `1h`) up to the request's `max_grant`: later actions the same rules send to approval, in their `grant_scope`, are permitted without new votes for that long (DESIGN §13)"
    });
    approve_fields["break_glass"] = json!({
        "type": "boolean",
        "description": "break-glass: a member of the policy's `break_glass` group resolves the request alone; `comment` is the required reason"
    });
    let duration = json!({"type": "string", "description": "a duration such as `30m`"});
    let mut deny_fields = vote_fields;
    deny_fields["verdict"] = json!({"type": "string", "enum": ["deny"]});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "signoff approval API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Approval requests of a signoff gate, and votes on them. Every vote goes through the gate's vote rules. \
                Every refusal is a JSON `Error`, also 404 for an unknown route and 405 (with `Allow`) for a method a route does not take."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "additionalProperties": false,
                    "properties": {
                        "error": {"type": "string", "enum": ERROR_CODES},
                        "message": {"type": "string"},
                        "reason": {"type": "string", "enum": REJECT_REASONS, "description": "why the gate rejected a vote (with `vote_rejected`)"},
                        "field": {"type": "string", "description": "the body field or query parameter at fault (with `bad_request`)"}
                    }
                },
                "Requirement": {
                    "type": "object",
                    "required": ["group", "min"],
                    "properties": {
                        "group": {"type": "string"}, "min": {"type": "integer", "minimum": 1}, "rule": {"type": "string"},
                        "escalate_after": duration, "escalate_to": {"type": "string"}, "max_grant": duration, "remind_every": duration
                    }
                },
                "Grant": {
                    "type": "object",
                    "required": ["id", "rule", "binding", "key", "scope", "approvers", "request_id", "policy_digest", "created_at", "expires_at", "live"],
                    "properties": {
                        "id": {"type": "string"},
                        "rule": {"type": "string", "description": "the approve rule it stands in for"},
                        "binding": {"type": "string", "description": "digest of the rule's content when granted: an edited rule inherits no grant"},
                        "key": {"type": "string"},
                        "scope": {"type": "object", "description": "the values a covered action must have, by `grant_scope` field"},
                        "approvers": {"type": "array", "items": {"type": "string"}},
                        "request_id": {"type": "string"},
                        "policy_digest": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "expires_at": {"type": "string", "format": "date-time"},
                        "revoked": {
                            "type": "object",
                            "required": ["by", "at"],
                            "properties": {"by": {"type": "string"}, "at": {"type": "string", "format": "date-time"}, "reason": {"type": "string"}}
                        },
                        "live": {"type": "boolean", "description": "whether it covers actions now (not revoked, not expired)"}
                    }
                },
                "VoteSummary": {
                    "type": "object",
                    "required": ["voter", "verdict", "current"],
                    "properties": {
                        "voter": {"type": "string"},
                        "verdict": {"type": "string", "enum": ["approve", "deny"]},
                        "comment": {"type": "string"},
                        "current": {"type": "boolean"}
                    }
                },
                "ApprovalRequest": {
                    "type": "object",
                    "required": ["id", "action_id", "action", "args", "context", "args_digest", "rules", "reason", "requirements", "allow_edit", "status", "votes", "created_at", "expires_at"],
                    "properties": {
                        "id": {"type": "string"},
                        "action_id": {"type": "string"},
                        "action": {"type": "string"},
                        "actor": {"type": ["string", "null"]},
                        "on_behalf_of": {"type": ["string", "null"]},
                        "resource": {"type": ["string", "null"]},
                        "env": {"type": ["string", "null"]},
                        "args": {"type": "object", "description": "redacted paths hold `redacted:<key id>:<hex>`, a keyed digest"},
                        "justification": {"type": ["string", "null"]},
                        "context": {"type": "object"},
                        "args_digest": {"type": "string"},
                        "rules": {"type": "array", "items": {"type": "string"}},
                        "reason": {"type": "string"},
                        "risk": {"type": ["string", "null"], "enum": ["low", "medium", "high", "critical", null]},
                        "requirements": {"type": "array", "items": {"$ref": "#/components/schemas/Requirement"}},
                        "allow_edit": {"type": "boolean"},
                        "max_grant": {"type": "string", "description": "the longest grant an approver may attach; absent: no grants"},
                        "status": {"type": "string", "enum": STATUSES},
                        "votes": {"type": "array", "items": {"$ref": "#/components/schemas/VoteSummary"}},
                        "created_at": {"type": "string", "format": "date-time"},
                        "expires_at": {"type": "string", "format": "date-time"},
                        "resolution": {
                            "type": "object",
                            "description": "how the request ended (absent while pending)",
                            "required": ["status", "by", "reason", "at"],
                            "properties": {
                                "status": {"type": "string", "enum": STATUSES},
                                "by": {"type": "array", "items": {"type": "string"}},
                                "comment": {"type": "string"},
                                "reason": {"type": "string"},
                                "at": {"type": "string", "format": "date-time"}
                            }
                        }
                    }
                },
                "VoteBody": {
                    "description": "a JSON object without repeated keys; an absent field is not sent as `null`. Only an approval may edit the args",
                    "oneOf": [
                        {"type": "object", "required": ["verdict"], "additionalProperties": false, "properties": approve_fields},
                        {"type": "object", "required": ["verdict"], "additionalProperties": false, "properties": deny_fields}
                    ]
                },
                "VoteResult": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string", "enum": STATUSES}}
                }
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/requests": {
                "get": {
                    "summary": "List approval requests",
                    "parameters": [{"name": "status", "in": "query", "required": false, "schema": {"type": "string", "enum": STATUSES}}],
                    "responses": {
                        "200": {"description": "the requests, oldest first", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/ApprovalRequest"}}}}},
                        "400": refusal("an unknown status, `status` given more than once, or another query parameter", &["bad_request"], &[]),
                        "401": unauthorized(),
                        "503": unavailable()
                    }
                }
            },
            "/v1/requests/{id}": {
                "get": {
                    "summary": "One approval request",
                    "parameters": [id],
                    "responses": {
                        "200": {"description": "the request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApprovalRequest"}}}},
                        "401": unauthorized(),
                        "404": refusal("no such request", &["not_found"], &[]),
                        "503": unavailable()
                    }
                }
            },
            "/v1/requests/{id}/votes": {
                "post": {
                    "summary": "Vote on a request, as the authenticated reviewer",
                    "parameters": [id],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VoteBody"}}}},
                    "responses": {
                        "200": {"description": "counted (or an identical repeat)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VoteResult"}}}},
                        "400": refusal(
                            "`bad_request`: the body is not JSON, not an object, repeats a key, has an unknown field, lacks `verdict`, or has a field that is `null` or of the wrong type (`field` names it). \
                             `vote_rejected` with `bad_edit`: a deny that carries args, or edited args nested too deep; with `invalid_voter`: the token's principal is not a valid principal",
                            &["bad_request", "vote_rejected"],
                            &["bad_edit", "invalid_voter"],
                        ),
                        "401": unauthorized(),
                        "403": refusal(
                            "the reviewer may not vote: not a user (`not_a_user`), self-approval (`self_approval`), not in a required group (`not_eligible`), voted differently already (`already_voted`), or edited args where the rule allows no edits (`edit_not_allowed`), \
                             or a break-glass vote without a reason, outside the break-glass group or without one (`break_glass_refused`), \
                             or a grant the request does not allow: on a deny or break-glass vote, on rules without `max_grant`, or longer than `max_grant` (`bad_grant`)",
                            &["vote_rejected"],
                            &["not_a_user", "self_approval", "not_eligible", "already_voted", "edit_not_allowed", "break_glass_refused", "bad_grant"],
                        ),
                        "404": refusal("no such request", &["not_found"], &[]),
                        "409": refusal(
                            "the args changed since the reviewer saw them (`stale_args`), or the request is no longer pending (`resolved`)",
                            &["vote_rejected"],
                            &["stale_args", "resolved"],
                        ),
                        "413": refusal("the body is larger than the server's `max_body`", &["payload_too_large"], &[]),
                        "415": refusal("the body is not declared `application/json`", &["unsupported_media_type"], &[]),
                        "503": unavailable()
                    }
                }
            },
            "/v1/grants": {
                "get": {
                    "summary": "List grants (DESIGN §13), oldest first, revoked and expired ones too",
                    "responses": {
                        "200": {"description": "the grants", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Grant"}}}}},
                        "400": refusal("a query parameter (the list takes none)", &["bad_request"], &[]),
                        "401": unauthorized(),
                        "503": unavailable()
                    }
                }
            },
            "/v1/grants/{id}": {
                "delete": {
                    "summary": "Revoke a grant at once, for every process sharing the store (audited as `grant.revoked`)",
                    "parameters": [id],
                    "responses": {
                        "200": {"description": "the grant, revoked (an earlier revocation is kept)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Grant"}}}},
                        "401": unauthorized(),
                        "404": refusal("no such grant", &["not_found"], &[]),
                        "503": unavailable()
                    }
                }
            },
            "/v1/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {
                "200": {"description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "503": unavailable()
            }}}
        }
    })
}
