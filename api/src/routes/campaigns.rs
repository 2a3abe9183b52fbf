//! `/v1/campaigns`: the tenant's campaigns and each one's analytics report — the
//! funnel, the A/B variants with their significance, trends and recommendations.
//!
//! The report is computed on request from the stored events
//! (`rex_domain_store::campaign_events`) by the pure functions of
//! `rex_domain::analytics`, the same the `analytics` agent runs, so the command center
//! and the agent's `analytics.report` agree. Another tenant's campaign answers 404
//! exactly as a missing one.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use rex_domain::analytics::{
    Breach, Bucket, CampaignMetrics, Guardrails, MessageEvent, RecommendationInput, Verdict,
    campaign_metrics, judge_experiment, metrics_by_variant, recommend, trends,
    two_proportion_z_test,
};
use rex_domain::deliverability::HealthTier;
use rex_store::StoreError;

use super::Reader;
use crate::error::{ApiError, ErrorBody};
use crate::json::{ApiPath, ApiQuery};
use crate::model::{
    BreachView, CampaignList, CampaignReport, CampaignSummary, ExperimentView, Funnel, MetricsView,
    RatesView, RecommendationView, ReportQuery, Significance, TrendView, VariantView,
};
use crate::state::ApiState;
use crate::tenancy;

/// List the tenant's campaigns
#[utoipa::path(
    get, path = "/v1/campaigns", tag = "campaigns",
    responses((status = 200, body = CampaignList)),
    security(("api_key" = ["read"]))
)]
#[tracing::instrument(name = "campaigns.list", skip_all)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Reader(principal): Reader,
) -> Result<Json<CampaignList>, ApiError> {
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let rows = match tenancy::domain_tenant(&txn, &principal.tenant).await? {
        Some(tenant) => rex_domain_store::list_campaigns(&txn, tenant).await?,
        None => Vec::new(),
    };
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Json(CampaignList {
        items: rows
            .into_iter()
            .map(|c| CampaignSummary {
                name: c.name,
                status: c.status,
                created_at: c.created_at,
                updated_at: c.updated_at,
            })
            .collect(),
    }))
}

/// A campaign's analytics
///
/// Computed from the campaign's stored sends and provider events: the funnel, every
/// A/B variant with its positive-reply rate tested against the leader's, the
/// experiment's verdict under the guardrails, trend buckets and recommendations
/// (including the tenant's sending domains' health).
#[utoipa::path(
    get, path = "/v1/campaigns/{name}/report", tag = "campaigns",
    params(("name" = String, Path), ReportQuery),
    responses(
        (status = 200, body = CampaignReport),
        (status = 404, body = ErrorBody),
        (status = 422, description = "a bad bucket", body = ErrorBody),
    ),
    security(("api_key" = ["read"]))
)]
#[tracing::instrument(name = "campaigns.report", skip_all)]
pub(crate) async fn report(
    State(state): State<ApiState>,
    Reader(principal): Reader,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<CampaignReport>, ApiError> {
    let bucket = match q.bucket.as_deref() {
        None | Some("day") => Bucket::Day,
        Some("week") => Bucket::Week,
        Some(other) => {
            return Err(ApiError::invalid(
                "invalid_parameter",
                format!("bucket {other:?} is not one of day, week"),
            )
            .at("bucket"));
        }
    };
    let not_found = || ApiError::not_found(format!("campaign {name:?} not found"));
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let tenant = tenancy::domain_tenant(&txn, &principal.tenant)
        .await?
        .ok_or_else(not_found)?;
    let campaign = rex_domain_store::campaign_by_name(&txn, tenant, &name)
        .await?
        .ok_or_else(not_found)?;
    let found = rex_domain_store::campaign_events(&txn, tenant, &campaign.name).await?;
    let domains: BTreeMap<String, HealthTier> =
        rex_domain_store::list_sending_domains(&txn, tenant)
            .await?
            .into_iter()
            .filter_map(|d| {
                let tier = serde_json::from_value(serde_json::Value::String(d.health_tier)).ok()?;
                Some((d.domain, tier))
            })
            .collect();
    txn.commit().await.map_err(StoreError::from)?;
    let mut report = build(&found.events, bucket, domains);
    report.campaign = campaign.name;
    report.status = campaign.status;
    report.messages = found.messages as u64;
    tracing::info!(
        events = report.events,
        variants = report.variants.len(),
        "campaign report built"
    );
    Ok(Json(report))
}

/// The report of `events` (pure; the caller fills in the campaign's own fields).
pub(crate) fn build(
    events: &[MessageEvent],
    bucket: Bucket,
    domains: BTreeMap<String, HealthTier>,
) -> CampaignReport {
    let metrics = campaign_metrics(events);
    let by_variant = metrics_by_variant(events);
    let experiment = judge_experiment(&by_variant, &Guardrails::default());
    let recommendations = recommend(&RecommendationInput {
        campaign: metrics,
        domains,
        experiment: Some(experiment.clone()),
        ..RecommendationInput::default()
    });
    let breaches = |variant: &str| -> Vec<BreachView> {
        experiment
            .breaches
            .get(variant)
            .into_iter()
            .flatten()
            .map(|b| match *b {
                Breach::Unsubscribes { rate, max } => BreachView {
                    guardrail: "unsubscribes".to_owned(),
                    rate,
                    max,
                },
                Breach::Complaints { rate, max } => BreachView {
                    guardrail: "complaints".to_owned(),
                    rate,
                    max,
                },
            })
            .collect()
    };
    let variants = variant_views(&by_variant)
        .into_iter()
        .map(|mut v| {
            v.breaches = breaches(&v.variant);
            v
        })
        .collect();
    let experiment_view = match &experiment.verdict {
        Verdict::Winner {
            variant,
            max_p_value,
            ..
        } => ExperimentView {
            verdict: "winner".to_owned(),
            winner: Some(variant.clone()),
            reason: None,
            max_p_value: Some(*max_p_value),
        },
        Verdict::NoWinner { reason } => ExperimentView {
            verdict: "no_winner".to_owned(),
            winner: None,
            reason: Some(reason.clone()),
            max_p_value: None,
        },
    };
    CampaignReport {
        campaign: String::new(),
        status: String::new(),
        messages: 0,
        events: events.len() as u64,
        funnel: Funnel::from(&metrics),
        metrics: MetricsView::from(&metrics),
        rates: RatesView::from(&metrics),
        variants,
        experiment: experiment_view,
        bucket: match bucket {
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
        .to_owned(),
        trends: trends(events, bucket)
            .iter()
            .map(|t| TrendView {
                start: t.start,
                metrics: MetricsView::from(&t.metrics),
                rates: RatesView::from(&t.metrics),
            })
            .collect(),
        recommendations: recommendations
            .into_iter()
            .map(|r| RecommendationView {
                kind: serde_json::to_value(r.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                target: r.target,
                reason: r.reason,
            })
            .collect(),
    }
}

/// Each variant, with its positive-reply rate tested against the leader's (the
/// highest rate; the first name on a tie) at α = 0.05 Bonferroni-corrected for the
/// comparisons, as `judge_experiment` does.
fn variant_views(by_variant: &BTreeMap<String, CampaignMetrics>) -> Vec<VariantView> {
    let leader =
        by_variant.iter().fold(
            None::<(&String, &CampaignMetrics)>,
            |best, (name, m)| match best {
                Some((_, b)) if b.positive_reply_rate() >= m.positive_reply_rate() => best,
                _ => Some((name, m)),
            },
        );
    let comparisons = by_variant.len().saturating_sub(1).max(1);
    let alpha = Guardrails::default().alpha / comparisons as f64;
    by_variant
        .iter()
        .map(|(name, m)| {
            let is_leader = leader.is_some_and(|(l, _)| l == name);
            let significance = match leader {
                Some((l, lm)) if !is_leader => two_proportion_z_test(
                    lm.positive_replies,
                    lm.delivered,
                    m.positive_replies,
                    m.delivered,
                )
                .map(|t| Significance {
                    against: l.clone(),
                    z: t.z,
                    p_value: t.p_value,
                    alpha,
                    significant: t.p_value < alpha,
                }),
                _ => None,
            };
            VariantView {
                variant: name.clone(),
                metrics: MetricsView::from(m),
                rates: RatesView::from(m),
                leader: is_leader,
                significance,
                breaches: Vec::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use rex_domain::analytics::EventKind;

    /// `n` messages of `variant` sent and delivered on day `day`, `positive` of them
    /// answered positively.
    fn cohort(variant: &str, day: u32, n: usize, positive: usize) -> Vec<MessageEvent> {
        let at = Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap();
        (0..n)
            .flat_map(|i| {
                let id = format!("{variant}-{day}-{i}");
                let ev = |kind, secs| MessageEvent {
                    message_id: id.clone(),
                    variant: Some(variant.to_owned()),
                    at: at + chrono::Duration::seconds(secs),
                    kind,
                };
                let mut out = vec![ev(EventKind::Sent, 0), ev(EventKind::Delivered, 5)];
                if i < positive {
                    out.push(ev(EventKind::Reply { positive: true }, 3600));
                }
                out
            })
            .collect()
    }

    #[test]
    fn a_clear_leader_is_significant_and_wins() {
        let mut events = cohort("a", 2, 300, 30);
        events.extend(cohort("b", 3, 300, 3));
        let r = build(&events, Bucket::Day, BTreeMap::new());
        assert_eq!(r.funnel.sent, 600);
        assert_eq!(r.funnel.delivered, 600);
        assert_eq!(r.funnel.positive, 33);
        let a = &r.variants[0];
        let b = &r.variants[1];
        assert!(a.leader && a.significance.is_none());
        let s = b.significance.as_ref().unwrap();
        assert_eq!(s.against, "a");
        assert!(s.significant && s.p_value < 0.001, "{s:?}");
        assert_eq!(r.experiment.verdict, "winner");
        assert_eq!(r.experiment.winner.as_deref(), Some("a"));
        assert!(
            r.recommendations
                .iter()
                .any(|x| x.kind == "promote_variant")
        );
        // two send days, two cohorts
        assert_eq!(r.trends.len(), 2);
        assert_eq!(r.trends[0].metrics.sent, 300);
    }

    #[test]
    fn a_small_difference_is_not_significant() {
        let mut events = cohort("a", 2, 120, 6);
        events.extend(cohort("b", 2, 120, 5));
        let r = build(&events, Bucket::Week, BTreeMap::new());
        let s = r.variants[1].significance.as_ref().unwrap();
        assert!(!s.significant);
        assert_eq!(r.experiment.verdict, "no_winner");
        assert_eq!(r.trends.len(), 1);
        assert_eq!(r.bucket, "week");
    }

    #[test]
    fn an_unhealthy_domain_is_recommended_for_a_pause() {
        let domains = BTreeMap::from([("mail.example.com".to_owned(), HealthTier::Blocked)]);
        let r = build(&[], Bucket::Day, domains);
        assert_eq!(r.funnel.sent, 0);
        assert!(r.variants.is_empty());
        assert_eq!(r.recommendations[0].kind, "pause_domain");
        assert_eq!(r.recommendations[0].target, "mail.example.com");
    }
}
