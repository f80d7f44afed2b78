//! Who made the request: the [`Principal`], its [`User`] and its [`SchemeData`]. The
//! extractors are [`crate::MaybePrincipal`] and this type.

use std::sync::Arc;

/// A user account as the framework sees it (the columns every scheme needs). Apps that keep
/// their own user table map it to this through [`crate::users::UserStore`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Unique login name.
    pub username: String,
    /// E-mail address, possibly empty.
    pub email: String,
    /// Staff users pass [`crate::permissions::IsAdminUser`] (Django's `is_staff`).
    pub is_staff: bool,
    /// Inactive users are refused by every scheme.
    pub is_active: bool,
    /// Django's `is_superuser`; kept for apps, not used by the built-in permissions.
    pub is_superuser: bool,
    /// The app's own fields of the user (a role, a tenant...), as its [`crate::users::UserStore`]
    /// set them; read them with [`User::fields`]. Empty for the default `users` table.
    #[serde(skip)]
    pub fields: AppFields,
}

impl User {
    /// The app's own fields of this user, if its store set them as a `T`.
    ///
    /// ```
    /// # use auth_runtime::{User, principal::AppFields};
    /// struct Member { role: &'static str }
    /// let user = User { fields: AppFields::new(Member { role: "editor" }), ..User::default() };
    /// assert_eq!(user.fields::<Member>().map(|m| m.role), Some("editor"));
    /// assert!(user.fields::<String>().is_none());
    /// ```
    pub fn fields<T: std::any::Any>(&self) -> Option<&T> {
        self.fields.0.as_deref().and_then(|f| (f as &dyn std::any::Any).downcast_ref())
    }
}

/// The app's own fields of a [`User`]: any value, shared (cloning a user clones a pointer).
/// Two users compare equal whatever their fields.
#[derive(Clone, Default)]
pub struct AppFields(Option<Arc<dyn std::any::Any + Send + Sync>>);

impl AppFields {
    /// Fields holding `value`.
    pub fn new<T: std::any::Any + Send + Sync>(value: T) -> Self {
        AppFields(Some(Arc::new(value)))
    }
}

impl std::fmt::Debug for AppFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "AppFields(..)" } else { "AppFields(none)" })
    }
}

impl PartialEq for AppFields {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for AppFields {}

/// What the authenticating scheme knows about the credentials (DRF's `request.auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemeData {
    /// HTTP Basic: the password was checked; nothing else to keep.
    Basic,
    /// An API token of the Token scheme.
    Token {
        /// Primary key of the token record (what `DELETE /api/auth/token` revokes).
        token_id: i64,
        /// The non-secret first characters of the key, for display.
        prefix: String,
    },
    /// A server-side session of the Session scheme.
    Session,
    /// A JWT access (or sliding) token of the Jwt scheme.
    Jwt {
        /// The token's `jti`.
        jti: String,
        /// Every claim of the token, including the app's extra claims.
        claims: Arc<serde_json::Map<String, serde_json::Value>>,
    },
    /// An opaque OAuth2 access token of the OAuth2 scheme.
    OAuth2 {
        /// The `client_id` of the client the token was issued to.
        client_id: String,
        /// The token's scopes.
        scopes: Vec<String>,
        /// Primary key of the access-token record.
        token_id: i64,
    },
    /// Data of an application-defined scheme.
    Custom(Arc<str>),
}

/// An authenticated request's principal: the user, which scheme authenticated it, and that
/// scheme's data.
///
/// As an extractor it requires authentication: the handler's chain and permission (or the
/// settings' defaults) run first; an anonymous request is answered 401 with the chain's
/// challenges. Use [`MaybePrincipal`](crate::MaybePrincipal) where anonymous requests are allowed.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user; `None` only for principals that are not users (e.g. an OAuth2 client).
    pub user: Option<User>,
    /// The scheme's lower-case name: `basic`, `token`, ...
    pub scheme: &'static str,
    /// The scheme's data about the credentials.
    pub data: SchemeData,
    /// How and when the user proved who they are, as far as the credentials tell.
    pub authentication: Authentication,
}

/// How and when a principal's user proved who they are: OpenID Connect Core's `auth_time`
/// and `amr` (section 2), which an ID token will carry and a step-up check (a second
/// factor) will read.
///
/// The built-in schemes fill it in: Basic with the time of the request and `pwd`; Session
/// with the login's time and `pwd`; Jwt with the token's `auth_time` claim (else its `iat`)
/// and its `amr` claim (else `pwd`); Token and OAuth2 tokens leave the time unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Authentication {
    /// When the user last proved who they are (seconds since the Unix epoch), if known.
    pub at: Option<i64>,
    /// The methods used.
    pub methods: AuthMethods,
}

impl Authentication {
    /// Proved at `at` (Unix seconds) with `methods`.
    pub fn new(at: Option<i64>, methods: AuthMethods) -> Self {
        Authentication { at, methods }
    }
}

/// A set of authentication methods, by their RFC 8176 `amr` values. Copy, no allocation.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AuthMethods(u16);

impl AuthMethods {
    /// None known.
    pub const NONE: AuthMethods = AuthMethods(0);
    /// `pwd`: a password.
    pub const PWD: AuthMethods = AuthMethods(1);
    /// `otp`: a one-time password (TOTP, HOTP).
    pub const OTP: AuthMethods = AuthMethods(1 << 1);
    /// `hwk`: proof of possession of a hardware-secured key (a passkey on a security key).
    pub const HWK: AuthMethods = AuthMethods(1 << 2);
    /// `swk`: proof of possession of a software-secured key.
    pub const SWK: AuthMethods = AuthMethods(1 << 3);
    /// `mfa`: more than one factor.
    pub const MFA: AuthMethods = AuthMethods(1 << 4);
    /// `user`: user presence was tested (a WebAuthn user-presence check).
    pub const USER: AuthMethods = AuthMethods(1 << 5);
    /// `pin`: a personal identification number (a WebAuthn user-verification PIN).
    pub const PIN: AuthMethods = AuthMethods(1 << 6);
    /// `sms`: a code sent by SMS.
    pub const SMS: AuthMethods = AuthMethods(1 << 7);

    const NAMES: [(&'static str, AuthMethods); 8] = [
        ("pwd", Self::PWD),
        ("otp", Self::OTP),
        ("hwk", Self::HWK),
        ("swk", Self::SWK),
        ("mfa", Self::MFA),
        ("user", Self::USER),
        ("pin", Self::PIN),
        ("sms", Self::SMS),
    ];

    /// The method of one `amr` value; `None` for a value this set cannot hold.
    pub fn from_amr(value: &str) -> Option<AuthMethods> {
        Self::NAMES.iter().find(|(name, _)| *name == value).map(|(_, m)| *m)
    }

    /// Whether every method of `other` is in this set.
    pub fn contains(self, other: AuthMethods) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The `amr` values of the set, in RFC 8176's order of this type's constants.
    pub fn amr(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES.into_iter().filter(move |(_, m)| self.contains(*m)).map(|(name, _)| name)
    }
}

impl std::ops::BitOr for AuthMethods {
    type Output = AuthMethods;

    fn bitor(self, rhs: AuthMethods) -> AuthMethods {
        AuthMethods(self.0 | rhs.0)
    }
}

impl std::fmt::Debug for AuthMethods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.amr()).finish()
    }
}

impl Principal {
    /// A principal for `user` authenticated by `scheme`.
    pub fn for_user(user: User, scheme: &'static str, data: SchemeData) -> Self {
        Principal::new(Some(user), scheme, data)
    }

    /// A principal authenticated by `scheme`, for `user` (`None`: not a user, e.g. an OAuth2
    /// client), with nothing known of how or when the user proved who they are (see
    /// [`Principal::authenticated`]).
    pub fn new(user: Option<User>, scheme: &'static str, data: SchemeData) -> Self {
        Principal { user, scheme, data, authentication: Authentication::default() }
    }

    /// This principal, recording that its user proved who they are at `at` (Unix seconds)
    /// with `methods` (see [`Authentication`]).
    pub fn authenticated(mut self, at: Option<i64>, methods: AuthMethods) -> Self {
        self.authentication = Authentication::new(at, methods);
        self
    }

    /// The username, if the principal is a user.
    pub fn username(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.username.as_str())
    }

    /// The OAuth2 scopes of the token that authenticated the request; `None` for every other
    /// scheme.
    pub fn scopes(&self) -> Option<&[String]> {
        match &self.data {
            SchemeData::OAuth2 { scopes, .. } => Some(scopes),
            _ => None,
        }
    }

    /// True for a staff user.
    pub fn is_staff(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.is_staff)
    }
}

#[cfg(test)]
mod tests {
    use super::AuthMethods;

    #[test]
    fn amr_values_round_trip_and_combine() {
        let both = AuthMethods::PWD | AuthMethods::from_amr("otp").unwrap();
        assert_eq!(both.amr().collect::<Vec<_>>(), ["pwd", "otp"]);
        assert!(both.contains(AuthMethods::OTP) && !both.contains(AuthMethods::HWK));
        assert_eq!(AuthMethods::from_amr("retina"), None);
        assert!(AuthMethods::NONE.is_empty() && AuthMethods::default().is_empty());
        assert_eq!(format!("{both:?}"), r#"{"pwd", "otp"}"#);
    }
}
