//! `rex secrets set|list|delete|rotate`: tenants' provider credentials, encrypted with
//! the keys of `REX_SECRETS_KEYS` (see `rex_domain_store::keyring` for the format).
//!
//! `set` reads the value from standard input (never from the command line, which
//! shells and `ps` show). `rotate` re-encrypts every tenant's values under the active
//! (first) key; once it reports nothing left under an old key, that key can be removed
//! from `REX_SECRETS_KEYS`. Every change is recorded in the audit log with actor `cli`.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use rex_domain_store::keyring::Keyring;
use rex_domain_store::{
    CLI_ACTOR, NewAudit, ROTATE_BATCH, SECRET_NAMES, actions, delete_secret, list_secrets,
    put_secret, record_audit, rotate_secrets, secrets_per_key, tenant_by_slug,
};
use serde_json::json;

use crate::cli::Global;
use crate::setup;

#[derive(Debug, Clone, Subcommand)]
pub enum SecretsCommand {
    /// Store a tenant's secret, read from standard input (trailing newline removed).
    Set {
        /// sendgrid.api_key, sendgrid.webhook_public_key, twilio.account_sid,
        /// twilio.auth_token, calendly.token, calendly.webhook_signing_key,
        /// enrichment.apollo_api_key, enrichment.hunter_api_key, llm.api_key,
        /// llm.base_url.
        name: String,
        /// Tenant slug.
        #[arg(long, env = "REX_TENANT", default_value = "default")]
        tenant: String,
    },
    /// List a tenant's secrets: names, key ids and times, never values.
    List {
        /// Tenant slug.
        #[arg(long, env = "REX_TENANT", default_value = "default")]
        tenant: String,
    },
    /// Delete a tenant's secret.
    Delete {
        name: String,
        /// Tenant slug.
        #[arg(long, env = "REX_TENANT", default_value = "default")]
        tenant: String,
    },
    /// Re-encrypt every tenant's secrets under the active (first) key of
    /// REX_SECRETS_KEYS, in batches; safe to run again.
    Rotate {
        /// Values re-encrypted per transaction.
        #[arg(long, default_value_t = ROTATE_BATCH)]
        batch: u64,
    },
}

fn keyring() -> anyhow::Result<Keyring> {
    Keyring::from_env().context("cannot use tenant secrets")
}

/// The value as typed or piped, without its trailing line break.
fn read_value() -> anyhow::Result<String> {
    let mut value = String::new();
    std::io::stdin()
        .read_to_string(&mut value)
        .context("reading the secret from standard input")?;
    Ok(value.trim_end_matches(['\n', '\r']).to_owned())
}

pub async fn run(g: &Global, cmd: SecretsCommand) -> anyhow::Result<ExitCode> {
    let store = setup::store(g, None).await?;
    let tenant_of = |slug: String| {
        let store = store.clone();
        async move {
            tenant_by_slug(store.conn(), &slug)
                .await
                .context("cannot read the tenants")?
                .with_context(|| format!("tenant {slug:?} not found (set REX_TENANT or --tenant)"))
        }
    };
    match cmd {
        SecretsCommand::Set { name, tenant } => {
            rex_domain_store::validate_secret_name(&name)?;
            let keyring = keyring()?;
            let tenant = tenant_of(tenant).await?;
            let value = read_value()?;
            let txn = store.begin().await?;
            let info =
                put_secret(&txn, &keyring, tenant.id, &name, &value, rex_store::now()).await?;
            record_audit(
                &txn,
                audit(
                    tenant.id,
                    actions::SECRET_SET,
                    &name,
                    json!({"key_id": info.key_id}),
                ),
            )
            .await?;
            txn.commit().await?;
            eprintln!(
                "stored {name} for tenant {} under key {}",
                tenant.slug, info.key_id
            );
        }
        SecretsCommand::List { tenant } => {
            let tenant = tenant_of(tenant).await?;
            let rows = list_secrets(store.conn(), tenant.id).await?;
            if rows.is_empty() {
                println!(
                    "no secrets for tenant {} (names: {})",
                    tenant.slug,
                    SECRET_NAMES.join(", ")
                );
            }
            for s in rows {
                println!(
                    "{:<28} key {:<16} updated {}",
                    s.name,
                    s.key_id,
                    s.updated_at.to_rfc3339()
                );
            }
        }
        SecretsCommand::Delete { name, tenant } => {
            rex_domain_store::validate_secret_name(&name)?;
            let tenant = tenant_of(tenant).await?;
            let txn = store.begin().await?;
            if !delete_secret(&txn, tenant.id, &name).await? {
                anyhow::bail!("tenant {} has no secret {name}", tenant.slug);
            }
            record_audit(
                &txn,
                audit(tenant.id, actions::SECRET_DELETE, &name, json!({})),
            )
            .await?;
            txn.commit().await?;
            eprintln!("deleted {name} of tenant {}", tenant.slug);
        }
        SecretsCommand::Rotate { batch } => {
            let keyring = keyring()?;
            let report = rotate_secrets(store.conn(), &keyring, batch, CLI_ACTOR).await?;
            println!(
                "re-encrypted {} secret(s) of {} tenant(s) under key {} in {} batch(es)",
                report.total(),
                report.rotated.len(),
                report.active_key_id,
                report.batches
            );
            for (key_id, count) in secrets_per_key(store.conn()).await? {
                println!("  key {key_id}: {count} secret(s)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn audit(
    tenant_id: uuid::Uuid,
    action: &'static str,
    target: &str,
    details: serde_json::Value,
) -> NewAudit {
    NewAudit {
        tenant_id,
        actor: CLI_ACTOR.to_owned(),
        action,
        target: target.to_owned(),
        request_id: None,
        details,
        at: rex_store::now(),
    }
}
