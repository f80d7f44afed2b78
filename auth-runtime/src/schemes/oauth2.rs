//! OAuth2 (RFC 6749) on the resource side, and the storage of the authorization server
//! (Django OAuth Toolkit's models): applications (clients), grants, authorization codes,
//! access tokens and refresh tokens. The protocol endpoints are in
//! [`crate::endpoints::oauth2`].
//!
//! `Authorization: Bearer <opaque access token>` (RFC 6750 section 2.1). The token is looked
//! up by its SHA-256 digest; its expiry, its own revocation and its grant's revocation are
//! checked, and for a token issued to a user (authorization code grant), that the user exists
//! and is active, on every request. The principal is the user, or for a client-credentials
//! token the client itself (`Principal::user == None`); [`SchemeData::OAuth2`] carries the
//! client id and the token's scopes. A Bearer value shaped like a JWT is not this scheme's
//! (it belongs to [`crate::schemes::Jwt`]), so `Jwt` and `OAuth2` share one chain in either
//! order. Failures are 401 `authentication_failed` with an RFC 6750 `invalid_token`
//! challenge.
//!
//! Storage: secrets (client secrets, codes, access and refresh tokens) are stored only as
//! hex SHA-256 digests. Every token belongs to a *grant* (one consent, or one
//! client-credentials issuance); revoking the grant (`oauth2_grants.revoked_at`) ends every
//! token issued from it at once, including tokens a concurrent request is still inserting.

use crate::db::Bounded;
use actix_web::HttpRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Query;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::cache::{GenCache, Subject};
use crate::error::AuthError;
use crate::header::{Authorization, Credentials};
use crate::header::{bearer_challenge, is_jwt_shaped};
use crate::principal::{Principal, SchemeData, User};
use crate::scheme::{Outcome, Scheme};
use crate::state::Auth;

/// The OAuth2 scheme (resource side).
#[derive(Debug, Clone, Copy, Default)]
pub struct OAuth2;

/// Configuration of [`OAuth2`] and of the authorization server (lifetimes in seconds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct OAuth2Config {
    /// The `realm` of the Bearer challenge. Default `"api"`.
    pub realm: String,
    /// Access-token lifetime. Default 3600 (one hour).
    pub access_token_lifetime: u64,
    /// Refresh-token lifetime. Default 2592000 (30 days).
    pub refresh_token_lifetime: u64,
    /// Authorization-code lifetime. Default 60 (RFC 6749 section 4.1.2 recommends at most
    /// ten minutes; one minute is plenty for a redirect).
    pub code_lifetime: u64,
    /// The issuer identifier of RFC 8414 (`https://auth.example.com`); `None`: the request's
    /// own origin `scheme://host`. Set from `AUTH_ISSUER` by the example app.
    pub issuer: Option<String>,
    /// Every scope this server knows. Default `["read", "write"]`.
    pub scopes: Vec<String>,
}

impl Default for OAuth2Config {
    fn default() -> Self {
        OAuth2Config {
            realm: "api".into(),
            access_token_lifetime: 3600,
            refresh_token_lifetime: 2_592_000,
            code_lifetime: 60,
            issuer: None,
            scopes: vec!["read".into(), "write".into()],
        }
    }
}

/// The configuration in `auth`, or the default.
pub fn config(auth: &Auth) -> OAuth2Config {
    auth.config::<OAuth2Config>().cloned().unwrap_or_default()
}

/// The grants a client may be registered for. Refresh tokens come with the authorization
/// code grant; the implicit and password grants do not exist here (RFC 9700 section 2.1.2
/// and 2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// RFC 6749 section 4.1, with PKCE (RFC 7636) required.
    AuthorizationCode,
    /// RFC 6749 section 4.4, confidential clients only.
    ClientCredentials,
}

impl GrantType {
    /// The `grant_type` value of RFC 6749.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::ClientCredentials => "client_credentials",
        }
    }
}

/// The `client_type` of a public client (RFC 6749 section 2.1): no secret.
pub const PUBLIC: &str = "public";
/// The `client_type` of a confidential client: authenticates with its secret.
pub const CONFIDENTIAL: &str = "confidential";

/// The tables of the authorization server.
pub mod entity {
    /// `oauth2_applications`: registered clients (RFC 6749 section 2).
    pub mod application {
        use sea_orm::entity::prelude::*;

        /// A client.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "oauth2_applications")]
        pub struct Model {
            /// Primary key.
            #[sea_orm(primary_key)]
            pub id: i64,
            /// The public client identifier (32 hex characters).
            #[sea_orm(unique)]
            pub client_id: String,
            /// Hex SHA-256 of the client secret; `None` for public clients.
            pub client_secret_digest: Option<String>,
            /// `"confidential"` or `"public"`.
            pub client_type: String,
            /// Allowed grant types, space-separated (`authorization_code`, `client_credentials`).
            pub grant_types: String,
            /// Registered redirect URIs, space-separated (a URI holds no space).
            pub redirect_uris: String,
            /// Scopes the client may request, space-separated.
            pub scopes: String,
            /// Display name, shown on the consent page.
            pub name: String,
            /// The user who registered it, if any.
            pub owner_id: Option<i64>,
            /// Registration time (UTC).
            pub created_at: DateTimeUtc,
        }

        /// No relations are declared.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// `oauth2_grants`: one consent (authorization code grant) or one client-credentials
    /// issuance; every code and token links to one, and revoking it ends them all.
    pub mod grant {
        use sea_orm::entity::prelude::*;

        /// A grant.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "oauth2_grants")]
        pub struct Model {
            /// Primary key.
            #[sea_orm(primary_key)]
            pub id: i64,
            /// The client (`oauth2_applications.id`).
            pub application_id: i64,
            /// The resource owner; `None` for client credentials.
            pub user_id: Option<i64>,
            /// `authorization_code` or `client_credentials`.
            pub kind: String,
            /// Granted scopes, space-separated.
            pub scope: String,
            /// Creation time (UTC).
            pub created_at: DateTimeUtc,
            /// When it was revoked; every token of a revoked grant is refused.
            pub revoked_at: Option<DateTimeUtc>,
        }

        /// No relations are declared.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// `oauth2_authorization_codes`: issued codes (RFC 6749 section 4.1.2) with their PKCE
    /// challenge (RFC 7636).
    pub mod code {
        use sea_orm::entity::prelude::*;

        /// An authorization code; only its digest is stored.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "oauth2_authorization_codes")]
        pub struct Model {
            /// Primary key.
            #[sea_orm(primary_key)]
            pub id: i64,
            /// Hex SHA-256 of the code.
            #[sea_orm(unique)]
            pub digest: String,
            /// The client it was issued to.
            pub application_id: i64,
            /// The grant it belongs to.
            pub grant_id: i64,
            /// The user who consented.
            pub user_id: i64,
            /// The redirect URI of the authorization request (the token request must repeat it).
            pub redirect_uri: String,
            /// Granted scopes, space-separated.
            pub scope: String,
            /// The PKCE `code_challenge`.
            pub code_challenge: String,
            /// The PKCE method; always `S256`.
            pub code_challenge_method: String,
            /// Issue time (UTC).
            pub created_at: DateTimeUtc,
            /// Expiry (UTC), issue time plus the code lifetime.
            pub expires_at: DateTimeUtc,
            /// Set once, by a conditional update, when the code is exchanged.
            pub used: bool,
        }

        /// No relations are declared.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// `oauth2_access_tokens`: opaque Bearer tokens.
    pub mod access {
        use sea_orm::entity::prelude::*;

        /// An access token; only its digest is stored.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "oauth2_access_tokens")]
        pub struct Model {
            /// Primary key.
            #[sea_orm(primary_key)]
            pub id: i64,
            /// Hex SHA-256 of the token.
            #[sea_orm(unique)]
            pub digest: String,
            /// The client it was issued to.
            pub application_id: i64,
            /// Its grant.
            pub grant_id: i64,
            /// The user; `None` for client credentials.
            pub user_id: Option<i64>,
            /// Scopes, space-separated.
            pub scope: String,
            /// Issue time (UTC).
            pub created_at: DateTimeUtc,
            /// Expiry (UTC).
            pub expires_at: DateTimeUtc,
            /// When this token alone was revoked (RFC 7009).
            pub revoked_at: Option<DateTimeUtc>,
        }

        /// No relations are declared.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// `oauth2_refresh_tokens`: refresh tokens, rotated on each use.
    pub mod refresh {
        use sea_orm::entity::prelude::*;

        /// A refresh token; only its digest is stored.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "oauth2_refresh_tokens")]
        pub struct Model {
            /// Primary key.
            #[sea_orm(primary_key)]
            pub id: i64,
            /// Hex SHA-256 of the token.
            #[sea_orm(unique)]
            pub digest: String,
            /// The client it was issued to.
            pub application_id: i64,
            /// Its grant.
            pub grant_id: i64,
            /// The user.
            pub user_id: Option<i64>,
            /// Scopes, space-separated.
            pub scope: String,
            /// Issue time (UTC).
            pub created_at: DateTimeUtc,
            /// Expiry (UTC).
            pub expires_at: DateTimeUtc,
            /// Set once, by a conditional update, when it is exchanged for a new pair; a
            /// later use is a replay and revokes the grant.
            pub rotated_at: Option<DateTimeUtc>,
            /// When this token was revoked.
            pub revoked_at: Option<DateTimeUtc>,
        }

        /// No relations are declared.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entity::{access, application, code, grant, refresh};

/// The hex SHA-256 digest of a secret (client secret, code, token), as stored.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The length of codes and tokens: 32 random bytes, base64url without padding.
pub const TOKEN_LENGTH: usize = 43;

/// A new code or token: 32 bytes from the OS CSPRNG, base64url (43 characters, no dots, so
/// never mistaken for a JWT).
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    B64.encode(b)
}

fn new_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// True when `value` could be a code or token of this server (43 base64url characters); other
/// values are refused without a database query.
pub fn is_token_shaped(value: &[u8]) -> bool {
    value.len() == TOKEN_LENGTH && value.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

fn seconds(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX).min(100 * 365 * 86400))
}

/// Splits a space-separated list.
pub fn split(list: &str) -> Vec<String> {
    list.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

// ----------------------------------------------------------------------------------------
// Redirect URIs (RFC 6749 section 3.1.2, RFC 8252 sections 7.1 and 7.3)
// ----------------------------------------------------------------------------------------

/// The longest redirect URI accepted, in bytes.
pub const MAX_REDIRECT_URI: usize = 2000;

/// Checks that `uri` can be a redirect URI: at most 2000 bytes, no whitespace or control
/// characters, an absolute URI that parses (so `http://[::1` and `http://[zz::1]/cb` are
/// refused), no fragment (RFC 6749 section 3.1.2), scheme `https`, `http`, or a private-use
/// scheme with a dot (`com.example.app:/cb`, RFC 8252 section 7.1), and for http(s) a host
/// and no userinfo.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn validate_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.is_empty() || uri.len() > MAX_REDIRECT_URI {
        return Err("redirect_uri must be 1 to 2000 characters long");
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("redirect_uri must not contain whitespace or control characters");
    }
    if uri.contains('#') {
        return Err("redirect_uri must not contain a fragment");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "redirect_uri is not a valid absolute URI")?;
    match parsed.scheme() {
        "https" | "http" => {
            if parsed.host().is_none() {
                return Err("redirect_uri has no host");
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err("redirect_uri must not contain userinfo");
            }
            Ok(())
        }
        s if s.contains('.') && !parsed.cannot_be_a_base() => Ok(()),
        _ => Err("redirect_uri must use https, http, or a private-use scheme such as com.example.app"),
    }
}

/// The loopback host (`127.0.0.1` or `[::1]`) and the rest after the optional port, of an
/// `http://` loopback IP URI; `None` for any other URI.
fn loopback_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = if let Some(p) = authority.strip_prefix("[::1]") {
        ("[::1]", p)
    } else if let Some(p) = authority.strip_prefix("127.0.0.1") {
        ("127.0.0.1", p)
    } else {
        return None;
    };
    // A port is 1 to 65535 in its canonical form: no `:0`, no leading zeros (`:080`).
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|d| {
            d.bytes().all(|b| b.is_ascii_digit())
                && !d.starts_with('0')
                && d.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
        });
    port_ok.then_some((host, tail))
}

/// True when the requested redirect URI matches the registered one: equal as strings, or
/// both loopback IP URIs (`http://127.0.0.1…` or `http://[::1]…`) with the same host, path
/// and query and any port (RFC 8252 section 7.3).
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(requested)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

// ----------------------------------------------------------------------------------------
// Scopes
// ----------------------------------------------------------------------------------------

/// The scopes of a request: `requested` (space-separated, RFC 6749 section 3.3) must be a
/// subset of `allowed`; `None` or empty means all of `allowed`. The result follows the order
/// of `allowed`, without duplicates.
///
/// `None` when a requested scope is not allowed (the caller's `invalid_scope`).
pub fn choose_scopes(requested: Option<&str>, allowed: &[String]) -> Option<Vec<String>> {
    let requested: Vec<&str> = requested.unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect();
    if requested.is_empty() {
        return Some(allowed.to_vec());
    }
    if requested.iter().any(|r| !allowed.iter().any(|a| a == r)) {
        return None;
    }
    Some(allowed.iter().filter(|a| requested.contains(&a.as_str())).cloned().collect())
}

// ----------------------------------------------------------------------------------------
// Applications
// ----------------------------------------------------------------------------------------

/// What registering a client needs.
#[derive(Debug, Clone)]
pub struct NewApplication {
    /// Display name, 1 to 255 characters.
    pub name: String,
    /// The grants it may use (at least one).
    pub grant_types: Vec<GrantType>,
    /// Registered redirect URIs (at least one for the authorization code grant).
    pub redirect_uris: Vec<String>,
    /// A public client (no secret; RFC 6749 section 2.1).
    pub public: bool,
    /// Scopes it may request; empty means every scope of [`OAuth2Config::scopes`].
    pub scopes: Vec<String>,
    /// The registering user, if any.
    pub owner_id: Option<i64>,
}

/// A client just registered: the record and its secret (shown once, never stored).
#[derive(Debug, Clone)]
pub struct CreatedApplication {
    /// The stored record.
    pub record: application::Model,
    /// The client secret (64 hex characters); `None` for a public client.
    pub client_secret: Option<String>,
}

/// Why a client could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum ApplicationError {
    /// The registration is invalid (the message says why).
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("{0}")]
    Auth(#[from] AuthError),
}

/// Registers a client: `client_id` is 32 random hex characters, the secret (confidential
/// clients) 64, stored as its SHA-256 digest only.
///
/// # Errors
/// [`ApplicationError::Invalid`] for a public client with client credentials, an
/// authorization-code client without redirect URI, an invalid redirect URI, an unknown scope,
/// no grant type, or a bad name; a store failure.
pub async fn create_application(auth: &Auth, new: NewApplication) -> Result<CreatedApplication, ApplicationError> {
    let invalid = |m: &str| Err(ApplicationError::Invalid(m.to_owned()));
    let name_len = new.name.chars().count();
    if name_len == 0 || name_len > 255 || new.name.contains('\0') {
        return invalid("the name must be 1 to 255 characters, without NUL");
    }
    if new.grant_types.is_empty() {
        return invalid("at least one grant type is needed");
    }
    if new.public && new.grant_types.contains(&GrantType::ClientCredentials) {
        return invalid("a public client cannot use the client credentials grant (it has no secret)");
    }
    if new.grant_types.contains(&GrantType::AuthorizationCode) && new.redirect_uris.is_empty() {
        return invalid("an authorization-code client needs at least one redirect URI");
    }
    for uri in &new.redirect_uris {
        validate_redirect_uri(uri).map_err(|e| ApplicationError::Invalid(format!("{e}: {uri:?}")))?;
    }
    let known = config(auth).scopes;
    let mut scopes: Vec<String> = new.scopes.iter().flat_map(|s| split(s)).collect();
    if let Some(bad) = scopes.iter().find(|s| !known.contains(s)) {
        return Err(ApplicationError::Invalid(format!("unknown scope {bad:?}; known scopes: {}", known.join(" "))));
    }
    if scopes.is_empty() {
        scopes = known.clone();
    }
    let scopes: Vec<String> = known.iter().filter(|k| scopes.contains(k)).cloned().collect();
    let mut grants: Vec<&str> = Vec::new();
    for g in &new.grant_types {
        if !grants.contains(&g.as_str()) {
            grants.push(g.as_str());
        }
    }
    let client_secret = (!new.public).then(|| new_hex(32));
    let record = application::ActiveModel {
        client_id: Set(new_hex(16)),
        client_secret_digest: Set(client_secret.as_deref().map(digest)),
        client_type: Set(if new.public { PUBLIC } else { CONFIDENTIAL }.to_owned()),
        grant_types: Set(grants.join(" ")),
        redirect_uris: Set(new.redirect_uris.join(" ")),
        scopes: Set(scopes.join(" ")),
        name: Set(new.name),
        owner_id: Set(new.owner_id),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(auth.db())
    .bounded()
    .await
    .map_err(AuthError::from)?;
    Ok(CreatedApplication { record, client_secret })
}

/// The client with this `client_id`. Values that cannot be one (empty, over 100 bytes, with
/// NUL) are unknown without a query.
///
/// # Errors
/// 503 on a store failure.
pub async fn find_application(
    db: &DatabaseConnection,
    client_id: &str,
) -> Result<Option<application::Model>, AuthError> {
    if client_id.is_empty() || client_id.len() > 100 || client_id.contains('\0') {
        return Ok(None);
    }
    Ok(application::Entity::find().filter(application::Column::ClientId.eq(client_id)).one(db).bounded().await?)
}

impl application::Model {
    /// True for a public client.
    pub fn is_public(&self) -> bool {
        self.client_type == PUBLIC
    }

    /// True when the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.split(' ').any(|g| g == grant.as_str())
    }

    /// The registered redirect URIs.
    pub fn redirect_uri_list(&self) -> Vec<String> {
        split(&self.redirect_uris)
    }

    /// The scopes it may request.
    pub fn scope_list(&self) -> Vec<String> {
        split(&self.scopes)
    }

    /// Checks a client secret against the stored digest in constant time (a public client
    /// has none and never matches).
    pub fn secret_matches(&self, secret: &str) -> bool {
        match &self.client_secret_digest {
            Some(stored) => bool::from(digest(secret).as_bytes().ct_eq(stored.as_bytes())),
            None => false,
        }
    }
}

// ----------------------------------------------------------------------------------------
// Grants, codes and tokens
// ----------------------------------------------------------------------------------------

/// Records a new grant of `app` for `user_id` (`None`: client credentials).
///
/// # Errors
/// 503 on a store failure.
pub async fn create_grant(
    db: &DatabaseConnection,
    app: &application::Model,
    user_id: Option<i64>,
    kind: GrantType,
    scope: &[String],
) -> Result<grant::Model, AuthError> {
    Ok(grant::ActiveModel {
        application_id: Set(app.id),
        user_id: Set(user_id),
        kind: Set(kind.as_str().to_owned()),
        scope: Set(scope.join(" ")),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .bounded()
    .await?)
}

/// What an authorization code is issued for.
#[derive(Debug, Clone)]
pub struct CodeRequest<'a> {
    /// The client.
    pub app: &'a application::Model,
    /// The consenting user.
    pub user: &'a User,
    /// The (validated) redirect URI of the request.
    pub redirect_uri: &'a str,
    /// The granted scopes.
    pub scope: &'a [String],
    /// The PKCE S256 challenge.
    pub code_challenge: &'a str,
}

/// Issues an authorization code (a new grant), valid for [`OAuth2Config::code_lifetime`]
/// seconds and usable once. Returns the code; only its digest is stored.
///
/// # Errors
/// 503 on a store failure.
pub async fn issue_code(auth: &Auth, req: CodeRequest<'_>) -> Result<String, AuthError> {
    let grant = create_grant(auth.db(), req.app, Some(req.user.id), GrantType::AuthorizationCode, req.scope).await?;
    let code = new_token();
    let now = Utc::now();
    code::ActiveModel {
        digest: Set(digest(&code)),
        application_id: Set(req.app.id),
        grant_id: Set(grant.id),
        user_id: Set(req.user.id),
        redirect_uri: Set(req.redirect_uri.to_owned()),
        scope: Set(req.scope.join(" ")),
        code_challenge: Set(req.code_challenge.to_owned()),
        code_challenge_method: Set("S256".into()),
        created_at: Set(now),
        expires_at: Set(now + seconds(config(auth).code_lifetime)),
        used: Set(false),
        ..Default::default()
    }
    .insert(auth.db())
    .bounded()
    .await?;
    Ok(code)
}

/// Tokens just issued.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The access token (shown once).
    pub access_token: String,
    /// Its lifetime, in seconds.
    pub expires_in: u64,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<String>,
    /// The access token's scopes.
    pub scope: Vec<String>,
}

/// Issues an access token of `grant` with `scope`, and a refresh token (with
/// `refresh_scope`, the scope later refreshes may ask for) when `refresh_scope` is `Some`.
///
/// # Errors
/// 503 on a store failure.
pub async fn issue_tokens(
    auth: &Auth,
    grant: &grant::Model,
    scope: Vec<String>,
    refresh_scope: Option<&[String]>,
) -> Result<IssuedTokens, AuthError> {
    let cfg = config(auth);
    let now = Utc::now();
    let access_token = new_token();
    access::ActiveModel {
        digest: Set(digest(&access_token)),
        application_id: Set(grant.application_id),
        grant_id: Set(grant.id),
        user_id: Set(grant.user_id),
        scope: Set(scope.join(" ")),
        created_at: Set(now),
        expires_at: Set(now + seconds(cfg.access_token_lifetime)),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(auth.db())
    .bounded()
    .await?;
    let refresh_token = match refresh_scope {
        None => None,
        Some(refresh_scope) => {
            let token = new_token();
            refresh::ActiveModel {
                digest: Set(digest(&token)),
                application_id: Set(grant.application_id),
                grant_id: Set(grant.id),
                user_id: Set(grant.user_id),
                scope: Set(refresh_scope.join(" ")),
                created_at: Set(now),
                expires_at: Set(now + seconds(cfg.refresh_token_lifetime)),
                rotated_at: Set(None),
                revoked_at: Set(None),
                ..Default::default()
            }
            .insert(auth.db())
            .bounded()
            .await?;
            Some(token)
        }
    };
    Ok(IssuedTokens { access_token, expires_in: cfg.access_token_lifetime, refresh_token, scope })
}

/// The grant with this id.
///
/// # Errors
/// 503 on a store failure.
pub async fn find_grant(db: &DatabaseConnection, id: i64) -> Result<Option<grant::Model>, AuthError> {
    Ok(grant::Entity::find_by_id(id).one(db).bounded().await?)
}

/// Revokes a whole grant: every access and refresh token issued from it (now and by requests
/// still in flight) is refused from now on, and its code can no longer be exchanged.
///
/// # Errors
/// 503 on a store failure.
pub async fn revoke_grant(auth: &Auth, grant_id: i64) -> Result<(), AuthError> {
    grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(grant::Column::Id.eq(grant_id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(auth.db())
        .bounded()
        .await?;
    if let Some(g) = find_grant(auth.db(), grant_id).await? {
        auth.revoked(Subject::Client(g.application_id)).await;
    }
    Ok(())
}

/// Revokes one access token (RFC 7009 for an access token).
///
/// # Errors
/// 503 on a store failure.
pub async fn revoke_access_token(auth: &Auth, id: i64) -> Result<(), AuthError> {
    access::Entity::update_many()
        .col_expr(access::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(access::Column::Id.eq(id))
        .filter(access::Column::RevokedAt.is_null())
        .exec(auth.db())
        .bounded()
        .await?;
    if let Some(a) = access::Entity::find_by_id(id).one(auth.db()).bounded().await? {
        auth.revoked(Subject::Client(a.application_id)).await;
    }
    Ok(())
}

/// Revokes every grant of a user (password change): all of their OAuth2 tokens and pending
/// codes stop working.
///
/// # Errors
/// 503 on a store failure.
pub async fn revoke_user_grants(auth: &Auth, user_id: i64) -> Result<(), AuthError> {
    grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(grant::Column::UserId.eq(user_id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(auth.db())
        .bounded()
        .await?;
    auth.revoked(Subject::User(user_id)).await;
    Ok(())
}

/// Deletes every code, token and grant of a user (user deletion), and forgets them as owner
/// of their clients.
///
/// # Errors
/// 503 on a store failure.
pub async fn delete_user_data(auth: &Auth, user_id: i64) -> Result<(), AuthError> {
    revoke_user_grants(auth, user_id).await?;
    let db = auth.db();
    code::Entity::delete_many().filter(code::Column::UserId.eq(user_id)).exec(db).bounded().await?;
    access::Entity::delete_many().filter(access::Column::UserId.eq(user_id)).exec(db).bounded().await?;
    refresh::Entity::delete_many().filter(refresh::Column::UserId.eq(user_id)).exec(db).bounded().await?;
    grant::Entity::delete_many().filter(grant::Column::UserId.eq(user_id)).exec(db).bounded().await?;
    application::Entity::update_many()
        .col_expr(application::Column::OwnerId, Expr::value(Option::<i64>::None))
        .filter(application::Column::OwnerId.eq(user_id))
        .exec(db)
        .bounded()
        .await?;
    Ok(())
}

/// Deletes expired codes, access tokens and refresh tokens, then grants older than an hour
/// that have none left; returns how many rows went (all four kinds). Used codes and rotated
/// refresh tokens stay until they expire, so a replay is still recognised until then.
///
/// # Errors
/// 503 on a store failure.
pub async fn delete_expired(db: &DatabaseConnection) -> Result<u64, AuthError> {
    let now = Utc::now();
    let mut n =
        code::Entity::delete_many().filter(code::Column::ExpiresAt.lt(now)).exec(db).bounded().await?.rows_affected;
    n +=
        access::Entity::delete_many().filter(access::Column::ExpiresAt.lt(now)).exec(db).bounded().await?.rows_affected;
    n += refresh::Entity::delete_many()
        .filter(refresh::Column::ExpiresAt.lt(now))
        .exec(db)
        .bounded()
        .await?
        .rows_affected;
    // A grant is created just before its first code or token: leave young ones alone.
    let old = now - Duration::hours(1);
    n += grant::Entity::delete_many()
        .filter(grant::Column::CreatedAt.lt(old))
        .filter(
            grant::Column::Id
                .not_in_subquery(Query::select().column(code::Column::GrantId).from(code::Entity).to_owned()),
        )
        .filter(
            grant::Column::Id
                .not_in_subquery(Query::select().column(access::Column::GrantId).from(access::Entity).to_owned()),
        )
        .filter(
            grant::Column::Id
                .not_in_subquery(Query::select().column(refresh::Column::GrantId).from(refresh::Entity).to_owned()),
        )
        .exec(db)
        .bounded()
        .await?
        .rows_affected;
    Ok(n)
}

/// The access token with this value, if it exists (revoked or expired ones too).
///
/// # Errors
/// 503 on a store failure.
pub async fn find_access_token(db: &DatabaseConnection, token: &str) -> Result<Option<access::Model>, AuthError> {
    if !is_token_shaped(token.as_bytes()) {
        return Ok(None);
    }
    let wanted = digest(token);
    let found = access::Entity::find().filter(access::Column::Digest.eq(wanted.as_str())).one(db).bounded().await?;
    Ok(found.filter(|r| bool::from(r.digest.as_bytes().ct_eq(wanted.as_bytes()))))
}

/// The refresh token with this value, if it exists (rotated, revoked or expired ones too).
///
/// # Errors
/// 503 on a store failure.
pub async fn find_refresh_token(db: &DatabaseConnection, token: &str) -> Result<Option<refresh::Model>, AuthError> {
    if !is_token_shaped(token.as_bytes()) {
        return Ok(None);
    }
    let wanted = digest(token);
    let found = refresh::Entity::find().filter(refresh::Column::Digest.eq(wanted.as_str())).one(db).bounded().await?;
    Ok(found.filter(|r| bool::from(r.digest.as_bytes().ct_eq(wanted.as_bytes()))))
}

/// The code with this value, if it exists.
///
/// # Errors
/// 503 on a store failure.
pub async fn find_code(db: &DatabaseConnection, value: &str) -> Result<Option<code::Model>, AuthError> {
    if !is_token_shaped(value.as_bytes()) {
        return Ok(None);
    }
    let wanted = digest(value);
    let found = code::Entity::find().filter(code::Column::Digest.eq(wanted.as_str())).one(db).bounded().await?;
    Ok(found.filter(|r| bool::from(r.digest.as_bytes().ct_eq(wanted.as_bytes()))))
}

/// The live owner of a token: `Ok(Some(None))` for a client token (no user), `Ok(Some(user))`
/// for an existing active user, `Ok(None)` when the user is gone or inactive.
///
/// # Errors
/// 503 on a store failure.
pub async fn live_user(auth: &Auth, user_id: Option<i64>) -> Result<Option<Option<User>>, AuthError> {
    let Some(id) = user_id else { return Ok(Some(None)) };
    Ok(match auth.users().by_id(id).await? {
        Some(s) if s.user.is_active => Some(Some(s.user)),
        _ => None,
    })
}

/// An access token that may be used now, with what it stands for.
#[derive(Debug, Clone)]
pub struct ActiveAccess {
    /// The token record.
    pub token: access::Model,
    /// Its client.
    pub app: application::Model,
    /// Its user (`None` for client credentials).
    pub user: Option<User>,
}

/// Checks an access token: it exists, is neither expired nor revoked, its grant is not
/// revoked, its client exists, and its user (if any) exists and is active.
///
/// # Errors
/// `Ok(Err(detail))` for a token that is not valid; `Err` (503) on a store failure.
pub async fn check_access_token(auth: &Auth, token: &str) -> Result<Result<ActiveAccess, &'static str>, AuthError> {
    let Some(record) = find_access_token(auth.db(), token).await? else {
        return Ok(Err("Invalid token."));
    };
    if record.revoked_at.is_some() {
        return Ok(Err("Token has been revoked."));
    }
    if record.expires_at <= Utc::now() {
        return Ok(Err("Token has expired."));
    }
    match find_grant(auth.db(), record.grant_id).await? {
        Some(g) if g.revoked_at.is_none() => {}
        _ => return Ok(Err("Token has been revoked.")),
    }
    let Some(app) = application::Entity::find_by_id(record.application_id).one(auth.db()).bounded().await? else {
        return Ok(Err("Invalid token."));
    };
    let Some(user) = live_user(auth, record.user_id).await? else {
        return Ok(Err("User inactive or deleted."));
    };
    Ok(Ok(ActiveAccess { token: record, app, user }))
}

/// The expiry of a record as seconds since the epoch.
pub fn epoch(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn rejected(detail: &'static str) -> Outcome {
    Outcome::Rejected(AuthError::failed(detail))
}

impl Scheme for OAuth2 {
    const NAME: &'static str = "oauth2";
    type Config = OAuth2Config;

    async fn authenticate(req: &HttpRequest, auth: &Auth) -> Outcome {
        let Some(header) = Authorization::from_request(req).filter(|h| h.is("bearer")) else {
            return Outcome::NoCredentials;
        };
        let token = match header.credentials() {
            // A JWT is the Jwt scheme's; a bare or split `Bearer` is nobody's (as Jwt says).
            Credentials::One(t) if !is_jwt_shaped(t) => t,
            _ => return Outcome::NoCredentials,
        };
        if !is_token_shaped(token) {
            return rejected("Invalid token.");
        }
        let cache = auth.cache().principals();
        let cache_key = GenCache::<Principal>::key(Self::NAME, token);
        if let Some(principal) = cache.get(&cache_key) {
            return Outcome::Authenticated(principal);
        }
        let snapshot = cache.snapshot();
        let token = String::from_utf8_lossy(token);
        match check_access_token(auth, &token).await {
            Ok(Ok(active)) => {
                let user_id = active.user.as_ref().map(|u| u.id);
                let principal = Principal {
                    user: active.user,
                    scheme: Self::NAME,
                    data: SchemeData::OAuth2 {
                        client_id: active.app.client_id,
                        scopes: split(&active.token.scope),
                        token_id: active.token.id,
                    },
                };
                let expires = Some(active.token.expires_at);
                cache.insert(cache_key, snapshot, principal.clone(), user_id, Some(active.app.id), expires);
                Outcome::Authenticated(principal)
            }
            Ok(Err(detail)) => rejected(detail),
            Err(e) => Outcome::Rejected(e),
        }
    }

    fn challenge(auth: &Auth, rejection: Option<&AuthError>) -> Option<String> {
        let realm = auth.config::<OAuth2Config>().map_or("api", |c| c.realm.as_str());
        Some(bearer_challenge("Bearer", realm, rejection))
    }
}

/// The OAuth2 scheme's part in [`crate::lifecycle`]: a password change revokes the user's
/// grants (their tokens and codes), deletion deletes them; expired codes and tokens are
/// flushed (`oauth2`, Django OAuth Toolkit's `cleartokens`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OAuth2Credentials;

impl crate::lifecycle::CredentialStore for OAuth2Credentials {
    fn name(&self) -> &'static str {
        "oauth2"
    }

    fn revoke_user<'a>(
        &'a self,
        auth: &'a Auth,
        user_id: i64,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(revoke_user_grants(auth, user_id))
    }

    fn user_deleted<'a>(
        &'a self,
        auth: &'a Auth,
        user_id: i64,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(delete_user_data(auth, user_id))
    }

    fn delete_expired<'a>(&'a self, auth: &'a Auth) -> futures_util::future::BoxFuture<'a, Result<u64, AuthError>> {
        Box::pin(delete_expired(auth.db()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_validation() {
        for ok in ["https://app.example/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb?x=1", "com.example.app:/cb"] {
            assert_eq!(validate_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://[::1",
            "http://[zz::1]/cb",
            "https://good.example/cb#frag",
            "/relative",
            "javascript:alert(1)",
            "https://user@good.example/cb",
            "https://good.example/c b",
            "https://good.example/\0",
            "",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uri_matching() {
        assert!(redirect_uri_matches("https://good.example/cb", "https://good.example/cb"));
        for bad in [
            "https://evil.example/cb",
            "https://good.example/cb/x",
            "https://good.example@evil.example/cb",
            "https://good.example/cb?x=1",
            "https://good.example:444/cb",
            "http://good.example/cb",
        ] {
            assert!(!redirect_uri_matches("https://good.example/cb", bad), "{bad}");
        }
        assert!(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:5555/cb"));
        assert!(redirect_uri_matches("http://127.0.0.1:1/cb", "http://127.0.0.1:5555/cb"));
        assert!(redirect_uri_matches("http://[::1]/cb", "http://[::1]:5555/cb"));
        assert!(!redirect_uri_matches("http://[::1]/cb", "http://127.0.0.1:5555/cb"));
        assert!(!redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:5555/cb2"));
        assert!(!redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:x/cb"));
        assert!(!redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1.evil.example/cb"));
        assert!(!redirect_uri_matches("http://localhost/cb", "http://localhost:5555/cb"));
        for port in [":0", ":080", ":65536", ":99999", ":", ":-1", ":+80"] {
            assert!(!redirect_uri_matches("http://127.0.0.1/cb", &format!("http://127.0.0.1{port}/cb")), "{port}");
        }
        assert!(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:65535/cb"));
        assert!(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:1/cb"));
    }

    #[test]
    fn scopes() {
        let allowed = vec!["read".to_owned(), "write".to_owned()];
        assert_eq!(choose_scopes(None, &allowed), Some(allowed.clone()));
        assert_eq!(choose_scopes(Some(""), &allowed), Some(allowed.clone()));
        assert_eq!(choose_scopes(Some("write read write"), &allowed), Some(allowed.clone()));
        assert_eq!(choose_scopes(Some("read"), &allowed), Some(vec!["read".to_owned()]));
        assert_eq!(choose_scopes(Some("read admin"), &allowed), None);
    }

    #[test]
    fn token_shape() {
        let t = new_token();
        assert!(is_token_shaped(t.as_bytes()));
        assert!(!is_jwt_shaped(t.as_bytes()));
        assert!(!is_token_shaped(b"short"));
        assert!(!is_token_shaped(&[b'a'; 44]));
    }

    mod properties {
        use std::net::{Ipv4Addr, Ipv6Addr};

        use proptest::prelude::*;

        use super::super::*;

        /// Redirect URIs a client could register (each passes [`validate_redirect_uri`]).
        fn registered() -> impl Strategy<Value = String> {
            let path = "(/[a-z]{1,6}){0,2}/?";
            let query = proptest::option::of("[a-z]{1,3}=[a-z0-9]{0,3}");
            let port = proptest::option::of(1u32..=65535);
            let host = prop::sample::select(vec!["good.example", "app.example:8443", "127.0.0.1", "[::1]"]);
            (prop::sample::select(vec!["https", "http", "com.example.app"]), host, port, path, query).prop_map(
                |(scheme, host, port, path, query)| {
                    let port = port.filter(|_| !host.contains(':')).map(|p| format!(":{p}")).unwrap_or_default();
                    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
                    match scheme {
                        "com.example.app" => format!("com.example.app:/{}{query}", path.trim_start_matches('/')),
                        _ => format!("{scheme}://{host}{port}{path}{query}"),
                    }
                },
            )
        }

        /// One edit an attacker might try on a registered URI.
        #[derive(Debug, Clone)]
        enum Edit {
            /// Replace the authority's port (after the host) by this text.
            Port(String),
            /// Replace the host.
            Host(&'static str),
            /// Put userinfo before the host.
            Userinfo(&'static str),
            /// Insert a character at a position (modulo the length).
            Insert(usize, char),
            /// Delete the character at a position (modulo the length).
            Delete(usize),
            /// Upper-case everything.
            Upper,
            /// Append text.
            Append(&'static str),
        }

        fn edit() -> impl Strategy<Value = Edit> {
            prop_oneof![
                "(|:|:[0-9]{1,6}|:0[0-9]{1,4}|:[+-][0-9]{1,3}|:[0-9]{1,3}[a-z@.]{1,4})".prop_map(Edit::Port),
                prop::sample::select(vec![
                    "127.0.0.1",
                    "[::1]",
                    "localhost",
                    "127.0.0.2",
                    "127.1",
                    "2130706433",
                    "0x7f.0.0.1",
                    "[0:0:0:0:0:0:0:1]",
                    "[::ffff:127.0.0.1]",
                    "127.0.0.1.evil.example",
                    "evil.example",
                    "good.example.evil.example",
                ])
                .prop_map(Edit::Host),
                prop::sample::select(vec!["user@", "127.0.0.1@", "good.example@", "a:b@"]).prop_map(Edit::Userinfo),
                (
                    any::<usize>(),
                    prop::sample::select(vec!['/', '\\', '?', '#', '@', ':', '.', '%', 'a', ' ', '\t', '\0'])
                )
                    .prop_map(|(i, c)| Edit::Insert(i, c)),
                any::<usize>().prop_map(Edit::Delete),
                Just(Edit::Upper),
                prop::sample::select(vec![
                    "/",
                    "/x",
                    "?x=1",
                    "&x=1",
                    "#f",
                    "@evil.example",
                    "/../x",
                    "%2F..",
                    "\\evil.example"
                ])
                .prop_map(Edit::Append),
            ]
        }

        /// The authority of a `scheme://authority...` URI, as a byte range.
        fn authority(uri: &str) -> Option<(usize, usize)> {
            let start = uri.find("://")? + 3;
            let end = uri[start..].find(['/', '?', '#']).map_or(uri.len(), |i| start + i);
            Some((start, end))
        }

        fn apply(uri: &str, edit: &Edit) -> String {
            let char_index = |i: usize| {
                let n = uri.chars().count();
                uri.char_indices().nth(i % (n + 1)).map_or(uri.len(), |(b, _)| b)
            };
            match edit {
                Edit::Port(port) => match authority(uri) {
                    Some((start, end)) => {
                        let auth = &uri[start..end];
                        let host_end = if auth.starts_with('[') {
                            auth.find(']').map_or(auth.len(), |i| i + 1)
                        } else {
                            auth.find(':').unwrap_or(auth.len())
                        };
                        format!("{}{}{port}{}", &uri[..start], &auth[..host_end], &uri[end..])
                    }
                    None => uri.to_owned(),
                },
                Edit::Host(host) => match authority(uri) {
                    Some((start, end)) => {
                        let auth = &uri[start..end];
                        let port = if auth.starts_with('[') {
                            auth.find(']').map_or("", |i| &auth[i + 1..])
                        } else {
                            auth.find(':').map_or("", |i| &auth[i..])
                        };
                        format!("{}{host}{port}{}", &uri[..start], &uri[end..])
                    }
                    None => uri.to_owned(),
                },
                Edit::Userinfo(info) => match authority(uri) {
                    Some((start, _)) => format!("{}{info}{}", &uri[..start], &uri[start..]),
                    None => uri.to_owned(),
                },
                Edit::Insert(i, c) => {
                    let at = char_index(*i);
                    format!("{}{c}{}", &uri[..at], &uri[at..])
                }
                Edit::Delete(i) => {
                    let at = char_index(*i);
                    let mut s = uri.to_owned();
                    if at < s.len() {
                        s.remove(at);
                    }
                    s
                }
                Edit::Upper => uri.to_ascii_uppercase(),
                Edit::Append(tail) => format!("{uri}{tail}"),
            }
        }

        /// The oracle, on the `url` crate's reading of both URIs (what a browser would open):
        /// both `http` on the same loopback IP, same path, query and fragment, no userinfo,
        /// and a requested port that is a real port (1 to 65535).
        fn loopback_port_variant(registered: &str, requested: &str) -> bool {
            let (Ok(a), Ok(b)) = (url::Url::parse(registered), url::Url::parse(requested)) else { return false };
            let loopback = |u: &url::Url| match u.host() {
                Some(url::Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
                Some(url::Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
                _ => false,
            };
            a.scheme() == "http"
                && b.scheme() == "http"
                && loopback(&a)
                && a.host() == b.host()
                && b.username().is_empty()
                && b.password().is_none()
                && a.path() == b.path()
                && a.query() == b.query()
                && a.fragment() == b.fragment()
                && b.port() != Some(0)
        }

        proptest! {
            /// The generator makes only registrable URIs.
            #[test]
            fn generated_registrations_are_valid(uri in registered()) {
                prop_assert_eq!(validate_redirect_uri(&uri), Ok(()), "{}", uri);
            }

            /// Any string: validation and matching answer, never panic; a valid URI is one
            /// the `url` crate parses, short, without fragment or whitespace.
            #[test]
            fn any_string_validates_or_fails(uri in any::<String>(), other in "[ -~]{0,40}") {
                if validate_redirect_uri(&uri).is_ok() {
                    prop_assert!(url::Url::parse(&uri).is_ok() && uri.len() <= MAX_REDIRECT_URI && !uri.contains('#'));
                    prop_assert!(!uri.chars().any(char::is_whitespace));
                }
                let _ = redirect_uri_matches(&uri, &other);
                let _ = redirect_uri_matches(&other, &uri);
                prop_assert!(redirect_uri_matches(&uri, &uri));
            }

            /// The security invariant: for a registered set, a requested URI is accepted only
            /// if it equals a registered one or is its loopback variant differing only in port.
            #[test]
            fn only_registered_or_loopback_port_variants_match(
                set in proptest::collection::vec(registered(), 1..4),
                pick in any::<prop::sample::Index>(),
                edits in proptest::collection::vec(edit(), 0..4),
            ) {
                let base = pick.get(&set);
                let requested = edits.iter().fold(base.clone(), |uri, e| apply(&uri, e));
                for registered in &set {
                    if redirect_uri_matches(registered, &requested) {
                        prop_assert!(
                            *registered == requested || loopback_port_variant(registered, &requested),
                            "{:?} accepted for {:?}", requested, registered
                        );
                    }
                }
            }

            /// Arbitrary requested URIs against a registered set: the same invariant.
            #[test]
            fn arbitrary_requests_match_only_registered(set in proptest::collection::vec(registered(), 1..4), requested in "[ -~]{0,60}") {
                for registered in &set {
                    if redirect_uri_matches(registered, &requested) {
                        prop_assert!(*registered == requested || loopback_port_variant(registered, &requested));
                    }
                }
            }

            /// RFC 8252 section 7.3: a registered loopback URI matches itself on every port 1
            /// to 65535, and on no other.
            #[test]
            fn loopback_uris_match_every_real_port(
                host in prop::sample::select(vec!["127.0.0.1", "[::1]"]),
                registered_port in proptest::option::of(1u32..=65535),
                path in "(/[a-z]{1,5}){0,2}",
                port in 0u32..200_000,
            ) {
                let registered_port = registered_port.map(|p| format!(":{p}")).unwrap_or_default();
                let registered = format!("http://{host}{registered_port}{path}");
                let requested = format!("http://{host}:{port}{path}");
                prop_assert_eq!(redirect_uri_matches(&registered, &requested), (1..=65535).contains(&port));
                let without_port = format!("http://{host}{path}");
                prop_assert!(redirect_uri_matches(&registered, &without_port));
            }

            /// Scopes: a subset of the allowed ones in their order without repeats, `None`
            /// exactly when a requested scope is not allowed, everything when none is asked.
            #[test]
            fn scopes_model(
                requested in proptest::option::of("( {0,2}(read|write|admin|READ|re|openid)){0,5} {0,2}"),
                allowed in prop::sample::subsequence(vec!["read".to_owned(), "write".to_owned(), "openid".to_owned()], 0..=3),
            ) {
                let asked: Vec<&str> = requested.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect();
                let result = choose_scopes(requested.as_deref(), &allowed);
                if asked.iter().any(|a| !allowed.iter().any(|x| x == a)) {
                    prop_assert_eq!(result, None);
                } else if asked.is_empty() {
                    prop_assert_eq!(result, Some(allowed.clone()));
                } else {
                    let expected: Vec<String> = allowed.iter().filter(|a| asked.contains(&a.as_str())).cloned().collect();
                    prop_assert_eq!(result, Some(expected));
                }
            }

            /// A space-separated list splits into its non-empty items, and joining them back
            /// with single spaces round-trips.
            #[test]
            fn lists_round_trip(items in proptest::collection::vec("[!-~]{1,8}", 0..6), list in any::<String>()) {
                prop_assert_eq!(split(&items.join(" ")), items);
                let parts = split(&list);
                prop_assert!(parts.iter().all(|p| !p.is_empty() && !p.contains(' ')));
                prop_assert_eq!(split(&parts.join(" ")), parts);
            }
        }
    }
}
