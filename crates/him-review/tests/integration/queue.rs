//! The queue page, filters, claims, reindexing and events.

use axum::http::StatusCode;
use him_core::DocumentId;
use him_queue::{EventKind, EventMessage, SCHEMA_VERSION};
use him_review::{apply_event, find_document, reindex, Db};
use him_store::Key;

use crate::support::{patient_folder, Harness, DICTATION, FILED, FILED_MRN, UNMATCHED};

both! {
    /// The queue shows counts and the oldest age, STAT first, and unmatched charts in their own list.
    async fn the_queue_lists_stat_first_with_counts() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        let page = harness.get("/", Some(&ana)).await;
        assert_eq!(page.status, StatusCode::OK);
        let html = page.text();
        assert!(
            html.contains(r#"<strong id="pending-count">2</strong>"#),
            "{html}"
        );
        assert!(html.contains(r#"<strong id="unmatched-count">1</strong>"#));
        assert!(html.contains(r#"id="oldest""#));
        let stat = html.find(&format!("/documents/{DICTATION}\"")).unwrap();
        let routine = html.find(&format!("/documents/{FILED}\"")).unwrap();
        assert!(stat < routine);
        // A filed document's row names its patient as the index holds them.
        assert!(html.contains("Schmitt, Denis"), "{html}");
        assert!(html.contains("2011-03-23"));
        assert!(!html.contains(&format!("/documents/{UNMATCHED}\"")));
        // Unmatched charts have their own list, with the name read from the page and the reason in words.
        let unmatched = harness.get("/?list=unmatched", Some(&ana)).await.text();
        assert!(unmatched.contains(&format!("/documents/{UNMATCHED}\"")));
        assert!(unmatched.contains(r#"<td class="reason">"#), "{unmatched}");
        assert!(!unmatched.contains(r#"<td class="reason">—"#), "{unmatched}");
    }
}

both! {
    /// Filters narrow both lists by kind, document type, station and risk.
    async fn filters_narrow_the_queue() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        for (query, shown, hidden) in [
            ("kind=dictation", DICTATION, FILED),
            ("kind=chart", FILED, DICTATION),
            ("risk=1", DICTATION, FILED),
            ("station=ED-2", DICTATION, FILED),
            ("document_type=11488-4", DICTATION, FILED),
        ] {
            let html = harness.get(&format!("/?{query}"), Some(&ana)).await.text();
            assert!(html.contains(&format!("/documents/{shown}\"")), "{query}");
            assert!(!html.contains(&format!("/documents/{hidden}\"")), "{query}");
        }
    }
}

both! {
    /// Two reviewers claiming the same document at the same time: exactly one gets it.
    async fn of_two_concurrent_claims_exactly_one_wins() {
        let harness = Harness::new().await;
        let (ana, bob) = (harness.login("ana").await, harness.login("bob").await);
        let path = format!("/documents/{FILED}/claim");
        let (first, second) = tokio::join!(
            harness.post(&path, Some(&ana), &[]),
            harness.post(&path, Some(&bob), &[])
        );
        let mut statuses = [first.status, second.status];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
        let holder = find_document(&harness.db, FILED)
            .unwrap()
            .claimed_by
            .unwrap();
        let loser = if holder == "ana" { &bob } else { &ana };
        // The loser cannot act on the document either.
        let approve = harness
            .post(
                &format!("/documents/{FILED}/approve"),
                Some(loser),
                &[("text", "x")],
            )
            .await;
        assert_eq!(approve.status, StatusCode::CONFLICT);
        let queue = harness.get("/", Some(loser)).await.text();
        assert!(queue.contains(&format!("claimed by {holder}")));
    }
}

both! {
    /// Reindexing a fresh database from the store alone restores locations and review outcomes.
    async fn reindex_rebuilds_the_queue_from_the_store() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        harness.open(UNMATCHED, &ana).await;
        let assign = harness
            .post(
                &format!("/documents/{UNMATCHED}/assign"),
                Some(&ana),
                &[("mrn", "40079196")],
            )
            .await;
        assert_eq!(assign.status, StatusCode::SEE_OTHER);
        harness.open(FILED, &ana).await;
        let approve = harness
            .post(
                &format!("/documents/{FILED}/approve"),
                Some(&ana),
                &[("text", "ok")],
            )
            .await;
        assert_eq!(approve.status, StatusCode::SEE_OTHER);
        let fresh = crate::support::fresh_db();
        assert_eq!(reindex(&harness.store, &fresh).await.unwrap(), 3);
        let moved = find_document(&fresh, UNMATCHED).unwrap();
        assert_eq!(moved.location, patient_folder("40079196", UNMATCHED));
        assert_eq!(moved.status, "filed");
        assert_eq!(
            find_document(&fresh, FILED).unwrap().review_status,
            "approved"
        );
        let audit = him_review::search_audit(&fresh, &Default::default(), 100).unwrap();
        assert!(audit.iter().any(|event| event.action == "approve"));
    }
}

both! {
    /// A pipeline event adds a newly filed document to the queue.
    async fn an_event_adds_a_document() {
        let harness = Harness::new().await;
        let db = crate::support::fresh_db();
        // The event as the worker publishes it: the index entry, never the patient folder.
        let event = EventMessage {
            schema: SCHEMA_VERSION,
            event: EventKind::Filed,
            document_id: FILED.to_string(),
            status: "filed".to_string(),
            location: Key::Index(DocumentId::parse(FILED).unwrap()).path(),
            reason: None,
        };
        apply_event(&harness.store, &db, &event).await.unwrap();
        let item = find_document(&db, FILED).unwrap();
        assert_eq!(item.kind, "chart");
        assert_eq!(item.mrn.as_deref(), Some("40158388"));
        let bad = EventMessage {
            document_id: "../x".to_string(),
            ..event
        };
        assert!(apply_event(&harness.store, &db, &bad).await.is_err());
    }
}

/// Two review servers behind a load balancer, one PostgreSQL database: a claim taken on one is refused on
/// the other, a session opened on one is valid on the other, and a release on one frees the document on
/// both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_share_claims_and_sessions() {
    let url = crate::support::postgres_url();
    let first = Harness::on_database(Db::postgres(&url, 2).unwrap()).await;
    let second = first.beside(Db::postgres(&url, 2).unwrap()).await;
    let ana = first.login("ana").await;
    let bob = second.login("bob").await;
    let path = format!("/documents/{FILED}/claim");
    assert_eq!(
        first.post(&path, Some(&ana), &[]).await.status,
        StatusCode::SEE_OTHER
    );
    // The other server sees ana's claim and refuses bob's.
    assert_eq!(
        second.post(&path, Some(&bob), &[]).await.status,
        StatusCode::CONFLICT
    );
    let queue = second.get("/", Some(&bob)).await.text();
    assert!(queue.contains("claimed by ana"), "{queue}");
    // Sessions live in the shared database: ana's cookie works on the second server too.
    assert_eq!(second.get("/", Some(&ana)).await.status, StatusCode::OK);
    // Released on the second server, the document is free for bob on the first.
    assert_eq!(
        second
            .post(&format!("/documents/{FILED}/release"), Some(&ana), &[])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        first.post(&path, Some(&bob), &[]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        find_document(&second.db, FILED)
            .unwrap()
            .claimed_by
            .as_deref(),
        Some("bob")
    );
    // Racing claims from both servers at once: exactly one wins.
    let other = format!("/documents/{UNMATCHED}/claim");
    let (a, b) = tokio::join!(
        first.post(&other, Some(&ana), &[]),
        second.post(&other, Some(&bob), &[])
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
}

both! {
    /// Search by name and date of birth finds the patient in the index and their documents; by MRN or
    /// document id the documents; paging and sorting keep the search.
    async fn search_finds_patients_and_documents() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        let html = harness
            .get("/?q=Schmitt+2011-03-23", Some(&ana))
            .await
            .text();
        let patients = html.split("id=\"patients\"").nth(1).unwrap_or_else(|| panic!("{html}"));
        let patients = patients.split("</section>").next().unwrap();
        assert!(patients.contains("Schmitt, Denis"), "{patients}");
        assert!(!patients.contains("Schmidt"), "{patients}");
        assert!(html.contains(&format!("/documents/{FILED}\"")));
        assert!(!html.contains(&format!("/documents/{DICTATION}\"")));
        // The US spelling of the date finds the same.
        let us = harness
            .get("/?q=schmitt+03%2F23%2F2011", Some(&ana))
            .await
            .text();
        assert!(us.contains(&format!("/documents/{FILED}\"")));
        // A wrong date of birth finds nobody.
        let wrong = harness
            .get("/?q=Schmitt+2011-03-24", Some(&ana))
            .await
            .text();
        assert!(!wrong.contains("id=\"patients\""));
        assert!(!wrong.contains(&format!("/documents/{FILED}\"")));
        // By MRN and by the start of a document id.
        let by_mrn = harness.get("/?q=40000001", Some(&ana)).await.text();
        assert!(by_mrn.contains(&format!("/documents/{DICTATION}\"")));
        assert!(!by_mrn.contains(&format!("/documents/{FILED}\"")));
        let by_id = harness
            .get(&format!("/?q={}", &FILED[..10]), Some(&ana))
            .await
            .text();
        assert!(by_id.contains(&format!("/documents/{FILED}\"")));
        assert!(!by_id.contains(&format!("/documents/{DICTATION}\"")));
    }
}

both! {
    /// A dictation HIM returns is "returned to me" for its author and a returned-transcription deficiency
    /// under their name; before that it is a transcription not yet reviewed. Clinicians see only their own
    /// deficiencies, reviewers none, and the dashboard is for supervisors.
    async fn returned_dictations_reach_their_author_and_the_deficiency_report() {
        let harness = Harness::new().await;
        let (ana, sue, cleo) = (
            harness.login("ana").await,
            harness.login("sue").await,
            harness.login("cleo").await,
        );
        let csv = harness.get("/deficiencies.csv", Some(&sue)).await;
        assert_eq!(csv.status, StatusCode::OK);
        assert_eq!(csv.content_type.as_deref(), Some("text/csv; charset=utf-8"));
        let line = |text: &str| {
            text.lines()
                .find(|line| line.contains(DICTATION))
                .map(str::to_string)
                .unwrap_or_else(|| panic!("{text}"))
        };
        let before = line(&csv.text());
        assert!(
            before.starts_with("Jane Smith,") && before.contains("Transcription not reviewed"),
            "{before}"
        );
        harness.open(DICTATION, &ana).await;
        let returned = harness
            .post(
                &format!("/documents/{DICTATION}/return"),
                Some(&ana),
                &[("kind", "return"), ("reason", "inaudible after 0:40")],
            )
            .await;
        assert_eq!(returned.status, StatusCode::SEE_OTHER);
        let after = line(&harness.get("/deficiencies.csv", Some(&sue)).await.text());
        assert!(after.contains("Returned transcription"), "{after}");
        // The clinician's page lists it as returned to them; their deficiencies are theirs only.
        let page = harness.get("/", Some(&cleo)).await.text();
        let returned_list = page.split("id=\"returned\"").nth(1).unwrap();
        assert!(returned_list.contains(&format!("/documents/{DICTATION}\"")));
        let own = harness.get("/deficiencies.csv", Some(&cleo)).await.text();
        assert_eq!(own.lines().count(), 2, "{own}");
        // The decided lists keep it.
        let list = harness.get("/?list=returned", Some(&ana)).await.text();
        assert!(list.contains(&format!("/documents/{DICTATION}\"")));
        // Reviewers neither export deficiencies nor see the dashboard; supervisors do.
        assert_eq!(
            harness.get("/deficiencies.csv", Some(&ana)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            harness.get("/dashboard", Some(&ana)).await.status,
            StatusCode::FORBIDDEN
        );
        let dashboard = harness.get("/dashboard", Some(&sue)).await;
        assert_eq!(dashboard.status, StatusCode::OK);
        assert!(dashboard.text().contains("id=\"turnaround\""));
    }
}

both! {
    /// `/metrics` answers on the metrics listener without a session in the Prometheus text format, with
    /// aggregates only: no document id, MRN, patient, station or user name anywhere. The UI's listener does
    /// not serve it to a stranger.
    async fn metrics_carry_no_identifiers() {
        let harness = Harness::new().await;
        let on_ui = harness.get("/metrics", None).await;
        assert_ne!(on_ui.status, StatusCode::OK, "the UI serves no metrics without a login");
        assert!(!on_ui.text().contains("him_review_"), "{}", on_ui.text());
        let metrics = harness.get_metrics().await;
        assert_eq!(metrics.status, StatusCode::OK);
        let text = metrics.text();
        assert!(text.contains("# TYPE him_review_backlog_documents gauge"), "{text}");
        assert!(text.contains("him_review_overdue_documents{priority=\"stat\"}"), "{text}");
        assert!(text.contains("him_review_turnaround_seconds"), "{text}");
        for secret in [
            FILED, DICTATION, UNMATCHED, FILED_MRN, "40000001", "Schmitt", "Doe", "ED-2", "Jane",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

both! {
    /// A review server that has indexed the store before catches up from its cursor in the journal of
    /// filings: a document journaled since is indexed; a document only in `index/` (as history the
    /// database already holds would be) is not read again — no full re-read of the store at a restart.
    async fn a_restart_reads_the_journal_from_its_cursor_not_the_store() {
        let harness = Harness::new().await;
        let (_, rebuilt) = him_review::rebuild(&harness.store, &harness.db).await.unwrap();
        assert_eq!(rebuilt, 3);
        assert!(him_review::filed_cursor(&harness.db).unwrap().is_some());

        let journaled = "0123456789abcdef0123456789abcdef";
        let unjournaled = "fedcba9876543210fedcba9876543210";
        crate::support::add_chart_copy(&harness.store, journaled).await;
        crate::support::add_chart_copy(&harness.store, unjournaled).await;
        // As the pipeline files: the index entry, then its journal entry.
        let index = Key::Index(DocumentId::parse(journaled).unwrap());
        let bytes = harness.store.get(&index).await.unwrap();
        let entry = him_store::Entry::new(him_store::Stream::Filed, him_store::Stamp::now(), journaled)
            .unwrap();
        harness.store.append(&entry, bytes).await.unwrap();

        let before = harness.store.requests();
        let (mut follower, rebuilt) = him_review::catch_up(&harness.store, &harness.db)
            .await
            .unwrap();
        let cost = harness.store.requests().since(before);
        assert_eq!(rebuilt, 0, "a database with a cursor is not rebuilt");
        assert_eq!(find_document(&harness.db, journaled).unwrap().status, "filed");
        assert!(find_document(&harness.db, unjournaled).is_err());
        assert!(cost.listed < 40, "{cost:?}");

        // An idle follow reads nothing; it lists only the last two minutes of the journal.
        let before = harness.store.requests();
        let indexed = him_review::follow_filed(&harness.store, &harness.db, &mut follower)
            .await
            .unwrap();
        let idle = harness.store.requests().since(before);
        assert_eq!(indexed, 0);
        assert_eq!(idle.gets, 0, "{idle:?}");
        assert!(idle.listed <= 1, "{idle:?}");
        // `him review --reindex` (a rebuild) finds the rest.
        him_review::rebuild(&harness.store, &harness.db).await.unwrap();
        assert_eq!(find_document(&harness.db, unjournaled).unwrap().status, "filed");
    }
}

both! {
    /// `/metrics` reads the open documents and the turnaround window, not the history: sixty days later the
    /// waiting documents are still in the backlog (and overdue), while the turnaround counts no longer
    /// include documents submitted before the window.
    async fn metrics_cover_the_window_and_every_open_document() {
        let harness = Harness::new().await;
        let scrape = |state: him_review::AppState| async move {
            let request = axum::http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = tower::ServiceExt::oneshot(him_review::metrics_router(state), request)
                .await
                .unwrap();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            String::from_utf8(body.to_vec()).unwrap()
        };
        let value = |text: &str, series: &str| -> f64 {
            text.lines()
                .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
                .unwrap_or(0.0)
        };
        let backlog = |text: &str| -> f64 {
            text.lines()
                .filter(|line| line.starts_with("him_review_backlog_documents{"))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let filed_count = "him_review_turnaround_seconds_count{stage=\"processing\",priority=\"all\"}";
        let now = scrape(harness.state.clone()).await;
        assert!(value(&now, filed_count) >= 1.0, "{now}");
        let later_state = harness
            .state
            .clone()
            .with_clock(him_review::Clock::shifted(chrono::Duration::days(60)));
        let later = scrape(later_state).await;
        assert_eq!(value(&later, filed_count), 0.0, "{later}");
        assert_eq!(backlog(&later), backlog(&now), "{later}");
        assert!(backlog(&later) >= 1.0, "{later}");
    }
}
