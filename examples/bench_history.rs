//! What a year of history costs the services that follow the store (issue #28): a local-folder store holding
//! N filed documents, N outbox events (delivered) and N ADT changes, spread over the past 365 days, and an
//! SQLite review database indexing the N documents; then, per N, the cost of each loop in requests to the
//! store and wall time. `scripts/bench-history` runs it and prints the table.
//!
//! History objects are the product's own types (index entries, outbox events, ADT change records, written
//! with the journal layout the product writes), cloned with fresh ids; they are written with `std::fs` for
//! speed, where the product would write them one by one as they happened.
//!
//! Usage: `cargo run --release --example bench_history -- 1000 10000 100000`

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use him::config::{DeliverConfig, FhirConfig, Hl7Config};
use him_core::{DocumentId, JobContext, Mrn, Sha256, Status};
use him_interfaces::deliver::{destinations, Deliverer};
use him_interfaces::outbox::{EventIdKey, OutboxAction, OutboxEvent};
use him_patients::{ChangeRecord, LiveIndex, MpiChange, PatientRow};
use him_review::{Db, Patients, QueueFilter, QueueList, ReviewConfig};
use him_store::{Entry, Folder, IndexEntry, Key, Requests, Stamp, Store, Stream};
use tower::ServiceExt;

/// One measured loop: wall time and the store requests it made.
struct Cost {
    ms: f64,
    requests: Requests,
}

impl Cost {
    fn cell(&self) -> String {
        let r = &self.requests;
        format!(
            "{:.1} ms · {} get {} head {} list ({} listed)",
            self.ms, r.gets, r.heads, r.lists, r.listed
        )
    }
}

async fn measure<T>(store: &Store, work: impl std::future::Future<Output = T>) -> (T, Cost) {
    let before = store.requests();
    let started = Instant::now();
    let out = work.await;
    let cost = Cost {
        ms: started.elapsed().as_secs_f64() * 1000.0,
        requests: store.requests().since(before),
    };
    (out, cost)
}

fn write(root: &Path, key: &Key, bytes: &[u8]) {
    let path = root.join(key.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A time `n` of `count` spread over the past year (oldest first), at least a day ago.
fn past(n: usize, count: usize) -> chrono::DateTime<chrono::Utc> {
    let span = Duration::from_secs(365 * 86_400);
    let back = span.as_secs_f64() * (1.0 - n as f64 / count.max(1) as f64);
    chrono::Utc::now() - chrono::Duration::seconds(86_400 + back as i64)
}

fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A family name of 997 (letters only, as a search box reads a name): one patient in 997 shares it.
fn family(i: usize) -> String {
    let n = i % 997;
    let letter = |k: usize| char::from(b'a' + (k % 26) as u8);
    format!("K{}{}{}", letter(n / 676), letter(n / 26), letter(n))
}

/// Writes the history of size `n`; the SQLite review database indexing its documents.
fn history(root: &Path, n: usize) -> Db {
    let key = EventIdKey::fixed([9; 32]);
    write(root, &Key::Migrated(Stream::Outbox), b"{}\n");
    write(root, &Key::Migrated(Stream::Mpi), b"{}\n");
    let db = Db::open(&root.join("review.sqlite")).unwrap();
    let mut rows = Vec::with_capacity(500);
    for i in 0..n {
        let at = past(i, n);
        let stamp = Stamp::from(at);
        let id = DocumentId::for_bytes(format!("history-{i}").as_bytes());
        let mrn = format!("{:08}", 40_000_000 + i % 50_000);
        let folder = Folder::Patient(Mrn::parse(&mrn).unwrap(), id.clone());
        let entry = IndexEntry {
            document_id: id.clone(),
            sha256: Sha256::of(format!("history-{i}").as_bytes()),
            status: Status::Filed,
            location: folder.clone(),
            filed_at: rfc3339(at),
            job: JobContext::default(),
        };
        let bytes = serde_json::to_vec_pretty(&entry).unwrap();
        write(root, &Key::Index(id.clone()), &bytes);
        let filed = Entry::new(Stream::Filed, stamp, id.as_str()).unwrap();
        write(root, &Key::Journal(filed), &bytes);

        let mut event = OutboxEvent::new(&key, id.as_str(), OutboxAction::Approved, &folder, 1);
        event.at = rfc3339(at);
        let bytes = serde_json::to_vec_pretty(&event).unwrap();
        write(root, &event.key(), &bytes);
        let journal = Entry::new(Stream::Outbox, stamp, &event.event_id).unwrap();
        write(root, &Key::Journal(journal), &bytes);
        let done = Key::outbox_record(
            "hl7",
            him_store::RecordState::Done,
            &format!("{}.json", event.event_id),
        )
        .unwrap();
        write(root, &done, b"{}");

        let change = ChangeRecord {
            id: format!("{:032x}", i),
            received_at: rfc3339(at),
            sender: "ADT^HOSP".to_string(),
            control_id: i.to_string(),
            message_type: "ADT^A08".to_string(),
            change: MpiChange::Upsert {
                patient: PatientRow {
                    mrn: mrn.clone(),
                    family: family(i),
                    given: vec!["Ann".to_string()],
                    birth_date: Some("1970-01-01".to_string()),
                    sex: Some("F".to_string()),
                },
                encounter: Some(format!("V{i}")),
            },
        };
        let bytes = serde_json::to_vec_pretty(&change).unwrap();
        write(root, &change.key().unwrap(), &bytes);
        let journal = Entry::new(Stream::Mpi, stamp, &change.id).unwrap();
        write(root, &Key::Journal(journal), &bytes);

        // A department's backlog, whatever the history: the newest 200 wait, the rest were approved, by
        // one of five reviewers, a few minutes to a few days after filing (turnaround counters to read).
        let pending = i + 200 >= n;
        let approved =
            at + chrono::Duration::minutes(i64::try_from(i * 37 % 4_000).unwrap_or(0) + 3);
        rows.push(format!(
            "('{id}', 'chart', 'filed', '{location}', '{at}', '11506-3', 'SCAN-{station}', {stat}, 0, '{mrn}', \
             '{review}', '{f}, Ann', '1970-01-01', '{at}', {approved_at}, {approved_by})",
            location = folder.location(),
            at = rfc3339(at),
            station = i % 7,
            stat = i64::from(i % 10 == 0),
            review = if pending { "pending" } else { "approved" },
            approved_at = if pending { "NULL".to_string() } else { format!("'{}'", rfc3339(approved)) },
            approved_by = if pending { "NULL".to_string() } else { format!("'reviewer{}'", i % 5) },
            f = family(i),
        ));
        if rows.len() == 500 || i + 1 == n {
            db.execute(
                &format!(
                    "INSERT INTO documents (document_id, kind, status, location, received_at, document_type,
                         station, stat, risk, mrn, review_status, patient_name, birth_date, filed_at,
                         approved_at, approved_by)
                     VALUES {}",
                    rows.join(",")
                ),
                Vec::new(),
            )
            .unwrap();
            rows.clear();
        }
    }
    him_review::reindex_search_words(&db).unwrap();
    him_review::rebuild_turnaround_counters(&db).unwrap();
    db
}

/// The median of `runs` runs of `work`, in milliseconds.
async fn median_ms<F, Fut>(runs: usize, mut work: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        work().await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

async fn run(n: usize) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let started = Instant::now();
    let db = history(&root, n);
    eprintln!(
        "bench-history: N = {n}: history written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let store = Store::local(&root).unwrap();
    let mut rows = Vec::new();

    // him deliver: nothing is waiting; one destination (nothing listens, nothing is sent).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hl7 = Hl7Config {
        send_to: closed.local_addr().unwrap().to_string(),
        ..Hl7Config::default()
    };
    drop(closed);
    let deliverer = || {
        Deliverer::new(
            store.clone(),
            Arc::new(LiveIndex::fixed(Arc::default())),
            destinations(&hl7, &FhirConfig::default(), &HashMap::new()).unwrap(),
            DeliverConfig::default(),
        )
    };
    let mut first = deliverer();
    let (_, cost) = measure(&store, first.pass()).await;
    rows.push((
        "deliver: first start on the store (no checkpoint yet)".into(),
        cost.cell(),
    ));
    let mut restarted = deliverer();
    let (_, cost) = measure(&store, restarted.pass()).await;
    rows.push(("deliver: restart (from its checkpoint)".into(), cost.cell()));
    let (_, cost) = measure(&store, restarted.pass()).await;
    rows.push(("deliver: idle pass".into(), cost.cell()));

    // The live patient index of every worker, review server and deliverer.
    let live = LiveIndex::new(store.clone(), Arc::default());
    let (_, cost) = measure(&store, live.refresh()).await;
    rows.push((
        "live patient index: first start (no snapshot yet: every change)".into(),
        cost.cell(),
    ));
    let (_, cost) = measure(&store, live.refresh()).await;
    rows.push((
        "live patient index: idle refresh (every 2 s)".into(),
        cost.cell(),
    ));
    let (_, cost) = measure(&store, live.refresh()).await;
    rows.push(("live patient index: next idle refresh".into(), cost.cell()));
    // Every later start (a worker, a review server) finds the day's snapshot that the first one wrote.
    let restarted = LiveIndex::new(store.clone(), Arc::default());
    let (_, cost) = measure(&store, restarted.refresh()).await;
    rows.push((
        "live patient index: restart (from the day's snapshot)".into(),
        cost.cell(),
    ));
    assert_eq!(
        restarted.current().records().len(),
        live.current().records().len()
    );

    // him review: a database that indexed the store before, its cursor a minute old.
    let (_, cost) = measure(&store, async {
        him_review::catch_up(&store, &db).await.unwrap()
    })
    .await;
    rows.push((
        "review: first start on the database (rebuild from the store)".into(),
        cost.cell(),
    ));
    // The history has no review records, so the rebuild set every document waiting: back to a department's
    // state (the newest 200 wait, the rest were approved).
    db.execute(
        "UPDATE documents SET review_status = 'approved' WHERE received_at <
           (SELECT received_at FROM documents ORDER BY received_at DESC LIMIT 1 OFFSET 199)",
        Vec::new(),
    )
    .unwrap();
    let ((mut follower, _), cost) = measure(&store, async {
        him_review::catch_up(&store, &db).await.unwrap()
    })
    .await;
    rows.push(("review: restart (from its cursor)".into(), cost.cell()));
    let (_, cost) = measure(&store, async {
        him_review::follow_filed(&store, &db, &mut follower)
            .await
            .unwrap()
    })
    .await;
    rows.push((
        "review: idle backstop (journal since the last read)".into(),
        cost.cell(),
    ));

    let page = median_ms(9, || async {
        him_review::list_page(&db, QueueList::PendingReview, &QueueFilter::default()).unwrap();
    })
    .await;
    rows.push((
        "review: queue page (median of 9)".into(),
        format!("{page:.1} ms"),
    ));
    let search = median_ms(9, || async {
        let filter = QueueFilter {
            // The rebuild from the store left the names out (the bench files no manifests): an MRN
            // prefix, ten patients' documents, reads the same search words.
            q: Some("4000004".to_string()),
            ..QueueFilter::default()
        };
        let found = him_review::list_page(&db, QueueList::Approved, &filter).unwrap();
        assert!(found.total > 0, "the search finds documents");
    })
    .await;
    rows.push((
        "review: search, MRN first digits (median of 9)".into(),
        format!("{search:.1} ms"),
    ));
    let patients = Patients {
        live: Arc::new(LiveIndex::fixed(Arc::default())),
        mrn_system: "urn:mrn".to_string(),
    };
    let state = him_review::AppState::new(ReviewConfig::default(), store.clone(), db, patients);
    let metrics = median_ms(5, || async {
        let request = axum::http::Request::get("/metrics")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = him_review::metrics_router(state.clone())
            .oneshot(request)
            .await
            .unwrap();
        assert!(response.status().is_success());
    })
    .await;
    rows.push((
        "review: /metrics (median of 5)".into(),
        format!("{metrics:.1} ms"),
    ));
    rows
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000]
    } else {
        sizes
    };
    let mut columns = Vec::new();
    for &n in &sizes {
        columns.push(run(n).await);
    }
    println!(
        "| loop | {} |",
        sizes
            .iter()
            .map(|n| format!("N = {n}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---|".repeat(sizes.len()));
    for (row, (name, _)) in columns[0].iter().enumerate() {
        let cells: Vec<&str> = columns.iter().map(|c| c[row].1.as_str()).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
