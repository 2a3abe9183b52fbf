//! `rex dry-run list|show`: what the provider stand-ins (no credentials configured)
//! would have sent, from the tenant's persisted dry-run log. Every line of output says
//! "DRY RUN — not sent": nothing shown here reached anyone.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use rex_domain_store::entity::dry_run_log;
use rex_domain_store::{DryRunFilter, get_dry_run, list_dry_run, tenant_by_slug};
use serde_json::{Value, json};

use crate::cli::{DryRunCommand, Global};
use crate::setup;

/// The label on every listing and entry.
pub const LABEL: &str = "DRY RUN — not sent";

pub async fn run(g: &Global, cmd: DryRunCommand) -> anyhow::Result<ExitCode> {
    let store = setup::store(g, None).await?;
    let c = store.conn();
    let slug = match &cmd {
        DryRunCommand::List { tenant, .. } | DryRunCommand::Show { tenant, .. } => tenant.clone(),
    };
    let tenant = tenant_by_slug(c, &slug)
        .await
        .context("cannot read the tenants")?
        .with_context(|| format!("tenant {slug:?} not found (set REX_TENANT or --tenant)"))?;
    match cmd {
        DryRunCommand::List {
            provider,
            limit,
            json,
            ..
        } => {
            let rows = list_dry_run(
                c,
                tenant.id,
                &DryRunFilter {
                    provider,
                    limit,
                    ..DryRunFilter::default()
                },
            )
            .await?;
            if json {
                let rows: Vec<Value> = rows.iter().map(as_json).collect();
                println!("{:#}", Value::Array(rows));
            } else {
                print!("{}", list(&slug, &rows));
            }
        }
        DryRunCommand::Show { id, json, .. } => {
            let row = get_dry_run(c, tenant.id, id)
                .await?
                .with_context(|| format!("dry-run entry {id} not found for tenant {slug:?}"))?;
            if json {
                println!("{:#}", as_json(&row));
            } else {
                print!("{}", show(&row));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The entry as JSON, labelled so that no consumer can mistake it for a delivery.
fn as_json(row: &dry_run_log::Model) -> Value {
    json!({
        "dry_run": true,
        "label": LABEL,
        "id": row.id,
        "message_id": row.message_id,
        "provider": row.provider,
        "operation": row.operation,
        "recipient": row.recipient,
        "headers": row.headers,
        "rendered": row.rendered,
        "recorded_at": row.recorded_at.to_rfc3339(),
    })
}

/// A labelled header line, then one line per entry, newest first.
fn list(tenant: &str, rows: &[dry_run_log::Model]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{LABEL}: {} entr{} of tenant {tenant:?} (what would have been sent)",
        rows.len(),
        if rows.len() == 1 { "y" } else { "ies" }
    );
    let _ = writeln!(
        out,
        "{:36}  {:23}  {:10}  {:10}  recipient",
        "id", "recorded at", "provider", "operation"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:36}  {:23}  {:10}  {:10}  {}",
            r.id,
            r.recorded_at.format("%Y-%m-%d %H:%M:%S%.3f"),
            r.provider,
            r.operation,
            r.recipient
        );
    }
    out
}

/// The whole entry: label, fields, headers, then the rendered message.
fn show(row: &dry_run_log::Model) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "=== {LABEL} ===");
    let _ = writeln!(out, "entry:      {}", row.id);
    let message = row
        .message_id
        .map_or_else(|| "-".to_owned(), |m| m.to_string());
    let _ = writeln!(out, "message:    {message}");
    let _ = writeln!(out, "provider:   {} ({})", row.provider, row.operation);
    let _ = writeln!(out, "recipient:  {}", row.recipient);
    let _ = writeln!(
        out,
        "recorded:   {}",
        row.recorded_at.format("%Y-%m-%d %H:%M:%S%.3f UTC")
    );
    let _ = writeln!(out, "headers:");
    match row.header_pairs() {
        Ok(headers) => {
            for (name, value) in headers {
                let _ = writeln!(out, "  {name}: {value}");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  (unreadable: {e})");
        }
    }
    let _ = writeln!(out, "--- rendered (not sent) ---");
    let _ = writeln!(out, "{}", row.rendered.trim_end());
    let _ = writeln!(out, "=== end of {LABEL} ===");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> dry_run_log::Model {
        dry_run_log::Model {
            id: uuid::Uuid::nil(),
            tenant_id: uuid::Uuid::nil(),
            message_id: None,
            provider: "sendgrid".into(),
            operation: "send_email".into(),
            recipient: "ana@acme.example".into(),
            headers: json!([["List-Unsubscribe", "<https://rex.example/u/m1:s1>"]]),
            rendered: "Hello Ana\n\n1 Main St\n".into(),
            recorded_at: chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn a_listing_is_labelled_as_not_sent() {
        let text = list("default", &[row()]);
        assert!(text.starts_with("DRY RUN — not sent: 1 entry"), "{text}");
        assert!(
            text.contains("sendgrid    send_email  ana@acme.example"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn an_entry_shows_its_headers_and_rendered_message() {
        let text = show(&row());
        assert!(text.starts_with("=== DRY RUN — not sent ==="), "{text}");
        assert!(
            text.contains("  List-Unsubscribe: <https://rex.example/u/m1:s1>"),
            "{text}"
        );
        assert!(text.contains("Hello Ana\n\n1 Main St\n=== end"), "{text}");
        assert_eq!(as_json(&row())["dry_run"], true);
    }

    #[test]
    fn unreadable_headers_are_reported_not_a_panic() {
        let mut bad = row();
        bad.headers = json!({"not": "pairs"});
        assert!(show(&bad).contains("(unreadable:"));
    }
}
