//! The app's own tables, migrated after the framework's (see [`crate::Migrator`]).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `members`, `api_keys` and `notes`.
#[derive(Debug)]
pub struct CreateMembersTables;

impl MigrationName for CreateMembersTables {
    fn name(&self) -> &str {
        "m20261203_200001_create_members_api_keys_notes"
    }
}

/// A foreign key `table.col -> members.id`, deleted with the member.
fn to_member(table: &'static str, col: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("{table}_{col}_fkey"))
        .from(table, col)
        .to("members", "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMembersTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("members")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("email", 254))
                    .col(string_len("display_name", 150))
                    .col(string_len("role", 16).default("reader"))
                    .col(string_len("password_hash", 255))
                    .col(boolean("is_active").default(true))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("member_id"))
                    .col(string_len_uniq("digest", 64))
                    .col(string_len("prefix", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut to_member("api_keys", "member_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("notes")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("owner_id"))
                    .col(text("body"))
                    .foreign_key(&mut to_member("notes", "owner_id"))
                    .to_owned(),
            )
            .await?;
        for (table, col) in [("api_keys", "member_id"), ("notes", "owner_id")] {
            manager
                .create_index(
                    Index::create().name(format!("{table}_{col}")).table(table).col(col).if_not_exists().to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["notes", "api_keys", "members"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
