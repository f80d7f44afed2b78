//! HTTP Basic authentication (RFC 7617).
//!
//! `Authorization: Basic base64(username ":" password)`; the credentials are UTF-8
//! (`charset="UTF-8"`, RFC 7617 section 2.1) and split at the first colon, so a password may
//! contain colons. Each malformed form is its own 401 (as DRF's `BasicAuthentication`); wrong
//! username and wrong password give the same answer.

use crate::cache::GenCache;
use crate::context::Context;
use crate::error::AuthError;
use crate::header::{Authorization, Credentials, decode_basic, quote};
use crate::login;
use crate::principal::{AuthMethods, Principal, SchemeData};
use crate::scheme::{Outcome, Scheme};
use crate::state::Auth;

mod config;

pub use config::BasicConfig;

/// The Basic scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Basic;

impl Scheme for Basic {
    const NAME: &'static str = "basic";
    type Config = BasicConfig;

    async fn authenticate(cx: &Context<'_>) -> Outcome {
        let (req, auth) = (cx.request(), cx.auth());
        let Some(header) = Authorization::from_request(req).filter(|h| h.is("basic")) else {
            return Outcome::NoCredentials;
        };
        let credentials = header.credentials();
        let (username, password) = match decode_basic(credentials) {
            Ok(pair) => pair,
            Err(e) => return Outcome::Rejected(e),
        };
        // The opt-in verified-credential cache (off unless `cache.basic_ttl` is set): keyed
        // by the SHA-256 of the exact credentials, ended by a password change or deactivation.
        let cache = auth.cache().basic();
        let key = match credentials {
            Credentials::One(c) if cache.enabled() => Some(GenCache::<Principal>::key(Self::NAME, c)),
            _ => None,
        };
        if let Some(principal) = key.as_ref().and_then(|k| cache.get(k)) {
            return Outcome::Authenticated(principal);
        }
        let snapshot = cache.snapshot();
        match login::check_password(auth, req, &username, &password).await {
            Ok(Some(user)) => {
                let user_id = user.id;
                // The password was checked now.
                let principal = Principal::for_user(user, Self::NAME, SchemeData::Basic)
                    .authenticated(Some(chrono::Utc::now().timestamp()), AuthMethods::PWD);
                if let Some(key) = key {
                    cache.insert(key, snapshot, principal.clone(), Some(user_id), None, None);
                }
                Outcome::Authenticated(principal)
            }
            Ok(None) => Outcome::Rejected(AuthError::failed("Invalid username/password.")),
            Err(e) => Outcome::Rejected(e),
        }
    }

    fn challenge(auth: &Auth, _rejection: Option<&AuthError>) -> Option<String> {
        let realm = auth.config::<BasicConfig>().map_or("api", |c| c.realm.as_str());
        Some(format!("Basic realm={}, charset=\"UTF-8\"", quote(realm)))
    }

    fn describe(auth: &Auth) -> Option<crate::apidoc::SchemeDoc> {
        let realm = auth.config::<BasicConfig>().map_or("api", |c| c.realm.as_str());
        Some(crate::apidoc::SchemeDoc {
            kind: crate::apidoc::SchemeDocKind::Http { scheme: "basic".into(), bearer_format: None },
            description: format!("HTTP Basic (RFC 7617): username and password, realm {}.", quote(realm)).into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;
    use crate::header::decode_basic as decode_credentials;

    fn detail(c: Credentials<'_>) -> String {
        decode_credentials(c).unwrap_err().to_string()
    }

    #[test]
    fn decodes_and_splits_at_first_colon() {
        let enc = STANDARD.encode("alice:pa:ss");
        assert_eq!(decode_credentials(Credentials::One(enc.as_bytes())).unwrap(), ("alice".into(), "pa:ss".into()));
        let enc = STANDARD.encode("j\u{f6}rg:p\u{e4}ss");
        assert_eq!(decode_credentials(Credentials::One(enc.as_bytes())).unwrap().0, "j\u{f6}rg");
    }

    #[test]
    fn each_malformed_form_has_its_message() {
        assert!(detail(Credentials::Missing).contains("No credentials"));
        assert!(detail(Credentials::TooMany).contains("spaces"));
        assert!(detail(Credentials::One(b"!!!")).contains("base64"));
        let bad = STANDARD.encode([0xff, 0xfe, b':', b'x']);
        assert!(detail(Credentials::One(bad.as_bytes())).contains("UTF-8"));
        let nocolon = STANDARD.encode("alice");
        assert!(detail(Credentials::One(nocolon.as_bytes())).contains("username:password"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use crate::header::decode_basic as decode_credentials;
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD;

        proptest! {
            /// Any bytes as credentials: an answer, never a panic.
            #[test]
            fn any_credentials_decode_or_fail(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                let _ = decode_credentials(Credentials::One(&bytes));
            }

            /// base64 of any bytes: decoded exactly when they are UTF-8 with a colon, split at
            /// the first colon.
            #[test]
            fn base64_of_any_bytes(raw in proptest::collection::vec(any::<u8>(), 0..100)) {
                let encoded = STANDARD.encode(&raw);
                let valid = std::str::from_utf8(&raw).is_ok_and(|s| s.contains(':'));
                match decode_credentials(Credentials::One(encoded.as_bytes())) {
                    Ok((username, password)) => {
                        prop_assert!(valid);
                        prop_assert!(!username.contains(':'));
                        let joined = format!("{username}:{password}").into_bytes();
                        prop_assert_eq!(joined, raw);
                    }
                    Err(_) => prop_assert!(!valid),
                }
            }

            /// What `curl -u user:password` sends decodes to the same pair (the password may
            /// hold colons).
            #[test]
            fn round_trip(username in "[^:]{0,40}", password in any::<String>()) {
                let encoded = STANDARD.encode(format!("{username}:{password}"));
                prop_assert_eq!(decode_credentials(Credentials::One(encoded.as_bytes())).unwrap(), (username, password));
            }
        }
    }
}
