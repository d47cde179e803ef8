#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

pub mod api;
pub mod auth;
mod body;
pub mod config;
pub mod dispatch;
pub mod headers;
mod metrics;
pub mod openapi;
mod refusals;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::map_response;
use axum::routing::{get, post};
use signoff::Gate;
use tokio::net::TcpListener;

pub use config::{ProxyAuth, ServerConfig, TokenEntry, hash_token};
pub use dispatch::{DispatchConfig, Dispatcher};

/// What every handler shares.
pub struct AppState {
    gate: Gate,
    config: ServerConfig,
    sessions: auth::Sessions,
    metrics: metrics::Metrics,
    refusals: refusals::RefusalLimiter,
}

pub(crate) type Shared = Arc<AppState>;

/// The server's routes for `gate`: the API, the page, health and metrics.
/// Serve it with connection info (see [`serve`]); the proxy check and the
/// per-source audit cap need the peer address. Every response carries the
/// [`headers`]; every refusal outside the page is a JSON error.
pub fn router(gate: Gate, config: ServerConfig) -> Router {
    let limit = config.max_body;
    let state = Arc::new(AppState {
        gate,
        config,
        sessions: auth::Sessions::default(),
        metrics: metrics::Metrics::default(),
        refusals: refusals::RefusalLimiter::default(),
    });
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/v1/openapi.json", get(api::openapi))
        .route("/v1/requests", get(api::list))
        .route("/v1/requests/{id}", get(api::get_one))
        .route("/v1/requests/{id}/votes", post(api::vote))
        .route("/v1/grants", get(api::list_grants))
        .route("/v1/grants/{id}", axum::routing::delete(api::revoke_grant))
        .route("/", get(web::index))
        .route("/login", get(web::login_page).post(web::login))
        .route("/logout", post(web::logout))
        .route("/requests/{id}", get(web::detail))
        .route("/requests/{id}/vote", post(web::vote))
        .route("/grants", get(web::grants_page))
        .route("/grants/{id}/revoke", post(web::revoke_grant))
        .route("/assets/signoff.css", get(web::stylesheet))
        .route("/assets/signoff.js", get(web::script))
        .method_not_allowed_fallback(api::no_method)
        .fallback(api::no_route)
        .layer(DefaultBodyLimit::max(limit))
        .layer(map_response(headers::harden))
        .with_state(state)
}

/// Serves the router on `listener` until the task is dropped.
pub async fn serve(gate: Gate, config: ServerConfig, listener: TcpListener) -> std::io::Result<()> {
    serve_router(router(gate, config), listener).await
}

/// Serves `router` (the server's, merged with channel callbacks such as
/// Slack's interactivity endpoint) with the peer addresses it needs.
pub async fn serve_router(router: Router, listener: TcpListener) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
