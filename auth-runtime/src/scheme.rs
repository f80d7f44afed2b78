//! The scheme trait and the chain (DRF's `authentication_classes`).
//!
//! Chain rules: schemes are tried in order; a scheme that finds no credentials of its kind
//! passes to the next; a scheme that finds its credentials and rejects them ends the chain
//! (401, or 403 for a CSRF failure); the first success wins; when no scheme authenticates the
//! request is anonymous and the permission decides. Chains known at compile time are tuples
//! of scheme types, dispatched statically.

use std::future::Future;

use actix_web::HttpRequest;

use crate::apidoc::SchemeDoc;
use crate::context::Context;
use crate::error::AuthError;
use crate::principal::Principal;
use crate::state::{Auth, ErasedChain};

/// What one scheme concluded about a request.
#[derive(Debug)]
pub enum Outcome {
    /// The request carries no credentials of this scheme's kind: try the next scheme.
    NoCredentials,
    /// The credentials are valid.
    Authenticated(Principal),
    /// The credentials are this scheme's and they are wrong (or a store failed): stop.
    Rejected(AuthError),
}

/// An authentication scheme, with DRF's two duties: authenticate a request, and give the
/// `WWW-Authenticate` challenge for a 401.
///
/// Schemes are unit types; their configuration ([`Scheme::Config`]) lives in [`Auth`] and is
/// read with [`Auth::config`].
///
/// Your own scheme implements this trait and is named in `#[authentication(...)]` and in the
/// settings' `chain(...)` beside the built-in ones, by its path (DRF's
/// `BaseAuthentication` subclass listed in `authentication_classes`). Its configuration is
/// bound by the settings derive with `#[auth(scheme = ApiKey)]` on a field of type
/// `ApiKey::Config`; without one, [`Auth::config`] has none and the scheme uses its default.
///
/// ```
/// use auth_runtime::{Auth, AuthError, Context, Outcome, Principal, Scheme, SchemeData};
/// use actix_web::HttpRequest;
/// use subtle::ConstantTimeEq;
///
/// /// `X-Api-Key: <key>`, checked against one configured key.
/// struct ApiKey;
///
/// #[derive(Clone, Default)]
/// struct ApiKeyConfig {
///     key: String,
/// }
///
/// impl Scheme for ApiKey {
///     const NAME: &'static str = "api_key";
///     type Config = ApiKeyConfig;
///
///     async fn authenticate(cx: &Context<'_>) -> Outcome {
///         let (req, auth) = (cx.request(), cx.auth());
///         let Some(given) = req.headers().get("x-api-key") else { return Outcome::NoCredentials };
///         let key = auth.config::<ApiKeyConfig>().map(|c| c.key.as_bytes()).unwrap_or_default();
///         if !key.is_empty() && bool::from(given.as_bytes().ct_eq(key)) {
///             let data = SchemeData::Custom("reporting".into());
///             Outcome::Authenticated(Principal::new(None, Self::NAME, data))
///         } else {
///             Outcome::Rejected(AuthError::failed("Invalid API key."))
///         }
///     }
///
///     fn challenge(_: &Auth, _: Option<&AuthError>) -> Option<String> {
///         Some("ApiKey realm=\"api\"".into())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an authentication scheme",
    label = "not an authentication scheme",
    note = "implement `auth_runtime::Scheme` for `{Self}` (its NAME, Config, authenticate and challenge) to name it in #[authentication(...)] or #[auth(chain(...))]"
)]
pub trait Scheme: 'static {
    /// The lower-case name reported in [`Principal::scheme`], e.g. `"basic"`.
    const NAME: &'static str;

    /// The configuration type bound by `#[derive(AuthSettings)]` (e.g. `#[auth(basic)]`).
    type Config: Clone + Default + Send + Sync + 'static;

    /// Looks for this scheme's credentials in the request and checks them. The context has
    /// no principal yet ([`Context::principal`] is `None`): the scheme is deciding one.
    fn authenticate(cx: &Context<'_>) -> impl Future<Output = Outcome>;

    /// The `WWW-Authenticate` value, or `None` for schemes without one (a session). When this
    /// scheme rejected the request, `rejection` is the error (RFC 6750 adds `error=` to Bearer
    /// challenges then).
    fn challenge(auth: &Auth, rejection: Option<&AuthError>) -> Option<String>;

    /// How this scheme appears in an API document (an OpenAPI security scheme, see
    /// [`SchemeDoc`]), from its configuration; `None`, the default, leaves it out.
    fn describe(auth: &Auth) -> Option<SchemeDoc> {
        let _ = auth;
        None
    }
}

/// A chain of schemes: implemented for tuples of [`Scheme`]s, `(Basic, Token)`, and for
/// [`DefaultChain`].
pub trait Chain: 'static {
    /// Runs the chain. `Ok(None)`: anonymous. `Err`: a scheme rejected its credentials; the
    /// error carries the chain's challenges.
    fn authenticate(req: &HttpRequest, auth: &Auth) -> impl Future<Output = Result<Option<Principal>, AuthError>>;

    /// One challenge per scheme that has one, in chain order, one per auth-scheme name. When
    /// `rejection` names a scheme (by [`Scheme::NAME`]), that scheme's challenge carries it.
    fn challenges(auth: &Auth, rejection: Option<Rejection<'_>>) -> Vec<String>;

    /// The schemes of the chain that describe themselves ([`Scheme::describe`]), in chain
    /// order, each with its [`Scheme::NAME`]: an API document's security requirements.
    fn describe(auth: &Auth) -> Vec<(&'static str, SchemeDoc)>;
}

/// Adds `challenge` to `list` unless a challenge for the same auth-scheme is there already
/// (auth-scheme names compare case-insensitively, RFC 9110 section 11.1); a challenge for a
/// rejection replaces the plain one (Jwt and OAuth2 share `Bearer`).
fn push_challenge(list: &mut Vec<(String, bool)>, challenge: Option<String>, rejecting: bool) {
    fn auth_scheme(c: &str) -> &str {
        c.split(' ').next().unwrap_or("")
    }
    let Some(challenge) = challenge else { return };
    let same = list.iter().position(|(c, _)| auth_scheme(c).eq_ignore_ascii_case(auth_scheme(&challenge)));
    match same {
        Some(i) if rejecting && !list[i].1 => list[i] = (challenge, true),
        Some(_) => {}
        None => list.push((challenge, rejecting)),
    }
}

/// The challenges of chain `C` for a request without credentials
/// (`C::challenges(auth, None)`). They depend on the configuration only, so each chain's
/// list is computed once per [`Auth`] and copied from then on.
pub(crate) fn anonymous_challenges<C: Chain>(auth: &Auth) -> Vec<String> {
    auth.memoized_challenges(std::any::TypeId::of::<C>(), || C::challenges(auth, None))
}

/// The error for an anonymous request that the permission refused: 401 with the challenges,
/// or 403 when no scheme of the chain has a challenge (RFC 9110 section 15.5.2 requires one
/// on a 401; DRF answers 403 then).
pub fn anonymous_error(challenges: Vec<String>) -> AuthError {
    if challenges.is_empty() {
        AuthError::PermissionDenied {
            detail: "Authentication credentials were not provided.".into(),
            code: "not_authenticated",
            challenges: Vec::new(),
        }
    } else {
        AuthError::NotAuthenticated { challenges }
    }
}

macro_rules! impl_chain {
    ($($s:ident),+) => {
        impl<$($s: Scheme),+> Chain for ($($s,)+) {
            async fn authenticate(req: &HttpRequest, auth: &Auth) -> Result<Option<Principal>, AuthError> {
                crate::header::single_authorization(req)?;
                let cx = Context::new(auth, req, None);
                $(
                    // Boxed: each scheme's future stays one pointer deep in the chain's, so a
                    // handler's future type stays within rustc's default query depth.
                    match Box::pin($s::authenticate(&cx)).await {
                        Outcome::NoCredentials => {}
                        Outcome::Authenticated(principal) => return Ok(Some(principal)),
                        Outcome::Rejected(err) => {
                            let challenges = Self::challenges(auth, Some(($s::NAME, &err)));
                            return Err(err.with_challenges(challenges));
                        }
                    }
                )+
                Ok(None)
            }

            fn challenges(auth: &Auth, rejection: Option<Rejection<'_>>) -> Vec<String> {
                let mut list = Vec::new();
                $(
                    let err = rejection.filter(|(name, _)| *name == $s::NAME).map(|(_, e)| e);
                    push_challenge(&mut list, $s::challenge(auth, err), err.is_some());
                )+
                list.into_iter().map(|(c, _)| c).collect()
            }

            fn describe(auth: &Auth) -> Vec<(&'static str, SchemeDoc)> {
                let mut docs = Vec::new();
                $(
                    docs.extend($s::describe(auth).map(|doc| ($s::NAME, doc)));
                )+
                docs
            }
        }
    };
}

impl_chain!(A);
impl_chain!(A, B);
impl_chain!(A, B, C);
impl_chain!(A, B, C, D);
impl_chain!(A, B, C, D, E);
impl_chain!(A, B, C, D, E, F);
impl_chain!(A, B, C, D, E, F, G);
impl_chain!(A, B, C, D, E, F, G, H);

/// Which scheme (by [`Scheme::NAME`]) rejected the request, and how.
pub type Rejection<'a> = (&'static str, &'a AuthError);

/// Erases the chain `C` into the function pointers [`Auth`] keeps for the settings' chain.
pub(crate) fn erase<C: Chain>() -> ErasedChain {
    ErasedChain {
        authenticate: |req, auth| Box::pin(C::authenticate(req, auth)),
        challenges: C::challenges,
        describe: C::describe,
    }
}

/// The chain declared by the settings (`#[auth(chain(...))]`); handlers without
/// `#[authentication]` use it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultChain;

impl Chain for DefaultChain {
    async fn authenticate(req: &HttpRequest, auth: &Auth) -> Result<Option<Principal>, AuthError> {
        (auth.default_chain().authenticate)(req, auth).await
    }

    fn challenges(auth: &Auth, rejection: Option<Rejection<'_>>) -> Vec<String> {
        (auth.default_chain().challenges)(auth, rejection)
    }

    fn describe(auth: &Auth) -> Vec<(&'static str, SchemeDoc)> {
        (auth.default_chain().describe)(auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_challenge_per_auth_scheme_and_rejection_wins() {
        let mut list = Vec::new();
        push_challenge(&mut list, Some("Basic realm=\"api\"".into()), false);
        push_challenge(&mut list, None, false);
        push_challenge(&mut list, Some("Bearer realm=\"api\"".into()), false);
        push_challenge(&mut list, Some("Bearer realm=\"api\", error=\"invalid_token\"".into()), true);
        push_challenge(&mut list, Some("bearer realm=\"x\"".into()), false);
        let got: Vec<_> = list.into_iter().map(|(c, _)| c).collect();
        assert_eq!(got, ["Basic realm=\"api\"", "Bearer realm=\"api\", error=\"invalid_token\""]);
    }

    #[test]
    fn anonymous_without_challenges_is_403() {
        assert_eq!(anonymous_error(vec![]).code(), "not_authenticated");
        assert!(matches!(anonymous_error(vec![]), AuthError::PermissionDenied { .. }));
        assert!(matches!(anonymous_error(vec!["Token".into()]), AuthError::NotAuthenticated { .. }));
    }
}
