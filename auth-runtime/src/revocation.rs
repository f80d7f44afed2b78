//! Per-user revocation times (`auth_revocations`): "revoke everything issued to this user
//! before now", shared by the schemes that issue self-contained or long-lived credentials.
//! JWTs whose `iat` is before `not_before` are refused (Simple JWT has no such table; this is
//! the stateless way to end them all); sessions logged in before `sessions_not_before` are
//! ended in any session store. One row per user, written by the lifecycle and read on the hot
//! path (joined into the user read of [`crate::reads`]).

use chrono::Utc;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection};

use crate::cache::Subject;
use crate::db::Bounded;
use crate::error::AuthError;
use crate::state::Auth;

/// The `auth_revocations` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// A user's revocation time.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_revocations")]
    pub struct Model {
        /// The user.
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: i64,
        /// Tokens with `iat` before this (seconds since the epoch) are refused.
        pub not_before: i64,
        /// Sessions logged in before this (milliseconds since the epoch) are ended.
        pub sessions_not_before: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity as revocation;

/// The user's token revocation time in seconds since the epoch (0 when never revoked).
///
/// # Errors
/// 503 on a store failure.
pub async fn tokens_not_before(db: &DatabaseConnection, user_id: i64) -> Result<u64, AuthError> {
    let row = revocation::Entity::find_by_id(user_id).one(db).bounded().await?;
    Ok(row.map_or(0, |r| u64::try_from(r.not_before).unwrap_or(0)))
}

/// Refuses every token of the user issued up to now: `not_before` becomes the next whole
/// second (a token issued later gets an `iat` no earlier than that).
///
/// # Errors
/// 503 on a store failure.
pub async fn revoke_tokens(db: &DatabaseConnection, user_id: i64) -> Result<(), AuthError> {
    let next_second = Utc::now().timestamp() + 1;
    revocation::Entity::insert(revocation::ActiveModel {
        user_id: Set(user_id),
        not_before: Set(next_second),
        sessions_not_before: Set(0),
    })
    .on_conflict(OnConflict::column(revocation::Column::UserId).update_column(revocation::Column::NotBefore).to_owned())
    .exec(db)
    .bounded()
    .await?;
    Ok(())
}

/// Ends the sessions of a user logged in before `at_ms` (milliseconds since the epoch), in
/// any session store (the Session scheme checks this time on each request), and drops the
/// user's cached principals.
///
/// # Errors
/// 503 on a store failure.
pub async fn revoke_sessions(auth: &Auth, user_id: i64, at_ms: i64) -> Result<(), AuthError> {
    revocation::Entity::insert(revocation::ActiveModel {
        user_id: Set(user_id),
        not_before: Set(0),
        sessions_not_before: Set(at_ms),
    })
    .on_conflict(
        OnConflict::column(revocation::Column::UserId).update_column(revocation::Column::SessionsNotBefore).to_owned(),
    )
    .exec(auth.db())
    .bounded()
    .await?;
    auth.revoked(Subject::User(user_id)).await;
    Ok(())
}

/// The time (milliseconds since the epoch) before which the user's sessions are ended; 0
/// when never.
///
/// # Errors
/// 503 on a store failure.
pub async fn sessions_not_before(db: &DatabaseConnection, user_id: i64) -> Result<i64, AuthError> {
    Ok(revocation::Entity::find_by_id(user_id).one(db).bounded().await?.map_or(0, |r| r.sessions_not_before))
}
