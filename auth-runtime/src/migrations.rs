//! Database migrations of the framework's tables, as sea-orm-migration values that an
//! application adds to its own migrator (or runs with [`Migrator`]). Each is named
//! `mYYYYMMDD_NNNNNN_what`, unique across apps.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Every migration of the framework, in order. Add them to your own `MigratorTrait`.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateUsers),
        Box::new(CreateAuthTokens),
        Box::new(CreateAuthSettings),
        Box::new(CreateJwtTables),
        Box::new(CreateOAuth2Tables),
    ]
}

/// A migrator with only the framework's migrations.
#[derive(Debug, Clone, Copy)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        migrations()
    }
}

/// Creates `users`.
#[derive(Debug)]
pub struct CreateUsers;

impl MigrationName for CreateUsers {
    fn name(&self) -> &str {
        "m20261130_000001_create_users"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateUsers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("username", 150))
                    .col(string_len("email", 254).default(""))
                    .col(string_len("password_hash", 255))
                    .col(boolean("is_active").default(true))
                    .col(boolean("is_staff").default(false))
                    .col(boolean("is_superuser").default(false))
                    .col(timestamp_with_time_zone("date_joined"))
                    .col(timestamp_with_time_zone_null("last_login"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("users").to_owned()).await
    }
}

/// Creates `auth_tokens` (API tokens of the Token scheme, stored as SHA-256 digests).
#[derive(Debug)]
pub struct CreateAuthTokens;

impl MigrationName for CreateAuthTokens {
    fn name(&self) -> &str {
        "m20261130_000002_create_auth_tokens"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateAuthTokens {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("auth_tokens")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("user_id"))
                    .col(string_len_uniq("digest", 64))
                    .col(string_len("prefix", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("auth_tokens_user_id")
                    .table("auth_tokens")
                    .col("user_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("auth_tokens").to_owned()).await
    }
}

/// Creates `auth_settings` (the generated secret key when `AUTH_SECRET_KEY` is unset).
#[derive(Debug)]
pub struct CreateAuthSettings;

impl MigrationName for CreateAuthSettings {
    fn name(&self) -> &str {
        "m20261130_000003_create_auth_settings"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateAuthSettings {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("auth_settings")
                    .if_not_exists()
                    .col(string_len("key", 64).primary_key())
                    .col(text("value"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("auth_settings").to_owned()).await
    }
}

/// Creates `jwt_refresh_tokens` (issued refresh tokens, rotated and blacklisted ones),
/// `auth_revocations` (per-user "revoke all" times of JWTs and sessions) and `auth_sessions`
/// (server-side sessions).
#[derive(Debug)]
pub struct CreateJwtTables;

impl MigrationName for CreateJwtTables {
    fn name(&self) -> &str {
        "m20261130_000004_create_jwt_and_session_tables"
    }
}

/// Creates an index named `{table}_{col}` on one column.
async fn index(manager: &SchemaManager<'_>, table: &'static str, col: &'static str) -> Result<(), DbErr> {
    manager
        .create_index(Index::create().name(format!("{table}_{col}")).table(table).col(col).if_not_exists().to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for CreateJwtTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("jwt_refresh_tokens")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("jti", 64))
                    .col(string_len("family", 64))
                    .col(big_integer("user_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("rotated_at"))
                    .col(timestamp_with_time_zone_null("blacklisted_at"))
                    .to_owned(),
            )
            .await?;
        for col in ["family", "user_id", "expires_at"] {
            index(manager, "jwt_refresh_tokens", col).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("auth_revocations")
                    .if_not_exists()
                    .col(big_integer("user_id").primary_key())
                    .col(big_integer("not_before").default(0))
                    .col(big_integer("sessions_not_before").default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("auth_sessions")
                    .if_not_exists()
                    .col(string_len("key_digest", 64).primary_key())
                    .col(text("state"))
                    .col(big_integer_null("user_id"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .to_owned(),
            )
            .await?;
        for col in ["user_id", "expires_at"] {
            index(manager, "auth_sessions", col).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["auth_sessions", "auth_revocations", "jwt_refresh_tokens"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// Creates the OAuth2 authorization server's tables: `oauth2_applications` (clients, secrets
/// as SHA-256 digests), `oauth2_grants` (one per consent or client-credentials issuance),
/// `oauth2_authorization_codes`, `oauth2_access_tokens` and `oauth2_refresh_tokens` (codes
/// and tokens as SHA-256 digests, each linked to its grant).
#[derive(Debug)]
pub struct CreateOAuth2Tables;

impl MigrationName for CreateOAuth2Tables {
    fn name(&self) -> &str {
        "m20261130_000005_create_oauth2_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOAuth2Tables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("oauth2_applications")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("client_id", 100))
                    .col(string_len_null("client_secret_digest", 64))
                    .col(string_len("client_type", 16))
                    .col(text("grant_types"))
                    .col(text("redirect_uris"))
                    .col(text("scopes"))
                    .col(string_len("name", 255))
                    .col(big_integer_null("owner_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("oauth2_grants")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("application_id"))
                    .col(big_integer_null("user_id"))
                    .col(string_len("kind", 32))
                    .col(text("scope"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .to_owned(),
            )
            .await?;
        for col in ["application_id", "user_id", "created_at"] {
            index(manager, "oauth2_grants", col).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("oauth2_authorization_codes")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("digest", 64))
                    .col(big_integer("application_id"))
                    .col(big_integer("grant_id"))
                    .col(big_integer("user_id"))
                    .col(text("redirect_uri"))
                    .col(text("scope"))
                    .col(string_len("code_challenge", 128))
                    .col(string_len("code_challenge_method", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(boolean("used").default(false))
                    .to_owned(),
            )
            .await?;
        for col in ["grant_id", "user_id", "expires_at"] {
            index(manager, "oauth2_authorization_codes", col).await?;
        }
        for table in ["oauth2_access_tokens", "oauth2_refresh_tokens"] {
            let mut t = Table::create();
            t.table(table)
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(string_len_uniq("digest", 64))
                .col(big_integer("application_id"))
                .col(big_integer("grant_id"))
                .col(big_integer_null("user_id"))
                .col(text("scope"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("expires_at"));
            if table == "oauth2_refresh_tokens" {
                t.col(timestamp_with_time_zone_null("rotated_at"));
            }
            t.col(timestamp_with_time_zone_null("revoked_at"));
            manager.create_table(t.to_owned()).await?;
            for col in ["grant_id", "user_id", "expires_at"] {
                index(manager, table, col).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "oauth2_refresh_tokens",
            "oauth2_access_tokens",
            "oauth2_authorization_codes",
            "oauth2_grants",
            "oauth2_applications",
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
