//! Tenant secrets: sealed at rest, opened per tenant, listed without values, rotated.

use base64::Engine as _;
use rex_domain_store::entity::{audit_log, tenant_secrets};
use rex_domain_store::keyring::{Keyring, KeyringError};
use rex_domain_store::{
    CLI_ACTOR, DomainStoreError, create_tenant, delete_secret, get_secret, list_secrets,
    put_secret, rotate_secrets, secrets_per_key,
};
use rex_store::testing::TestDb;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::fixtures::{at, t0};

fn keyring(spec: &[(&str, u8)]) -> Keyring {
    let text: Vec<String> = spec
        .iter()
        .map(|(id, byte)| {
            format!(
                "{id}:{}",
                base64::engine::general_purpose::STANDARD.encode([*byte; 32])
            )
        })
        .collect();
    Keyring::parse(&text.join(",")).unwrap()
}

async fn put_get_list_delete(db: &TestDb) -> anyhow::Result<()> {
    let c = db.store().conn();
    let ring = keyring(&[("k1", 1)]);
    let acme = create_tenant(c, "acme", "Acme", t0()).await?.id;
    let globex = create_tenant(c, "globex", "Globex", t0()).await?.id;

    put_secret(c, &ring, acme, "sendgrid.api_key", "SG.first", t0()).await?;
    let info = put_secret(c, &ring, acme, "sendgrid.api_key", "SG.second", at(5)).await?;
    assert_eq!(info.key_id, "k1");
    assert_eq!(info.created_at, t0());
    assert_eq!(info.updated_at, at(5));
    put_secret(c, &ring, acme, "twilio.auth_token", "tw-token", t0()).await?;
    let value = get_secret(c, &ring, acme, "sendgrid.api_key")
        .await?
        .unwrap();
    assert_eq!(value.expose(), "SG.second");
    assert_eq!(format!("{value:?}"), "SecretValue([redacted])");
    // the other tenant sees nothing of acme's
    assert!(
        get_secret(c, &ring, globex, "sendgrid.api_key")
            .await?
            .is_none()
    );
    assert!(list_secrets(c, globex).await?.is_empty());

    let names: Vec<String> = list_secrets(c, acme)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["sendgrid.api_key", "twilio.auth_token"]);
    // the table holds no clear text
    for row in tenant_secrets::Entity::find().all(c).await? {
        assert!(!row.ciphertext.windows(6).any(|w| w == b"SG.sec"));
        assert!(!format!("{row:?}").contains("ciphertext"));
    }
    // a name outside the list is refused
    let err = put_secret(c, &ring, acme, "smtp.password", "x", t0())
        .await
        .unwrap_err();
    assert!(matches!(err, DomainStoreError::Invalid { .. }), "{err}");

    assert!(delete_secret(c, acme, "twilio.auth_token").await?);
    assert!(!delete_secret(c, acme, "twilio.auth_token").await?);
    assert!(!delete_secret(c, globex, "sendgrid.api_key").await?);
    assert_eq!(list_secrets(c, acme).await?.len(), 1);
    Ok(())
}

async fn a_ciphertext_moved_to_another_tenant_does_not_open(db: &TestDb) -> anyhow::Result<()> {
    let c = db.store().conn();
    let ring = keyring(&[("k1", 1)]);
    let acme = create_tenant(c, "acme", "Acme", t0()).await?.id;
    let globex = create_tenant(c, "globex", "Globex", t0()).await?.id;
    put_secret(c, &ring, acme, "llm.api_key", "sk-acme", t0()).await?;
    tenant_secrets::Entity::update_many()
        .col_expr(tenant_secrets::Column::TenantId, Expr::value(globex))
        .filter(tenant_secrets::Column::TenantId.eq(acme))
        .exec(c)
        .await?;
    let err = get_secret(c, &ring, globex, "llm.api_key")
        .await
        .unwrap_err();
    assert!(
        matches!(err, DomainStoreError::Keyring(KeyringError::Decrypt { .. })),
        "{err}"
    );
    Ok(())
}

async fn rotation_moves_every_row_to_the_active_key(db: &TestDb) -> anyhow::Result<()> {
    let c = db.store().conn();
    let old = keyring(&[("k0", 7)]);
    let acme = create_tenant(c, "acme", "Acme", t0()).await?.id;
    let globex = create_tenant(c, "globex", "Globex", t0()).await?.id;
    let values = [
        (acme, "sendgrid.api_key", "SG.a"),
        (acme, "twilio.auth_token", "tw-a"),
        (acme, "llm.api_key", "sk-a"),
        (globex, "sendgrid.api_key", "SG.g"),
        (globex, "calendly.token", "cal-g"),
    ];
    for (tenant, name, value) in values {
        put_secret(c, &old, tenant, name, value, t0()).await?;
    }
    // the old key alone cannot be rotated to: nothing to do
    assert_eq!(rotate_secrets(c, &old, 2, CLI_ACTOR).await?.total(), 0);

    let both = keyring(&[("k1", 9), ("k0", 7)]);
    let report = rotate_secrets(c, &both, 2, CLI_ACTOR).await?;
    assert_eq!(report.total(), 5);
    assert_eq!(report.rotated[&acme], 3);
    assert_eq!(report.rotated[&globex], 2);
    assert_eq!(report.batches, 3, "batches of 2 over 5 rows");
    assert_eq!(
        secrets_per_key(c).await?.into_iter().collect::<Vec<_>>(),
        [("k1".to_owned(), 5)]
    );
    // idempotent
    let again = rotate_secrets(c, &both, 2, CLI_ACTOR).await?;
    assert_eq!(again.total(), 0);
    assert_eq!(again.batches, 0);
    // the old key removed: every value still opens
    let new_only = keyring(&[("k1", 9)]);
    for (tenant, name, value) in values {
        let opened = get_secret(c, &new_only, tenant, name).await?.unwrap();
        assert_eq!(opened.expose(), value);
    }
    // and a value sealed under the old key names the missing key
    put_secret(c, &old, acme, "enrichment.hunter_api_key", "h", t0()).await?;
    let err = get_secret(c, &new_only, acme, "enrichment.hunter_api_key")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"k0\""), "{err}");
    let err = rotate_secrets(c, &new_only, 2, CLI_ACTOR)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"k0\""), "{err}");
    // one audit entry per tenant and batch, actor cli, no values
    let audit = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("secret.rotate"))
        .all(c)
        .await?;
    assert!(audit.iter().all(|a| a.actor == "cli" && a.target == "k1"));
    let counted: i64 = audit
        .iter()
        .map(|a| a.details["count"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(counted, 5);
    let text = format!("{audit:?}");
    for (_, _, value) in values {
        assert!(!text.contains(value), "{text}");
    }
    Ok(())
}

on_both_backends!(
    put_get_list_delete,
    a_ciphertext_moved_to_another_tenant_does_not_open,
    rotation_moves_every_row_to_the_active_key,
);
