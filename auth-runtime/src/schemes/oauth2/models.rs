//! The authorization server's models (Django OAuth Toolkit's): grant types, client types,
//! and the tables of applications, grants, codes, access and refresh tokens.

use subtle::ConstantTimeEq;

use super::protocol::{digest, split};

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

use entity::application;

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
