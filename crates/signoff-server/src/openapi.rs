//! The OpenAPI 3.1 document of the REST API, served at `/v1/openapi.json`.
//! The server tests check real responses against its schemas.

use serde_json::{Value, json};

/// The document.
pub fn document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let err = |description: &str| json!({"description": description, "content": {"application/json": {"schema": error}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "signoff approval API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Approval requests of a signoff gate, and votes on them. Every vote goes through the gate's vote rules."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "reason": {"type": "string", "description": "why a vote was rejected: self_approval, not_eligible, stale_args, resolved, ..."}
                    }
                },
                "Requirement": {
                    "type": "object",
                    "required": ["group", "min"],
                    "properties": {"group": {"type": "string"}, "min": {"type": "integer", "minimum": 1}, "rule": {"type": "string"}}
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
                        "args": {"type": "object", "description": "redacted paths hold `redacted:blake3:<hex>`"},
                        "justification": {"type": ["string", "null"]},
                        "context": {"type": "object"},
                        "args_digest": {"type": "string"},
                        "rules": {"type": "array", "items": {"type": "string"}},
                        "reason": {"type": "string"},
                        "risk": {"type": ["string", "null"], "enum": ["low", "medium", "high", "critical", null]},
                        "requirements": {"type": "array", "items": {"$ref": "#/components/schemas/Requirement"}},
                        "allow_edit": {"type": "boolean"},
                        "status": {"type": "string", "enum": ["pending", "approved", "denied", "expired", "cancelled", "completed"]},
                        "votes": {"type": "array", "items": {"$ref": "#/components/schemas/VoteSummary"}},
                        "created_at": {"type": "string", "format": "date-time"},
                        "expires_at": {"type": "string", "format": "date-time"}
                    }
                },
                "VoteBody": {
                    "type": "object",
                    "required": ["verdict"],
                    "additionalProperties": false,
                    "properties": {
                        "verdict": {"type": "string", "enum": ["approve", "deny"]},
                        "comment": {"type": "string"},
                        "args": {"type": "object", "description": "edited args, where the rule allows edits"},
                        "args_digest": {"type": "string", "description": "the digest of the args the reviewer saw"}
                    }
                },
                "VoteResult": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string", "enum": ["pending", "approved", "denied", "expired", "cancelled", "completed"]}}
                }
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/requests": {
                "get": {
                    "summary": "List approval requests",
                    "parameters": [{"name": "status", "in": "query", "required": false, "schema": {"type": "string", "enum": ["pending", "approved", "denied", "expired", "cancelled", "completed"]}}],
                    "responses": {
                        "200": {"description": "the requests, oldest first", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/ApprovalRequest"}}}}},
                        "400": err("unknown status"),
                        "401": err("missing or unknown credentials")
                    }
                }
            },
            "/v1/requests/{id}": {
                "get": {
                    "summary": "One approval request",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "the request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApprovalRequest"}}}},
                        "401": err("missing or unknown credentials"),
                        "404": err("no such request")
                    }
                }
            },
            "/v1/requests/{id}/votes": {
                "post": {
                    "summary": "Vote on a request, as the authenticated reviewer",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VoteBody"}}}},
                    "responses": {
                        "200": {"description": "counted (or an identical repeat)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VoteResult"}}}},
                        "400": err("malformed body or edit"),
                        "401": err("missing or unknown credentials"),
                        "403": err("the reviewer may not vote: self-approval, not in a required group, not a user"),
                        "404": err("no such request"),
                        "409": err("stale args digest, or the request is already resolved"),
                        "413": {"description": "body too large"},
                        "503": err("the store or audit trail is unavailable (fail closed)")
                    }
                }
            },
            "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {"200": {"description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}}
        }
    })
}
