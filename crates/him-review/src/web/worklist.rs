//! The worklists: the queue with its lists, search, sort and paging; approve-and-next; the supervisor
//! dashboard of turnaround clocks and backlog; chart deficiencies (delinquent by physician, HTML and CSV);
//! the Prometheus metrics.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::{DateTime, Utc};
use him_extract::UnmatchedReason;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::Role;
use crate::clocks::{self, Deficiency, Timeline};
use crate::queue::{self, QueueFilter, QueueItem, QueueList};
use crate::web::{record, AppError, AppState, Current};

/// The list and flash message of a queue URL (`/?list=unmatched&m=approved`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ListQuery {
    list: Option<String>,
    m: Option<String>,
}

use crate::clocks::{parse_time, type_display};

/// What an unmatched reason means, for the people fixing it.
pub(crate) fn reason_label(reason: UnmatchedReason) -> &'static str {
    match reason {
        UnmatchedReason::NoCandidate => "No patient of the index matches",
        UnmatchedReason::MrnConflict => "The MRN belongs to another patient",
        UnmatchedReason::DobConflict => "The date of birth disagrees with the index",
        UnmatchedReason::Ambiguous => "Several patients match equally",
        UnmatchedReason::MrnOnly => "Only the MRN could be read",
        UnmatchedReason::InsufficientFields => "Too few identifiers could be read",
        UnmatchedReason::ConflictingFields => {
            "The identifiers on the document contradict each other"
        }
        UnmatchedReason::DemographicsMismatch => {
            "The spoken header contradicts the device's demographics"
        }
        UnmatchedReason::Uncorroborated => {
            "The device's demographics are not confirmed by the dictation"
        }
        UnmatchedReason::CoverSheetConflict => "The cover sheet disagrees with the pages",
        UnmatchedReason::CoverSheetUnknownPatient => {
            "The cover sheet names a patient the index lacks"
        }
        UnmatchedReason::SeparatorUnreadable => "The batch separator sheet is unreadable",
        UnmatchedReason::OtherRole => {
            "The identifiers read belong to a guarantor, parent or other person named on it"
        }
    }
}

/// A queue row as the pages show it: the patient (from the index for filed documents), the type's name,
/// the age and its turnaround colour, the live claim holder and the unmatched reason in words.
pub(crate) fn row(state: &AppState, item: &QueueItem, now: DateTime<Utc>) -> Value {
    let mut value = json!(item);
    let since = parse_time(Some(&item.received_at));
    value["age"] = json!(since.map(|since| clocks::age_label((now - since).num_seconds())));
    let waiting = item.review_status == "pending";
    value["tat"] = json!(since.filter(|_| waiting).map(|since| clocks::age_class(
        since,
        now,
        item.stat,
        &state.config.turnaround
    )));
    value["holder"] = json!(queue::claim_holder(item));
    value["type_display"] = json!(type_display(item.document_type.as_deref()));
    let indexed = (item.status == "filed")
        .then(|| item.mrn.as_deref().and_then(|mrn| state.patients.view(mrn)))
        .flatten();
    match indexed {
        Some(patient) => {
            value["patient"] = json!(patient.display());
            value["dob"] = json!(patient.birth_date);
        }
        None => {
            value["patient"] = json!(item.patient_name);
            value["dob"] = json!(item.birth_date);
        }
    }
    value["reason_label"] = json!(item.unmatched_reason.map(reason_label));
    value
}

fn list_of(name: Option<&str>) -> (QueueList, &'static str) {
    match name {
        Some("unmatched") => (QueueList::Unmatched, "unmatched"),
        Some("approved") => (QueueList::Approved, "approved"),
        Some("returned") => (QueueList::Returned, "returned"),
        Some("rejected") => (QueueList::Rejected, "rejected"),
        _ => (QueueList::PendingReview, "pending"),
    }
}

/// The queue: one list at a time (pending review, unmatched, approved, returned, rejected) with counts,
/// search over the filed documents and the patient index, filters, sort, paging and "my claims".
/// Clinicians get the notes waiting for their signature.
pub(crate) async fn queue(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Query(mut filter): Query<QueueFilter>,
    Query(list): Query<ListQuery>,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let user = &current.session.user;
    let message = super::pages::message(list.m.as_deref());
    if user.role == Role::Clinician {
        let (to_sign, returned) = match &user.author {
            Some(author) => (
                queue::awaiting_signature(&state.db, author)?,
                queue::returned_to(&state.db, author)?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let rows = |items: &[QueueItem]| -> Vec<Value> {
            items.iter().map(|item| row(&state, item, now)).collect()
        };
        return state.templates.render(
            "sign.html",
            json!({"user": user, "csrf": current.session.csrf, "message": message,
                   "to_sign": rows(&to_sign), "returned": rows(&returned)}),
        );
    }
    let (which, list_name) = list_of(list.list.as_deref());
    filter.me = Some(user.name.clone());
    let q = filter.q.clone().unwrap_or_default();
    let patients = if q.trim().is_empty() {
        Vec::new()
    } else {
        state.patients.search(&q, 20)
    };
    filter.mrns = patients.iter().map(|p| p.mrn.clone()).collect();
    let page = queue::list_page(&state.db, which, &filter)?;
    let counts = {
        let plain = QueueFilter::default();
        let mut counts = serde_json::Map::new();
        for (list, name) in [
            (QueueList::PendingReview, "pending"),
            (QueueList::Unmatched, "unmatched"),
            (QueueList::Approved, "approved"),
            (QueueList::Returned, "returned"),
            (QueueList::Rejected, "rejected"),
        ] {
            counts.insert(
                name.to_string(),
                json!(queue::count(&state.db, list, &plain)?),
            );
        }
        counts
    };
    let oldest = queue::oldest_waiting(&state.db)?
        .and_then(|since| parse_time(Some(&since)))
        .map(|since| clocks::age_label((now - since).num_seconds()));
    if !q.trim().is_empty() {
        record(&state, &current, "search", None, "").await?;
    }
    let rows: Vec<Value> = page
        .items
        .iter()
        .map(|item| row(&state, item, now))
        .collect();
    // The query string of this view without its page, for the paging and sorting links.
    let mut keep = form_urlencoded::Serializer::new(String::new());
    keep.append_pair("list", list_name);
    for (key, value) in [
        ("q", &filter.q),
        ("kind", &filter.kind),
        ("document_type", &filter.document_type),
        ("station", &filter.station),
        ("risk", &filter.risk),
        ("sort", &filter.sort),
        ("mine", &filter.mine),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            keep.append_pair(key, value);
        }
    }
    state.templates.render(
        "queue.html",
        json!({
            "user": user, "csrf": current.session.csrf, "message": message,
            "list": list_name, "rows": rows, "counts": counts, "oldest": oldest,
            "page": page.page, "pages": page.pages, "total": page.total, "keep": keep.finish(),
            "patients": patients,
            "filter": {"kind": filter.kind, "document_type": filter.document_type, "q": filter.q,
                       "station": filter.station, "sort": filter.sort,
                       "risk": filter.risk.is_some_and(|r| !r.is_empty()),
                       "mine": filter.mine.is_some_and(|r| !r.is_empty())},
            "kinds": queue::distinct(&state.db, "kind")?,
            "types": queue::distinct(&state.db, "document_type")?
                .into_iter()
                .map(|code| json!({"code": code, "name": type_display(Some(&code))}))
                .collect::<Vec<_>>(),
            "stations": queue::distinct(&state.db, "station")?,
            "targets": state.config.turnaround,
        }),
    )
}

/// Documents approve-and-next reads at once, in queue order, to find one to claim.
const NEXT_CANDIDATES: u32 = 20;

/// Approve-and-next: claims the next document waiting for review (STAT first, then the oldest) that
/// nobody else holds and opens it; back to the queue when none is left.
pub(crate) async fn next(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Query(list): Query<ListQuery>,
) -> Result<Response, AppError> {
    if !current.session.user.role.can_review() {
        return Err(AppError::Forbidden);
    }
    let message = list.m.as_deref().filter(|m| *m == "approved");
    // A claim taken meanwhile by someone else fails here, and the next candidate is tried.
    for item in queue::claimable(&state.db, current.name(), NEXT_CANDIDATES)? {
        if queue::claim(
            &state.db,
            &item.document_id,
            current.name(),
            state.config.claim_ttl_minutes,
        )? {
            let flash = message.map_or(String::new(), |m| format!("?m={m}"));
            return Ok(
                Redirect::to(&format!("/documents/{}{flash}", item.document_id)).into_response(),
            );
        }
    }
    Ok(Redirect::to("/?m=done").into_response())
}

/// The timelines the backlog and the deficiencies read: every open document, whatever its age.
fn timelines(state: &AppState) -> Result<Vec<Timeline>, AppError> {
    Ok(queue::open_documents(&state.db)?
        .iter()
        .map(Timeline::of)
        .collect())
}

/// The turnaround percentiles of the documents submitted within the window, from the counters; with
/// `all_and_priority`, only the rows `/metrics` shows.
fn recent_turnaround(
    state: &AppState,
    all_and_priority: bool,
) -> Result<Vec<clocks::TatRow>, AppError> {
    Ok(crate::summary::turnaround(
        &state.db,
        state.clock.now(),
        state.config.turnaround.window_days,
        all_and_priority,
    )?)
}

/// The supervisor dashboard: turnaround percentiles per document type, station, priority and reviewer;
/// the backlog by age; the open deficiencies by physician.
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
) -> Result<Response, AppError> {
    if !current.session.user.role.is_supervisor() {
        return Err(AppError::Forbidden);
    }
    let now = state.clock.now();
    let timelines = timelines(&state)?;
    let tat = recent_turnaround(&state, false)?;
    let backlog = clocks::backlog(&timelines, now, &state.config.turnaround);
    let deficiencies =
        clocks::deficiencies(&timelines, &state.config.deficiencies, now.date_naive());
    let physicians = clocks::by_physician(&deficiencies);
    let rows: Vec<Value> = tat
        .iter()
        .map(|row| {
            json!({"stage": row.stage.as_str(), "dimension": row.dimension.as_str(), "value": row.value,
                   "count": row.seconds.count, "p50": clocks::age_label(row.seconds.p50),
                   "p90": clocks::age_label(row.seconds.p90), "max": clocks::age_label(row.seconds.max)})
        })
        .collect();
    state.templates.render(
        "dashboard.html",
        json!({"user": current.session.user, "csrf": current.session.csrf, "tat": rows,
               "backlog": backlog, "physicians": physicians, "targets": state.config.turnaround,
               "oldest": backlog.oldest_seconds.map(clocks::age_label),
               "open": deficiencies.len(),
               "delinquent": deficiencies.iter().filter(|d| d.delinquent).count()}),
    )
}

/// The deficiencies a user may see: every one for supervisors, a clinician's own (by author name).
fn visible_deficiencies(state: &AppState, current: &Current) -> Result<Vec<Deficiency>, AppError> {
    let user = &current.session.user;
    let all = clocks::deficiencies(
        &timelines(state)?,
        &state.config.deficiencies,
        state.clock.now().date_naive(),
    );
    if user.role.is_supervisor() {
        return Ok(all);
    }
    match (user.role, &user.author) {
        (Role::Clinician, Some(author)) => {
            let me = crate::workflow::normalize_author(author);
            Ok(all
                .into_iter()
                .filter(|d| !me.is_empty() && crate::workflow::normalize_author(&d.physician) == me)
                .collect())
        }
        _ => Err(AppError::Forbidden),
    }
}

/// Chart deficiencies: delinquent by physician, then every open deficiency, most overdue first.
pub(crate) async fn deficiencies(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
) -> Result<Response, AppError> {
    let deficiencies = visible_deficiencies(&state, &current)?;
    record(&state, &current, "view_deficiencies", None, "").await?;
    let rows: Vec<Value> = deficiencies
        .iter()
        .map(|d| json!({"deficiency": d, "label": d.kind.label()}))
        .collect();
    state.templates.render(
        "deficiencies.html",
        json!({"user": current.session.user, "csrf": current.session.csrf,
               "physicians": clocks::by_physician(&deficiencies), "rows": rows,
               "today": state.clock.now().date_naive().to_string(),
               "rules": state.config.deficiencies}),
    )
}

/// The deficiencies as CSV (the monthly delinquent-records report by physician).
pub(crate) async fn deficiencies_csv(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
) -> Result<Response, AppError> {
    let deficiencies = visible_deficiencies(&state, &current)?;
    record(
        &state,
        &current,
        "export_deficiencies",
        None,
        &format!("{} rows", deficiencies.len()),
    )
    .await?;
    let today = state.clock.now().date_naive();
    let mut response = clocks::deficiencies_csv(&deficiencies).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"deficiencies-{today}.csv\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Prometheus metrics: turnaround summaries per stage and priority, backlog per age bucket, overdue counts.
/// Aggregates only, with no identifier, name or free text in any label: served without a session.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, AppError> {
    let timelines = timelines(&state)?;
    let text = clocks::prometheus(
        &recent_turnaround(&state, true)?,
        &clocks::backlog(&timelines, state.clock.now(), &state.config.turnaround),
    );
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unmatched_reason_has_words() {
        let mut labels: Vec<_> = UnmatchedReason::ALL.into_iter().map(reason_label).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(
            labels.len(),
            UnmatchedReason::ALL.len(),
            "one label per reason"
        );
    }

    #[test]
    fn type_codes_read_as_names() {
        assert_eq!(
            type_display(Some("18842-5")).as_deref(),
            Some("Discharge summary")
        );
        assert_eq!(type_display(Some("x")).as_deref(), Some("x"));
    }
}
