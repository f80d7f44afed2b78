//! The notes resource: any member may read a note, only its owner may change it.

use std::any::Any;

use actix_web::{HttpRequest, HttpResponse, web};
use auth_runtime::http::JsonObject;
use auth_runtime::permissions::{Context, Permission};
use auth_runtime::{Auth, AuthError, Principal, authentication, check_object_permissions, permission, throttle};
use sea_orm::ActiveValue::Set;
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;

use crate::api_key::ApiKey;

/// The `notes` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// A note.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The member who wrote it (`members.id`).
        pub owner_id: i64,
        /// The text.
        pub body: String,
    }

    /// No relations declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The owner-only rule (DRF's `IsOwnerOrReadOnly`, write half): any member may make the
/// request; only the owner passes for the note itself, checked by
/// [`auth_runtime::check_object_permissions`] once the handler has loaded it.
#[derive(Debug, Clone, Copy, Default)]
pub struct IsOwner;

impl Permission for IsOwner {
    async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
        Ok(cx.principal().is_some())
    }

    async fn has_object_permission(&self, cx: &Context<'_>, obj: &dyn Any) -> Result<bool, AuthError> {
        // Objects come as `&dyn Any` (DRF's `obj`): a type this rule does not know is refused.
        Ok(obj.downcast_ref::<entity::Model>().is_some_and(|note| cx.user().is_some_and(|u| u.id == note.owner_id)))
    }
}

/// The body of `POST /v1/notes` and `PUT /v1/notes/{id}`.
#[derive(Debug, serde::Deserialize)]
pub struct NoteBody {
    /// The text, 1 to 10 000 characters.
    pub body: String,
}

fn valid(body: NoteBody) -> Result<String, AuthError> {
    let len = body.body.chars().count();
    if len == 0 || len > 10_000 || body.body.contains('\0') {
        return Err(AuthError::InvalidRequest("body: must be 1 to 10000 characters, without NUL.".into()));
    }
    Ok(body.body)
}

async fn find(auth: &Auth, id: i64) -> Result<entity::Model, AuthError> {
    entity::Entity::find_by_id(id).one(auth.db()).await?.ok_or(AuthError::NotFound)
}

fn member_id(principal: &Principal) -> Result<i64, AuthError> {
    principal.user.as_ref().map(|u| u.id).ok_or_else(AuthError::permission_denied)
}

/// `GET /v1/notes`: the caller's notes. The settings' chain (ApiKey, Token), throttled per
/// role ([`crate::throttle::PerRole`]).
#[throttle(crate::throttle::PerRole)]
pub async fn list(auth: Auth, principal: Principal) -> Result<HttpResponse, AuthError> {
    let notes = entity::Entity::find()
        .filter(entity::Column::OwnerId.eq(member_id(&principal)?))
        .order_by_asc(entity::Column::Id)
        .all(auth.db())
        .await?;
    Ok(HttpResponse::Ok().json(notes))
}

/// `POST /v1/notes` `{"body"}`: 201 with a note owned by the caller (the settings' chain).
pub async fn create(auth: Auth, principal: Principal, body: JsonObject<NoteBody>) -> Result<HttpResponse, AuthError> {
    let note = entity::ActiveModel {
        owner_id: Set(member_id(&principal)?),
        body: Set(valid(body.into_inner())?),
        ..Default::default()
    }
    .insert(auth.db())
    .await?;
    Ok(HttpResponse::Created().json(note))
}

/// `GET /v1/notes/{id}`: any member (Token first, then ApiKey).
#[authentication(Token, ApiKey)]
pub async fn get(auth: Auth, _: Principal, id: web::Path<i64>) -> Result<HttpResponse, AuthError> {
    Ok(HttpResponse::Ok().json(find(&auth, id.into_inner()).await?))
}

/// `PUT /v1/notes/{id}` `{"body"}`: the owner only (403 for other members, 401 anonymous,
/// 404 for no such note).
#[authentication(Token, ApiKey)]
#[permission(IsOwner)]
pub async fn update(
    req: HttpRequest,
    auth: Auth,
    id: web::Path<i64>,
    body: JsonObject<NoteBody>,
) -> Result<HttpResponse, AuthError> {
    let note = find(&auth, id.into_inner()).await?;
    check_object_permissions(&req, &note).await?;
    let mut active: entity::ActiveModel = note.into();
    active.body = Set(valid(body.into_inner())?);
    Ok(HttpResponse::Ok().json(active.update(auth.db()).await?))
}
