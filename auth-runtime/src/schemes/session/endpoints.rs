//! Session endpoints: `GET /api/auth/csrf`, `POST /api/auth/login`, `POST /api/auth/logout`
//! (JSON), and the HTML login form at `GET`/`POST /accounts/login` (Django's `LoginView`).
//! [`crate::mount::app`] mounts them under the settings' `endpoints` prefixes.
//!
//! Login needs the CSRF token (login CSRF, as Django's login view); the session id and the
//! CSRF token both change at login.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};

use super::config::SessionConfig;
use super::csrf::{self, CSRF_FORM_FIELD};
use super::login::{self, LoginCookies};
use crate::endpoints::{LoginRequest, mounts};
use crate::error::AuthError;
use crate::http::{JsonOrForm, escape_html, not_allowed};
use crate::login::{check_password, confirm_login};
use crate::principal::Principal;
use crate::state::Auth;

/// Registers, relative to the enclosing scope (the settings' `endpoints.api`,
/// `/api/auth` by default): `GET /csrf`, `POST /login`, `POST /logout`, each 405 for other
/// methods. The HTML login form is [`login_page_routes`].
pub fn session_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/csrf").get(csrf).default_service(not_allowed("GET")))
        .service(web::resource("/login").post(login).default_service(not_allowed("POST")))
        .service(web::resource("/logout").post(logout).default_service(not_allowed("POST")));
}

/// Registers the HTML login form (Django's `LoginView`) at the enclosing scope's own path
/// (the settings' `endpoints.login_page`, `/accounts/login` by default): `GET` the form,
/// `POST` it; 405 for other methods.
pub fn login_page_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("").get(login_page).post(login_form).default_service(not_allowed("GET, POST")));
}

/// `GET /api/auth/csrf` -> 200 `{"csrf_token"}` and the `csrftoken` cookie (a freshly masked
/// token of the browser's CSRF secret, a new one if its cookie holds none). No session is
/// created.
pub async fn csrf(req: HttpRequest, auth: Auth) -> HttpResponse {
    let (token, cookie) = csrf::csrf_token(&req, &auth);
    HttpResponse::Ok()
        .cookie(cookie)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "csrf_token": token }))
}

/// A login body: the credentials and, for HTML forms, `next` (the CSRF field is read first).
#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

/// Checks CSRF, then reads the body: with an `X-CSRFToken` header the header decides before
/// the body is read; without it only a form body (with `csrfmiddlewaretoken`) can pass.
async fn csrf_then_body(req: &HttpRequest, auth: &Auth, payload: &mut Payload) -> Result<LoginForm, AuthError> {
    let header = auth.config::<SessionConfig>().map_or("X-CSRFToken".into(), |c| c.csrf_header_name.clone());
    let has_header = req.headers().contains_key(header.as_str());
    let is_form = req.content_type().eq_ignore_ascii_case("application/x-www-form-urlencoded");
    if has_header || !is_form {
        csrf::check_csrf(req, auth, None)?;
        return Ok(JsonOrForm::<LoginForm>::from_request(req, payload).await?.0);
    }
    // Read the form loosely first, so that a missing CSRF field is a 403 whatever else is
    // missing; only then does the body have to be a complete login.
    let fields = JsonOrForm::<std::collections::HashMap<String, String>>::from_request(req, payload).await?.0;
    csrf::check_csrf(req, auth, fields.get(CSRF_FORM_FIELD).map(String::as_str))?;
    let value = serde_json::to_value(fields).map_err(|e| AuthError::InvalidRequest(e.to_string().into()))?;
    serde_json::from_value(value).map_err(|e| AuthError::InvalidRequest(format!("Invalid form body: {e}.").into()))
}

/// `POST /api/auth/login` `{"username", "password"}` with `X-CSRFToken` -> 200
/// `{"username"}`, a fresh `sessionid` and a new `csrftoken`. Bad credentials -> 400
/// `invalid_credentials`; CSRF failure -> 403 `csrf_failed`.
pub async fn login(req: HttpRequest, auth: Auth, payload: web::Payload) -> Result<HttpResponse, AuthError> {
    let form = csrf_then_body(&req, &auth, &mut payload.into_inner()).await?;
    let body = LoginRequest { username: form.username, password: form.password };
    let user =
        check_password(&auth, &req, &body.username, &body.password).await?.ok_or(AuthError::InvalidCredentials)?;
    let cookies = login_confirmed(&req, &auth, &user).await?.ok_or(AuthError::InvalidCredentials)?;
    Ok(HttpResponse::Ok()
        .cookie(cookies.session)
        .cookie(cookies.csrf)
        .json(serde_json::json!({ "username": user.username })))
}

/// Logs `user` in (see [`login::login`]) and confirms afterwards that the password did not
/// change while the login ran; if it did, the user's sessions end again and `None` is
/// returned (answered as a wrong password).
async fn login_confirmed(
    req: &HttpRequest,
    auth: &Auth,
    user: &crate::principal::User,
) -> Result<Option<LoginCookies>, AuthError> {
    let cookies = login::login(req, auth, user).await?;
    if !confirm_login(auth, req, user).await? {
        login::end_user_sessions(auth, user.id).await?;
        return Ok(None);
    }
    Ok(Some(cookies))
}

/// `POST /api/auth/logout` (Session scheme, with CSRF) -> 204; the session is deleted
/// server-side and its cookie removed.
#[crate::authentication(Session)]
#[crate::permission(IsAuthenticated)]
pub async fn logout(req: HttpRequest, auth: Auth, principal: Principal) -> Result<HttpResponse, AuthError> {
    let removal = login::logout(&req, &auth, principal.user.as_ref().map(|u| u.id)).await?;
    Ok(HttpResponse::NoContent().cookie(removal).finish())
}

/// True for a `next` that stays on this site: a path starting with one `/`, without
/// backslashes or control characters (no `//evil.example`, no `/\evil`, no `https:`).
pub fn is_safe_next(next: &str) -> bool {
    next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.chars().any(char::is_control)
}

/// The login page with a freshly masked CSRF token.
fn page(req: &HttpRequest, auth: &Auth, next: &str, error: Option<&str>) -> HttpResponse {
    let (token, cookie) = csrf::csrf_token(req, auth);
    let error = error.map_or(String::new(), |e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape_html(e)));
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Log in</h1>{error}
<form method="post" action="{action}">
<input type="hidden" name="{CSRF_FORM_FIELD}" value="{token}">
<input type="hidden" name="next" value="{next}">
<p><label>Username <input name="username" autocomplete="username" required autofocus></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Log in</button></p>
</form></main></body></html>"#,
        next = escape_html(next),
        action = escape_html(&mounts(auth).login_page_path()),
    );
    HttpResponse::Ok()
        .cookie(cookie)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Content-Security-Policy", "frame-ancestors 'none'"))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// The HTML answer to a throttled login: 429 with `Retry-After` (seconds).
fn throttled_page(wait: u64) -> HttpResponse {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Too many attempts</title></head>\n\
         <body><main><h1>Too many login attempts</h1><p>Try again in {wait} seconds.</p></main></body></html>"
    );
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, wait.to_string()))
        .insert_header(("X-Frame-Options", "DENY"))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// The query of `GET /accounts/login`.
#[derive(Debug, serde::Deserialize)]
pub struct NextQuery {
    /// Where to go after logging in (a same-site path).
    pub next: Option<String>,
}

/// `GET /accounts/login?next=/path`: the HTML login form.
pub async fn login_page(req: HttpRequest, auth: Auth, query: web::Query<NextQuery>) -> HttpResponse {
    let next = query.into_inner().next.filter(|n| is_safe_next(n)).unwrap_or_else(|| "/".into());
    page(&req, &auth, &next, None)
}

/// `POST /accounts/login` (form): 302 to `next` when it is a same-site path, else to `/`;
/// bad credentials -> 200 with the form and an error; CSRF failure -> 403.
pub async fn login_form(req: HttpRequest, auth: Auth, payload: web::Payload) -> Result<HttpResponse, AuthError> {
    let form = csrf_then_body(&req, &auth, &mut payload.into_inner()).await?;
    let next = form.next.filter(|n| is_safe_next(n)).unwrap_or_else(|| "/".into());
    let user = match check_password(&auth, &req, &form.username, &form.password).await {
        Err(AuthError::Throttled { wait }) => return Ok(throttled_page(wait)),
        other => other?,
    };
    let Some(user) = user else {
        return Ok(page(&req, &auth, &next, Some("Please enter a correct username and password.")));
    };
    let Some(cookies) = login_confirmed(&req, &auth, &user).await? else {
        return Ok(page(&req, &auth, &next, Some("Please enter a correct username and password.")));
    };
    Ok(HttpResponse::Found()
        .cookie(cookies.session)
        .cookie(cookies.csrf)
        .insert_header((header::LOCATION, next))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_be_a_same_site_path() {
        for ok in ["/", "/api/books", "/o/authorize?client_id=x&state=y"] {
            assert!(is_safe_next(ok), "{ok}");
        }
        for bad in ["//evil.example", "https://evil.example/", "/\\evil.example", "evil", "", "/\n/evil", "\\\\evil"] {
            assert!(!is_safe_next(bad), "{bad}");
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_html("\"><script>'&"), "&quot;&gt;&lt;script&gt;&#x27;&amp;");
    }
}
