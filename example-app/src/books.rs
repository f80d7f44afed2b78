//! The books resource: reading needs any authenticated principal (an OAuth2 client too).
//! Writing: a request authenticated by an OAuth2 token needs the `write` scope, whoever the
//! user is (else 403 `insufficient_scope`); any other request needs a staff user (else 403
//! `permission_denied`).

use actix_web::{HttpResponse, web};
use auth_runtime::http::JsonObject;
use auth_runtime::permissions::{HasScope, IsOAuth2};
use auth_runtime::{Auth, AuthError, permission};
use sea_orm::ActiveValue::Set;
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use serde::Deserialize;

/// The `books` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// A book.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "books")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Title.
        pub title: String,
        /// Author.
        pub author: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `books`.
pub struct CreateBooks;

impl MigrationName for CreateBooks {
    fn name(&self) -> &str {
        "m20261130_100001_create_books"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateBooks {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("books")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("title", 500))
                    .col(string_len("author", 500))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("books").to_owned()).await
    }
}

/// The body of `POST /api/books`.
#[derive(Debug, Deserialize)]
pub struct NewBook {
    /// Title, 1 to 500 characters.
    pub title: String,
    /// Author, 1 to 500 characters.
    pub author: String,
}

/// `GET /api/books`: every book, a plain JSON array (default chain; any principal).
pub async fn list(auth: Auth, _: auth_runtime::Principal) -> Result<HttpResponse, AuthError> {
    let books = entity::Entity::find().order_by_asc(entity::Column::Id).all(auth.db()).await?;
    Ok(HttpResponse::Ok().json(books))
}

/// `GET /api/books/{id}`: one book or 404.
#[permission(IsAuthenticated)]
pub async fn get(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, AuthError> {
    let book = entity::Entity::find_by_id(id.into_inner()).one(auth.db()).await?.ok_or(AuthError::NotFound)?;
    Ok(HttpResponse::Ok().json(book))
}

/// `POST /api/books` `{"title", "author"}`: an OAuth2 token with `write`, or a staff user;
/// 201 with the book.
#[permission(IsAuthenticated & HasScope("write") & (IsOAuth2 | IsAdminUser))]
pub async fn create(auth: Auth, body: JsonObject<NewBook>) -> Result<HttpResponse, AuthError> {
    let NewBook { title, author } = body.into_inner();
    for (name, value) in [("title", &title), ("author", &author)] {
        let len = value.chars().count();
        if len == 0 || len > 500 || value.contains('\0') {
            return Err(AuthError::InvalidRequest(format!("{name}: must be 1 to 500 characters, without NUL.").into()));
        }
    }
    let book =
        entity::ActiveModel { title: Set(title), author: Set(author), ..Default::default() }.insert(auth.db()).await?;
    Ok(HttpResponse::Created().json(book))
}

/// `DELETE /api/books/{id}`: an OAuth2 token with `write`, or a staff user; 204, or 404
/// when there is no such book.
#[permission(IsAuthenticated & HasScope("write") & (IsOAuth2 | IsAdminUser))]
pub async fn delete(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, AuthError> {
    let result = entity::Entity::delete_by_id(id.into_inner()).exec(auth.db()).await?;
    if result.rows_affected == 0 {
        return Err(AuthError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}
