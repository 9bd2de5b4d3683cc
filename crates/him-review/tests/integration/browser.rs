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
    require("chromium");
    require("chromedriver");
    let harness = Harness::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = harness.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let port = free_port();
    let _driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
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
    let ana = harness.login("ana").await;
    harness.open(DICTATION, &ana).await;
    let approved = harness
        .post(
            &format!("/documents/{DICTATION}/approve"),
            Some(&ana),
            &[
                ("text", "Consultation note."),
                ("ack", "1"),
                ("field.author", "Jane Smith"),
            ],
        )
        .await;
    assert_eq!(approved.status, axum::http::StatusCode::SEE_OTHER);
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
