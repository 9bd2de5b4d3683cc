//! EHR interfaces against real peers nobody here wrote: an hl7apy MLLP receiver (`tests/peers/hl7-receiver.py`),
//! python-hl7's `mllp_send`, and a FHIR R4 server built on `@medplum/fhir-router` (`tests/peers/fhir-peer.mjs`).
//! Documents are approved, corrected and reassigned through the review's own functions over a local store;
//! `him deliver`, `him adt` and `him interfaces` run as the real binary. Nothing skips: a missing peer fails
//! with what to install (`scripts/setup`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use him_patients::LiveIndex;
use him_review::{Actor, AppState, Db, Patients, ReviewConfig, ReviewInput, Role};
use him_store::Store;

use crate::support::repo;

/// The chart of the review fixtures, filed to 40158388, and the unmatched one.
const FILED: &str = "f1379b7ea443afb88b895d460f944eeb";
const FILED_MRN: &str = "40158388";
const UNMATCHED: &str = "2a8ede9685cc60e43b4ec49f5dac16db";
const OTHER_MRN: &str = "40158399";
const PATIENTS: &str = r#"{"resourceType":"Patient","id":"pat-schmitt","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"40158388"}],"name":[{"family":"Schmitt","given":["Denis"]}],"birthDate":"2011-03-23","gender":"male"}
{"resourceType":"Patient","id":"pat-schmidt","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"40158399"}],"name":[{"family":"Schmidt","given":["Dennis"]}],"birthDate":"2011-03-23","gender":"male"}
{"resourceType":"Patient","id":"pat-cole","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"40079196"}],"name":[{"family":"Cole","given":["Devin"]}],"birthDate":"1999-09-09","gender":"male"}
"#;

/// The bearer token the FHIR peer demands; `him deliver` reads it from `HIM_FHIR_TOKEN`.
const FHIR_TOKEN: &str = "test-token-7f3a";

/// A child process killed when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require(program: &str, what: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "{program} is missing: {what} (run scripts/setup)");
}

/// Starts a peer that prints `listening <port>` when ready; returns it and the port.
fn start_peer(mut command: Command, name: &str) -> (Peer, u16) {
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {name}: {e} (run scripts/setup)"));
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("listening ") {
                let _ = sender.send(port.trim().parse::<u16>().ok());
            }
        }
    });
    let port = receiver
        .recv_timeout(Duration::from_secs(60))
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("the {name} did not start (run scripts/setup)"));
    (Peer(child), port)
}

fn receiver(log: &Path, port: u16, extra: &[&str]) -> (Peer, u16) {
    require("python3", "the HL7 receiver runs on Python with hl7apy");
    let mut command = Command::new("python3");
    command
        .arg(repo().join("tests/peers/hl7-receiver.py"))
        .args(["--port", &port.to_string(), "--log"])
        .arg(log)
        .args(extra);
    start_peer(command, "hl7apy receiver")
}

fn fhir_peer() -> (Peer, u16) {
    require(
        "node",
        "the FHIR peer runs on Node with @medplum/fhir-router",
    );
    let port = free_port();
    let mut command = Command::new("node");
    command.arg(repo().join("tests/peers/fhir-peer.mjs")).args([
        "--port",
        &port.to_string(),
        "--token",
        FHIR_TOKEN,
    ]);
    start_peer(command, "FHIR peer")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One line per message the receiver got.
fn received(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A store holding the review fixtures, the patient index file and a configuration naming both peers.
struct Site {
    _dir: tempfile::TempDir,
    store: PathBuf,
    patients: PathBuf,
    config: PathBuf,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        copy_tree(
            &repo().join("crates/him-review/tests/fixtures/store"),
            &store,
        );
        let patients = dir.path().join("patients.ndjson");
        std::fs::write(&patients, PATIENTS).unwrap();
        let config = dir.path().join("pipeline.toml");
        Site {
            _dir: dir,
            store,
            patients,
            config,
        }
    }

    /// Writes the configuration: HL7 to `hl7_port`, FHIR to `fhir_port` (either `None`: not configured).
    fn configure(&self, hl7_port: Option<u16>, fhir_port: Option<u16>, listen: Option<u16>) {
        let hl7 = hl7_port.map_or(String::new(), |p| format!("send_to = \"127.0.0.1:{p}\"\n"));
        let listen = listen.map_or(String::new(), |p| format!("listen = \"127.0.0.1:{p}\"\n"));
        let fhir = fhir_port.map_or(String::new(), |p| {
            format!("base_url = \"http://127.0.0.1:{p}/fhir/R4\"\n")
        });
        let text = format!(
            "[store]\nurl = \"{}\"\n[patients]\nindex = \"{}\"\n[hl7]\n{hl7}{listen}ack_timeout_s = 5.0\n\
             [fhir]\n{fhir}[deliver]\npoll_interval_s = 0.2\nretry_initial_s = 0.5\nretry_max_s = 2.0\n",
            self.store.display(),
            self.patients.display()
        );
        std::fs::write(&self.config, text).unwrap();
    }

    /// `him <args> --config <site config>`.
    fn him(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_him"));
        command.args(args).arg("--config").arg(&self.config);
        command
            .env_remove("HIM_LOG")
            .env("HIM_FHIR_TOKEN", FHIR_TOKEN);
        command
    }

    /// `him deliver --once`: its summary and exit code.
    fn deliver_once(&self) -> (Value, Option<i32>) {
        let output = self.him(&["deliver", "--once"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
            panic!(
                "deliver printed {stdout:?}; stderr {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (summary, output.status.code())
    }

    fn interfaces(&self) -> Vec<Value> {
        let output = self.him(&["interfaces"]).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The review over this store: a fresh database indexed from it, users `ana` (reviewer) and `sue`
    /// (supervisor), the patient index with the store's ADT changes.
    async fn review(&self) -> AppState {
        let store = Store::local(&self.store).unwrap();
        let db = Db::in_memory().unwrap();
        him_review::reindex(&store, &db).await.unwrap();
        him_review::add_user(&db, "ana", Role::Reviewer, "password-123", None).unwrap();
        him_review::add_user(&db, "sue", Role::Supervisor, "password-123", None).unwrap();
        let index = him_extract::PatientIndex::from_fhir_ndjson(
            PATIENTS.as_bytes(),
            him_extract::CheckDigit::None,
        )
        .unwrap();
        let live = Arc::new(LiveIndex::new(store.clone(), Arc::new(index)));
        live.refresh().await.unwrap();
        let patients = Patients {
            live,
            mrn_system: "urn:him:mrn".to_string(),
        };
        AppState::new(ReviewConfig::default(), store, db, patients)
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn actor(name: &str, role: Role) -> Actor {
    Actor {
        name: name.to_string(),
        role,
        author: None,
    }
}

async fn approve(app: &AppState, document_id: &str, text: &str) {
    assert!(him_review::claim(&app.db, document_id, "ana", 30).unwrap());
    let input = ReviewInput {
        fields: BTreeMap::from([
            ("document_type".to_string(), "11506-3".to_string()),
            ("date_of_service".to_string(), "2026-11-30".to_string()),
        ]),
        text: text.to_string(),
        flags_acknowledged: Vec::new(),
    };
    him_review::approve(app, document_id, &actor("ana", Role::Reviewer), &input)
        .await
        .unwrap();
}

async fn fhir_get(port: u16, path: &str) -> Value {
    let bytes = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn fhir_count(port: u16, resource: &str) -> u64 {
    fhir_get(port, &format!("/_count/{resource}")).await["count"]
        .as_u64()
        .unwrap()
}

/// Every DocumentReference on the peer, checked for the codes the peer does not validate itself.
async fn references(port: u16) -> Vec<Value> {
    let all = fhir_get(port, "/_all/DocumentReference").await;
    let all = all.as_array().unwrap().clone();
    for reference in &all {
        assert!(
            matches!(
                reference["status"].as_str(),
                Some("current" | "superseded" | "entered-in-error")
            ),
            "{reference}"
        );
        assert_eq!(reference["type"]["coding"][0]["system"], "http://loinc.org");
        assert_eq!(
            reference["category"][0]["coding"][0]["code"],
            "clinical-note"
        );
        assert!(reference["subject"]["identifier"]["value"].is_string());
        assert!(reference["content"][0]["attachment"]["url"]
            .as_str()
            .unwrap()
            .starts_with("Binary/him-"));
    }
    all
}

/// Approve → one T02 at the receiver and one DocumentReference + Binary at the FHIR peer, although
/// `him deliver` is killed 10 times between sending and recording the acknowledgement: the receiver sees
/// only resends of the same control id; FHIR writes replayed after a lost record create nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_is_delivered_once_though_the_deliverer_is_killed_ten_times() {
    let site = Site::new();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("hl7.jsonl");
    let (fhir, fhir_port) = fhir_peer();
    let (slow, port) = receiver(&log, 0, &["--delay", "3"]);
    site.configure(Some(port), Some(fhir_port), None);
    let app = site.review().await;
    approve(&app, FILED, "Progress note.\nPatient seen | doing well.").await;

    for kill in 1..=10 {
        let mut deliver = site
            .him(&["deliver"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(
            "the receiver to get the message",
            Duration::from_secs(20),
            || received(&log).len() >= kill,
        );
        // The receiver holds its ACK for 3 s: the deliverer dies between send and ACK record.
        deliver.kill().unwrap();
        deliver.wait().unwrap();
    }
    drop(slow);
    let (_quick, port) = receiver(&log, 0, &[]);
    site.configure(Some(port), Some(fhir_port), None);
    let (summary, code) = site.deliver_once();
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(
        summary["delivered"], 2,
        "one event to each destination: {summary}"
    );

    let lines = received(&log);
    assert_eq!(lines.len(), 11, "10 interrupted sends and the last one");
    let first = &lines[0];
    assert!(lines
        .iter()
        .all(|l| l["control_id"] == first["control_id"] && l["raw"] == first["raw"]));
    assert_eq!(first["trigger"], "T02");
    assert_eq!(first["txa12"], format!("{FILED}-v1"));
    assert_eq!(first["txa17"], "AU");
    assert_eq!(first["pid3"], format!("{FILED_MRN}^^^HOSP^MR"));
    let raw = first["raw"].as_str().unwrap();
    assert!(
        raw.contains("Patient seen \\F\\ doing well."),
        "text escaped in OBX"
    );

    assert_eq!(fhir_count(fhir_port, "DocumentReference").await, 1);
    assert_eq!(fhir_count(fhir_port, "Binary").await, 1);
    let all = references(fhir_port).await;
    assert_eq!(all[0]["masterIdentifier"]["value"], format!("{FILED}-v1"));
    assert_eq!(all[0]["status"], "current");
    assert_eq!(all[0]["docStatus"], "final");

    // A FHIR record lost after the write (killed before it): sent again, nothing new on the server.
    let fhir_records = site.store.join("outbox/fhir");
    std::fs::remove_dir_all(fhir_records.join("acks")).unwrap();
    std::fs::remove_dir_all(fhir_records.join("done")).unwrap();
    let (summary, code) = site.deliver_once();
    assert_eq!((summary["delivered"].as_u64(), code), (Some(1), Some(0)));
    assert_eq!(fhir_count(fhir_port, "DocumentReference").await, 1);
    assert_eq!(fhir_count(fhir_port, "Binary").await, 1);
    // Nothing left: a further pass sends nothing.
    let (summary, _) = site.deliver_once();
    assert_eq!(summary["delivered"], 0);
    assert_eq!(received(&log).len(), 11);

    let status = site.interfaces();
    for row in &status {
        assert_eq!(row["backlog"], 0, "{row}");
        assert!(row["last_success"].is_string(), "{row}");
        assert_eq!(row["dead_letters"].as_array().unwrap().len(), 0);
    }
    // No patient data in what the operators see.
    let text = format!("{status:?}");
    assert!(!text.contains(FILED_MRN) && !text.contains("Schmitt"));
    drop(fhir);
}

/// The receiver down for a while (60 s, `HIM_TEST_RECEIVER_DOWN_S`): delivered once it is back. An AE
/// dead-letters the message with its reason and holds the document's later events; a supervisor's replay
/// sends it again once the receiver accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_gets_it_later_and_an_error_is_a_dead_letter_until_replayed() {
    let site = Site::new();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("hl7.jsonl");
    let port = free_port();
    site.configure(Some(port), None, None);
    let app = site.review().await;
    approve(&app, FILED, "First note.").await;

    let mut deliver = site
        .him(&["deliver"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let down: u64 = std::env::var("HIM_TEST_RECEIVER_DOWN_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    tokio::time::sleep(Duration::from_secs(down)).await;
    assert!(received(&log).is_empty());
    assert_eq!(site.interfaces()[0]["backlog"], 1);
    let (receiver_up, _) = receiver(&log, port, &[]);
    wait_for(
        "delivery after the receiver came back",
        Duration::from_secs(30),
        || !received(&log).is_empty(),
    );
    let _ = Command::new("kill").arg(deliver.id().to_string()).status();
    deliver.wait().unwrap();
    drop(receiver_up);
    assert_eq!(received(&log).len(), 1);

    // The second document: assigned, approved, refused by the receiver (AE).
    assert!(him_review::claim(&app.db, UNMATCHED, "ana", 30).unwrap());
    him_review::move_to_patient(
        &app,
        UNMATCHED,
        &actor("ana", Role::Reviewer),
        "40079196",
        "",
    )
    .await
    .unwrap();
    approve(&app, UNMATCHED, "Second note.").await;
    let (refusing, port) = receiver(&log, 0, &["--ae-when-contains", UNMATCHED]);
    site.configure(Some(port), None, None);
    let (summary, code) = site.deliver_once();
    assert_eq!(code, Some(0), "a dead letter is not a retry: {summary}");
    assert_eq!(summary["dead_lettered"], 1);
    let status = site.interfaces();
    let dead = status[0]["dead_letters"].as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]["reason"].as_str().unwrap().starts_with("AE"),
        "{dead:?}"
    );
    let event = dead[0]["event_id"].as_str().unwrap().to_string();
    assert!(event.starts_with(UNMATCHED));
    // Not sent again by later passes.
    let before = received(&log).len();
    site.deliver_once();
    assert_eq!(received(&log).len(), before);
    drop(refusing);

    // Replayed to a receiver that accepts it: delivered, no dead letter left.
    let (_accepting, port) = receiver(&log, 0, &[]);
    site.configure(Some(port), None, None);
    let replay = site
        .him(&["interfaces", "replay", "hl7", &event, "--by", "sue"])
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let (summary, code) = site.deliver_once();
    assert_eq!((summary["delivered"].as_u64(), code), (Some(1), Some(0)));
    let status = site.interfaces();
    assert!(status[0]["dead_letters"].as_array().unwrap().is_empty());
    assert_eq!(status[0]["backlog"], 0);
    let lines = received(&log);
    let last = lines.last().unwrap();
    assert_eq!(last["txa12"], format!("{UNMATCHED}-v1"));
}

/// A wrong-patient reassignment: T11 to the old patient, then T02 to the new one; on FHIR the old
/// DocumentReference becomes entered-in-error and a new one names the right patient. A correction then
/// sends T10 and supersedes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reassignment_cancels_and_refiles_and_a_correction_supersedes() {
    let site = Site::new();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("hl7.jsonl");
    let (_fhir, fhir_port) = fhir_peer();
    let (_receiver, port) = receiver(&log, 0, &[]);
    site.configure(Some(port), Some(fhir_port), None);
    let app = site.review().await;
    approve(&app, FILED, "Note for the wrong chart.").await;
    assert_eq!(site.deliver_once().1, Some(0));

    assert!(him_review::claim(&app.db, FILED, "sue", 30).unwrap());
    let moved = him_review::move_to_patient(
        &app,
        FILED,
        &actor("sue", Role::Supervisor),
        OTHER_MRN,
        "filed to the wrong patient",
    )
    .await
    .unwrap();
    assert_eq!(moved.to_mrn, OTHER_MRN);
    let (summary, code) = site.deliver_once();
    assert_eq!(
        (summary["delivered"].as_u64(), code),
        (Some(2), Some(0)),
        "{summary}"
    );

    let lines = received(&log);
    let triggers: Vec<&str> = lines
        .iter()
        .map(|l| l["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, ["T02", "T11", "T02"]);
    assert_eq!(lines[1]["pid3"], format!("{FILED_MRN}^^^HOSP^MR"));
    assert_eq!(lines[1]["txa12"], lines[0]["txa12"]);
    assert_eq!(lines[2]["pid3"], format!("{OTHER_MRN}^^^HOSP^MR"));
    assert_ne!(
        lines[2]["txa12"], lines[0]["txa12"],
        "a new document number for the new patient"
    );
    let ids: std::collections::HashSet<&str> = lines
        .iter()
        .map(|l| l["control_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);

    let all = references(fhir_port).await;
    assert_eq!(all.len(), 2);
    let by_status = |status: &str| {
        all.iter()
            .find(|r| r["status"] == status)
            .unwrap_or_else(|| panic!("no {status} DocumentReference: {all:?}"))
    };
    assert_eq!(
        by_status("entered-in-error")["subject"]["identifier"]["value"],
        FILED_MRN
    );
    assert_eq!(
        by_status("current")["subject"]["identifier"]["value"],
        OTHER_MRN
    );
    assert_eq!(fhir_count(fhir_port, "Binary").await, 1);

    // A correction of the moved document: T10 naming its parent, the old version superseded.
    assert!(him_review::claim(&app.db, FILED, "sue", 30).unwrap());
    let input = ReviewInput {
        fields: BTreeMap::from([("document_type".to_string(), "11506-3".to_string())]),
        text: "Corrected note.".to_string(),
        flags_acknowledged: Vec::new(),
    };
    him_review::correct(&app, FILED, &actor("sue", Role::Supervisor), &input, "typo")
        .await
        .unwrap();
    let (summary, _) = site.deliver_once();
    assert_eq!(summary["delivered"], 2);
    let lines = received(&log);
    let last = lines.last().unwrap();
    assert_eq!(last["trigger"], "T10");
    assert_eq!(last["txa13"], lines[2]["txa12"]);
    let all = references(fhir_port).await;
    assert_eq!(all.len(), 3);
    assert_eq!(
        all.iter().filter(|r| r["status"] == "superseded").count(),
        1
    );
    assert_eq!(all.iter().filter(|r| r["status"] == "current").count(), 1);

    // An addendum: T06 naming the corrected version as its parent; a new DocumentReference that appends.
    let corrected = last["txa12"].clone();
    assert!(him_review::claim(&app.db, FILED, "sue", 30).unwrap());
    him_review::add_addendum(&app, FILED, &actor("sue", Role::Supervisor), "Late entry.")
        .await
        .unwrap();
    let (summary, _) = site.deliver_once();
    assert_eq!(summary["delivered"], 2);
    let lines = received(&log);
    let last = lines.last().unwrap();
    assert_eq!(last["trigger"], "T06");
    assert_eq!(last["txa13"], corrected);
    let all = references(fhir_port).await;
    assert_eq!(all.len(), 4);
    let addendum = all
        .iter()
        .find(|r| r["relatesTo"][0]["code"] == "appends")
        .expect("an appending DocumentReference");
    assert_eq!(
        addendum["relatesTo"][0]["target"]["identifier"]["value"],
        corrected
    );
}

/// ADT in: an A04 registers a patient and an A40 (sent with python-hl7's `mllp_send`) merges the old
/// record into it; each is acknowledged once committed and a resend changes nothing. The merged patient's
/// document shows on the survivor's page in the review UI, and the next chart naming the old MRN files to
/// the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_a40_merge_shows_the_documents_under_the_survivor_and_refiles_new_ones() {
    require("mllp_send", "python-hl7's mllp_send sends the ADT messages");
    let site = Site::new();
    let work = tempfile::tempdir().unwrap();
    let chart_index = repo().join("fixtures/identity/patients.csv");
    // The chart of 40000002 (Medhurst, Sumiko, 1927-05-21), filed before the merge.
    let chart = repo().join("fixtures/identity/charts/syn00-clean.png");
    let process = |file: &Path| -> Value {
        let output = Command::new(env!("CARGO_BIN_EXE_him"))
            .args(["process", "--workers", "1", "--patients"])
            .arg(&chart_index)
            .arg("--store")
            .arg(&site.store)
            .arg(file)
            .env_remove("HIM_LOG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        serde_json::from_str(stdout.lines().next().unwrap_or("null")).unwrap()
    };
    let before = process(&chart);
    assert_eq!(before["status"], "filed", "{before}");
    assert_eq!(before["patient"]["mrn"], "40000002", "{before}");

    let port = free_port();
    site.configure(None, None, Some(port));
    let mut adt = site.him(&["adt"]).stderr(Stdio::null()).spawn().unwrap();
    let _adt_guard = scopeguard(&mut adt);
    wait_for("the ADT listener", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let messages = work.path().join("adt.hl7");
    std::fs::write(
        &messages,
        "MSH|^~\\&|REG|HOSP|HIM|HOSP|20261201090000||ADT^A04^ADT_A01|reg-1|P|2.5.1\n\
         EVN|A04|20261201090000\n\
         PID|1||50000002^^^HOSP^MR||Medhurst^Sumiko||19270521|F\n\
         MSH|^~\\&|REG|HOSP|HIM|HOSP|20261201090100||ADT^A40^ADT_A39|merge-1|P|2.5.1\n\
         EVN|A40|20261201090100\n\
         PID|1||50000002^^^HOSP^MR||Medhurst^Sumiko||19270521|F\n\
         MRG|40000002^^^HOSP^MR\n",
    )
    .unwrap();
    let send = || {
        let output = Command::new("timeout")
            .args([
                "30",
                "mllp_send",
                "--loose",
                "--port",
                &port.to_string(),
                "--file",
            ])
            .arg(&messages)
            .arg("127.0.0.1")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).replace(['\r', '\u{b}', '\u{1c}'], "\n")
    };
    let acks = send();
    assert!(acks.contains("MSA|AA|reg-1"), "{acks}");
    assert!(acks.contains("MSA|AA|merge-1"), "{acks}");
    // Sent again: acknowledged, ignored.
    let again = send();
    assert!(again.contains("MSA|AA|merge-1"), "{again}");
    let changes = std::fs::read_dir(site.store.join("mpi/changes"))
        .unwrap()
        .count();
    assert_eq!(changes, 2);

    // The next chart naming 40000002 (the same page, other bytes) files to the survivor.
    let next = work.path().join("next.png");
    let recompressed = Command::new("python3")
        .arg("-c")
        .arg("import sys; from PIL import Image; Image.open(sys.argv[1]).save(sys.argv[2], compress_level=1)")
        .arg(&chart)
        .arg(&next)
        .status()
        .unwrap();
    assert!(recompressed.success());
    let after = process(&next);
    assert_eq!(after["status"], "filed", "{after}");
    assert_eq!(after["patient"]["mrn"], "50000002", "{after}");

    // The review UI: the survivor's page lists both, the merged one marked.
    let app = site.review().await;
    let router = him_review::router(app.clone());
    let cookie = login(&router, "ana").await;
    let response = router
        .clone()
        .oneshot(
            Request::get("/patients/50000002")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let before_id = before["document_id"].as_str().unwrap();
    let after_id = after["document_id"].as_str().unwrap();
    assert!(html.contains(&format!("data-id=\"{before_id}\"")), "{html}");
    assert!(html.contains(&format!("data-id=\"{after_id}\"")), "{html}");
    assert!(html.contains("(merged)"));
    // No object moved: the first chart is still in its folder.
    assert!(site
        .store
        .join(format!("patients/40000002/{before_id}/document.json"))
        .exists());

    // Undone: the merged record's documents leave the survivor's page and are the old patient's again.
    let unmerge = site
        .him(&[
            "adt",
            "unmerge",
            "--survivor",
            "50000002",
            "--merged",
            "40000002",
        ])
        .output()
        .unwrap();
    assert!(
        unmerge.status.success(),
        "{}",
        String::from_utf8_lossy(&unmerge.stderr)
    );
    let app = site.review().await;
    let router = him_review::router(app);
    let cookie = login(&router, "ana").await;
    let page = |mrn: &'static str| {
        let router = router.clone();
        let cookie = cookie.clone();
        async move {
            let response = router
                .oneshot(
                    Request::get(format!("/patients/{mrn}"))
                        .header(header::COOKIE, &cookie)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            String::from_utf8(
                response
                    .into_body()
                    .collect()
                    .await
                    .unwrap()
                    .to_bytes()
                    .to_vec(),
            )
            .unwrap()
        }
    };
    let survivor = page("50000002").await;
    assert!(!survivor.contains(&format!("data-id=\"{before_id}\"")));
    assert!(survivor.contains(&format!("data-id=\"{after_id}\"")));
    assert!(page("40000002")
        .await
        .contains(&format!("data-id=\"{before_id}\"")));
}

fn scopeguard(child: &mut Child) -> impl Drop + '_ {
    struct Guard<'a>(&'a mut Child);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    Guard(child)
}

/// Logs in through the login form; the session cookie.
async fn login(router: &axum::Router, name: &str) -> String {
    let form = router
        .clone()
        .oneshot(Request::get("/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let cookie = form.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = String::from_utf8(
        form.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let body = format!("csrf={csrf}&name={name}&password=password-123");
    let response = router
        .clone()
        .oneshot(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, cookie)
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "login of {name}");
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("him_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// A store whose outbox events were written before the journal (an earlier release): `him deliver`
/// refuses it and names `him migrate`; once migrated (a second run writes nothing), the event goes out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_before_the_journal_is_refused_until_migrated() {
    let site = Site::new();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("hl7.jsonl");
    let (_receiver, port) = receiver(&log, free_port(), &[]);
    site.configure(Some(port), None, None);
    let app = site.review().await;
    approve(&app, FILED, "First note.").await;
    // What an earlier release left: the event, no journal.
    std::fs::remove_dir_all(site.store.join("outbox/journal")).unwrap();
    std::fs::remove_file(site.store.join("outbox/journal-migrated.json")).unwrap();
    assert!(site.store.join("outbox/events").is_dir());

    let refused = site.him(&["deliver", "--once"]).output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("him migrate"), "{stderr}");
    assert!(received(&log).is_empty());

    let migrate = |expected: u64| {
        let output = site.him(&["migrate"]).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["outbox_events_journaled"], expected, "{report}");
    };
    migrate(1);
    migrate(0);
    let (summary, code) = site.deliver_once();
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(summary["delivered"], 1, "{summary}");
    assert_eq!(received(&log).len(), 1);
    let (summary, _) = site.deliver_once();
    assert_eq!(summary["delivered"], 0, "{summary}");
    assert_eq!(received(&log).len(), 1);
}
