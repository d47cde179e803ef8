//! Who is calling: bearer tokens, page sessions, or a trusted proxy header.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use crate::config::{ServerConfig, hash_token};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "signoff_session";

/// A logged-in page user.
#[derive(Debug, Clone)]
pub struct Session {
    /// The reviewer.
    pub principal: String,
    /// The form token every POST from the page must carry.
    pub csrf: String,
    expires: Instant,
}

/// Live page sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// A random token, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // no randomness means no sessions: an empty id never matches
    if getrandom::fill(&mut bytes).is_err() {
        return String::new();
    }
    hex::encode(bytes)
}

impl Sessions {
    /// Starts a session; returns its id.
    pub fn start(&self, principal: String, config: &ServerConfig) -> Option<String> {
        let id = random_token();
        let csrf = random_token();
        if id.is_empty() || csrf.is_empty() {
            return None;
        }
        let session = Session {
            principal,
            csrf,
            expires: Instant::now() + config.session_ttl(),
        };
        let mut map = self.map.lock().ok()?;
        map.retain(|_, s| s.expires > Instant::now());
        map.insert(id.clone(), session);
        Some(id)
    }

    /// The session for the request's cookie, if live.
    pub fn get(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let map = self.map.lock().ok()?;
        map.get(&id).filter(|s| s.expires > Instant::now()).cloned()
    }

    /// Ends the request's session.
    pub fn end(&self, headers: &HeaderMap) {
        if let (Some(id), Ok(mut map)) = (cookie(headers, SESSION_COOKIE), self.map.lock()) {
            map.remove(&id);
        }
    }
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The principal of a token, compared in constant time against every hash.
pub fn principal_for_token(config: &ServerConfig, token: &str) -> Option<String> {
    let hash = hash_token(token);
    let mut found = None;
    for entry in &config.tokens {
        if bool::from(entry.token_hash.as_bytes().ct_eq(hash.as_bytes())) {
            found = Some(entry.principal.clone());
        }
    }
    found
}

/// The principal of an `Authorization: Bearer` header.
pub fn bearer(config: &ServerConfig, headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    principal_for_token(config, token)
}

/// The principal a trusted proxy vouches for, if the peer is that proxy.
pub fn proxy_identity(
    config: &ServerConfig,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Option<String> {
    let proxy = config.proxy.as_ref()?;
    let peer: IpAddr = peer?.ip();
    if !proxy.trusted.contains(&peer) {
        return None;
    }
    let value = headers.get(proxy.header.as_str())?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The peer's address, when the server runs with connect info (see
/// [`crate::serve`]); never a rejection, so that a router served without it
/// still answers (and believes no proxy).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// The `{id}` of a path, or `None` when it does not decode (it then names
/// no request). Never a rejection, so that credentials are checked first.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(
            Path::<String>::from_request_parts(parts, state)
                .await
                .ok()
                .map(|Path(id)| id),
        ))
    }
}
