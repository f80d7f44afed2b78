//! The protocol's values: secrets and their digests, token shapes, scope lists and redirect
//! URI rules (RFC 6749, RFC 8252, RFC 9700).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Duration;
use rand::RngCore;
use sha2::{Digest, Sha256};

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

pub(crate) fn new_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// True when `value` could be a code or token of this server (43 base64url characters); other
/// values are refused without a database query.
pub fn is_token_shaped(value: &[u8]) -> bool {
    value.len() == TOKEN_LENGTH && value.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

pub(crate) fn seconds(s: u64) -> Duration {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::is_jwt_shaped;

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
