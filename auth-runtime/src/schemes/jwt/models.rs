//! The Jwt scheme's table: refresh-token records (rotation and the blacklist).

/// Tables of this scheme.
pub mod entity {
    /// `jwt_refresh_tokens`: every refresh token issued (Simple JWT's outstanding tokens) and
    /// whether it was rotated or blacklisted.
    pub mod refresh {
        use sea_orm::entity::prelude::*;

        /// A refresh token record; the token itself is not stored, only its `jti`.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "jwt_refresh_tokens")]
        pub struct Model {
            /// Primary key.
            #[sea_orm(primary_key)]
            pub id: i64,
            /// The token's `jti`.
            #[sea_orm(unique)]
            pub jti: String,
            /// The `jti` of the first refresh token of the login; rotations keep it.
            pub family: String,
            /// Owner.
            pub user_id: i64,
            /// Issue time (UTC).
            pub created_at: DateTimeUtc,
            /// `exp` (UTC).
            pub expires_at: DateTimeUtc,
            /// When it was used for a rotation.
            pub rotated_at: Option<DateTimeUtc>,
            /// When it was blacklisted; a blacklisted token is refused.
            pub blacklisted_at: Option<DateTimeUtc>,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// `auth_revocations`: per-user revocation times (the time before which tokens and sessions are refused).
    pub use crate::revocation::entity as revocation;
}
