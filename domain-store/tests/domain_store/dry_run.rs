use rex_domain_store::{
    DryRunFilter, Intent, NewDryRun, create_tenant, get_dry_run, list_dry_run, record_dry_run,
    record_intent,
};
use rex_store::testing::TestDb;

use crate::fixtures::{World, at, t0};

on_both_backends!(
    dry_run_entries_are_listed_newest_first_and_filtered,
    a_dry_run_entry_is_found_by_its_message_and_only_by_its_tenant,
    an_empty_provider_is_refused,
);

fn entry(provider: &str, recipient: &str, seconds: i64) -> NewDryRun {
    NewDryRun {
        message_id: None,
        provider: provider.to_owned(),
        operation: if provider == "twilio" {
            "send_sms".to_owned()
        } else {
            "send_email".to_owned()
        },
        recipient: recipient.to_owned(),
        headers: vec![
            ("To".to_owned(), recipient.to_owned()),
            (
                "List-Unsubscribe".to_owned(),
                "<https://u.example/1>".to_owned(),
            ),
        ],
        rendered: format!("hello {recipient}"),
        at: at(seconds),
    }
}

async fn dry_run_entries_are_listed_newest_first_and_filtered(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    record_dry_run(c, w.tenant, &entry("sendgrid", "a@acme.example", 1)).await?;
    record_dry_run(c, w.tenant, &entry("twilio", "+15550100", 2)).await?;
    record_dry_run(c, w.tenant, &entry("sendgrid", "b@acme.example", 3)).await?;
    let all = list_dry_run(
        c,
        w.tenant,
        &DryRunFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await?;
    let recipients: Vec<&str> = all.iter().map(|e| e.recipient.as_str()).collect();
    assert_eq!(
        recipients,
        ["b@acme.example", "+15550100", "a@acme.example"]
    );
    assert_eq!(all[0].recorded_at, at(3));
    assert_eq!(
        all[0].header_pairs()?,
        entry("sendgrid", "b@acme.example", 3).headers
    );
    let emails = list_dry_run(
        c,
        w.tenant,
        &DryRunFilter {
            provider: Some("sendgrid".into()),
            limit: 1,
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].recipient, "b@acme.example");
    let older = list_dry_run(
        c,
        w.tenant,
        &DryRunFilter {
            before: Some(at(3)),
            limit: u64::MAX,
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(older.len(), 2);
    assert!(
        list_dry_run(c, w.tenant, &DryRunFilter::default())
            .await?
            .is_empty()
    );
    Ok(())
}

async fn a_dry_run_entry_is_found_by_its_message_and_only_by_its_tenant(
    db: &TestDb,
) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let Intent::New(message) = record_intent(c, &w.intent("step-1")).await? else {
        anyhow::bail!("the first intent is new");
    };
    record_dry_run(c, w.tenant, &entry("sendgrid", "x@acme.example", 1)).await?;
    let linked = record_dry_run(
        c,
        w.tenant,
        &NewDryRun {
            message_id: Some(message),
            ..entry("sendgrid", "ana@acme.example", 2)
        },
    )
    .await?;
    let found = list_dry_run(
        c,
        w.tenant,
        &DryRunFilter {
            message_id: Some(message),
            limit: 5,
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(found, std::slice::from_ref(&linked));
    assert_eq!(
        get_dry_run(c, w.tenant, linked.id).await?,
        Some(linked.clone())
    );
    let other = create_tenant(c, "beta", "Beta", t0()).await?;
    assert_eq!(get_dry_run(c, other.id, linked.id).await?, None);
    let theirs = list_dry_run(
        c,
        other.id,
        &DryRunFilter {
            limit: 5,
            ..Default::default()
        },
    )
    .await?;
    assert!(theirs.is_empty());
    assert_eq!(get_dry_run(c, w.tenant, uuid::Uuid::nil()).await?, None);
    Ok(())
}

async fn an_empty_provider_is_refused(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let err = record_dry_run(c, w.tenant, &entry(" ", "a@acme.example", 1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("provider"), "{err}");
    // an unknown tenant is refused by the database
    let err = record_dry_run(c, uuid::Uuid::nil(), &entry("sendgrid", "a", 1))
        .await
        .unwrap_err();
    assert!(err.is_foreign_key_violation(), "{err}");
    Ok(())
}
