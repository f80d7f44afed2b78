//! Trusted hosts and proxies, as Django's `ALLOWED_HOSTS`, `USE_X_FORWARDED_HOST` and
//! `SECURE_PROXY_SSL_HEADER`.
//!
//! The framework's own origin (`scheme://host[:port]`) decides the session CSRF origin
//! check and the OAuth2 issuer, so it must not follow whatever a client sends:
//!
//! - the request's host is `Host` (or the HTTP/2 `:authority`); `X-Forwarded-Host`,
//!   `X-Forwarded-Proto` and `Forwarded` are read only when
//!   [`ThrottleConfig::num_proxies`] (the one setting of trusted proxies, shared with the
//!   client address of the throttles) is above 0, and then, like `X-Forwarded-For`, the
//!   value that the outermost trusted proxy appended: `num_proxies` from the end;
//! - that host must match [`HostsConfig::allowed_hosts`] (or the host of
//!   [`HostsConfig::public_origin`]); otherwise the request is 400 `invalid_host`
//!   ([`check_host`], run by the [`crate::http::edge`] middleware before routing);
//! - [`own_origin`] is [`HostsConfig::public_origin`] when set, else the validated
//!   request's scheme and host.
//!
//! Patterns (case-insensitive, Django's rules): `example.com` matches that host on any
//! port; `example.com:8443` only on that port; `.example.com` matches `example.com` and
//! every subdomain; `*` matches every host; IPv6 literals are written in brackets,
//! `[::1]`. Malformed hosts (anything but letters, digits, `-`, `.`, a bracketed IPv6
//! literal and a numeric port) never match. With an empty list (the default) only the
//! loopback names `localhost`, `127.0.0.1` and `[::1]` are allowed (Django's rule under
//! `DEBUG`): fine for local development, and a deployment must name its hosts.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::error::AuthError;
use crate::state::Auth;
use crate::throttling::ThrottleConfig;

/// The allowed hosts and the public origin. Bind it in the settings struct with
/// `#[auth(hosts)]` (the framework's default applies otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct HostsConfig {
    /// Hosts this app answers for (Django's `ALLOWED_HOSTS`): `api.example.com`,
    /// `api.example.com:8443` (that port only), `.example.com` (the domain and its
    /// subdomains), `*` (any host; then set [`HostsConfig::public_origin`]). Default empty:
    /// only `localhost`, `127.0.0.1` and `[::1]`, on any port. A request for another host
    /// is 400 `invalid_host`. Also accepted as one comma-separated string
    /// (`"api.example.com, .example.org"`), as environment variables give it.
    #[serde(deserialize_with = "list_or_comma_string")]
    pub allowed_hosts: Vec<String>,
    /// The app's public origin, `scheme://host[:port]` (e.g. `https://api.example.com`):
    /// when set, it is the framework's own origin (CSRF origin checks, the OAuth2 issuer
    /// when `oauth2.issuer` is unset) whatever the request's headers say, and its host is
    /// allowed. Default unset: the origin is the request's validated scheme and host.
    pub public_origin: Option<String>,
}

/// A list of strings, or one string of comma-separated items.
fn list_or_comma_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        String(String),
    }
    let items = match <ListOrString as serde::Deserialize>::deserialize(d)? {
        ListOrString::List(items) => items,
        ListOrString::String(s) => s.split(',').map(str::to_owned).collect(),
    };
    Ok(items.into_iter().map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()).collect())
}

/// The loopback hosts allowed when [`HostsConfig::allowed_hosts`] is empty.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// A host split into its lowercase domain (IPv6 literals keep their brackets, a trailing
/// dot is dropped) and its port, when it is well-formed (Django's `split_domain_port`).
pub fn split_host(host: &str) -> Option<(String, Option<u16>)> {
    let host = host.to_ascii_lowercase();
    let (domain, port) = if host.starts_with('[') {
        let end = host.find(']')?;
        let (domain, rest) = host.split_at(end + 1);
        let inner = &domain[1..domain.len() - 1];
        if !inner.contains(':') || !inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return None;
        }
        (domain.to_owned(), rest)
    } else {
        let (domain, rest) = host.find(':').map_or((host.as_str(), ""), |i| host.split_at(i));
        if domain.is_empty()
            || !domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            || domain.starts_with('.')
            || domain.contains("..")
        {
            return None;
        }
        (domain.trim_end_matches('.').to_owned(), rest)
    };
    if domain.is_empty() {
        return None;
    }
    let port = match port {
        "" => None,
        p => {
            let digits = p.strip_prefix(':')?;
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            Some(digits.parse::<u16>().ok()?)
        }
    };
    Some((domain, port))
}

/// Whether `host` (as sent: `name[:port]` or `[v6][:port]`) matches one of `patterns`
/// (Django's `validate_host`, with optional ports in patterns); see the module docs.
pub fn host_allowed<S: AsRef<str>>(host: &str, patterns: &[S]) -> bool {
    let Some((domain, port)) = split_host(host) else { return false };
    patterns.iter().any(|pattern| {
        let pattern = pattern.as_ref().trim().to_ascii_lowercase();
        if pattern == "*" {
            return true;
        }
        if let Some(suffix) = pattern.strip_prefix('.') {
            // `.example.com`: the domain itself and its subdomains, on any port.
            let suffix = suffix.trim_end_matches('.');
            return !suffix.is_empty()
                && (domain == suffix || domain.strip_suffix(suffix).is_some_and(|head| head.ends_with('.')));
        }
        match split_host(&pattern) {
            Some((p_domain, None)) => p_domain == domain,
            Some((p_domain, Some(p_port))) => p_domain == domain && port == Some(p_port),
            None => false,
        }
    })
}

fn config(auth: &Auth) -> &HostsConfig {
    static DEFAULT: HostsConfig = HostsConfig { allowed_hosts: Vec::new(), public_origin: None };
    auth.config::<HostsConfig>().unwrap_or(&DEFAULT)
}

fn num_proxies(auth: &Auth) -> usize {
    auth.config::<ThrottleConfig>().map_or(0, |c| c.num_proxies)
}

/// The entry of a comma-separated forwarding list that the outermost of `num_proxies`
/// trusted proxies appended (as [`crate::throttling::client_ip`] picks `X-Forwarded-For`).
fn trusted_entry(list: &str, num_proxies: usize) -> Option<&str> {
    let entries: Vec<&str> = list.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
    let i = entries.len().checked_sub(num_proxies.min(entries.len()))?;
    entries.get(i).copied()
}

/// One parameter (`host`, `proto`) of the trusted element of an RFC 7239 `Forwarded` header.
fn forwarded_param(req: &HttpRequest, num_proxies: usize, name: &str) -> Option<String> {
    let value = req.headers().get(header::FORWARDED)?.to_str().ok()?;
    let element = trusted_entry(value, num_proxies)?;
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn header_entry(req: &HttpRequest, name: &str, num_proxies: usize) -> Option<String> {
    let value = req.headers().get(name)?.to_str().ok()?;
    trusted_entry(value, num_proxies).map(str::to_owned)
}

/// The request's scheme and host as sent, before validation: with trusted proxies the
/// outermost one's `X-Forwarded-Proto` / `X-Forwarded-Host` (else its `Forwarded`
/// element's `proto` / `host`), without them the connection's scheme and `Host` (or the
/// HTTP/2 `:authority`). `None` for the host when the request names none.
fn raw_scheme_and_host(req: &HttpRequest, num_proxies: usize) -> (String, Option<String>) {
    let conn_scheme = if req.app_config().secure() { "https" } else { "http" };
    let direct_host = || {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
    };
    if num_proxies == 0 {
        return (conn_scheme.to_owned(), direct_host());
    }
    let x_host = header_entry(req, "x-forwarded-host", num_proxies);
    let x_proto = header_entry(req, "x-forwarded-proto", num_proxies);
    let (proto, host) = if x_host.is_some() || x_proto.is_some() {
        (x_proto, x_host)
    } else {
        (forwarded_param(req, num_proxies, "proto"), forwarded_param(req, num_proxies, "host"))
    };
    let scheme = proto.map(|p| p.to_ascii_lowercase()).filter(|p| p == "http" || p == "https");
    (scheme.unwrap_or_else(|| conn_scheme.to_owned()), host.or_else(direct_host))
}

/// The request's validated scheme and host: the host must be allowed (see the module docs).
///
/// # Errors
/// 400 `invalid_host` when the host is missing, malformed or not allowed.
pub fn request_host(req: &HttpRequest, auth: &Auth) -> Result<(String, String), AuthError> {
    let cfg = config(auth);
    let (scheme, host) = raw_scheme_and_host(req, num_proxies(auth));
    let host = host.ok_or(AuthError::InvalidHost)?;
    let public_host =
        cfg.public_origin.as_deref().and_then(|o| o.split_once("://")).map(|(_, h)| h.trim_end_matches('/'));
    let allowed = if cfg.allowed_hosts.is_empty() {
        host_allowed(&host, &LOOPBACK_HOSTS)
    } else {
        host_allowed(&host, &cfg.allowed_hosts)
    };
    if allowed || public_host.is_some_and(|p| host_allowed(&host, &[p])) {
        Ok((scheme, host.to_ascii_lowercase()))
    } else {
        Err(AuthError::InvalidHost)
    }
}

/// Refuses a request whose host is not allowed; the [`crate::http::edge`] middleware calls
/// it for every request before routing (an app without that middleware calls it itself).
///
/// # Errors
/// 400 `invalid_host`.
pub fn check_host(req: &HttpRequest, auth: &Auth) -> Result<(), AuthError> {
    request_host(req, auth).map(|_| ())
}

/// The framework's own origin for this request, `scheme://host[:port]`:
/// [`HostsConfig::public_origin`] when set, else the validated request's scheme and host.
///
/// # Errors
/// 400 `invalid_host` when the origin would come from a host that is not allowed.
pub fn own_origin(req: &HttpRequest, auth: &Auth) -> Result<String, AuthError> {
    if let Some(origin) = &config(auth).public_origin {
        return Ok(origin.trim_end_matches('/').to_ascii_lowercase());
    }
    let (scheme, host) = request_host(req, auth)?;
    Ok(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_split_as_django() {
        assert_eq!(split_host("Example.COM:8000"), Some(("example.com".into(), Some(8000))));
        assert_eq!(split_host("example.com."), Some(("example.com".into(), None)));
        assert_eq!(split_host("[::1]:8000"), Some(("[::1]".into(), Some(8000))));
        assert_eq!(split_host("[::1]"), Some(("[::1]".into(), None)));
        for bad in [
            "",
            ":80",
            "exa mple.com",
            "example.com:",
            "example.com:http",
            "example.com:99999",
            "a@b.com",
            "[::1",
            "[zz::1]",
            "[127.0.0.1]",
            "example.com:80:80",
            ".example.com",
            "a..b",
            "evil.com/x",
            "evil.com\\x",
        ] {
            assert_eq!(split_host(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn patterns_match_as_django() {
        let allowed = ["api.example.com", ".example.org", "admin.example.net:8443", "[::1]"];
        for ok in [
            "api.example.com",
            "API.Example.com:8000",
            "api.example.com.",
            "example.org",
            "www.example.org",
            "a.b.example.org:1",
            "admin.example.net:8443",
            "[::1]:9",
        ] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for bad in [
            "example.com",
            "evil-api.example.com",
            "api.example.com.evil.com",
            "badexample.org",
            "admin.example.net",
            "admin.example.net:443",
            "[::2]",
            "api.example.com:",
            "api.example.com@evil.com",
            "",
        ] {
            assert!(!host_allowed(bad, &allowed), "{bad}");
        }
        assert!(host_allowed("anything.test:1", &["*"]));
        assert!(!host_allowed("bad host", &["*"]), "malformed hosts never match, even `*`");
        assert!(host_allowed("localhost:8000", &LOOPBACK_HOSTS));
        assert!(host_allowed("127.0.0.1:39999", &LOOPBACK_HOSTS));
        assert!(!host_allowed("127.0.0.2", &LOOPBACK_HOSTS));
        assert!(!host_allowed("x", &LOOPBACK_HOSTS));
        assert!(!host_allowed("example.com", &[""]), "an empty pattern matches nothing");
        assert!(!host_allowed("example.com", &["."]));
    }

    #[test]
    fn allowed_hosts_from_a_list_or_a_comma_string() {
        let c: HostsConfig =
            serde_json::from_value(serde_json::json!({"allowed_hosts": "a.example, .b.example,"})).unwrap();
        assert_eq!(c.allowed_hosts, ["a.example", ".b.example"]);
        let c: HostsConfig = serde_json::from_value(serde_json::json!({"allowed_hosts": ["x.example"]})).unwrap();
        assert_eq!(c.allowed_hosts, ["x.example"]);
        assert_eq!(serde_json::from_value::<HostsConfig>(serde_json::json!({})).unwrap(), HostsConfig::default());
    }

    #[test]
    fn the_outermost_trusted_proxy_entry_is_used() {
        assert_eq!(trusted_entry("evil.com, public.example", 1), Some("public.example"));
        assert_eq!(trusted_entry("client, p1, p2", 2), Some("p1"));
        assert_eq!(trusted_entry("only", 3), Some("only"));
        assert_eq!(trusted_entry(" , ", 1), None);
    }
}
