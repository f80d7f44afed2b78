//! HTTP plumbing shared by the endpoints and apps: body extraction with one error shape,
//! and the JSON rendering of every error actix-web itself produces (404, 405, 413, ...).

use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use crate::error::{AuthError, error_response};

/// The default body limit, in bytes (64 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The body limit of [`JsonOrForm`], in bytes, when registered with `app_data`
/// (default [`DEFAULT_BODY_LIMIT`]).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A request body that is JSON (`application/json`) or, for login forms,
/// `application/x-www-form-urlencoded`, decoded into `T`.
///
/// Bodies over the limit of an [`BodyLimit`] in the app data (default
/// [`DEFAULT_BODY_LIMIT`]) are 413 `payload_too_large`; anything that does not decode into `T`
/// (bad JSON, not an object, a missing field, a wrong type) is 400 `invalid_request` naming
/// the problem.
#[derive(Debug, Clone)]
pub struct JsonOrForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonOrForm<T> {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let ct = req.content_type().to_ascii_lowercase();
        let is_form = ct == "application/x-www-form-urlencoded";
        // JSON needs its media type: a `text/plain` body is one that browsers send cross-site
        // without a preflight, so it must not pass for JSON.
        let is_json = ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json"));
        let body = read_body(req, payload, limit);
        Box::pin(async move {
            let bytes = body.await?;
            if !is_form && !is_json {
                return Err(AuthError::InvalidRequest(
                    "Unsupported Content-Type: send application/json or application/x-www-form-urlencoded.".into(),
                ));
            }
            decode(&bytes, is_form).map(JsonOrForm)
        })
    }
}

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub(crate) fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> impl Future<Output = Result<web::Bytes, AuthError>> + use<> {
    use futures_util::StreamExt;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    async move {
        if declared.is_some_and(|n| n > limit) {
            return Err(AuthError::PayloadTooLarge { limit });
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| AuthError::InvalidRequest("The request body could not be read.".into()))?;
            if body.len() + chunk.len() > limit {
                return Err(AuthError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// Decodes a JSON or form body into `T` with a 400 that says what is wrong.
/// JSON bodies must be objects: serde's derived structs would also take an array.
fn decode<T: DeserializeOwned>(bytes: &[u8], is_form: bool) -> Result<T, AuthError> {
    let invalid =
        |kind: &str, e: &dyn std::fmt::Display| AuthError::InvalidRequest(format!("Invalid {kind} body: {e}.").into());
    if is_form {
        return serde_urlencoded::from_bytes(bytes).map_err(|e| invalid("form", &e));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| invalid("JSON", &e))?;
    if !value.is_object() {
        return Err(AuthError::InvalidRequest("Invalid JSON body: expected a JSON object.".into()));
    }
    serde_json::from_value(value).map_err(|e| invalid("JSON", &e))
}

/// A JSON object body (`Content-Type: application/json` or a `+json` type) decoded into `T`:
/// like `web::Json`, but answering with this crate's errors (400 `invalid_request` naming the
/// problem, 413 over the [`BodyLimit`]) and refusing anything that is not a JSON object.
#[derive(Debug, Clone)]
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    /// The decoded value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let ct = req.content_type().to_ascii_lowercase();
        let is_json = ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json"));
        let body = read_body(req, payload, limit);
        Box::pin(async move {
            let bytes = body.await?;
            if !is_json {
                return Err(AuthError::InvalidRequest("Expected a JSON body (Content-Type: application/json).".into()));
            }
            decode(&bytes, false).map(JsonObject)
        })
    }
}

/// A `web::JsonConfig` whose errors are this crate's JSON errors: 413 over `limit` bytes,
/// else 400 `invalid_request`. Register it with `app_data` for handlers that take `web::Json`.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(move |err, _req| {
        use actix_web::error::JsonPayloadError as E;
        let e = match err {
            E::Overflow { .. } | E::OverflowKnownLength { .. } => AuthError::PayloadTooLarge { limit },
            E::ContentType => {
                AuthError::InvalidRequest("Expected a JSON body (Content-Type: application/json).".into())
            }
            E::Deserialize(e) => AuthError::InvalidRequest(format!("Invalid JSON body: {e}.").into()),
            _ => AuthError::InvalidRequest("The JSON body could not be read.".into()),
        };
        e.into()
    })
}

/// A `web::PathConfig` answering an unparsable path segment (e.g. `/books/abc`) with 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| AuthError::NotFound.into())
}

/// A `web::QueryConfig` answering a bad query string with 400 `invalid_request`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| AuthError::InvalidRequest(format!("Invalid query string: {e}.").into()).into())
}

/// Handler for unknown paths: 404 `not_found`. Use as `App::default_service`.
pub async fn not_found() -> Result<HttpResponse, AuthError> {
    Err(AuthError::NotFound)
}

/// A resource's `default_service` answering 405 `method_not_allowed` with the `Allow` header
/// (RFC 9110 section 15.5.6) listing `allow`, e.g. `"GET, POST"`.
pub fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move || async move {
        let mut res = actix_web::ResponseError::error_response(&AuthError::MethodNotAllowed);
        res.headers_mut().insert(actix_web::http::header::ALLOW, HeaderValue::from_static(allow));
        res
    })
}

/// Handler for a known path with another method: 405 `method_not_allowed`. Use as a
/// resource's `default_service`; [`not_allowed`] adds the `Allow` header.
pub async fn method_not_allowed() -> Result<HttpResponse, AuthError> {
    Err(AuthError::MethodNotAllowed)
}

/// The `Content-Security-Policy` of every HTML page the framework renders or the app serves:
/// same-origin scripts and styles only (no inline script), no plugins, no framing.
pub const HTML_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The app's edge, as one middleware (wrap it outermost:
/// `.wrap(actix_web::middleware::from_fn(auth_runtime::http::edge))`). It
/// - serves `HEAD` wherever `GET` is (RFC 9110 section 9.3.2): the request is routed as a
///   `GET`, and actix-web sends the headers without the body;
/// - normalises the path as actix-web's `NormalizePath::trim()` does (`//` merged, a trailing
///   `/` dropped), without a regular expression, and only when there is something to change;
/// - adds `X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin` to every
///   response, and to HTML pages [`HTML_CSP`], `X-Frame-Options: DENY` and
///   `Cross-Origin-Opener-Policy: same-origin`;
/// - refuses a request whose host is not allowed with 400 `invalid_host` before routing
///   (see [`crate::hosts`]; only when the [`crate::Auth`] state is registered).
///
/// # Errors
/// The inner service's.
pub async fn edge(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_web::http::header;
    let host_error =
        req.app_data::<crate::state::Auth>().and_then(|auth| crate::hosts::check_host(req.request(), auth).err());
    let mut res = match host_error {
        Some(e) => req.into_response(actix_web::ResponseError::error_response(&e)).map_into_right_body(),
        None => call_inner(req, next).await?.map_into_left_body(),
    };
    let headers = res.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    let html = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
    if html {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(HTML_CSP));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        );
    }
    Ok(res)
}

/// The routing part of [`edge`]: `HEAD` as `GET`, the path normalised, then the inner service.
async fn call_inner<B: MessageBody>(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    use actix_web::http::Method;
    if req.method() == Method::HEAD {
        // The codec remembered HEAD when it decoded the request: no body goes out.
        req.head_mut().method = Method::GET;
    }
    if let Some(path) = normalized_path(req.path()) {
        let head = req.head_mut();
        let query = head.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        let mut parts = head.uri.clone().into_parts();
        if let Ok(pq) = actix_web::http::uri::PathAndQuery::from_maybe_shared(format!("{path}{query}")) {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = actix_web::http::Uri::from_parts(parts) {
                req.match_info_mut().get_mut().update(&uri);
                req.head_mut().uri = uri;
            }
        }
    }
    next.call(req).await
}

/// `path` with runs of `/` merged and a trailing `/` dropped (the root stays `/`); `None`
/// when it is already in that form.
fn normalized_path(path: &str) -> Option<String> {
    let needs = path.contains("//") || (path.len() > 1 && path.ends_with('/'));
    if !needs {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i == 0 || !segment.is_empty() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(segment);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// Middleware that renders every bare error response (no content type or `text/plain`:
/// actix-web's own 404, 405, 413, extractor errors, ...) as `{"detail", "code"}`, keeping
/// status and headers.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        // Only bare errors are rewritten: no content type, or actix's own `text/plain`. JSON
        // errors and the app's deliberate pages (an HTML 429 login page) stay as they are.
        let content_type = res.response().headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let bare = content_type.is_none_or(|v| v.starts_with("text/plain"));
        if !bare {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let (code, detail) = describe(status);
        let (req, old) = res.into_parts();
        let mut new = error_response(status, code, detail);
        for (name, value) in old.headers() {
            if name != CONTENT_TYPE && name != actix_web::http::header::CONTENT_LENGTH {
                new.headers_mut().append(name.clone(), value.clone());
            }
        }
        new.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, new).map_into_right_body()))
    })
}

/// The code and sentence for a bare status.
fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        404 => ("not_found", "Not found."),
        405 => ("method_not_allowed", "Method not allowed."),
        413 => ("payload_too_large", "Request body is too large."),
        431 => ("request_header_fields_too_large", "Request header fields are too large."),
        401 => ("not_authenticated", "Authentication credentials were not provided."),
        403 => ("permission_denied", "You do not have permission to perform this action."),
        429 => ("throttled", "Request was throttled."),
        503 => ("service_unavailable", "The service is temporarily unavailable."),
        500..=599 => ("server_error", "A server error occurred."),
        _ => ("invalid_request", "The request could not be processed."),
    }
}

/// An empty 204 response.
pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// Escapes text for HTML content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod edge_tests {
    use super::normalized_path;

    #[test]
    fn paths_are_normalised_like_normalize_path_trim() {
        assert_eq!(normalized_path("/api/whoami"), None);
        assert_eq!(normalized_path("/"), None);
        assert_eq!(normalized_path("/api/whoami/").as_deref(), Some("/api/whoami"));
        assert_eq!(normalized_path("//api//whoami//").as_deref(), Some("/api/whoami"));
        assert_eq!(normalized_path("//").as_deref(), Some("/"));
    }
}
