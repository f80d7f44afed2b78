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
}
