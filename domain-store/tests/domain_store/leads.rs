use rex_domain_store::{
    CompanyRow, LeadFilter, LeadRow, create_tenant, get_lead, get_lead_with_history,
    import_companies, import_leads, lead_by_external_id, list_companies, list_leads,
};
use rex_store::testing::TestDb;

use crate::fixtures::{at, lead_row, t0};

on_both_backends!(
    an_import_reports_bad_rows_by_number_and_field,
    a_reimport_updates_and_records_what_changed,
    leads_reference_companies_of_their_own_tenant,
    lead_queries_never_return_another_tenants_rows,
);

async fn an_import_reports_bad_rows_by_number_and_field(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let tenant = create_tenant(c, "acme", "Acme", t0()).await?.id;
    let rows = vec![
        lead_row("L1", "ana@acme.example"),
        LeadRow {
            email: Some("not-an-address".into()),
            phone: Some("0301234".into()),
            ..lead_row("L2", "")
        },
        LeadRow {
            time_zone: Some("Europe/Atlantis".into()),
            country: Some("ZZ".into()),
            ..lead_row("L3", "cy@acme.example")
        },
        lead_row("L4", "di@acme.example"),
        lead_row("L1", "dup@acme.example"),
    ];
    let report = import_leads(c, tenant, &rows, at(0)).await?;
    assert_eq!((report.inserted, report.updated), (2, 0));
    let errors: Vec<_> = report.errors.iter().map(|e| (e.row, e.field)).collect();
    assert_eq!(
        errors,
        [
            (2, "email"),
            (2, "phone"),
            (3, "time_zone"),
            (3, "country"),
            (5, "external_id")
        ]
    );
    assert_eq!(report.errors[0].external_id, "L2");
    assert!(report.errors[0].message.contains("not an email address"));
    assert!(lead_by_external_id(c, tenant, "L2").await?.is_none());
    let stored = lead_by_external_id(c, tenant, "L4").await?.expect("L4");
    assert_eq!(stored.stage, "demo");
    assert_eq!(stored.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(
        stored.email_hash,
        Some(rex_domain_store::address_hash("DI@acme.example"))
    );
    Ok(())
}

async fn a_reimport_updates_and_records_what_changed(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let tenant = create_tenant(c, "acme", "Acme", t0()).await?.id;
    import_leads(c, tenant, &[lead_row("L1", "ana@acme.example")], at(0)).await?;
    let same = import_leads(c, tenant, &[lead_row("L1", "ana@acme.example")], at(10)).await?;
    assert_eq!((same.inserted, same.updated, same.unchanged), (0, 0, 1));

    let moved = LeadRow {
        stage: "proposal".into(),
        last_contact_at: Some(at(5)),
        ..lead_row("L1", "ana@acme.example")
    };
    let report = import_leads(c, tenant, &[moved], at(20)).await?;
    assert_eq!(report.updated, 1);
    let lead = lead_by_external_id(c, tenant, "L1").await?.expect("L1");
    assert_eq!(lead.stage, "proposal");
    assert_eq!((lead.created_at, lead.updated_at), (at(0), at(20)));

    let full = get_lead_with_history(c, tenant, lead.id)
        .await?
        .expect("lead");
    let kinds: Vec<_> = full.history.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(kinds, ["imported", "updated"]);
    let change = &full.history[1].changes;
    assert_eq!(change["stage"]["old"], "demo");
    assert_eq!(change["stage"]["new"], "proposal");
    assert!(change.get("last_contact_at").is_some());
    assert!(change.get("email").is_none());
    Ok(())
}

async fn leads_reference_companies_of_their_own_tenant(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let acme = create_tenant(c, "acme", "Acme", t0()).await?.id;
    let beta = create_tenant(c, "beta", "Beta", t0()).await?.id;
    let company = |id: &str| CompanyRow {
        external_id: id.into(),
        name: format!("Company {id}"),
        domain: Some("Globex.example".into()),
        employees: Some(120),
        country: Some("us".into()),
        ..Default::default()
    };
    let report = import_companies(c, acme, &[company("C1")], at(0)).await?;
    assert_eq!((report.inserted, report.errors.len()), (1, 0));
    import_companies(c, beta, &[company("C2")], at(0)).await?;
    let bad = import_companies(
        c,
        acme,
        &[CompanyRow {
            employees: Some(-1),
            ..company("C3")
        }],
        at(0),
    )
    .await?;
    assert_eq!((bad.errors[0].row, bad.errors[0].field), (1, "employees"));

    let rows = [
        LeadRow {
            company_external_id: Some("C1".into()),
            ..lead_row("L1", "ana@globex.example")
        },
        LeadRow {
            company_external_id: Some("C2".into()), // beta's company
            ..lead_row("L2", "bob@globex.example")
        },
    ];
    let report = import_leads(c, acme, &rows, at(1)).await?;
    assert_eq!(report.inserted, 1);
    assert_eq!(
        report
            .errors
            .iter()
            .map(|e| (e.row, e.field))
            .collect::<Vec<_>>(),
        [(2, "company_external_id")]
    );
    let lead = lead_by_external_id(c, acme, "L1").await?.expect("L1");
    let full = get_lead_with_history(c, acme, lead.id).await?.expect("L1");
    let company = full.company.expect("its company");
    assert_eq!(
        (company.domain.as_deref(), company.country.as_deref()),
        (Some("globex.example"), Some("US"))
    );
    let listed = list_leads(
        c,
        acme,
        &LeadFilter {
            company_id: Some(company.id),
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(list_companies(c, acme).await?.len(), 1);
    Ok(())
}

async fn lead_queries_never_return_another_tenants_rows(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let acme = create_tenant(c, "acme", "Acme", t0()).await?.id;
    let beta = create_tenant(c, "beta", "Beta", t0()).await?.id;
    // the same CRM id in both tenants: two leads
    import_leads(c, acme, &[lead_row("L1", "ana@acme.example")], at(0)).await?;
    let report = import_leads(c, beta, &[lead_row("L1", "ana@beta.example")], at(0)).await?;
    assert_eq!(report.inserted, 1);
    let a = lead_by_external_id(c, acme, "L1").await?.expect("acme L1");
    let b = lead_by_external_id(c, beta, "L1").await?.expect("beta L1");
    assert_ne!(a.id, b.id);
    assert_eq!(get_lead(c, beta, a.id).await?, None);
    assert_eq!(get_lead_with_history(c, beta, a.id).await?, None);
    let beta_leads = list_leads(c, beta, &LeadFilter::default()).await?;
    assert_eq!(beta_leads.iter().map(|l| l.id).collect::<Vec<_>>(), [b.id]);
    let demo = LeadFilter {
        stage: Some(rex_domain::reviver::DealStage::Demo),
        ..Default::default()
    };
    assert_eq!(list_leads(c, acme, &demo).await?.len(), 1);
    Ok(())
}
