//! End to end in real headless Chromium: log in, open the oldest chart, correct a field, approve, see it
//! leave the queue. Saves screenshots under `target/tmp/screenshots/`. Fails (never skips) without Chromium.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::support::{patient_folder, Harness, DICTATION, FILED, FILED_MRN, OTHER_MRN};

/// Kills chromedriver when the test ends, passing or not.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require(program: &str) {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "{program} is required for the browser test: apt-get install -y chromium chromium-driver"
    );
}

/// Serves `app` on a free loopback port and starts chromedriver on another (Chromium and chromedriver are
/// required): the app's base URL, the driver (killed when dropped) and its port.
async fn serve_with_driver(app: axum::Router) -> (String, Driver, u16) {
    require("chromium");
    require("chromedriver");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let port = free_port();
    let driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    (base, driver, port)
}

async fn session(builder: &mut ClientBuilder<HttpConnector>, port: u16, profile: &Path) -> Client {
    let capabilities = json!({"goog:chromeOptions": {"args": [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1400,1000", format!("--user-data-dir={}", profile.display()),
    ]}});
    builder.capabilities(capabilities.as_object().unwrap().clone());
    for _ in 0..50 {
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(connected) => return connected,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("chromedriver accepts a session within 10 s");
}

async fn login(client: &Client, base: &str, name: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    client
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("password-123")
        .await
        .unwrap();
    client
        .find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Clicks return before the next page loaded: wait for an element of it.
    client
        .wait()
        .for_element(Locator::Css("span.who"))
        .await
        .unwrap();
}

async fn click(client: &Client, id: &str) {
    client
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("#{id} on the page"))
        .click()
        .await
        .unwrap();
}

/// The part of the queue page listing documents pending review.
fn pending_list(html: &str) -> &str {
    let pending = html.split("id=\"pending\"").nth(1).unwrap_or("");
    pending.split("id=\"unmatched\"").next().unwrap_or("")
}

/// In Chromium: two reviewers open the oldest chart, only the one holding the claim can approve it and it
/// leaves the queue; a supervisor moves it to the right patient chosen from the index; the clinician signs
/// an approved dictation.
#[tokio::test]
async fn reviewers_supervisor_and_clinician_work_in_chromium() {
    let harness = Harness::new().await;
    let (base, _driver, port) = serve_with_driver(harness.app.clone()).await;
    let profiles = std::env::temp_dir().join(format!("him-review-chromium-{}", std::process::id()));
    // Plain HTTP to the local chromedriver: no TLS stack needed.
    let mut builder = ClientBuilder::new(HttpConnector::new());
    let ana_client = session(&mut builder, port, &profiles.join("ana")).await;
    let bob_client = session(&mut builder, port, &profiles.join("bob")).await;

    login(&ana_client, &base, "ana").await;
    let queue = ana_client.source().await.unwrap();
    assert!(
        pending_list(&queue).contains(&format!("/documents/{FILED}\"")),
        "chart waits in the queue"
    );
    // Generated screenshots stay under target/; docs/screenshots holds the curated ones of the README.
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    std::fs::write(
        screenshots.join("queue.png"),
        ana_client.screenshot().await.unwrap(),
    )
    .unwrap();

    // The oldest chart is the first chart row of the pending list; opening it claims it for ana.
    ana_client
        .goto(&format!("{base}/?kind=chart"))
        .await
        .unwrap();
    ana_client
        .find(Locator::Css("#pending a.open"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let author = ana_client
        .wait()
        .for_element(Locator::Id("field-author"))
        .await
        .unwrap();
    assert!(ana_client
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with(FILED));

    // Bob opens the same chart: he reads it, but cannot decide on it.
    login(&bob_client, &base, "bob").await;
    bob_client
        .goto(&format!("{base}/documents/{FILED}"))
        .await
        .unwrap();
    bob_client
        .wait()
        .for_element(Locator::Id("held-by-other"))
        .await
        .unwrap();
    assert!(
        bob_client.find(Locator::Id("approve")).await.is_err(),
        "no approve button for bob"
    );

    author.clear().await.unwrap();
    author.send_keys("Gregory House").await.unwrap();
    std::fs::write(
        screenshots.join("document.png"),
        ana_client.screenshot().await.unwrap(),
    )
    .unwrap();
    click(&ana_client, "approve").await;
    ana_client
        .wait()
        .for_element(Locator::Css("p.message"))
        .await
        .unwrap();
    let after = ana_client.source().await.unwrap();
    assert!(after.contains("Approved. The document left the queue."));
    assert!(
        !pending_list(&after).contains(&format!("/documents/{FILED}\"")),
        "approved chart left the queue"
    );
    // Bob's page is stale: his approval is refused and nothing more is written.
    bob_client.refresh().await.unwrap();
    assert!(bob_client.find(Locator::Id("approve")).await.is_err());
    let folder = patient_folder(FILED_MRN, FILED);
    let versions = harness.store.list(&folder.versions()).await.unwrap();
    assert!(
        versions.iter().all(|key| key.version_number() == Some(1)),
        "{versions:?}"
    );
    let record = harness
        .store
        .get(&folder.review(1, "approved").unwrap())
        .await
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["fields"]["author"], "Gregory House");

    // A supervisor finds the chart misfiled and moves it to the right patient from the index.
    ana_client.delete_all_cookies().await.unwrap();
    login(&ana_client, &base, "sue").await;
    ana_client
        .goto(&format!("{base}/documents/{FILED}"))
        .await
        .unwrap();
    // Bob's reload claimed the approved chart: the supervisor takes the claim over (audited).
    ana_client
        .wait()
        .for_element(Locator::Id("break-claim"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    ana_client
        .wait()
        .for_element(Locator::Id("patient-query"))
        .await
        .unwrap()
        .send_keys("schmidt")
        .await
        .unwrap();
    click(&ana_client, "patient-search").await;
    let reason = ana_client
        .wait()
        .for_element(Locator::Id(&format!("reason-{OTHER_MRN}")))
        .await
        .unwrap();
    reason.send_keys("misfiled: twin").await.unwrap();
    ana_client
        .find(Locator::Css(&format!(
            "#patients button[data-mrn=\"{OTHER_MRN}\"]"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    ana_client
        .wait()
        .for_element(Locator::Css("p.message"))
        .await
        .unwrap();
    assert!(ana_client
        .source()
        .await
        .unwrap()
        .contains("Moved to the right patient"));
    assert!(harness
        .store
        .exists(
            &patient_folder(OTHER_MRN, FILED)
                .version_object(1, "DocumentReference.json")
                .unwrap()
        )
        .await
        .unwrap());

    // The dictation, approved by HIM, waits for its author; the clinician signs it.
    harness.approve_dictation().await;
    bob_client.delete_all_cookies().await.unwrap();
    login(&bob_client, &base, "cleo").await;
    bob_client
        .find(Locator::Css("#to-sign a.open"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    bob_client
        .wait()
        .for_element(Locator::Id("sign"))
        .await
        .unwrap();
    click(&bob_client, "sign").await;
    bob_client
        .wait()
        .for_element(Locator::Css("p.message"))
        .await
        .unwrap();
    let signed = bob_client.source().await.unwrap();
    assert!(signed.contains("Signed. The note is final."));
    assert!(signed.contains("Nothing waits for your signature."));
    ana_client.close().await.unwrap();
    bob_client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profiles);
}

/// Presses Alt+Shift+`key` on the page: the review UI's shortcuts.
async fn shortcut(client: &Client, key: char) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    use fantoccini::key::Key;
    let keys = KeyActions::new("keyboard".to_string())
        .then(KeyAction::Down {
            value: Key::Alt.into(),
        })
        .then(KeyAction::Down {
            value: Key::Shift.into(),
        })
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key })
        .then(KeyAction::Up {
            value: Key::Shift.into(),
        })
        .then(KeyAction::Up {
            value: Key::Alt.into(),
        });
    client.perform_actions(keys).await.unwrap();
}

/// The text of a URL fetched by the page itself (its session cookie), e.g. a CSV export.
async fn fetch_text(client: &Client, path: &str) -> String {
    let value = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.text()).then(done, e => done('ERROR ' + e));",
            vec![json!(path)],
        )
        .await
        .unwrap();
    value.as_str().unwrap().to_string()
}

fn at(time: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(time)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// In Chromium, with the UI's clock injected: a supervisor finds a patient by name and date of birth; a
/// STAT dictation turns red once past its two-hour target; a reviewer approves three charts one after the
/// other with the keyboard only (approve-and-next); the delinquent-by-physician CSV lists the unsigned
/// dictation the day after it fell due, not before.
#[tokio::test]
async fn worklists_in_chromium() {
    const COPIES: [&str; 2] = [
        "f1379b7ea443afb88b895d460f944e01",
        "f1379b7ea443afb88b895d460f944e02",
    ];
    let harness = Harness::new().await;
    for copy in COPIES {
        crate::support::add_chart_copy(&harness.store, copy).await;
    }
    him_review::reindex(&harness.store, &harness.db)
        .await
        .unwrap();
    // The dictation (STAT, submitted 2024-03-01 09:59:58Z) is the oldest work; one hour later.
    let (clock, time) = him_review::Clock::manual(at("2024-03-01T11:00:00Z"));
    let app = him_review::router(harness.state.clone().with_clock(clock));
    let (base, _driver, port) = serve_with_driver(app).await;
    let profiles =
        std::env::temp_dir().join(format!("him-review-worklists-{}", std::process::id()));
    let mut builder = ClientBuilder::new(HttpConnector::new());
    let client = session(&mut builder, port, &profiles.join("sue")).await;
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();

    // Search by name and date of birth: the patient of the index and their document, not the
    // near-namesake born the same day.
    login(&client, &base, "sue").await;
    client
        .find(Locator::Id("search"))
        .await
        .unwrap()
        .send_keys("Schmitt 2011-03-23\n")
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("#patients a.patient"))
        .await
        .unwrap();
    let found = client.source().await.unwrap();
    let patients = found.split("id=\"patients\"").nth(1).unwrap();
    let patients = patients.split("</section>").next().unwrap();
    assert!(patients.contains("Schmitt, Denis") && patients.contains(FILED_MRN));
    assert!(!patients.contains("Schmidt"), "{patients}");
    assert!(found.contains(&format!("/documents/{FILED}\"")));
    assert!(!found.contains(&format!("/documents/{DICTATION}\"")));

    // The indexing screen of the unmatched chart: what was read, why it did not match, the candidates.
    client
        .goto(&format!("{base}/documents/{}", crate::support::UNMATCHED))
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("read-demographics"))
        .await
        .unwrap();
    std::fs::write(
        screenshots.join("indexing.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // One hour after submission the STAT dictation is within its target; after two and a half, red.
    let row = format!("tr[data-id=\"{DICTATION}\"] td.age");
    client.goto(&format!("{base}/")).await.unwrap();
    let cell = client.find(Locator::Css(&row)).await.unwrap();
    assert_eq!(
        cell.attr("class").await.unwrap().as_deref(),
        Some("age on_time")
    );
    *time.lock().unwrap() = at("2024-03-01T12:30:00Z");
    client.refresh().await.unwrap();
    let cell = client.find(Locator::Css(&row)).await.unwrap();
    assert_eq!(
        cell.attr("class").await.unwrap().as_deref(),
        Some("age overdue")
    );
    assert_eq!(
        cell.css_value("background-color").await.unwrap(),
        "rgba(198, 40, 40, 1)"
    );
    std::fs::write(
        screenshots.join("worklist.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // HIM approves the dictation (its flag acknowledged): it waits for Dr. Smith's signature.
    harness.approve_dictation().await;

    // Keyboard only: from the queue, Alt+Shift+N opens the next document; on each, Alt+Shift+N approves it
    // and opens the next, until nothing is left.
    client.delete_all_cookies().await.unwrap();
    client.goto(&format!("{base}/login")).await.unwrap();
    client
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("bob\tpassword-123\n")
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("start-next"))
        .await
        .unwrap();
    shortcut(&client, 'N').await;
    let mut opened = Vec::new();
    for _ in 0..3 {
        client
            .wait()
            .for_element(Locator::Id("approve-next"))
            .await
            .unwrap();
        let url = client.current_url().await.unwrap();
        opened.push(url.path().rsplit('/').next().unwrap().to_string());
        if opened.len() == 1 {
            std::fs::write(
                screenshots.join("document-next.png"),
                client.screenshot().await.unwrap(),
            )
            .unwrap();
        }
        shortcut(&client, 'N').await;
        let left = opened.last().unwrap().clone();
        for _ in 0..100 {
            let url = client.current_url().await.unwrap();
            if !url.path().ends_with(left.as_str()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    client
        .wait()
        .for_element(Locator::Css("p.message"))
        .await
        .unwrap();
    assert!(client
        .source()
        .await
        .unwrap()
        .contains("Nothing else waits for review."));
    let mut expected = vec![
        FILED.to_string(),
        COPIES[0].to_string(),
        COPIES[1].to_string(),
    ];
    expected.sort();
    let mut approved_ids = opened.clone();
    approved_ids.sort();
    assert_eq!(approved_ids, expected, "opened {opened:?}");
    for id in &expected {
        let record = patient_folder(FILED_MRN, id).review(1, "approved").unwrap();
        assert!(
            harness.store.exists(&record).await.unwrap(),
            "{id} approved"
        );
    }

    // The delinquent-by-physician CSV: the unsigned dictation (aged from its submission on 2024-03-01,
    // delinquent after 30 days) is open on its due day and delinquent the day after.
    client.delete_all_cookies().await.unwrap();
    login(&client, &base, "sue").await;
    let dictation_line = |csv: &str| {
        csv.lines()
            .find(|line| line.contains(DICTATION))
            .map(str::to_string)
    };
    *time.lock().unwrap() = at("2024-03-31T12:00:00Z");
    let csv = fetch_text(&client, "/deficiencies.csv").await;
    assert!(
        csv.starts_with("physician,document_id,deficiency,"),
        "{csv}"
    );
    let line = dictation_line(&csv).expect("the unsigned dictation is a deficiency");
    assert!(line.starts_with("Jane Smith,"), "{line}");
    assert!(
        line.contains("Signature missing") && line.ends_with(",no"),
        "{line}"
    );
    *time.lock().unwrap() = at("2024-04-01T08:00:00Z");
    let csv = fetch_text(&client, "/deficiencies.csv").await;
    let line = dictation_line(&csv).unwrap();
    assert!(
        line.contains(",2024-03-31,") && line.ends_with(",yes"),
        "{line}"
    );
    client.goto(&format!("{base}/deficiencies")).await.unwrap();
    let page = client.source().await.unwrap();
    assert!(page.contains("Jane Smith") && page.contains("delinquent"));
    std::fs::write(
        screenshots.join("deficiencies.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    client.goto(&format!("{base}/dashboard")).await.unwrap();
    std::fs::write(
        screenshots.join("dashboard.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profiles);
}
