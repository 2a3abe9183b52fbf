//! Definitions: put once per (name, version), read many times.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::batch::insert_models;
use crate::definitions::{self, Column, Entity};
use crate::{Store, StoreError, now};

/// A definition version to store; `body` is the canonical JSON and `content_hash` its
/// hex SHA-256, both computed by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDefinition {
    pub name: String,
    pub version: i32,
    pub description: Option<String>,
    pub body: String,
    pub content_hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutDefinition {
    Created(definitions::Model),
    /// The same content was already stored under this (name, version).
    Unchanged(definitions::Model),
}

impl PutDefinition {
    pub fn model(&self) -> &definitions::Model {
        match self {
            PutDefinition::Created(m) | PutDefinition::Unchanged(m) => m,
        }
    }

    pub fn into_model(self) -> definitions::Model {
        match self {
            PutDefinition::Created(m) | PutDefinition::Unchanged(m) => m,
        }
    }
}

impl Store {
    /// Stores a definition version. A stored version never changes: putting it again
    /// with the same hash is `Unchanged`, with another hash a `DefinitionConflict`.
    /// Safe under concurrent puts of the same version (the unique index decides).
    pub async fn put_definition(&self, d: NewDefinition) -> Result<PutDefinition, StoreError> {
        let model = definitions::Model {
            id: Uuid::now_v7(),
            name: d.name,
            version: d.version,
            description: d.description,
            body: d.body,
            content_hash: d.content_hash,
            created_at: now(),
        };
        let mut insert = insert_models::<Entity>(std::slice::from_ref(&model))?;
        insert.on_conflict(
            OnConflict::columns([Column::Name, Column::Version])
                .do_nothing()
                .to_owned(),
        );
        let inserted = self.conn().execute(&insert).await?.rows_affected() == 1;
        if inserted {
            return Ok(PutDefinition::Created(model));
        }
        let existing = self
            .get_definition(&model.name, Some(model.version))
            .await?
            .ok_or_else(|| {
                StoreError::not_found("definition", format!("{}@{}", model.name, model.version))
            })?;
        if existing.content_hash == model.content_hash {
            Ok(PutDefinition::Unchanged(existing))
        } else {
            Err(StoreError::DefinitionConflict {
                name: model.name,
                version: model.version,
            })
        }
    }

    /// One version of a definition, or its latest version when `version` is `None`.
    pub async fn get_definition(
        &self,
        name: &str,
        version: Option<i32>,
    ) -> Result<Option<definitions::Model>, StoreError> {
        let mut query = Entity::find().filter(Column::Name.eq(name));
        query = match version {
            Some(v) => query.filter(Column::Version.eq(v)),
            None => query.order_by_desc(Column::Version),
        };
        Ok(query.one(self.conn()).await?)
    }

    pub async fn get_definition_by_id(
        &self,
        id: Uuid,
    ) -> Result<Option<definitions::Model>, StoreError> {
        Ok(Entity::find_by_id(id).one(self.conn()).await?)
    }

    /// Every stored version, by name then version.
    pub async fn list_definitions(&self) -> Result<Vec<definitions::Model>, StoreError> {
        Ok(Entity::find()
            .order_by_asc(Column::Name)
            .order_by_asc(Column::Version)
            .all(self.conn())
            .await?)
    }

    /// How many missions are running on each stored definition version (by row id);
    /// versions with none are absent.
    pub async fn running_missions_by_definition(
        &self,
    ) -> Result<std::collections::HashMap<uuid::Uuid, u64>, StoreError> {
        use sea_orm::{FromQueryResult, QuerySelect};

        #[derive(FromQueryResult)]
        struct Row {
            definition_id: uuid::Uuid,
            running: i64,
        }
        let rows = crate::missions::Entity::find()
            .select_only()
            .column(crate::missions::Column::DefinitionId)
            .column_as(crate::missions::Column::Id.count(), "running")
            .filter(crate::missions::Column::Status.eq("running"))
            .group_by(crate::missions::Column::DefinitionId)
            .into_model::<Row>()
            .all(self.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.definition_id, r.running.max(0) as u64))
            .collect())
    }
}
