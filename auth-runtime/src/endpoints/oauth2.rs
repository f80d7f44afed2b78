//! The authorization endpoint of the OAuth2 server (RFC 6749 section 4.1.1, RFC 7636), and
//! the route table of the server. The authorization endpoint is where the OAuth2 server
//! ([`crate::schemes::oauth2`]) meets the browser's login ([`crate::schemes::session`]: the
//! session's user, its CSRF token): it lives here, above both schemes, so neither scheme
//! imports the other. The server's other endpoints are in
//! [`crate::schemes::oauth2::endpoints`].

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::endpoints::mounts;
use crate::error::AuthError;
use crate::http::{escape_html, not_allowed};
use crate::principal::User;
use crate::schemes::oauth2::endpoints::{OAuthError, Params, introspect, no_store, read_form, revoke, token};
use crate::schemes::oauth2::models::GrantType;
use crate::schemes::oauth2::models::entity::application;
use crate::schemes::oauth2::protocol::{choose_scopes, redirect_uri_matches, validate_redirect_uri};
use crate::schemes::oauth2::store::{self as oauth2, CodeRequest};
use crate::schemes::session::csrf::{self, CSRF_FORM_FIELD};
use crate::schemes::session::session_user;
use crate::state::Auth;

/// Registers, relative to the enclosing scope (the settings' `endpoints.oauth2`, `/o` by
/// default): `GET`/`POST /authorize` ([`authorize`], [`authorize_post`]), `POST /token`
/// ([`token`]), `POST /revoke_token` ([`revoke`]), `POST /introspect` ([`introspect`]); each
/// answers 405 with `Allow` for other methods. The RFC 8414 metadata is
/// [`metadata_routes`](crate::schemes::oauth2::endpoints::metadata_routes), at the app's root.
pub fn oauth2_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/authorize").get(authorize).post(authorize_post).default_service(not_allowed("GET, POST")),
    )
    .service(web::resource("/token").post(token).default_service(not_allowed("POST")))
    .service(web::resource("/revoke_token").post(revoke).default_service(not_allowed("POST")))
    .service(web::resource("/introspect").post(introspect).default_service(not_allowed("POST")));
}

// ----------------------------------------------------------------------------------------
// Authorization endpoint (RFC 6749 section 4.1.1, RFC 7636)
// ----------------------------------------------------------------------------------------

/// The authorization request parameters posted back by the consent form, in this order.
const AUTHORIZE_PARAMS: [&str; 7] =
    ["response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"];

/// A valid authorization request.
struct AuthorizeRequest {
    app: application::Model,
    redirect_uri: String,
    state: Option<String>,
    scope: Vec<String>,
    code_challenge: String,
    /// The parameters to post back (or to put in the login's `next`).
    echo: Vec<(&'static str, String)>,
}

/// Why an authorization request was refused.
enum Refusal {
    /// Before the redirect URI is trusted: 400, never a redirect.
    Direct(OAuthError),
    /// After: a redirect to the client with `error=`.
    Redirect(HttpResponse),
}

impl From<OAuthError> for Refusal {
    fn from(e: OAuthError) -> Self {
        Refusal::Direct(e)
    }
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        Refusal::Direct(e.into())
    }
}

impl Refusal {
    fn into_response(self) -> HttpResponse {
        match self {
            Refusal::Direct(e) => e.error_response(),
            Refusal::Redirect(r) => r,
        }
    }
}

/// A 302 to `uri` with `pairs` added to its query (kept, RFC 6749 section 3.1.2).
fn redirect_with(uri: &str, pairs: &[(&str, &str)]) -> HttpResponse {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let sep = if uri.contains('?') { '&' } else { '?' };
    no_store(HttpResponse::Found()).insert_header((header::LOCATION, format!("{uri}{sep}{query}"))).finish()
}

/// Checks an authorization request. Unknown client, missing, repeated, malformed or
/// unregistered `redirect_uri` are refused directly; the rest redirect with `error=`
/// (RFC 6749 section 4.1.2.1) and the `state`.
async fn validate(auth: &Auth, params: &Params) -> Result<AuthorizeRequest, Refusal> {
    let client_id = params.require("client_id")?;
    let app = oauth2::find_application(auth.db(), client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_request("Unknown client_id."))?;
    let redirect_uri = params.require("redirect_uri")?;
    validate_redirect_uri(redirect_uri).map_err(|e| OAuthError::invalid_request(format!("Invalid {e}.")))?;
    if !app.redirect_uri_list().iter().any(|r| redirect_uri_matches(r, redirect_uri)) {
        return Err(OAuthError::invalid_request("The redirect_uri is not registered for this client.").into());
    }
    // From here on the redirect URI is trusted: errors go back to the client.
    let state = params.get("state").ok().flatten().map(str::to_owned);
    let refuse = |error: &'static str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(s) = &state {
            pairs.push(("state", s));
        }
        Refusal::Redirect(redirect_with(redirect_uri, &pairs))
    };
    let mut echo = Vec::new();
    for name in AUTHORIZE_PARAMS {
        match params.get(name) {
            Ok(Some(v)) => echo.push((name, v.to_owned())),
            Ok(None) => {}
            Err(_) => return Err(refuse("invalid_request", &format!("The {name} parameter is repeated."))),
        }
    }
    let get = |name: &str| echo.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
    match get("response_type") {
        None => return Err(refuse("invalid_request", "The response_type parameter is missing.")),
        Some("code") => {}
        Some(_) => return Err(refuse("unsupported_response_type", "Only response_type=code is supported.")),
    }
    if !app.allows(GrantType::AuthorizationCode) {
        return Err(refuse("unauthorized_client", "The client may not use the authorization code grant."));
    }
    let Some(challenge) = get("code_challenge") else {
        return Err(refuse("invalid_request", "PKCE is required: code_challenge is missing."));
    };
    if get("code_challenge_method") != Some("S256") {
        return Err(refuse("invalid_request", "PKCE code_challenge_method must be S256."));
    }
    if challenge.len() != 43 || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(refuse("invalid_request", "The code_challenge is not a base64url SHA-256 digest."));
    }
    let Some(scope) = choose_scopes(get("scope"), &app.scope_list()) else {
        return Err(refuse("invalid_scope", "The requested scope is not allowed for this client."));
    };
    Ok(AuthorizeRequest {
        redirect_uri: redirect_uri.to_owned(),
        code_challenge: challenge.to_owned(),
        state,
        scope,
        echo,
        app,
    })
}

/// 302 to the login page, coming back to `next` (a same-site path) after login.
fn login_redirect(auth: &Auth, next: &str) -> HttpResponse {
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    let page = mounts(auth).login_page_path();
    no_store(HttpResponse::Found()).insert_header((header::LOCATION, format!("{page}?{query}"))).finish()
}

/// `GET /o/authorize?response_type=code&client_id&redirect_uri&scope&state&code_challenge&code_challenge_method=S256`:
/// a logged-in session user gets the HTML consent page; anonymous -> 302 to
/// `/accounts/login?next=<this path and query>`. Unknown client or a missing, malformed or
/// unregistered `redirect_uri` -> 400 (OAuth JSON body), never a redirect; other errors ->
/// 302 to the redirect URI with `error=` and `state` (RFC 6749 section 4.1.2.1).
pub async fn authorize(req: HttpRequest, auth: Auth) -> HttpResponse {
    let params = match Params::parse(req.query_string().as_bytes()) {
        Ok(p) => p,
        Err(e) => return e.error_response(),
    };
    let request = match validate(&auth, &params).await {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    let user = match session_user(&req, &auth).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            let authorize = mounts(&auth).oauth2_path("authorize");
            let next = req.uri().path_and_query().map_or(authorize.as_str(), |p| p.as_str());
            return login_redirect(&auth, next);
        }
        Err(e) => return OAuthError::from(e).error_response(),
    };
    consent_page(&req, &auth, &request, &user)
}

/// The consent page: who asks for what, the authorize parameters as hidden fields, the CSRF
/// field, and Allow / Deny buttons (`allow=true|false`). Not cacheable, not frameable.
fn consent_page(req: &HttpRequest, auth: &Auth, request: &AuthorizeRequest, user: &User) -> HttpResponse {
    let (csrf, cookie) = csrf::csrf_token(req, auth);
    let hidden: String = request
        .echo
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">\n", escape_html(value)))
        .collect();
    let scopes: String = request.scope.iter().map(|s| format!("<li>{}</li>", escape_html(s))).collect();
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {name}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Authorize {name}?</h1>
<p>Signed in as <strong>{username}</strong>. The application <strong>{name}</strong> asks for these permissions:</p>
<ul>{scopes}</ul>
<p>You will be sent back to {redirect}.</p>
<form method="post" action="{action}">
<input type="hidden" name="{CSRF_FORM_FIELD}" value="{csrf}">
{hidden}<p><button type="submit" name="allow" value="true">Allow</button>
<button type="submit" name="allow" value="false">Deny</button></p>
</form></main></body></html>"#,
        name = escape_html(&request.app.name),
        username = escape_html(&user.username),
        redirect = escape_html(&request.redirect_uri),
        action = escape_html(&mounts(auth).oauth2_path("authorize")),
    );
    HttpResponse::Ok()
        .cookie(cookie)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Content-Security-Policy", "frame-ancestors 'none'"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// `POST /o/authorize` (form: the authorize parameters, `csrfmiddlewaretoken`, `allow`):
/// CSRF is checked first (403 `csrf_failed`), then the session user (none -> 302 to the
/// login page), then the request as for `GET`. `allow=true` -> 302 to
/// `redirect_uri?code=…&state=…` (the code lives [`crate::schemes::oauth2::OAuth2Config::code_lifetime`]
/// seconds); anything else -> 302 with `error=access_denied&state=…`.
pub async fn authorize_post(req: HttpRequest, auth: Auth, payload: web::Payload) -> HttpResponse {
    let result = async {
        let params = read_form(&req, payload).await.map_err(Refusal::Direct)?;
        let form_token = params.get(CSRF_FORM_FIELD).ok().flatten();
        csrf::check_csrf(&req, &auth, form_token)?;
        let Some(user) = session_user(&req, &auth).await? else {
            let mut echo = Vec::new();
            for name in AUTHORIZE_PARAMS {
                if let Ok(Some(v)) = params.get(name) {
                    echo.push((name, v));
                }
            }
            let query = serde_urlencoded::to_string(&echo).unwrap_or_default();
            let authorize = mounts(&auth).oauth2_path("authorize");
            return Ok(login_redirect(&auth, &format!("{authorize}?{query}")));
        };
        let request = validate(&auth, &params).await?;
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        let code;
        if params.get("allow").ok().flatten() == Some("true") {
            code = oauth2::issue_code(
                &auth,
                CodeRequest {
                    app: &request.app,
                    user: &user,
                    redirect_uri: &request.redirect_uri,
                    scope: &request.scope,
                    code_challenge: &request.code_challenge,
                },
            )
            .await?;
            pairs.push(("code", &code));
        } else {
            pairs.push(("error", "access_denied"));
            pairs.push(("error_description", "The user denied the request."));
        }
        if let Some(state) = &request.state {
            pairs.push(("state", state));
        }
        Ok::<_, Refusal>(redirect_with(&request.redirect_uri, &pairs))
    }
    .await;
    result.unwrap_or_else(Refusal::into_response)
}
