//! The review database at scale, SQLite and PostgreSQL side by side: fills each with the same synthetic queue
//! index (`--rows`, default 100,000 documents) and times what the queue page and the claim path run.
//! Prints a table of medians (milliseconds) and the PostgreSQL/SQLite ratio. `scripts/bench-review-db` runs it.
//!
//! PostgreSQL: a database of its own on `HIM_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped at the end.

use std::time::Instant;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use him_review::{
    claim, create_test_database, drop_test_database, list_page, reindex_search_words, release, Db,
    QueueFilter, QueueList,
};

const FAMILIES: [&str; 12] = [
    "Smith", "Garcia", "Nguyen", "Okafor", "Kowalski", "Haddad", "Schmitt", "Cole", "Ivanova",
    "Tanaka", "Moreau", "Silva",
];
const GIVEN: [&str; 8] = [
    "Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hiro",
];

fn fill(db: &Db, rows: usize) {
    const BATCH: usize = 500;
    for start in (0..rows).step_by(BATCH) {
        let mut values = Vec::new();
        for n in start..(start + BATCH).min(rows) {
            let family = FAMILIES[n % FAMILIES.len()];
            let given = GIVEN[(n / 7) % GIVEN.len()];
            let (status, review) = match n % 20 {
                0 => ("unmatched", "pending"),
                1..=6 => ("filed", "pending"),
                7..=16 => ("filed", "approved"),
                17 => ("filed", "returned"),
                _ => ("rejected", "rejected"),
            };
            let location = if status == "filed" {
                format!("patients/{:08}/{n:032x}", 40_000_000 + n % 50_000)
            } else {
                format!("unmatched/{n:032x}")
            };
            values.push(format!(
                "('{n:032x}', '{kind}', '{status}', '{location}', '2024-{month:02}-{day:02}T{hour:02}:00:00Z', \
                 '11506-3', 'SCAN-{station}', {stat}, 0, '{mrn:08}', '{review}', '{family}, {given}', \
                 '19{year:02}-0{m}-1{d}', '2024-01-01T00:00:00Z')",
                kind = if n % 4 == 0 { "dictation" } else { "chart" },
                month = 1 + n % 12,
                day = 1 + n % 28,
                hour = n % 24,
                station = n % 9,
                stat = i32::from(n % 13 == 0),
                mrn = 40_000_000 + n % 50_000,
                year = n % 100,
                m = 1 + n % 9,
                d = n % 10,
            ));
        }
        db.execute(
            &format!(
                "INSERT INTO documents (document_id, kind, status, location, received_at, document_type,
                     station, stat, risk, mrn, review_status, patient_name, birth_date, filed_at)
                 VALUES {}",
                values.join(", ")
            ),
            Vec::new(),
        )
        .expect("insert");
    }
}

/// Median milliseconds of `runs` calls of `work`.
fn median(runs: usize, mut work: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn measure(db: &Db) -> Vec<(&'static str, f64)> {
    let plain = QueueFilter::default();
    let page = |filter: &QueueFilter, list| {
        list_page(db, list, filter).expect("page");
    };
    let mut results = Vec::new();
    results.push((
        "pending, first page (STAT, oldest)",
        median(21, || page(&plain, QueueList::PendingReview)),
    ));
    let far = QueueFilter {
        page: Some(40),
        ..QueueFilter::default()
    };
    results.push((
        "pending, page 40",
        median(21, || page(&far, QueueList::PendingReview)),
    ));
    results.push((
        "approved, first page (newest)",
        median(21, || page(&plain, QueueList::Approved)),
    ));
    let by_name = QueueFilter {
        q: Some("kowalski 1942-04-13".to_string()),
        ..QueueFilter::default()
    };
    results.push((
        "search name + DOB",
        median(21, || page(&by_name, QueueList::PendingReview)),
    ));
    let by_mrn = QueueFilter {
        q: Some("40012345".to_string()),
        ..QueueFilter::default()
    };
    results.push((
        "search MRN",
        median(21, || page(&by_mrn, QueueList::Approved)),
    ));
    let by_prefix = QueueFilter {
        q: Some("kowal".to_string()),
        ..QueueFilter::default()
    };
    results.push((
        "search name (first letters, 8,300 matches)",
        median(21, || page(&by_prefix, QueueList::Approved)),
    ));
    let id = format!("{:032x}", 1usize);
    results.push((
        "claim + release",
        median(101, || {
            assert!(claim(db, &id, "ana", 30).expect("claim"));
            release(db, &id, "ana").expect("release");
        }),
    ));
    results
}

/// The queue's first page on a server (a multi-threaded runtime of 2 workers, as `him review` runs) alone,
/// then while 20 clerks' searches for a common name run back to back: (alone, loaded, searches done).
fn parallel_searches(db: &Db) -> (f64, f64, usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let page = |db: Db| async move {
            let start = Instant::now();
            tokio::spawn(async move {
                list_page(&db, QueueList::PendingReview, &QueueFilter::default()).expect("page");
            })
            .await
            .expect("page task");
            start.elapsed().as_secs_f64() * 1000.0
        };
        let mut alone = Vec::new();
        for _ in 0..21 {
            alone.push(page(db.clone()).await);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let searches = Arc::new(AtomicUsize::new(0));
        let mut clerks = Vec::new();
        for _ in 0..20 {
            let (db, stop, searches) = (db.clone(), stop.clone(), searches.clone());
            clerks.push(tokio::spawn(async move {
                let filter = QueueFilter {
                    q: Some("smith".to_string()),
                    ..QueueFilter::default()
                };
                while !stop.load(Ordering::Relaxed) {
                    list_page(&db, QueueList::Approved, &filter).expect("search");
                    searches.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut loaded = Vec::new();
        for _ in 0..21 {
            loaded.push(page(db.clone()).await);
        }
        stop.store(true, Ordering::Relaxed);
        for clerk in clerks {
            clerk.await.expect("clerk");
        }
        alone.sort_by(f64::total_cmp);
        loaded.sort_by(f64::total_cmp);
        (alone[10], loaded[10], searches.load(Ordering::Relaxed))
    })
}

fn main() {
    let rows: usize = std::env::args()
        .skip_while(|arg| arg != "--rows")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let admin = std::env::var("HIM_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());

    let dir = std::env::temp_dir().join(format!("him-bench-review-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sqlite = Db::open(&dir.join("review.sqlite")).expect("sqlite");
    let url = create_test_database(&admin).expect("PostgreSQL test database");
    let postgres = Db::postgres(&url, 4).expect("postgres");

    let start = Instant::now();
    fill(&sqlite, rows);
    let fill_sqlite = start.elapsed().as_secs_f64();
    let start = Instant::now();
    fill(&postgres, rows);
    let fill_postgres = start.elapsed().as_secs_f64();
    let start = Instant::now();
    reindex_search_words(&sqlite).expect("search words");
    let words_sqlite = start.elapsed().as_secs_f64();
    let start = Instant::now();
    reindex_search_words(&postgres).expect("search words");
    let words_postgres = start.elapsed().as_secs_f64();
    postgres
        .execute("ANALYZE documents", Vec::new())
        .expect("analyze");
    postgres
        .execute("ANALYZE search_words", Vec::new())
        .expect("analyze");

    let a = measure(&sqlite);
    let b = measure(&postgres);
    println!("review database, {rows} documents (medians, ms)");
    println!("| operation | SQLite | PostgreSQL | PostgreSQL / SQLite |");
    println!("|---|---|---|---|");
    println!(
        "| fill (s) | {fill_sqlite:.1} | {fill_postgres:.1} | {:.2} |",
        fill_postgres / fill_sqlite
    );
    println!(
        "| search words of every document (s) | {words_sqlite:.1} | {words_postgres:.1} | {:.2} |",
        words_postgres / words_sqlite
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        println!("| {name} | {x:.2} | {y:.2} | {:.2} |", y / x);
    }
    let (sa, sl, sn) = parallel_searches(&sqlite);
    let (pa, pl, pn) = parallel_searches(&postgres);
    println!(
        "| queue page alone (2-worker runtime) | {sa:.2} | {pa:.2} | {:.2} |",
        pa / sa
    );
    println!(
        "| queue page while 20 searches run | {sl:.2} | {pl:.2} | {:.2} |",
        pl / sl
    );
    println!(
        "| delay of the page by the searches | {:.2} | {:.2} | |",
        sl - sa,
        pl - pa
    );
    println!("| searches done meanwhile | {sn} | {pn} | |");
    drop(postgres);
    let _ = drop_test_database(&admin, &url);
    let _ = std::fs::remove_dir_all(&dir);
}
