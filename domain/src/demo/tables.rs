//! The weighted tables the demo dataset draws from: countries and their zones, name
//! sets, industries, sizes, titles, sources, stages, lost reasons, email statuses, the
//! defects injected on purpose and the suppressions on the ledger.

use super::*;

#[derive(Clone, Copy)]
pub(super) enum Names {
    English,
    Spanish,
    German,
    French,
    Italian,
    Dutch,
    Swedish,
    Polish,
    Japanese,
    Indian,
    Singaporean,
}

pub(super) struct Country {
    pub(super) code: &'static str,
    pub(super) region: Region,
    pub(super) zones: &'static [&'static str],
    pub(super) phone_prefix: &'static str,
    /// Digits after the prefix.
    pub(super) phone_digits: u32,
    pub(super) names: Names,
    pub(super) weight: u32,
}

#[rustfmt::skip]
pub(super) const COUNTRIES: &[Country] = &[
    c("US", Region::Na, &["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix"], "+1", 10, Names::English, 380),
    c("CA", Region::Na, &["America/Toronto", "America/Vancouver", "America/Edmonton"], "+1", 10, Names::English, 80),
    c("MX", Region::Na, &["America/Mexico_City", "America/Monterrey"], "+52", 10, Names::Spanish, 40),
    c("GB", Region::Eu, &["Europe/London"], "+44", 10, Names::English, 80),
    c("DE", Region::Eu, &["Europe/Berlin"], "+49", 10, Names::German, 60),
    c("FR", Region::Eu, &["Europe/Paris"], "+33", 9, Names::French, 40),
    c("NL", Region::Eu, &["Europe/Amsterdam"], "+31", 9, Names::Dutch, 30),
    c("ES", Region::Eu, &["Europe/Madrid"], "+34", 9, Names::Spanish, 25),
    c("IT", Region::Eu, &["Europe/Rome"], "+39", 10, Names::Italian, 20),
    c("SE", Region::Eu, &["Europe/Stockholm"], "+46", 9, Names::Swedish, 20),
    c("IE", Region::Eu, &["Europe/Dublin"], "+353", 9, Names::English, 15),
    c("PL", Region::Eu, &["Europe/Warsaw"], "+48", 9, Names::Polish, 15),
    c("CH", Region::Eu, &["Europe/Zurich"], "+41", 9, Names::German, 15),
    c("AU", Region::Apac, &["Australia/Sydney", "Australia/Melbourne", "Australia/Perth", "Australia/Brisbane"], "+61", 9, Names::English, 70),
    c("NZ", Region::Apac, &["Pacific/Auckland"], "+64", 9, Names::English, 15),
    c("SG", Region::Apac, &["Asia/Singapore"], "+65", 8, Names::Singaporean, 35),
    c("JP", Region::Apac, &["Asia/Tokyo"], "+81", 10, Names::Japanese, 30),
    c("IN", Region::Apac, &["Asia/Kolkata"], "+91", 10, Names::Indian, 30),
];

#[allow(clippy::too_many_arguments)]
const fn c(
    code: &'static str,
    region: Region,
    zones: &'static [&'static str],
    phone_prefix: &'static str,
    phone_digits: u32,
    names: Names,
    weight: u32,
) -> Country {
    Country {
        code,
        region,
        zones,
        phone_prefix,
        phone_digits,
        names,
        weight,
    }
}

#[rustfmt::skip]
pub(super) fn names(set: Names) -> (&'static [&'static str], &'static [&'static str]) {
    match set {
        Names::English => (
            &["Emma", "Liam", "Olivia", "Noah", "Ava", "James", "Sophia", "Lucas", "Mia", "Ethan",
              "Harper", "Mason", "Grace", "Owen", "Chloe", "Daniel", "Ruth", "Marcus", "Aisha", "Connor"],
            &["Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Clark", "Walker", "Young",
              "Hall", "Allen", "Wright", "King", "Scott", "Green", "Okafor", "Nguyen", "Murphy", "Campbell"],
        ),
        Names::Spanish => (
            &["Sofía", "Mateo", "Lucía", "Diego", "Valentina", "Javier", "Camila", "Alejandro"],
            &["García", "Martínez", "López", "Hernández", "González", "Pérez", "Sánchez", "Ramírez"],
        ),
        Names::German => (
            &["Lena", "Jonas", "Mia", "Felix", "Hannah", "Lukas", "Lea", "Maximilian", "Jörg", "Anke"],
            &["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann", "Wagner", "Krüger", "Weiß"],
        ),
        Names::French => (
            &["Camille", "Hugo", "Chloé", "Louis", "Manon", "Jules", "Inès", "Arthur"],
            &["Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Lefèvre", "Girard", "Roux"],
        ),
        Names::Italian => (
            &["Giulia", "Marco", "Chiara", "Luca", "Francesca", "Matteo"],
            &["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano"],
        ),
        Names::Dutch => (
            &["Sanne", "Daan", "Fleur", "Sem", "Lotte", "Bram"],
            &["de Jong", "Jansen", "de Vries", "van Dijk", "Bakker", "Visser"],
        ),
        Names::Swedish => (
            &["Elsa", "Oskar", "Maja", "Erik", "Astrid", "Nils"],
            &["Andersson", "Johansson", "Karlsson", "Nilsson", "Lindberg", "Berg"],
        ),
        Names::Polish => (
            &["Zofia", "Jakub", "Julia", "Kacper", "Maja", "Szymon"],
            &["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamińska", "Lewandowski"],
        ),
        Names::Japanese => (
            &["Yuki", "Haruto", "Sakura", "Ren", "Aoi", "Sota"],
            &["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito"],
        ),
        Names::Indian => (
            &["Priya", "Arjun", "Ananya", "Rohan", "Kavya", "Vikram"],
            &["Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair"],
        ),
        Names::Singaporean => (
            &["Wei Ling", "Jun Jie", "Hui Min", "Kai", "Mei", "Darren"],
            &["Tan", "Lim", "Ng", "Wong", "Lee", "Chua"],
        ),
    }
}

/// Industry, weight among leads, weight among won customers, company-name suffixes,
/// pain points.
pub(super) type Industry = (
    &'static str,
    u32,
    u32,
    &'static [&'static str],
    &'static [&'static str],
);

#[rustfmt::skip]
pub(super) const INDUSTRIES: &[Industry] = &[
    ("software", 20, 30, &["Labs", "Software", "Systems", "Cloud"],
     &["manual lead routing", "slow onboarding of new customers", "a CRM nobody trusts"]),
    ("logistics", 14, 22, &["Logistics", "Freight", "Shipping"],
     &["slow quote turnaround", "missed pickup windows", "carrier data spread over spreadsheets"]),
    ("manufacturing", 13, 10, &["Manufacturing", "Industries", "Components"],
     &["long RFQ cycles", "distributor leads going cold", "manual order entry"]),
    ("healthcare", 9, 6, &["Health", "Medical", "Care"],
     &["referral leakage", "slow patient intake", "compliance paperwork"]),
    ("financial services", 10, 10, &["Capital", "Finance", "Payments"],
     &["slow KYC reviews", "advisors chasing cold prospects", "manual reconciliation"]),
    ("retail", 8, 4, &["Retail", "Stores", "Outfitters"],
     &["wholesale reorders falling through", "seasonal staffing gaps", "stock-outs"]),
    ("professional services", 11, 12, &["Consulting", "Partners", "Advisory"],
     &["proposals that stall", "unbilled hours", "pipeline that depends on referrals"]),
    ("education", 6, 2, &["Learning", "Academy", "Education"],
     &["enrolment inquiries left unanswered", "manual scheduling", "low course completion"]),
    ("real estate", 5, 2, &["Properties", "Realty", "Estates"],
     &["slow lead response", "listings data in three systems", "tenant churn"]),
    ("energy", 4, 2, &["Energy", "Power", "Renewables"],
     &["site surveys booked by email", "long sales cycles", "field crews double-booked"]),
];

#[rustfmt::skip]
pub(super) const PREFIXES: &[&str] = &[
    "Northwind", "Bluepeak", "Ironbridge", "Silverline", "Brightwater", "Redstone", "Greenfield",
    "Clearpath", "Summit", "Harbor", "Pinecrest", "Cobalt", "Lumen", "Vertex", "Oakridge",
    "Meridian", "Beacon", "Atlas", "Nimbus", "Keystone", "Riverbend", "Stonegate", "Crescent",
    "Falcon", "Granite", "Horizon", "Juniper", "Kestrel", "Larkspur", "Maple", "Quarry",
    "Tidewater", "Evergreen", "Copperleaf", "Westbrook", "Alder", "Bramble", "Sable",
];

/// (band lower bound, upper bound, weight among leads, weight among won customers).
pub(super) const SIZES: &[(u32, u32, u32, u32)] = &[
    (2, 10, 10, 4),
    (11, 50, 30, 20),
    (51, 200, 30, 40),
    (201, 1000, 20, 28),
    (1001, 20000, 10, 8),
];

#[rustfmt::skip]
pub(super) const TITLES: &[(&[&str], u32)] = &[
    (&["CEO", "COO", "CFO", "Founder", "Chief Revenue Officer", "Co-Founder & CTO"], 12),
    (&["VP Sales", "VP Operations", "VP Marketing", "SVP Revenue", "Vice President, Supply Chain"], 15),
    (&["Director of Operations", "Head of Sales", "Director of IT", "Head of Growth", "Sales Director"], 25),
    (&["Sales Manager", "Operations Manager", "Marketing Manager", "Team Lead, Inside Sales",
       "Procurement Manager"], 30),
    (&["Account Executive", "Operations Analyst", "Marketing Specialist",
       "Sales Development Representative", "Buyer"], 18),
];

pub(super) const SOURCES: &[(LeadSource, u32)] = &[
    (LeadSource::InboundForm, 25),
    (LeadSource::Webinar, 12),
    (LeadSource::TradeShow, 14),
    (LeadSource::Outbound, 22),
    (LeadSource::Referral, 8),
    (LeadSource::ContentDownload, 14),
    (LeadSource::Partner, 5),
];

pub(super) const STAGES: &[(DealStage, u32)] = &[
    (DealStage::Lead, 25),
    (DealStage::Mql, 25),
    (DealStage::Sql, 20),
    (DealStage::Demo, 15),
    (DealStage::Proposal, 10),
    (DealStage::Negotiation, 5),
];

pub(super) const LOST: &[(LostReason, u32)] = &[
    (LostReason::Timing, 25),
    (LostReason::NoDecision, 20),
    (LostReason::Budget, 15),
    (LostReason::Competitor, 12),
    (LostReason::ChampionLeft, 8),
    (LostReason::Unknown, 8),
    (LostReason::BadFit, 6),
    (LostReason::Other, 4),
    (LostReason::DoNotContact, 2),
];

pub(super) const EMAIL_STATUS: &[(EmailVerification, u32)] = &[
    (EmailVerification::Valid, 60),
    (EmailVerification::AcceptAll, 15),
    (EmailVerification::Unverified, 10),
    (EmailVerification::Unknown, 8),
    (EmailVerification::Webmail, 3),
    (EmailVerification::Invalid, 3),
    (EmailVerification::Disposable, 1),
];

pub(super) const BAD_EMAILS: usize = 6;
pub(super) const BAD_PHONES: usize = 6;
pub(super) const BAD_ZONES: &[&str] = &[
    "America/Springfield",
    "Europe/Atlantis",
    "Asia/Gotham",
    "Mars/Olympus_Mons",
    "GMT+25",
];
pub(super) const SUPPRESSED: &[SuppressionReason] = &[
    SuppressionReason::Unsubscribe,
    SuppressionReason::Unsubscribe,
    SuppressionReason::Unsubscribe,
    SuppressionReason::HardBounce,
    SuppressionReason::HardBounce,
    SuppressionReason::HardBounce,
    SuppressionReason::Complaint,
    SuppressionReason::SmsStop,
    SuppressionReason::SmsStop,
    SuppressionReason::Objection,
    SuppressionReason::DoNotContact,
    SuppressionReason::DoNotContact,
];
