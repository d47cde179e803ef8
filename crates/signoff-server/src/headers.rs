//! What every response gets: security headers (the page cannot be framed,
//! runs only its own script and style, leaks no referrer), and a JSON error
//! body for any refusal that axum answered on its own.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;

/// The page's policy: its own script, style and API, nothing inline, never
/// framed, forms only to itself.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Everything that is not a page (JSON, text, the page's assets) runs nothing.
pub const OTHER_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

fn is(headers: &HeaderMap, essence: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|e| e.trim().eq_ignore_ascii_case(essence))
}

/// Adds the headers and turns a bare error (axum's text or empty body) into
/// the API's JSON error, keeping its status and headers (`Allow`, ...).
pub(crate) async fn harden(response: Response) -> Response {
    let status = response.status();
    let mut response = if status.as_u16() >= 400
        && !is(response.headers(), "application/json")
        && !is(response.headers(), "text/html")
    {
        let (mut parts, _) = response.into_parts();
        let json = ApiError::for_status(status).into_response();
        let (json_parts, body) = json.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        for (name, value) in &json_parts.headers {
            parts.headers.insert(name, value.clone());
        }
        Response::from_parts(parts, Body::new(body))
    } else {
        response
    };
    let html = is(response.headers(), "text/html");
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        if html { PAGE_CSP } else { OTHER_CSP },
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        // approvals, CSRF tokens and votes are nobody's cache entries
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}
