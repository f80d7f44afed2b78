//! The one error type of the crate and its JSON rendering.
//!
//! Every error becomes `{"detail": "<human sentence>", "code": "<snake_case_code>"}` with the
//! status DRF would give, plus the `WWW-Authenticate` challenges of the chain on 401 answers
//! (RFC 9110 section 11.6.1 allows several).

use std::borrow::Cow;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};

/// Every failure the framework can answer with.
///
/// The `Display` text is the `detail` sentence sent to the client; it never contains a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// 401 `not_authenticated`: the request carried no credentials and the permission needs a
    /// principal. Carries the chain's challenges.
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated {
        /// `WWW-Authenticate` values, in chain order.
        challenges: Vec<String>,
    },
    /// 401 `authentication_failed` (or the scheme's own code, e.g. `token_not_valid`): a
    /// scheme found its credentials and rejected them.
    #[error("{detail}")]
    AuthenticationFailed {
        /// What was wrong, for the client.
        detail: Cow<'static, str>,
        /// The `code` field; `authentication_failed` unless a scheme says otherwise.
        code: &'static str,
        /// `WWW-Authenticate` values, filled in by the chain.
        challenges: Vec<String>,
    },
    /// 403 `permission_denied`: authenticated, but the permission says no.
    #[error("{detail}")]
    PermissionDenied {
        /// Why, for the client.
        detail: Cow<'static, str>,
        /// The `code` field; `permission_denied` unless a permission says otherwise.
        code: &'static str,
        /// Extra `WWW-Authenticate` values (e.g. RFC 6750 `insufficient_scope`).
        challenges: Vec<String>,
    },
    /// 400 `invalid_credentials`: a login endpoint got a wrong username or password. The same
    /// answer whether the user exists or not.
    #[error("Unable to log in with provided credentials.")]
    InvalidCredentials,
    /// 400 `invalid_request`: a body or parameter that could not be used.
    #[error("{0}")]
    InvalidRequest(Cow<'static, str>),
    /// 404 `not_found`.
    #[error("Not found.")]
    NotFound,
    /// 405 `method_not_allowed`.
    #[error("Method not allowed.")]
    MethodNotAllowed,
    /// 413 `payload_too_large`: the body exceeded the configured limit (bytes).
    #[error("Request body is too large (the limit is {limit} bytes).")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// 429 `throttled`, with `Retry-After` in seconds.
    #[error("Request was throttled. Expected available in {wait} seconds.")]
    Throttled {
        /// Seconds until a retry may succeed.
        wait: u64,
    },
    /// 503 `service_unavailable`: a store (database) failed. Authentication fails closed: this
    /// is never turned into a 401 or an anonymous request. The cause is logged, not sent.
    #[error("The service is temporarily unavailable.")]
    ServiceUnavailable,
    /// 503 `service_unavailable` with `Retry-After` in seconds: the server sheds load (too
    /// many password hashes waiting, see [`crate::passwords::PasswordConfig::max_waiting`])
    /// and answers at once rather than queueing the request.
    #[error("The server is busy. Try again in {wait} seconds.")]
    Overloaded {
        /// Seconds after which a retry may succeed.
        wait: u64,
    },
    /// 400 `invalid_host`: the request's host (`Host`, or a trusted proxy's
    /// `X-Forwarded-Host`) is not one of the allowed hosts (Django's `DisallowedHost`; see
    /// [`crate::hosts`]). The detail does not echo the host.
    #[error("Invalid Host header: the host is not allowed.")]
    InvalidHost,
    /// 500 `improperly_configured`: a programming error in the application (for example the
    /// [`crate::Auth`] state was not registered). Never caused by what a client sends.
    #[error("The server is not configured correctly.")]
    ImproperlyConfigured(&'static str),
}

impl AuthError {
    /// A 401 `authentication_failed` rejection with the given detail sentence.
    pub fn failed(detail: impl Into<Cow<'static, str>>) -> Self {
        AuthError::AuthenticationFailed { detail: detail.into(), code: "authentication_failed", challenges: Vec::new() }
    }

    /// A 403 `permission_denied` with DRF's default sentence.
    pub fn permission_denied() -> Self {
        AuthError::PermissionDenied {
            detail: Cow::Borrowed("You do not have permission to perform this action."),
            code: "permission_denied",
            challenges: Vec::new(),
        }
    }

    /// The snake_case `code` of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::NotAuthenticated { .. } => "not_authenticated",
            AuthError::AuthenticationFailed { code, .. } => code,
            AuthError::PermissionDenied { code, .. } => code,
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::InvalidRequest(_) => "invalid_request",
            AuthError::NotFound => "not_found",
            AuthError::MethodNotAllowed => "method_not_allowed",
            AuthError::PayloadTooLarge { .. } => "payload_too_large",
            AuthError::Throttled { .. } => "throttled",
            AuthError::ServiceUnavailable | AuthError::Overloaded { .. } => "service_unavailable",
            AuthError::InvalidHost => "invalid_host",
            AuthError::ImproperlyConfigured(_) => "improperly_configured",
        }
    }

    /// The challenges carried by this error (empty for most kinds).
    pub fn challenges(&self) -> &[String] {
        match self {
            AuthError::NotAuthenticated { challenges }
            | AuthError::AuthenticationFailed { challenges, .. }
            | AuthError::PermissionDenied { challenges, .. } => challenges,
            _ => &[],
        }
    }

    /// Replaces the challenges of a 401 (`NotAuthenticated` or `AuthenticationFailed`);
    /// other kinds are returned unchanged.
    pub fn with_challenges(mut self, new: Vec<String>) -> Self {
        match &mut self {
            AuthError::NotAuthenticated { challenges } | AuthError::AuthenticationFailed { challenges, .. } => {
                *challenges = new
            }
            _ => {}
        }
        self
    }

    /// Logs a store fault (the message may name tables, never secrets) and returns 503.
    pub fn store(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "authentication store failed; answering 503");
        AuthError::ServiceUnavailable
    }
}

impl From<sea_orm::DbErr> for AuthError {
    fn from(err: sea_orm::DbErr) -> Self {
        AuthError::store(err)
    }
}

/// Builds the JSON error body `{"detail", "code"}` with the given status. Used by every error
/// this crate answers, including routing and body errors of the example app.
pub fn error_response(status: StatusCode, code: &str, detail: &str) -> HttpResponse {
    json_body(status, &ErrorBody { detail, code })
}

/// The JSON error body, serialised straight from its parts: no intermediate map, and a
/// `detail` that is any `Display` (an [`AuthError`]) is written without a `String` first.
#[derive(serde::Serialize)]
struct ErrorBody<'a, D: std::fmt::Display + ?Sized> {
    #[serde(serialize_with = "display")]
    detail: &'a D,
    code: &'a str,
}

fn display<S: serde::Serializer, D: std::fmt::Display + ?Sized>(value: &&D, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(*value)
}

/// `body` as JSON with `status`, in one buffer of about the right size.
fn json_body(status: StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    let mut buf = Vec::with_capacity(128);
    match serde_json::to_writer(&mut buf, body) {
        Ok(()) => HttpResponse::build(status).insert_header(actix_web::http::header::ContentType::json()).body(buf),
        // Serialising two strings cannot fail; answer the status without a body if it does.
        Err(_) => HttpResponse::build(status).finish(),
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::NotAuthenticated { .. } | AuthError::AuthenticationFailed { .. } => StatusCode::UNAUTHORIZED,
            AuthError::PermissionDenied { .. } => StatusCode::FORBIDDEN,
            AuthError::InvalidCredentials | AuthError::InvalidRequest(_) | AuthError::InvalidHost => {
                StatusCode::BAD_REQUEST
            }
            AuthError::NotFound => StatusCode::NOT_FOUND,
            AuthError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AuthError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AuthError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::ServiceUnavailable | AuthError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::ImproperlyConfigured(what) => {
                tracing::error!(what, "improperly configured");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = json_body(self.status_code(), &ErrorBody { detail: self, code: self.code() });
        let headers = resp.headers_mut();
        for challenge in self.challenges() {
            if let Ok(value) = header::HeaderValue::from_str(challenge) {
                headers.append(header::WWW_AUTHENTICATE, value);
            }
        }
        if let AuthError::Throttled { wait } | AuthError::Overloaded { wait } = self {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from(*wait));
        }
        if matches!(self.status_code(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        }
        resp
    }
}

/// Why setting up failed ([`crate::AuthBuilder::build`], [`crate::AuthBuilder::start`]): a
/// misconfiguration or an unreachable store, found at start-up rather than at the first
/// request.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Settings made twice on the builder, which would silently override each other.
    #[error("conflicting settings: {0}")]
    Conflict(String),
    /// The JWT settings are invalid (e.g. an asymmetric algorithm without keys).
    #[error("JWT settings: {0}")]
    Jwt(String),
    /// The session store (Redis, when configured) could not be reached.
    #[error("session store: {0}")]
    Sessions(String),
    /// The revocation bus (Redis pub/sub or PostgreSQL LISTEN) could not be started.
    #[error("revocation bus: {0}")]
    RevocationBus(String),
}

/// The crate's result type.
pub type Result<T, E = AuthError> = std::result::Result<T, E>;
