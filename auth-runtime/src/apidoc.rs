//! What the framework tells an API document about itself (CONTRACT section 4: an OpenAPI
//! document generated from the handlers' attributes). Each scheme describes itself with
//! [`crate::Scheme::describe`]; a chain lists its schemes' descriptions with
//! [`crate::Chain::describe`]. The document itself is not generated yet.

use std::borrow::Cow;

/// How a scheme describes itself in an API document: one OpenAPI 3.1 Security Scheme Object
/// (`components.securitySchemes`, OpenAPI 3.1 section 4.8.27), as [`crate::Scheme::describe`]
/// returns it. An API document generated from the handlers' attributes lists, for each
/// handler, the schemes of its chain ([`crate::Chain::describe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeDoc {
    /// Where the credentials go.
    pub kind: SchemeDocKind,
    /// One sentence for the reader of the document.
    pub description: Cow<'static, str>,
}

/// The kinds of OpenAPI security schemes (`type`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemeDocKind {
    /// `type: http`: an `Authorization` scheme of the IANA registry (`basic`, `bearer`), with
    /// the bearer token's format (`JWT`) where there is one.
    Http {
        /// The auth-scheme name, lower case (`basic`, `bearer`).
        scheme: Cow<'static, str>,
        /// `bearerFormat`, e.g. `JWT`.
        bearer_format: Option<&'static str>,
    },
    /// `type: apiKey`: a credential in a header, query parameter or cookie called `name`
    /// (DRF's `Authorization: Token ...` is a header key with a prefix).
    ApiKey {
        /// `in`: `header`, `query` or `cookie`.
        location: KeyLocation,
        /// The header, parameter or cookie name.
        name: Cow<'static, str>,
    },
    /// `type: oauth2`: the authorization server's endpoints (paths as mounted) and scopes.
    OAuth2 {
        /// The authorization endpoint (authorization-code flow), if the server has one.
        authorization_url: Option<String>,
        /// The token endpoint.
        token_url: String,
        /// The scopes a client may request, with their descriptions.
        scopes: Vec<(String, String)>,
    },
}

/// Where an [`SchemeDocKind::ApiKey`] credential goes (OpenAPI's `in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLocation {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
    /// A cookie.
    Cookie,
}
