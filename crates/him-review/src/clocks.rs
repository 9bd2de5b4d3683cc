//! Turnaround clocks and chart deficiencies, computed from each document's named events.
//!
//! Everything here is a pure function of the timelines it is given: no I/O, no database and no clock
//! reads. The current time (`now`) or date (`today`) is always a parameter.
//!
//! - [`age_class`] and [`age_label`]: how late one waiting document is against [`TatTargets`].
//! - [`turnaround`] and [`percentiles`]: turnaround per [`Stage`], grouped by [`Dimension`].
//! - [`backlog`]: pending documents by age bucket and priority, and how many are overdue.
//! - [`prometheus`]: the turnaround and backlog figures as Prometheus text, with no PHI in labels.
//! - [`deficiencies`], [`by_physician`] and [`deficiencies_csv`]: open chart deficiencies per
//!   [`DeficiencyRules`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize, Serializer};

/// One document's timeline, as the queue index knows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// The document's id.
    pub document_id: String,
    /// `chart` or `dictation`.
    pub kind: String,
    /// Display name of the document type ("Discharge summary"), when known.
    pub document_type: Option<String>,
    /// Station (unit or clinic) the document came from, when known.
    pub station: Option<String>,
    /// Whether the document was submitted as STAT.
    pub stat: bool,
    /// Patient's medical record number, when matched.
    pub mrn: Option<String>,
    /// Reviewer who approved it.
    pub reviewer: Option<String>,
    /// Physician author (as approved or dictated).
    pub author: Option<String>,
    /// `pending`, `approved`, `returned` or `rejected`.
    pub review_status: String,
    /// Approved and waiting for the author's signature.
    pub awaiting_signature: bool,
    /// When the document entered the pipeline.
    pub submitted_at: Option<DateTime<Utc>>,
    /// When the document was filed to the review queue.
    pub filed_at: Option<DateTime<Utc>>,
    /// When a reviewer last claimed it.
    pub claimed_at: Option<DateTime<Utc>>,
    /// When it was approved.
    pub approved_at: Option<DateTime<Utc>>,
    /// When its author signed it.
    pub signed_at: Option<DateTime<Utc>>,
    /// Date of service, when known.
    pub date_of_service: Option<NaiveDate>,
    /// Discharge date of the encounter, when known; deficiencies age from it rather than the date of service.
    pub discharged_on: Option<NaiveDate>,
}

/// An RFC 3339 time of the queue index, `None` when missing or unreadable.
pub(crate) fn parse_time(value: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value?)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// A date (`YYYY-MM-DD`, or the date part of a longer value) of the queue index.
fn parse_date(value: Option<&str>) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value?.get(..10)?, "%Y-%m-%d").ok()
}

/// The display name of a document type code (LOINC), else the code itself.
pub(crate) fn type_display(code: Option<&str>) -> Option<String> {
    code.map(|code| him_extract::loinc_display(code).unwrap_or(code).to_string())
}

impl Timeline {
    /// A document's timeline from its row in the queue index.
    pub(crate) fn of(item: &crate::queue::QueueItem) -> Timeline {
        Timeline {
            document_id: item.document_id.clone(),
            kind: item.kind.clone(),
            document_type: type_display(item.document_type.as_deref()),
            station: item.station.clone(),
            stat: item.stat,
            mrn: item.mrn.clone(),
            reviewer: item.approved_by.clone(),
            author: item.author.clone().or_else(|| item.dictated_by.clone()),
            review_status: item.review_status.clone(),
            awaiting_signature: item.awaiting_signature,
            submitted_at: parse_time(Some(&item.received_at)),
            filed_at: parse_time(item.filed_at.as_deref()),
            claimed_at: parse_time(item.claimed_at.as_deref()),
            approved_at: parse_time(item.approved_at.as_deref()),
            signed_at: parse_time(item.signed_at.as_deref()),
            date_of_service: parse_date(item.date_of_service.as_deref()),
            discharged_on: parse_date(item.discharge_date.as_deref()),
        }
    }

    /// When the document started waiting: `submitted_at`, else `filed_at`.
    fn waiting_since(&self) -> Option<DateTime<Utc>> {
        self.submitted_at.or(self.filed_at)
    }
}

const STAT: &str = "stat";
const ROUTINE: &str = "routine";
const NONE: &str = "(none)";

fn priority(stat: bool) -> &'static str {
    if stat {
        STAT
    } else {
        ROUTINE
    }
}

/// Seconds from `start` to `end`; negative when `end` is earlier.
fn seconds_between(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    end.signed_duration_since(start).num_seconds()
}

// ---------------------------------------------------------------------------------------------------
// Turnaround targets and age colouring

/// How a waiting document's age compares with its turnaround target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeClass {
    /// Younger than the warning share of the target.
    OnTime,
    /// At or past the warning share of the target, not past the target.
    DueSoon,
    /// Past the target.
    Overdue,
}

/// Turnaround targets from submission, per priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TatTargets {
    /// Target for STAT documents, in minutes.
    pub stat_minutes: u64,
    /// Target for routine documents, in minutes.
    pub routine_minutes: u64,
    /// A document is due soon from this percentage of its target.
    pub warn_percent: u8,
    /// Days of documents, by submission, the turnaround percentiles cover (the dashboard and `/metrics`);
    /// the backlog and the deficiencies count every open document whatever its age.
    pub window_days: u32,
}

impl Default for TatTargets {
    /// STAT 120 minutes, routine 1440 minutes (24 hours), due soon from 75 %.
    fn default() -> Self {
        Self {
            stat_minutes: 120,
            routine_minutes: 1440,
            warn_percent: 75,
            window_days: 30,
        }
    }
}

impl TatTargets {
    /// The target for a priority, in seconds.
    fn target_seconds(&self, stat: bool) -> i128 {
        let minutes = if stat {
            self.stat_minutes
        } else {
            self.routine_minutes
        };
        i128::from(minutes) * 60
    }
}

/// Classifies the age of a document waiting since `waiting_since` at `now`: overdue when the age is
/// greater than the target, due soon when it is at least `warn_percent` % of the target. An age below
/// zero (a clock ahead of `now`) counts as zero.
pub fn age_class(
    waiting_since: DateTime<Utc>,
    now: DateTime<Utc>,
    stat: bool,
    targets: &TatTargets,
) -> AgeClass {
    let age = i128::from(seconds_between(waiting_since, now).max(0));
    let target = targets.target_seconds(stat);
    if age > target {
        AgeClass::Overdue
    } else if age * 100 >= target * i128::from(targets.warn_percent) {
        AgeClass::DueSoon
    } else {
        AgeClass::OnTime
    }
}

/// A short age for display: "45 min" under an hour, "3 h 10 min" under a day, "2 d 4 h" from a day.
/// A negative age is shown as "0 min".
pub fn age_label(seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} d {} h", m / (24 * 60), (m / 60) % 24),
    }
}

// ---------------------------------------------------------------------------------------------------
// Turnaround percentiles

/// A measured stretch of a document's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Submitted to filed.
    Processing,
    /// Filed to approved.
    Review,
    /// Approved to signed.
    Signature,
    /// Submitted (else filed) to signed.
    Total,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 4] = [
        Stage::Processing,
        Stage::Review,
        Stage::Signature,
        Stage::Total,
    ];

    /// The stage's name: `processing`, `review`, `signature` or `total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Processing => "processing",
            Stage::Review => "review",
            Stage::Signature => "signature",
            Stage::Total => "total",
        }
    }

    /// The stage named by [`Stage::as_str`].
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.as_str() == name)
    }

    /// The stage's duration in seconds, when both ends exist and the end is not before the start.
    pub(crate) fn seconds(self, t: &Timeline) -> Option<i64> {
        let (start, end) = match self {
            Stage::Processing => (t.submitted_at, t.filed_at),
            Stage::Review => (t.filed_at, t.approved_at),
            Stage::Signature => (t.approved_at, t.signed_at),
            Stage::Total => (t.submitted_at.or(t.filed_at), t.signed_at),
        };
        let seconds = seconds_between(start?, end?);
        (seconds >= 0).then_some(seconds)
    }
}

/// What turnaround is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Every document in one group, `all`.
    All,
    /// Document type display name.
    DocumentType,
    /// Station.
    Station,
    /// `stat` or `routine`.
    Priority,
    /// Approving reviewer.
    Reviewer,
}

impl Dimension {
    /// Every dimension, in order.
    pub const ALL: [Dimension; 5] = [
        Dimension::All,
        Dimension::DocumentType,
        Dimension::Station,
        Dimension::Priority,
        Dimension::Reviewer,
    ];

    /// The dimension's name: `all`, `document_type`, `station`, `priority` or `reviewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::DocumentType => "document_type",
            Dimension::Station => "station",
            Dimension::Priority => "priority",
            Dimension::Reviewer => "reviewer",
        }
    }

    /// The dimension named by [`Dimension::as_str`].
    pub fn parse(name: &str) -> Option<Dimension> {
        Dimension::ALL
            .into_iter()
            .find(|dimension| dimension.as_str() == name)
    }

    /// The timeline's value in this dimension; a missing or blank value is `(none)`.
    pub(crate) fn value(self, t: &Timeline) -> String {
        let named = |v: &Option<String>| match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => NONE.to_string(),
        };
        match self {
            Dimension::All => "all".to_string(),
            Dimension::DocumentType => named(&t.document_type),
            Dimension::Station => named(&t.station),
            Dimension::Priority => priority(t.stat).to_string(),
            Dimension::Reviewer => named(&t.reviewer),
        }
    }
}

/// Nearest-rank percentiles of a set of durations, in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50: i64,
    /// 90th percentile.
    pub p90: i64,
    /// 95th percentile.
    pub p95: i64,
    /// Largest sample.
    pub max: i64,
}

/// Turnaround of one stage for one value of one dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TatRow {
    /// The stage measured.
    pub stage: Stage,
    /// What the documents are grouped by.
    pub dimension: Dimension,
    /// The group's value in that dimension (`(none)` when missing).
    pub value: String,
    /// The group's durations, in seconds.
    pub seconds: Percentiles,
}

/// Nearest-rank percentiles of `samples`, which are sorted in place; `None` when there are none.
pub fn percentiles(samples: &mut [i64]) -> Option<Percentiles> {
    samples.sort_unstable();
    let max = *samples.last()?;
    let n = samples.len();
    // Nearest rank: the smallest value with at least p % of the samples at or below it,
    // rank = ceil(p / 100 × n), 1-based.
    let rank = |p: usize| -> i64 {
        let rank = (p.saturating_mul(n).saturating_add(99) / 100).clamp(1, n);
        samples.get(rank - 1).copied().unwrap_or(max)
    };
    Some(Percentiles {
        count: n,
        p50: rank(50),
        p90: rank(90),
        p95: rank(95),
        max,
    })
}

/// Turnaround percentiles of every stage, by every dimension, sorted by stage, dimension and value. A
/// stage is measured only when both its ends exist and the end is not before the start; groups with no
/// measured document are left out.
pub fn turnaround(timelines: &[Timeline]) -> Vec<TatRow> {
    let mut groups: BTreeMap<(Stage, Dimension, String), Vec<i64>> = BTreeMap::new();
    for t in timelines {
        for stage in Stage::ALL {
            let Some(seconds) = stage.seconds(t) else {
                continue;
            };
            for dimension in Dimension::ALL {
                groups
                    .entry((stage, dimension, dimension.value(t)))
                    .or_default()
                    .push(seconds);
            }
        }
    }
    groups
        .into_iter()
        .filter_map(|((stage, dimension, value), mut samples)| {
            percentiles(&mut samples).map(|seconds| TatRow {
                stage,
                dimension,
                value,
                seconds,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------
// Backlog by age bucket

/// Age buckets: display label, ASCII metric label, exclusive upper bound in seconds (`None`: no bound).
const BUCKETS: [(&str, &str, Option<i64>); 6] = [
    ("<1 h", "lt1h", Some(3_600)),
    ("1–4 h", "1-4h", Some(4 * 3_600)),
    ("4–24 h", "4-24h", Some(24 * 3_600)),
    ("1–3 d", "1-3d", Some(3 * 86_400)),
    ("3–7 d", "3-7d", Some(7 * 86_400)),
    (">7 d", "gt7d", None),
];

/// Pending documents of one age bucket, by priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BacklogBucket {
    /// Display label: `<1 h`, `1–4 h`, `4–24 h`, `1–3 d`, `3–7 d` or `>7 d`.
    pub label: &'static str,
    /// ASCII label for metrics: `lt1h`, `1-4h`, `4-24h`, `1-3d`, `3-7d` or `gt7d`.
    pub key: &'static str,
    /// STAT documents in the bucket.
    pub stat: usize,
    /// Routine documents in the bucket.
    pub routine: usize,
}

/// Pending documents by age since submission (else filing).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Backlog {
    /// Every bucket, youngest first, including empty ones.
    pub buckets: Vec<BacklogBucket>,
    /// STAT documents past their target.
    pub overdue_stat: usize,
    /// Routine documents past their target.
    pub overdue_routine: usize,
    /// Age of the oldest pending document, in seconds; `None` when nothing is pending.
    pub oldest_seconds: Option<i64>,
}

/// The backlog at `now`: documents with review status `pending`, aged from `submitted_at`, else
/// `filed_at` (documents with neither are left out), with an age below zero counted as zero.
pub fn backlog(timelines: &[Timeline], now: DateTime<Utc>, targets: &TatTargets) -> Backlog {
    let mut out = Backlog {
        buckets: BUCKETS
            .iter()
            .map(|&(label, key, _)| BacklogBucket {
                label,
                key,
                stat: 0,
                routine: 0,
            })
            .collect(),
        ..Backlog::default()
    };
    for t in timelines.iter().filter(|t| t.review_status == "pending") {
        let Some(since) = t.waiting_since() else {
            continue;
        };
        let age = seconds_between(since, now).max(0);
        let index = BUCKETS
            .iter()
            .position(|&(_, _, upper)| upper.is_none_or(|upper| age < upper))
            .unwrap_or(BUCKETS.len() - 1);
        if let Some(bucket) = out.buckets.get_mut(index) {
            if t.stat {
                bucket.stat += 1;
            } else {
                bucket.routine += 1;
            }
        }
        if age_class(since, now, t.stat, targets) == AgeClass::Overdue {
            if t.stat {
                out.overdue_stat += 1;
            } else {
                out.overdue_routine += 1;
            }
        }
        out.oldest_seconds = Some(out.oldest_seconds.map_or(age, |oldest| oldest.max(age)));
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// Prometheus text

/// Escapes a label value for the Prometheus text format: backslash, double quote and line feed.
fn label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The turnaround and backlog figures in the Prometheus text exposition format 0.0.4.
///
/// Turnaround is the summary `him_review_turnaround_seconds` (quantiles 0.5, 0.9, 0.95 and 1, and
/// `_count`), labelled by `stage` and `priority` (`all`, `stat` or `routine`) only: rows of other
/// dimensions are left out, so no document id, MRN, name, reviewer or station reaches a label and the
/// number of series stays bounded. The backlog is the gauges `him_review_backlog_documents` (by `bucket`
/// and `priority`), `him_review_overdue_documents` (by `priority`) and
/// `him_review_backlog_oldest_seconds`.
pub fn prometheus(tat: &[TatRow], backlog: &Backlog) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        out,
        "# HELP him_review_turnaround_seconds Time documents spent in each review stage, in seconds."
    );
    let _ = writeln!(out, "# TYPE him_review_turnaround_seconds summary");
    for row in tat {
        let priority = match (row.dimension, row.value.as_str()) {
            (Dimension::All, "all") => "all",
            (Dimension::Priority, STAT) => STAT,
            (Dimension::Priority, ROUTINE) => ROUTINE,
            _ => continue,
        };
        let stage = label_value(row.stage.as_str());
        let p = &row.seconds;
        for (quantile, value) in [
            ("0.5", p.p50),
            ("0.9", p.p90),
            ("0.95", p.p95),
            ("1", p.max),
        ] {
            let _ = writeln!(
                out,
                "him_review_turnaround_seconds{{stage=\"{stage}\",priority=\"{priority}\",quantile=\"{quantile}\"}} {value}"
            );
        }
        let _ = writeln!(
            out,
            "him_review_turnaround_seconds_count{{stage=\"{stage}\",priority=\"{priority}\"}} {}",
            p.count
        );
    }

    let _ = writeln!(
        out,
        "# HELP him_review_backlog_documents Pending documents by age since submission and priority."
    );
    let _ = writeln!(out, "# TYPE him_review_backlog_documents gauge");
    for bucket in &backlog.buckets {
        let key = label_value(bucket.key);
        for (priority, count) in [(STAT, bucket.stat), (ROUTINE, bucket.routine)] {
            let _ = writeln!(
                out,
                "him_review_backlog_documents{{bucket=\"{key}\",priority=\"{priority}\"}} {count}"
            );
        }
    }

    let _ = writeln!(
        out,
        "# HELP him_review_overdue_documents Pending documents past their turnaround target, by priority."
    );
    let _ = writeln!(out, "# TYPE him_review_overdue_documents gauge");
    for (priority, count) in [
        (STAT, backlog.overdue_stat),
        (ROUTINE, backlog.overdue_routine),
    ] {
        let _ = writeln!(
            out,
            "him_review_overdue_documents{{priority=\"{priority}\"}} {count}"
        );
    }

    let _ = writeln!(
        out,
        "# HELP him_review_backlog_oldest_seconds Age of the oldest pending document, in seconds."
    );
    let _ = writeln!(out, "# TYPE him_review_backlog_oldest_seconds gauge");
    let _ = writeln!(
        out,
        "him_review_backlog_oldest_seconds {}",
        backlog.oldest_seconds.unwrap_or(0)
    );
    out
}

// ---------------------------------------------------------------------------------------------------
// Chart deficiencies

/// How long deficiencies may stay open before they are delinquent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeficiencyRules {
    /// Days after the date of service (or discharge) a deficiency becomes delinquent.
    pub default_days: u32,
    /// Days by document type display name, overriding `default_days`.
    pub by_document_type: BTreeMap<String, u32>,
}

impl Default for DeficiencyRules {
    /// 30 days for every document type.
    fn default() -> Self {
        Self {
            default_days: 30,
            by_document_type: BTreeMap::new(),
        }
    }
}

/// What is missing from a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeficiencyKind {
    /// Approved, awaiting the author's signature.
    Unsigned,
    /// Transcription returned to its author.
    Returned,
    /// Dictation not yet approved.
    Unreviewed,
}

impl DeficiencyKind {
    /// The kind's name: `unsigned`, `returned` or `unreviewed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeficiencyKind::Unsigned => "unsigned",
            DeficiencyKind::Returned => "returned",
            DeficiencyKind::Unreviewed => "unreviewed",
        }
    }

    /// The kind for display: "Signature missing", "Returned transcription" or
    /// "Transcription not reviewed".
    pub fn label(self) -> &'static str {
        match self {
            DeficiencyKind::Unsigned => "Signature missing",
            DeficiencyKind::Returned => "Returned transcription",
            DeficiencyKind::Unreviewed => "Transcription not reviewed",
        }
    }

    /// The deficiency a timeline shows, if any. Rejected documents never have one.
    fn of(t: &Timeline) -> Option<Self> {
        match t.review_status.as_str() {
            "approved" if t.awaiting_signature && t.signed_at.is_none() => {
                Some(DeficiencyKind::Unsigned)
            }
            "returned" => Some(DeficiencyKind::Returned),
            "pending" if t.kind == "dictation" => Some(DeficiencyKind::Unreviewed),
            _ => None,
        }
    }
}

fn iso_date<S: Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(date)
}

/// One open deficiency of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deficiency {
    /// The document's id.
    pub document_id: String,
    /// What is missing.
    pub kind: DeficiencyKind,
    /// The physician author, or `(unknown)`.
    pub physician: String,
    /// Patient's medical record number, when matched.
    pub mrn: Option<String>,
    /// Document type display name, when known.
    pub document_type: Option<String>,
    /// The date the deficiency ages from: discharge, else date of service, else submission (or filing).
    #[serde(serialize_with = "iso_date")]
    pub aged_from: NaiveDate,
    /// The last day before it is delinquent.
    #[serde(serialize_with = "iso_date")]
    pub due_on: NaiveDate,
    /// Days from `aged_from` to today; zero when `aged_from` is in the future.
    pub days_open: i64,
    /// Whether today is past `due_on`.
    pub delinquent: bool,
}

/// The open deficiencies on `today`, delinquent first, then oldest `aged_from`, then document id.
///
/// Unsigned: approved, awaiting signature, not signed. Returned: review status `returned`. Unreviewed: a
/// dictation still `pending`. Rejected documents are never deficiencies. A deficiency ages from the
/// discharge date, else the date of service, else the date of `submitted_at` (else `filed_at`);
/// documents with none of these are left out. It is due `rules` days later (by document type display
/// name, else `default_days`) and delinquent from the day after.
pub fn deficiencies(
    timelines: &[Timeline],
    rules: &DeficiencyRules,
    today: NaiveDate,
) -> Vec<Deficiency> {
    let mut out: Vec<Deficiency> = timelines
        .iter()
        .filter_map(|t| {
            let kind = DeficiencyKind::of(t)?;
            let aged_from = t
                .discharged_on
                .or(t.date_of_service)
                .or_else(|| t.waiting_since().map(|at| at.date_naive()))?;
            let days = t
                .document_type
                .as_ref()
                .and_then(|name| rules.by_document_type.get(name))
                .copied()
                .unwrap_or(rules.default_days);
            // A due date past the calendar's end is never reached.
            let due_on = aged_from
                .checked_add_days(Days::new(u64::from(days)))
                .unwrap_or(NaiveDate::MAX);
            let physician = match t.author.as_deref().map(str::trim) {
                Some(name) if !name.is_empty() => name.to_string(),
                _ => "(unknown)".to_string(),
            };
            Some(Deficiency {
                document_id: t.document_id.clone(),
                kind,
                physician,
                mrn: t.mrn.clone(),
                document_type: t.document_type.clone(),
                aged_from,
                due_on,
                days_open: today.signed_duration_since(aged_from).num_days().max(0),
                delinquent: today > due_on,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.delinquent
            .cmp(&a.delinquent)
            .then(a.aged_from.cmp(&b.aged_from))
            .then_with(|| a.document_id.cmp(&b.document_id))
            .then(a.kind.cmp(&b.kind))
    });
    out
}

/// Open deficiencies of one physician.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhysicianRow {
    /// The physician, or `(unknown)`.
    pub physician: String,
    /// Open deficiencies.
    pub open: usize,
    /// Delinquent deficiencies among them.
    pub delinquent: usize,
    /// Days open of the oldest.
    pub oldest_days: i64,
}

/// Deficiencies per physician, most delinquent first, then by name.
pub fn by_physician(deficiencies: &[Deficiency]) -> Vec<PhysicianRow> {
    let mut rows: BTreeMap<&str, PhysicianRow> = BTreeMap::new();
    for d in deficiencies {
        let row = rows
            .entry(d.physician.as_str())
            .or_insert_with(|| PhysicianRow {
                physician: d.physician.clone(),
                open: 0,
                delinquent: 0,
                oldest_days: 0,
            });
        row.open += 1;
        row.delinquent += usize::from(d.delinquent);
        row.oldest_days = row.oldest_days.max(d.days_open);
    }
    let mut out: Vec<PhysicianRow> = rows.into_values().collect();
    out.sort_by(|a, b| {
        b.delinquent
            .cmp(&a.delinquent)
            .then_with(|| a.physician.cmp(&b.physician))
    });
    out
}

/// One CSV field: a leading `=`, `+`, `-`, `@`, tab or CR gets a `'` so spreadsheets do not read it as
/// a formula; then it is quoted (quotes doubled) when it contains a comma, quote, CR or LF.
fn csv_field(value: &str) -> String {
    let mut field = String::with_capacity(value.len() + 3);
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        field.push('\'');
    }
    field.push_str(value);
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

/// The deficiencies as CSV (RFC 4180, CRLF line endings) with the header
/// `physician,document_id,deficiency,document_type,mrn,aged_from,due_on,days_open,delinquent`; the
/// deficiency is its label and delinquent is `yes` or `no`. Fields are guarded against formula
/// injection.
pub fn deficiencies_csv(deficiencies: &[Deficiency]) -> String {
    let mut out = String::from(
        "physician,document_id,deficiency,document_type,mrn,aged_from,due_on,days_open,delinquent\r\n",
    );
    for d in deficiencies {
        let fields = [
            d.physician.clone(),
            d.document_id.clone(),
            d.kind.label().to_string(),
            d.document_type.clone().unwrap_or_default(),
            d.mrn.clone().unwrap_or_default(),
            d.aged_from.to_string(),
            d.due_on.to_string(),
            d.days_open.to_string(),
            if d.delinquent { "yes" } else { "no" }.to_string(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap() + Duration::hours(hours)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn secs(s: i64) -> Duration {
        Duration::seconds(s)
    }

    // --- age_class / age_label

    #[test]
    fn stat_age_class_boundaries() {
        let t = TatTargets::default();
        let start = at(0);
        // 75 % of 120 min = 90 min.
        assert_eq!(
            age_class(start, start + secs(90 * 60 - 1), true, &t),
            AgeClass::OnTime
        );
        assert_eq!(
            age_class(start, start + secs(90 * 60), true, &t),
            AgeClass::DueSoon
        );
        assert_eq!(
            age_class(start, start + secs(120 * 60 - 1), true, &t),
            AgeClass::DueSoon
        );
        assert_eq!(
            age_class(start, start + secs(120 * 60), true, &t),
            AgeClass::DueSoon
        );
        assert_eq!(
            age_class(start, start + secs(120 * 60 + 1), true, &t),
            AgeClass::Overdue
        );
    }

    #[test]
    fn routine_age_class_boundaries() {
        let t = TatTargets::default();
        let start = at(0);
        // 75 % of 24 h = 18 h.
        assert_eq!(
            age_class(start, start + secs(18 * 3600 - 1), false, &t),
            AgeClass::OnTime
        );
        assert_eq!(
            age_class(start, start + secs(18 * 3600), false, &t),
            AgeClass::DueSoon
        );
        assert_eq!(
            age_class(start, start + secs(24 * 3600), false, &t),
            AgeClass::DueSoon
        );
        assert_eq!(
            age_class(start, start + secs(24 * 3600 + 1), false, &t),
            AgeClass::Overdue
        );
        // Routine at the STAT target is on time.
        assert_eq!(
            age_class(start, start + secs(121 * 60), false, &t),
            AgeClass::OnTime
        );
    }

    #[test]
    fn age_class_future_start_and_extreme_targets() {
        let start = at(5);
        assert_eq!(
            age_class(start, at(0), true, &TatTargets::default()),
            AgeClass::OnTime
        );
        let huge = TatTargets {
            stat_minutes: u64::MAX,
            routine_minutes: u64::MAX,
            warn_percent: u8::MAX,
            window_days: u32::MAX,
        };
        assert_eq!(
            age_class(
                DateTime::<Utc>::MIN_UTC,
                DateTime::<Utc>::MAX_UTC,
                true,
                &huge
            ),
            AgeClass::OnTime
        );
        let zero = TatTargets {
            stat_minutes: 0,
            routine_minutes: 0,
            warn_percent: 0,
            window_days: 0,
        };
        assert_eq!(age_class(at(0), at(0), false, &zero), AgeClass::DueSoon);
        assert_eq!(age_class(at(0), at(1), false, &zero), AgeClass::Overdue);
    }

    #[test]
    fn age_labels() {
        assert_eq!(age_label(-5), "0 min");
        assert_eq!(age_label(59), "0 min");
        assert_eq!(age_label(45 * 60), "45 min");
        assert_eq!(age_label(3 * 3600 + 10 * 60 + 59), "3 h 10 min");
        assert_eq!(age_label(2 * 86_400 + 4 * 3600 + 59 * 60), "2 d 4 h");
        assert_eq!(age_label(i64::MIN), "0 min");
        assert!(age_label(i64::MAX).ends_with(" h"));
    }

    // --- percentiles / turnaround

    #[test]
    fn percentiles_of_one_sample() {
        let p = percentiles(&mut [42]).unwrap();
        assert_eq!(
            p,
            Percentiles {
                count: 1,
                p50: 42,
                p90: 42,
                p95: 42,
                max: 42
            }
        );
        assert_eq!(percentiles(&mut []), None);
    }

    #[test]
    fn percentiles_nearest_rank_of_ten() {
        let mut samples = [100, 10, 90, 20, 80, 30, 70, 40, 60, 50];
        let p = percentiles(&mut samples).unwrap();
        assert_eq!(p.count, 10);
        assert_eq!(p.p50, 50); // rank 5
        assert_eq!(p.p90, 90); // rank 9
        assert_eq!(p.p95, 100); // rank ceil(9.5) = 10
        assert_eq!(p.max, 100);
        assert_eq!(samples[0], 10, "sorted in place");
    }

    #[test]
    fn percentiles_nearest_rank_of_twenty() {
        let mut samples: Vec<i64> = (1..=20).collect();
        let p = percentiles(&mut samples).unwrap();
        assert_eq!((p.p50, p.p90, p.p95, p.max), (10, 18, 19, 20));
    }

    fn full(id: &str, stat: bool) -> Timeline {
        Timeline {
            document_id: id.into(),
            kind: "chart".into(),
            stat,
            review_status: "approved".into(),
            submitted_at: Some(at(0)),
            filed_at: Some(at(1)),
            approved_at: Some(at(3)),
            signed_at: Some(at(6)),
            ..Timeline::default()
        }
    }

    fn row<'a>(rows: &'a [TatRow], stage: Stage, dimension: Dimension, value: &str) -> &'a TatRow {
        rows.iter()
            .find(|r| r.stage == stage && r.dimension == dimension && r.value == value)
            .unwrap()
    }

    #[test]
    fn stages_measured_from_both_ends() {
        let rows = turnaround(&[full("d1", false)]);
        let all = |stage| row(&rows, stage, Dimension::All, "all").seconds.p50;
        assert_eq!(all(Stage::Processing), 3600);
        assert_eq!(all(Stage::Review), 2 * 3600);
        assert_eq!(all(Stage::Signature), 3 * 3600);
        assert_eq!(all(Stage::Total), 6 * 3600);
    }

    #[test]
    fn stages_skipped_when_an_end_is_missing_or_reversed() {
        let mut missing = full("d1", false);
        missing.signed_at = None;
        missing.submitted_at = None;
        let mut reversed = full("d2", false);
        reversed.approved_at = Some(at(0)); // before filing
        reversed.signed_at = None;
        let rows = turnaround(&[missing, reversed]);
        let count = |stage| {
            rows.iter()
                .find(|r| r.stage == stage && r.dimension == Dimension::All)
                .map(|r| r.seconds.count)
        };
        assert_eq!(count(Stage::Processing), Some(1)); // d2 only
        assert_eq!(count(Stage::Review), Some(1)); // d1 only
        assert_eq!(count(Stage::Signature), None);
        assert_eq!(count(Stage::Total), None);

        // Total falls back to filed_at.
        let mut no_submit = full("d3", false);
        no_submit.submitted_at = None;
        let rows = turnaround(&[no_submit]);
        assert_eq!(
            row(&rows, Stage::Total, Dimension::All, "all").seconds.p50,
            5 * 3600
        );
        assert!(!rows.iter().any(|r| r.stage == Stage::Processing));
    }

    #[test]
    fn turnaround_groups_per_priority_and_sorts() {
        let mut a = full("a", true);
        a.reviewer = Some("rev1".into());
        a.document_type = Some("Discharge summary".into());
        let mut b = full("b", false);
        b.approved_at = Some(at(5));
        b.station = Some("  ".into());
        let c = full("c", false);
        let rows = turnaround(&[a, b, c]);

        let stat = row(&rows, Stage::Review, Dimension::Priority, "stat");
        assert_eq!(stat.seconds.count, 1);
        assert_eq!(stat.seconds.p50, 2 * 3600);
        let routine = row(&rows, Stage::Review, Dimension::Priority, "routine");
        assert_eq!(routine.seconds.count, 2);
        assert_eq!(routine.seconds.p50, 2 * 3600);
        assert_eq!(routine.seconds.max, 4 * 3600);
        assert_eq!(
            row(&rows, Stage::Review, Dimension::All, "all")
                .seconds
                .count,
            3
        );
        assert_eq!(
            row(&rows, Stage::Review, Dimension::Reviewer, "(none)")
                .seconds
                .count,
            2
        );
        assert_eq!(
            row(&rows, Stage::Review, Dimension::Station, "(none)")
                .seconds
                .count,
            3
        );
        assert_eq!(
            row(
                &rows,
                Stage::Review,
                Dimension::DocumentType,
                "Discharge summary"
            )
            .seconds
            .count,
            1
        );

        let keys: Vec<_> = rows
            .iter()
            .map(|r| (r.stage, r.dimension, r.value.clone()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(rows.iter().all(|r| r.seconds.count > 0));
        assert!(turnaround(&[]).is_empty());
    }

    // --- backlog

    fn pending(id: &str, stat: bool, submitted: DateTime<Utc>) -> Timeline {
        Timeline {
            document_id: id.into(),
            kind: "chart".into(),
            stat,
            review_status: "pending".into(),
            submitted_at: Some(submitted),
            ..Timeline::default()
        }
    }

    #[test]
    fn backlog_buckets_and_overdue() {
        let now = at(1000);
        let ago = |s: i64| now - secs(s);
        let mut filed_only = pending("f", false, now);
        filed_only.submitted_at = None;
        filed_only.filed_at = Some(ago(2 * 86_400));
        let mut no_time = pending("n", false, now);
        no_time.submitted_at = None;
        let mut approved = pending("x", true, ago(30 * 86_400));
        approved.review_status = "approved".into();
        let timelines = vec![
            pending("s1", true, ago(59 * 60)),      // <1 h
            pending("s2", true, ago(3600)),         // 1–4 h
            pending("s3", true, ago(2 * 3600 + 1)), // 1–4 h, overdue
            pending("r1", false, ago(4 * 3600)),    // 4–24 h
            pending("r2", false, ago(24 * 3600)),   // 1–3 d (exactly the target: not overdue)
            pending("r3", false, ago(7 * 86_400)),  // >7 d, overdue
            pending("r4", false, ago(-600)),        // future: <1 h
            pending("r5", false, ago(5 * 86_400)),  // 3–7 d, overdue
            filed_only,                             // 1–3 d, overdue
            no_time,                                // skipped
            approved,                               // not pending
        ];
        let b = backlog(&timelines, now, &TatTargets::default());
        let counts: Vec<_> = b
            .buckets
            .iter()
            .map(|x| (x.label, x.key, x.stat, x.routine))
            .collect();
        assert_eq!(
            counts,
            vec![
                ("<1 h", "lt1h", 1, 1),
                ("1–4 h", "1-4h", 2, 0),
                ("4–24 h", "4-24h", 0, 1),
                ("1–3 d", "1-3d", 0, 2),
                ("3–7 d", "3-7d", 0, 1),
                (">7 d", "gt7d", 0, 1),
            ]
        );
        assert_eq!(b.overdue_stat, 1);
        assert_eq!(b.overdue_routine, 3);
        assert_eq!(b.oldest_seconds, Some(7 * 86_400));

        let empty = backlog(&[], now, &TatTargets::default());
        assert_eq!(empty.buckets.len(), 6);
        assert_eq!(empty.oldest_seconds, None);
    }

    // --- prometheus

    #[test]
    fn prometheus_text_has_bounded_labels_and_no_phi() {
        let mut a = full("DOC-SECRET-1", true);
        a.mrn = Some("MRN-777".into());
        a.reviewer = Some("Rita Reviewer".into());
        a.station = Some("4 West".into());
        a.document_type = Some("Op note".into());
        a.author = Some("Dr Who".into());
        let b = full("DOC-SECRET-2", false);
        let rows = turnaround(&[a.clone(), b]);
        let mut p = pending("DOC-SECRET-3", true, at(0));
        p.mrn = Some("MRN-888".into());
        let bl = backlog(&[p], at(3), &TatTargets::default());
        let text = prometheus(&rows, &bl);

        for line in [
            "# HELP him_review_turnaround_seconds ",
            "# TYPE him_review_turnaround_seconds summary",
            "him_review_turnaround_seconds{stage=\"review\",priority=\"stat\",quantile=\"0.5\"} 7200",
            "him_review_turnaround_seconds{stage=\"review\",priority=\"all\",quantile=\"0.95\"} 7200",
            "him_review_turnaround_seconds{stage=\"total\",priority=\"routine\",quantile=\"1\"} 21600",
            "him_review_turnaround_seconds_count{stage=\"review\",priority=\"all\"} 2",
            "him_review_turnaround_seconds_count{stage=\"processing\",priority=\"stat\"} 1",
            "# TYPE him_review_backlog_documents gauge",
            "him_review_backlog_documents{bucket=\"1-4h\",priority=\"stat\"} 1",
            "him_review_backlog_documents{bucket=\"lt1h\",priority=\"routine\"} 0",
            "him_review_backlog_documents{bucket=\"gt7d\",priority=\"stat\"} 0",
            "# TYPE him_review_overdue_documents gauge",
            "him_review_overdue_documents{priority=\"stat\"} 1",
            "him_review_overdue_documents{priority=\"routine\"} 0",
            "him_review_backlog_oldest_seconds 10800",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        for secret in [
            "DOC-SECRET",
            "MRN-",
            "Rita",
            "4 West",
            "Op note",
            "Dr Who",
            "(none)",
            "–",
        ] {
            assert!(!text.contains(secret), "{secret:?} leaked into\n{text}");
        }
        assert!(text.ends_with('\n'));
        assert!(text.is_ascii());
        // Each family's samples directly follow its TYPE line.
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(families.len(), 4);
    }

    #[test]
    fn prometheus_ignores_unexpected_priority_values_and_escapes_labels() {
        let rows = vec![TatRow {
            stage: Stage::Review,
            dimension: Dimension::Priority,
            value: "urgent\"}".into(),
            seconds: Percentiles {
                count: 1,
                p50: 1,
                p90: 1,
                p95: 1,
                max: 1,
            },
        }];
        let text = prometheus(&rows, &Backlog::default());
        assert!(!text.contains("urgent"));
        assert_eq!(label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    // --- deficiencies

    fn unsigned(id: &str, dos: NaiveDate) -> Timeline {
        Timeline {
            document_id: id.into(),
            kind: "dictation".into(),
            review_status: "approved".into(),
            awaiting_signature: true,
            author: Some("Dr Adams".into()),
            mrn: Some("M1".into()),
            date_of_service: Some(dos),
            ..Timeline::default()
        }
    }

    #[test]
    fn unsigned_dictation_is_delinquent_the_day_after_due() {
        let rules = DeficiencyRules::default();
        let dos = date(2025, 1, 1);
        let t = [unsigned("d1", dos)];
        let due = date(2025, 1, 31);

        let on_due = deficiencies(&t, &rules, due);
        assert_eq!(on_due.len(), 1);
        let d = &on_due[0];
        assert_eq!(d.kind, DeficiencyKind::Unsigned);
        assert_eq!(d.aged_from, dos);
        assert_eq!(d.due_on, due);
        assert_eq!(d.days_open, 30);
        assert!(!d.delinquent);
        assert_eq!(d.physician, "Dr Adams");

        let after = deficiencies(&t, &rules, date(2025, 2, 1));
        assert!(after[0].delinquent);
        assert_eq!(after[0].days_open, 31);

        // Signed, or not awaiting signature: no deficiency.
        let mut signed = unsigned("d2", dos);
        signed.signed_at = Some(at(0));
        let mut not_waiting = unsigned("d3", dos);
        not_waiting.awaiting_signature = false;
        assert!(deficiencies(&[signed, not_waiting], &rules, due).is_empty());
    }

    #[test]
    fn per_type_days_override_default() {
        let mut rules = DeficiencyRules::default();
        rules
            .by_document_type
            .insert("History and physical".into(), 1);
        let mut hp = unsigned("hp", date(2025, 1, 1));
        hp.document_type = Some("History and physical".into());
        let mut other = unsigned("other", date(2025, 1, 1));
        other.document_type = Some("Consult".into());
        let out = deficiencies(&[other, hp], &rules, date(2025, 1, 3));
        assert_eq!(out[0].document_id, "hp");
        assert_eq!(out[0].due_on, date(2025, 1, 2));
        assert!(out[0].delinquent);
        assert_eq!(out[1].due_on, date(2025, 1, 31));
        assert!(!out[1].delinquent);
    }

    #[test]
    fn discharge_date_preferred_then_service_then_submission() {
        let rules = DeficiencyRules::default();
        let mut discharged = unsigned("a", date(2025, 1, 1));
        discharged.discharged_on = Some(date(2025, 1, 10));
        let mut submitted = unsigned("b", date(2025, 1, 1));
        submitted.date_of_service = None;
        submitted.submitted_at = Some(at(0)); // 2025-03-01
        let mut filed = submitted.clone();
        filed.document_id = "c".into();
        filed.submitted_at = None;
        filed.filed_at = Some(at(48)); // 2025-03-03
        let mut undated = submitted.clone();
        undated.document_id = "d".into();
        undated.submitted_at = None;
        let out = deficiencies(
            &[discharged, submitted, filed, undated],
            &rules,
            date(2025, 3, 5),
        );
        let aged: Vec<_> = out
            .iter()
            .map(|d| (d.document_id.as_str(), d.aged_from))
            .collect();
        assert_eq!(
            aged,
            vec![
                ("a", date(2025, 1, 10)),
                ("b", date(2025, 3, 1)),
                ("c", date(2025, 3, 3)),
            ]
        );
        assert!(out[0].delinquent);
    }

    #[test]
    fn kinds_and_rejected_excluded() {
        let rules = DeficiencyRules::default();
        let dos = date(2025, 1, 1);
        let mut returned = unsigned("ret", dos);
        returned.review_status = "returned".into();
        returned.awaiting_signature = false;
        let mut unreviewed = unsigned("unrev", dos);
        unreviewed.review_status = "pending".into();
        unreviewed.awaiting_signature = false;
        let mut pending_chart = unreviewed.clone();
        pending_chart.document_id = "chart".into();
        pending_chart.kind = "chart".into();
        let mut rejected = unsigned("rej", dos);
        rejected.review_status = "rejected".into();
        let mut rejected_dictation = unreviewed.clone();
        rejected_dictation.document_id = "rej2".into();
        rejected_dictation.review_status = "rejected".into();
        let out = deficiencies(
            &[
                returned,
                unreviewed,
                pending_chart,
                rejected,
                rejected_dictation,
            ],
            &rules,
            date(2025, 1, 2),
        );
        let kinds: Vec<_> = out
            .iter()
            .map(|d| (d.document_id.as_str(), d.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("ret", DeficiencyKind::Returned),
                ("unrev", DeficiencyKind::Unreviewed)
            ]
        );
        assert_eq!(DeficiencyKind::Unreviewed.as_str(), "unreviewed");
        assert_eq!(DeficiencyKind::Returned.label(), "Returned transcription");
    }

    #[test]
    fn deficiency_sort_order_and_date_overflow() {
        let mut rules = DeficiencyRules::default();
        rules.by_document_type.insert("Forever".into(), u32::MAX);
        let mut forever = unsigned("z", date(2000, 1, 1));
        forever.document_type = Some("Forever".into());
        let mut near_end = unsigned("end", NaiveDate::MAX);
        near_end.author = None;
        let timelines = [
            unsigned("b", date(2025, 1, 5)),
            unsigned("a", date(2025, 1, 5)),
            unsigned("old", date(2024, 6, 1)),
            unsigned("new", date(2025, 3, 1)),
            forever,
            near_end,
        ];
        let out = deficiencies(&timelines, &rules, date(2025, 3, 10));
        let order: Vec<_> = out
            .iter()
            .map(|d| (d.document_id.as_str(), d.delinquent))
            .collect();
        assert_eq!(
            order,
            vec![
                ("old", true),
                ("a", true),
                ("b", true),
                ("z", false),
                ("new", false),
                ("end", false),
            ]
        );
        let end = out.iter().find(|d| d.document_id == "end").unwrap();
        assert_eq!(end.due_on, NaiveDate::MAX);
        assert_eq!(end.days_open, 0);
        assert_eq!(end.physician, "(unknown)");
        let z = out.iter().find(|d| d.document_id == "z").unwrap();
        assert_eq!(z.due_on, NaiveDate::MAX);
        // Far past.
        let ancient = [unsigned("x", NaiveDate::MIN)];
        let out = deficiencies(&ancient, &DeficiencyRules::default(), NaiveDate::MAX);
        assert!(out[0].delinquent);
        assert!(out[0].days_open > 0);
    }

    #[test]
    fn physician_rows() {
        let rules = DeficiencyRules::default();
        let mut b1 = unsigned("b1", date(2025, 1, 1));
        b1.author = Some("Dr Baker".into());
        let mut b2 = unsigned("b2", date(2025, 3, 1));
        b2.author = Some("Dr Baker".into());
        let mut c1 = unsigned("c1", date(2025, 3, 2));
        c1.author = Some("Dr Cole".into());
        let timelines = [
            unsigned("a1", date(2025, 3, 1)),
            b1,
            b2,
            c1,
            unsigned("a2", date(2025, 3, 5)),
        ];
        let out = deficiencies(&timelines, &rules, date(2025, 3, 10));
        let rows = by_physician(&out);
        assert_eq!(
            rows,
            vec![
                PhysicianRow {
                    physician: "Dr Baker".into(),
                    open: 2,
                    delinquent: 1,
                    oldest_days: 68,
                },
                PhysicianRow {
                    physician: "Dr Adams".into(),
                    open: 2,
                    delinquent: 0,
                    oldest_days: 9,
                },
                PhysicianRow {
                    physician: "Dr Cole".into(),
                    open: 1,
                    delinquent: 0,
                    oldest_days: 8,
                },
            ]
        );
        assert!(by_physician(&[]).is_empty());
    }

    #[test]
    fn csv_quoting_and_formula_guard() {
        let mut t = unsigned("=HYPERLINK(\"x\")", date(2025, 1, 1));
        t.author = Some("Smith, \"Jo\"".into());
        t.document_type = Some("Note\r\nline".into());
        t.mrn = Some("-12".into());
        let out = deficiencies(&[t], &DeficiencyRules::default(), date(2025, 3, 1));
        let csv = deficiencies_csv(&out);
        let expected = "physician,document_id,deficiency,document_type,mrn,aged_from,due_on,days_open,delinquent\r\n\
             \"Smith, \"\"Jo\"\"\",\"'=HYPERLINK(\"\"x\"\")\",Signature missing,\"Note\r\nline\",'-12,2025-01-01,2025-01-31,59,yes\r\n";
        assert_eq!(csv, expected);

        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(csv_field("\rx"), "\"'\rx\"");
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("a-b"), "a-b");

        let mut plain = unsigned("d9", date(2025, 2, 20));
        plain.mrn = None;
        let out = deficiencies(&[plain], &DeficiencyRules::default(), date(2025, 3, 1));
        assert_eq!(
            deficiencies_csv(&out).lines().nth(1),
            Some("Dr Adams,d9,Signature missing,,,2025-02-20,2025-03-22,9,no")
        );
    }
}
