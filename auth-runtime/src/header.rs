//! The one parser of the `Authorization` request header (RFC 9110 section 11.6.2), shared by
//! every scheme, so no scheme splits the header on its own.
//!
//! `Authorization: <auth-scheme> <credentials>`. The auth-scheme is matched
//! case-insensitively (RFC 9110 section 11.1). Following DRF's `get_authorization_header`, the
//! value is split on ASCII whitespace and each scheme decides what a wrong number of parts
//! means.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

/// What follows the auth-scheme in an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// Only the auth-scheme was sent (`Authorization: Basic`).
    Missing,
    /// Exactly one credentials token.
    One(&'a [u8]),
    /// More than one whitespace-separated part after the auth-scheme.
    TooMany,
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, Copy)]
pub struct Authorization<'a> {
    scheme: &'a [u8],
    credentials: Credentials<'a>,
}

impl<'a> Authorization<'a> {
    /// Reads the first `Authorization` header of `req`; `None` when there is none or it is
    /// empty. Raw bytes are kept, so a non-ASCII value is the scheme's to reject.
    pub fn from_request(req: &'a HttpRequest) -> Option<Self> {
        Self::parse(req.headers().get(AUTHORIZATION)?.as_bytes())
    }

    /// Parses a header value. `None` when it holds no auth-scheme at all (only whitespace).
    pub fn parse(value: &'a [u8]) -> Option<Self> {
        let mut parts = value.split(|b| b.is_ascii_whitespace()).filter(|p| !p.is_empty());
        let scheme = parts.next()?;
        let credentials = match (parts.next(), parts.next()) {
            (None, _) => Credentials::Missing,
            (Some(one), None) => Credentials::One(one),
            (Some(_), Some(_)) => Credentials::TooMany,
        };
        Some(Authorization { scheme, credentials })
    }

    /// True when the auth-scheme equals `name`, ignoring ASCII case (RFC 9110 section 11.1).
    pub fn is(&self, name: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(name.as_bytes())
    }

    /// The credentials part.
    pub fn credentials(&self) -> Credentials<'a> {
        self.credentials
    }
}

/// Refuses a request with more than one `Authorization` header: a proxy that reads the last
/// one and this framework, which would read the first, would disagree on who is calling.
///
/// # Errors
/// 400 `invalid_request`.
pub fn single_authorization(req: &HttpRequest) -> Result<(), crate::error::AuthError> {
    if req.headers().get_all(AUTHORIZATION).nth(1).is_some() {
        return Err(crate::error::AuthError::InvalidRequest("Send one Authorization header, not several.".into()));
    }
    Ok(())
}

/// Quotes `s` as an RFC 9110 quoted-string for a challenge parameter: `"` and `\` are
/// backslash-escaped and control characters dropped, so no input can break the header.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// True when `token` is shaped like a compact JWS: three dot-separated base64url segments,
/// the first two non-empty (the signature may be empty, as in `alg: none`, and is then
/// rejected here rather than passed on).
pub fn is_jwt_shaped(token: &[u8]) -> bool {
    let b64url = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    let parts: Vec<&[u8]> = token.split(|b| *b == b'.').collect();
    parts.len() == 3 && !parts[0].is_empty() && !parts[1].is_empty() && parts.iter().all(|p| p.iter().all(b64url))
}

/// An RFC 6750 section 3 challenge: `Bearer realm="api"`, plus `error="invalid_token"` and
/// `error_description` for a rejection (403 scope errors say `insufficient_scope`).
pub fn bearer_challenge(keyword: &str, realm: &str, rejection: Option<&crate::error::AuthError>) -> String {
    match rejection {
        None => format!("{keyword} realm={}", quote(realm)),
        Some(e) => {
            let error = if e.code() == "insufficient_scope" { "insufficient_scope" } else { "invalid_token" };
            format!("{keyword} realm={}, error=\"{error}\", error_description={}", quote(realm), quote(&e.to_string()))
        }
    }
}

/// Decodes Basic credentials (RFC 7617: base64 of `user-id ":" password`, UTF-8) into
/// `(username, password)`, split at the first colon. The Basic scheme and OAuth2 client
/// authentication both use it.
///
/// # Errors
/// A 401 whose detail names the defect: missing, spaces, base64, UTF-8 or colon.
pub fn decode_basic(credentials: Credentials<'_>) -> Result<(String, String), crate::error::AuthError> {
    let encoded = match credentials {
        Credentials::Missing => {
            return Err(crate::error::AuthError::failed("Invalid basic header. No credentials provided."));
        }
        Credentials::TooMany => {
            return Err(crate::error::AuthError::failed(
                "Invalid basic header. Credentials string should not contain spaces.",
            ));
        }
        Credentials::One(c) => c,
    };
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| {
        crate::error::AuthError::failed("Invalid basic header. Credentials not correctly base64 encoded.")
    })?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| crate::error::AuthError::failed("Invalid basic header. Credentials are not valid UTF-8."))?;
    let (username, password) = decoded.split_once(':').ok_or_else(|| {
        crate::error::AuthError::failed("Invalid basic header. Credentials must be \"username:password\".")
    })?;
    Ok((username.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_scheme_and_credentials() {
        let a = Authorization::parse(b"Basic dXNlcjpwYXNz").unwrap();
        assert!(a.is("basic") && a.is("BASIC"));
        assert!(!a.is("bearer"));
        assert_eq!(a.credentials(), Credentials::One(b"dXNlcjpwYXNz"));
    }

    #[test]
    fn missing_and_extra_parts() {
        assert_eq!(Authorization::parse(b"Token").unwrap().credentials(), Credentials::Missing);
        assert_eq!(Authorization::parse(b"Token  ").unwrap().credentials(), Credentials::Missing);
        assert_eq!(Authorization::parse(b"Token a b").unwrap().credentials(), Credentials::TooMany);
        assert_eq!(Authorization::parse(b"  Token\tabc ").unwrap().credentials(), Credentials::One(b"abc"));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn empty_is_none() {
        assert!(Authorization::parse(b"").is_none());
        assert!(Authorization::parse(b"   ").is_none());
    }

    #[test]
    fn non_ascii_is_kept_as_bytes() {
        let a = Authorization::parse("Basic \u{e9}t\u{e9}".as_bytes()).unwrap();
        assert_eq!(a.credentials(), Credentials::One("\u{e9}t\u{e9}".as_bytes()));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Any bytes: no panic, and the same split as DRF's `get_authorization_header`
            /// (ASCII whitespace, empty parts dropped).
            #[test]
            fn parses_any_bytes_like_a_whitespace_split(value in proptest::collection::vec(any::<u8>(), 0..200)) {
                let parts: Vec<&[u8]> = value.split(u8::is_ascii_whitespace).filter(|p| !p.is_empty()).collect();
                match Authorization::parse(&value) {
                    None => prop_assert!(parts.is_empty()),
                    Some(a) => {
                        prop_assert_eq!(a.scheme, parts[0]);
                        let expected = match parts.len() {
                            1 => Credentials::Missing,
                            2 => Credentials::One(parts[1]),
                            _ => Credentials::TooMany,
                        };
                        prop_assert_eq!(a.credentials(), expected);
                    }
                }
            }

            /// `scheme SP credentials` parses back into its two parts, the scheme in any case.
            #[test]
            fn scheme_and_credentials_round_trip(scheme in "[!-~]{1,20}", credentials in "[!-~]{1,100}", ws in "[ \t]{1,3}") {
                let value = format!("{ws}{scheme}{ws}{credentials}{ws}");
                let a = Authorization::parse(value.as_bytes()).expect("a scheme");
                prop_assert!(a.is(&scheme.to_ascii_uppercase()) && a.is(&scheme.to_ascii_lowercase()));
                prop_assert_eq!(a.credentials(), Credentials::One(credentials.as_bytes()));
            }

            /// A quoted-string never ends early: unquoting gives the input back, less its
            /// control characters, and nothing in it can break the header.
            #[test]
            fn quoting_round_trips_and_cannot_break_out(s in any::<String>()) {
                let q = quote(&s);
                prop_assert!(q.len() >= 2 && q.starts_with('"') && q.ends_with('"'));
                let mut inner = q[1..q.len() - 1].chars();
                let mut unquoted = String::new();
                while let Some(c) = inner.next() {
                    match c {
                        '\\' => unquoted.push(inner.next().expect("an escape escapes something")),
                        '"' => prop_assert!(false, "unescaped quote in {:?}", q),
                        c => unquoted.push(c),
                    }
                }
                prop_assert_eq!(unquoted, s.chars().filter(|c| !c.is_control()).collect::<String>());
                prop_assert!(actix_web::http::header::HeaderValue::from_bytes(q.as_bytes()).is_ok());
            }
        }
    }
}
