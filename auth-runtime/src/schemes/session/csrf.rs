//! CSRF protection as Django's (`CSRF_USE_SESSIONS = False`): the masked secret of the
//! `csrftoken` cookie, the double-submit token check, and the origin checks.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::config::config;
use crate::error::AuthError;
use crate::state::Auth;

/// The form field that carries the CSRF token in HTML forms.
pub const CSRF_FORM_FIELD: &str = "csrfmiddlewaretoken";

/// A CSRF failure: 403 `csrf_failed` with Django's sentence for the check that failed.
pub fn csrf_failed(reason: &str) -> AuthError {
    AuthError::PermissionDenied {
        detail: format!("CSRF Failed: {reason}").into(),
        code: "csrf_failed",
        challenges: Vec::new(),
    }
}

/// Masks `secret` with a fresh random mask: base64url(mask || secret XOR mask).
pub fn mask(secret: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    rand::rng().fill_bytes(&mut out[..32]);
    for i in 0..32 {
        out[32 + i] = secret[i] ^ out[i];
    }
    B64.encode(out)
}

/// Unmasks a token made by [`mask`]; `None` when it is not one.
pub fn unmask(token: &str) -> Option<[u8; 32]> {
    let token = token.trim();
    if token.len() != 86 {
        return None;
    }
    let bytes = B64.decode(token).ok()?;
    let mut secret = [0u8; 32];
    for i in 0..32 {
        secret[i] = bytes[i] ^ bytes[32 + i];
    }
    Some(secret)
}

/// The value of the request's cookie `name`, parsed from the `Cookie` headers without
/// allocating for the others (a malformed header counts as no cookie).
pub(crate) fn cookie_value<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// The CSRF secret the browser holds: the unmasked value of the `csrftoken` cookie (Django's
/// `CSRF_USE_SESSIONS = False`: no server-side state for it).
fn cookie_secret(req: &HttpRequest, auth: &Auth) -> Option<[u8; 32]> {
    unmask(cookie_value(req, &config(auth).csrf_cookie_name)?)
}

pub(crate) fn new_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// A freshly masked CSRF token of the browser's CSRF secret (a new secret when its
/// `csrftoken` cookie holds none), and the `csrftoken` cookie carrying it. Creates no
/// server-side state.
pub fn csrf_token(req: &HttpRequest, auth: &Auth) -> (String, Cookie<'static>) {
    let secret = cookie_secret(req, auth).unwrap_or_else(new_secret);
    let token = mask(&secret);
    (token.clone(), csrf_cookie(auth, token))
}

pub(crate) fn csrf_cookie(auth: &Auth, token: String) -> Cookie<'static> {
    let cfg = config(auth);
    Cookie::build(cfg.csrf_cookie_name.clone(), token)
        .path("/")
        .same_site(SameSite::Lax)
        .secure(cfg.cookie_secure)
        .http_only(false)
        // A year, as Django's CSRF_COOKIE_AGE: the secret outlives sessions.
        .max_age(actix_web::cookie::time::Duration::seconds(31_449_600))
        .finish()
}

/// Checks the request's origin as Django does: `Sec-Fetch-Site: cross-site` is refused; a
/// present `Origin` must be the app's own or trusted; on HTTPS without `Origin`, the
/// `Referer` must be.
fn check_origin(req: &HttpRequest, auth: &Auth) -> Result<(), AuthError> {
    let headers = req.headers();
    let get = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    if get(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return Err(csrf_failed("Cross-site request refused (Sec-Fetch-Site)."));
    }
    let cfg = config(auth);
    // The trusted origin (configured, or an allowed Host; forwarded headers only from
    // trusted proxies): a host outside the allowed list passes no origin check.
    let own = crate::hosts::own_origin(req, auth)
        .map_err(|_| csrf_failed("Origin checking failed - the request's host is not allowed."))?;
    let allowed = |origin: &str| origin == own || cfg.trusted_origins.iter().any(|t| t == origin);
    if let Some(origin) = get(header::ORIGIN) {
        if !allowed(origin) {
            return Err(csrf_failed("Origin checking failed - the origin does not match any trusted origins."));
        }
        return Ok(());
    }
    if own.starts_with("https://") {
        let Some(referer) = get(header::REFERER) else {
            return Err(csrf_failed("Referer checking failed - no Referer."));
        };
        let origin = referer_origin(referer);
        if !origin.is_some_and(|o| allowed(&o)) {
            return Err(csrf_failed("Referer checking failed - the Referer does not match any trusted origins."));
        }
    }
    Ok(())
}

/// `scheme://host[:port]` of a URL.
fn referer_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// The CSRF check of unsafe requests: origin checks, then the token (from the header, else
/// `form_token`) against the secret of the `csrftoken` cookie, in constant time (Django's
/// double submit: a page of another site can neither read that cookie nor set the header).
///
/// # Errors
/// 403 `csrf_failed` saying which check failed (missing, incorrect, no cookie, bad origin).
pub fn check_csrf(req: &HttpRequest, auth: &Auth, form_token: Option<&str>) -> Result<(), AuthError> {
    check_origin(req, auth)?;
    let cfg = config(auth);
    let header = req.headers().get(cfg.csrf_header_name.as_str()).map(|v| v.to_str().unwrap_or(""));
    let Some(token) = header.or(form_token).filter(|t| !t.is_empty()) else {
        return Err(csrf_failed("CSRF token missing."));
    };
    let Some(secret) = cookie_secret(req, auth) else {
        return Err(csrf_failed("CSRF cookie not set."));
    };
    match unmask(token) {
        Some(given) if bool::from(given.ct_eq(&secret)) => Ok(()),
        _ => Err(csrf_failed("CSRF token incorrect.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_round_trip_and_freshness() {
        let secret = [7u8; 32];
        let a = mask(&secret);
        let b = mask(&secret);
        assert_ne!(a, b, "masked afresh each time");
        assert_eq!(unmask(&a), Some(secret));
        assert_eq!(unmask(&b), Some(secret));
        assert_eq!(unmask("short"), None);
        assert_eq!(unmask(&"A".repeat(86)).map(|s| s == secret), Some(false));
    }

    #[test]
    fn referer_origins() {
        assert_eq!(referer_origin("https://a.example:8443/x?y#z").as_deref(), Some("https://a.example:8443"));
        assert_eq!(referer_origin("nonsense"), None);
        assert_eq!(referer_origin("https:///path"), None);
    }
}
