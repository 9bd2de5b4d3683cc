//! End to end in real headless Chromium: log in, open the oldest chart, correct a field, approve, see it
//! leave the queue. Saves screenshots to `docs/screenshots/`. Fails (never skips) without Chromium.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::support::{Harness, FILED, FILED_MRN};

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

/// A reviewer approves the oldest chart in Chromium and it leaves the queue.
#[tokio::test]
async fn a_reviewer_approves_the_oldest_chart_in_chromium() {
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
    let profile = std::env::temp_dir().join(format!("him-review-chromium-{}", std::process::id()));
    let capabilities = json!({"goog:chromeOptions": {"args": [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1400,1000", format!("--user-data-dir={}", profile.display()),
    ]}});
    // Plain HTTP to the local chromedriver: no TLS stack needed.
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(capabilities.as_object().unwrap().clone());
    let mut client = None;
    for _ in 0..50 {
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(connected) => {
                client = Some(connected);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let client = client.expect("chromedriver accepts a session within 10 s");

    client.goto(&format!("{base}/login")).await.unwrap();
    client
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("ana")
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
        .for_element(Locator::Id("pending-count"))
        .await
        .unwrap();
    let queue = client.source().await.unwrap();
    assert!(
        queue.contains(&format!("/documents/{FILED}\"")),
        "chart waits in the queue"
    );

    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    std::fs::write(
        screenshots.join("queue.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // The oldest chart is the first chart row of the pending list.
    client.goto(&format!("{base}/?kind=chart")).await.unwrap();
    client
        .find(Locator::Css("#pending a.open"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let author = client
        .wait()
        .for_element(Locator::Id("field-author"))
        .await
        .unwrap();
    assert!(client.current_url().await.unwrap().path().ends_with(FILED));
    author.clear().await.unwrap();
    author.send_keys("Gregory House").await.unwrap();
    std::fs::write(
        screenshots.join("document.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    client
        .find(Locator::Id("approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    client
        .wait()
        .for_element(Locator::Css("p.message"))
        .await
        .unwrap();
    let after = client.source().await.unwrap();
    assert!(after.contains("Approved. The document left the queue."));
    assert!(
        !after.contains(&format!("/documents/{FILED}\"")),
        "approved chart left the queue"
    );
    client.close().await.unwrap();
    let record = harness
        .store
        .get(&format!(
            "patients/{FILED_MRN}/{FILED}/reviews/0001-approved.json"
        ))
        .await
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["fields"]["author"], "Gregory House");
    let _ = std::fs::remove_dir_all(profile);
}
