//! The two tables authentication reads: `api_keys` (migration 000031) and `tenants`
//! (000020, owned by the outreach domain). `tenants` is mirrored here rather than
//! imported from `rex-domain-store` so the API of the workflow engine does not depend
//! on the outreach domain; only its id and slug are read, and a row is only ever
//! inserted with every column.

pub mod api_keys {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub name: String,
        /// The key's public head, e.g. `rex_ab12cd34`.
        pub prefix: String,
        /// Hex SHA-256 of the whole key.
        #[sea_orm(unique)]
        pub hash: String,
        /// Comma-separated scopes, e.g. `read,write`.
        pub scopes: String,
        pub created_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::tenants::Entity",
            from = "Column::TenantId",
            to = "super::tenants::Column::Id"
        )]
        Tenant,
    }

    impl Related<super::tenants::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Tenant.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod tenants {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(unique)]
        pub slug: String,
        pub name: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
