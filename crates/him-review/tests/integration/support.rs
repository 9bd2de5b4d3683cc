//! A review UI over an in-memory store holding two real charts (one filed, one unmatched) and a
//! flagged STAT dictation written with the pipeline's own types, with helpers to log in and send requests.

use std::path::Path;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use him_core::{
    DocumentId, DocumentManifest, EngineVersions, FiledPatient, JobContext, Kind, Mrn, RiskFlag,
    Status, Transcript, TranscriptSegment, TranscriptWord,
};
use him_extract::{CheckDigit, Field, Fields, Manifest, PatientIndex, Source};
use him_review::{
    add_user, metrics_router, reindex, router, AppState, Db, Patients, ReviewConfig, Role,
};
use him_store::{Folder, IndexEntry, Key, Prefix, Store};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

pub const FILED: &str = "f1379b7ea443afb88b895d460f944eeb";
pub const FILED_MRN: &str = "40158388";
pub const UNMATCHED: &str = "2a8ede9685cc60e43b4ec49f5dac16db";
pub const DICTATION: &str = "d1c7a7e0000000000000000000000001";
pub const DICTATION_MRN: &str = "40000001";
/// A patient of the index with no documents: the right patient for a misfiled chart.
pub const OTHER_MRN: &str = "40158399";

/// The harness's patient index, a FHIR Patient export (ids `pat-…`), with near-duplicate decoys.
pub const PATIENTS: &str = r#"{"resourceType":"Patient","id":"pat-schmitt","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"40158388"}],"name":[{"family":"Schmitt","given":["Denis"]}],"birthDate":"2011-03-23","gender":"male"}
{"resourceType":"Patient","id":"pat-schmidt","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"40158399"}],"name":[{"family":"Schmidt","given":["Dennis"]}],"birthDate":"2011-03-23","gender":"male"}
{"resourceType":"Patient","id":"pat-cole","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"40079196"}],"name":[{"family":"Cole","given":["Devin"]}],"birthDate":"1999-09-09","gender":"male"}
{"resourceType":"Patient","id":"pat-cole-2","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"40079197"}],"name":[{"family":"Cole","given":["Devon"]}],"birthDate":"1998-01-01","gender":"female"}
{"resourceType":"Patient","id":"pat-doe","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"40000001"}],"name":[{"family":"Doe","given":["John"]}],"birthDate":"1950-01-01","gender":"male"}
"#;

/// The patients of [`PATIENTS`].
pub fn patients() -> Patients {
    Patients::new(
        std::sync::Arc::new(
            PatientIndex::from_fhir_ndjson(PATIENTS.as_bytes(), CheckDigit::None).unwrap(),
        ),
        "urn:oid:2.16.840.1.113883.3.9999.1",
    )
}
/// Which review database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    /// The database of the harnesses a test builds ([`both!`] runs a test once on each); SQLite outside it.
    pub static BACKEND: Backend;
}

/// The backend of the running test.
pub fn backend() -> Backend {
    BACKEND
        .try_with(|backend| *backend)
        .unwrap_or(Backend::Sqlite)
}

/// A database of its own on the PostgreSQL server of `HIM_TEST_POSTGRES` (by default the machine's,
/// `postgres://postgres@127.0.0.1:5432/test`); fails, never skips, when there is none.
pub fn postgres_url() -> String {
    let admin = postgres_admin();
    him_review::create_test_database(&admin).unwrap_or_else(|error| {
        panic!(
            "the review database tests need PostgreSQL at {admin} (start it: pg_ctlcluster \
             --skip-systemctl-redirect 15 main start; or set HIM_TEST_POSTGRES): {error:?}"
        )
    })
}

fn postgres_admin() -> String {
    std::env::var("HIM_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A PostgreSQL test database, dropped when the value is.
pub struct TestDatabase(pub String);

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Best effort: a database left behind is dropped by the next test run.
        let _ = him_review::drop_test_database(&postgres_admin(), &self.0);
    }
}

/// An empty review database of the running test's backend (and, on PostgreSQL, what drops it).
pub fn fresh_database() -> (Db, Option<TestDatabase>) {
    match backend() {
        Backend::Sqlite => (Db::in_memory().unwrap(), None),
        Backend::Postgres => {
            let url = postgres_url();
            (Db::postgres(&url, 4).unwrap(), Some(TestDatabase(url)))
        }
    }
}

/// An empty review database of the running test's backend; a PostgreSQL one stays until the next run.
pub fn fresh_db() -> Db {
    match fresh_database() {
        (db, Some(database)) => {
            std::mem::forget(database);
            db
        }
        (db, None) => db,
    }
}

/// Runs a router test twice, on SQLite and on PostgreSQL: `both! { async fn name() { … } }` makes the tests
/// `name::sqlite` and `name::postgres` (`both! { multi_thread; async fn … }` on a 4-thread runtime).
macro_rules! both {
    (multi_thread; $(#[$meta:meta])* async fn $name:ident() $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run() $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                $crate::support::BACKEND
                    .scope($crate::support::Backend::Sqlite, run())
                    .await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                $crate::support::BACKEND
                    .scope($crate::support::Backend::Postgres, run())
                    .await
            }
        }
    };
    ($(#[$meta:meta])* async fn $name:ident() $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run() $body

            #[tokio::test]
            async fn sqlite() {
                $crate::support::BACKEND
                    .scope($crate::support::Backend::Sqlite, run())
                    .await
            }

            #[tokio::test]
            async fn postgres() {
                $crate::support::BACKEND
                    .scope($crate::support::Backend::Postgres, run())
                    .await
            }
        }
    };
}

pub struct Harness {
    pub app: Router,
    pub store: Store,
    pub db: Db,
    /// The state behind `app`, for calling the library directly.
    pub state: AppState,
    /// The PostgreSQL database of this harness, dropped with it.
    pub database: Option<TestDatabase>,
}

pub struct Response {
    pub status: StatusCode,
    pub location: Option<String>,
    pub cookies: Vec<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A logged-in user's cookie and CSRF token.
pub struct Login {
    pub cookie: String,
    pub csrf: String,
}

async fn load_folder(store: &Store, root: &Path, folder: &Path) {
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            Box::pin(load_folder(store, root, &path)).await;
        } else {
            let relative = path.strip_prefix(root).unwrap().to_str().unwrap();
            let key = Key::parse(relative).expect("fixture files follow the store layout");
            store
                .put_new(&key, std::fs::read(&path).unwrap().into())
                .await
                .unwrap();
        }
    }
}

/// Copies the fixture chart [`FILED`] as document `id` (same patient, pages and fields): more work for
/// the queue.
pub async fn add_chart_copy(store: &Store, id: &str) {
    add_chart_copy_with_ocr(store, id, None).await;
}

/// Copies the fixture chart [`FILED`] as document `id`, its `ocr.json` replaced by `ocr` when given.
pub async fn add_chart_copy_with_ocr(store: &Store, id: &str, ocr: Option<&[u8]>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store");
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .to_string();
            if !relative.contains(FILED) {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let bytes = match (String::from_utf8(bytes.clone()), ocr) {
                (_, Some(ocr)) if relative.ends_with("/ocr.json") => ocr.to_vec(),
                (Ok(text), _) if relative.ends_with(".json") => {
                    text.replace(FILED, id).into_bytes()
                }
                _ => bytes,
            };
            let key = Key::parse(&relative.replace(FILED, id)).unwrap();
            store.put_new(&key, bytes.into()).await.unwrap();
        }
    }
}

/// The patient folder of document `id` for the patient `mrn`.
pub fn patient_folder(mrn: &str, id: &str) -> Folder {
    Folder::Patient(Mrn::parse(mrn).unwrap(), DocumentId::parse(id).unwrap())
}

/// The unmatched folder of document `id`.
pub fn unmatched(id: &str) -> Folder {
    Folder::Unmatched(DocumentId::parse(id).unwrap())
}

async fn put(store: &Store, key: &Key, value: &impl serde::Serialize) {
    store
        .put_new(key, serde_json::to_vec(value).unwrap().into())
        .await
        .unwrap();
}

fn field(value: &str, confidence: f32, start_ms: u64, end_ms: u64) -> Option<Field> {
    Some(Field {
        value: value.to_string(),
        confidence,
        source: Source::Audio { start_ms, end_ms },
        raw: None,
    })
}

/// A flagged STAT dictation filed to a patient, written with the pipeline's own types.
async fn add_dictation(store: &Store) {
    let id = DocumentId::parse(DICTATION).unwrap();
    let location = Folder::Patient(Mrn::parse(DICTATION_MRN).unwrap(), id.clone());
    let sha256: him_core::Sha256 =
        serde_json::from_value(json!(format!("{DICTATION}{DICTATION}"))).unwrap();
    let job = JobContext {
        stat: true,
        station: Some("ED-2".to_string()),
        submitted_at: Some("2024-03-01T09:59:58Z".to_string()),
        demographics: None,
    };
    put(
        store,
        &Key::Index(id.clone()),
        &IndexEntry {
            document_id: id.clone(),
            sha256: sha256.clone(),
            status: Status::Filed,
            location: location.clone(),
            filed_at: "2024-03-01T10:00:05Z".to_string(),
            job: job.clone(),
        },
    )
    .await;
    let transcript = Transcript {
        language: "en".to_string(),
        segments: vec![
            TranscriptSegment {
                text: "Consultation note.".to_string(),
                start_ms: 0,
                end_ms: 900,
                avg_logprob: -0.2,
                no_speech_prob: 0.01,
                temperature: 0.0,
                words: vec![
                    TranscriptWord {
                        text: "Consultation".to_string(),
                        start_ms: 0,
                        end_ms: 600,
                        probability: 0.9,
                    },
                    TranscriptWord {
                        text: "note.".to_string(),
                        start_ms: 600,
                        end_ms: 900,
                        probability: 0.9,
                    },
                ],
                flags: Vec::new(),
            },
            TranscriptSegment {
                text: "Thank you for watching.".to_string(),
                start_ms: 1000,
                end_ms: 1800,
                avg_logprob: -1.2,
                no_speech_prob: 0.8,
                temperature: 0.0,
                words: Vec::new(),
                flags: vec![RiskFlag::TextInSilence],
            },
        ],
    };
    let manifest: Manifest = DocumentManifest {
        schema: Manifest::SCHEMA,
        document_id: id,
        sha256,
        sha1: None,
        kind: Kind::Dictation,
        media_type: "audio/wav".to_string(),
        bytes: 1000,
        received_at: "2024-03-01T10:00:00Z".to_string(),
        job,
        status: Status::Filed,
        reason: None,
        page_count: 0,
        pages: Vec::new(),
        engines: EngineVersions::default(),
        fields: Fields {
            document_type: field("11488-4", 0.9, 0, 900),
            author: field("Jane Smith", 0.8, 1000, 1800),
            ..Fields::default()
        },
        patient: Some(FiledPatient {
            mrn: Mrn::parse(DICTATION_MRN).unwrap(),
            score: 1.0,
            rule: "mrn+dob+name".to_string(),
        }),
        matching: None,
        duration_ms: Some(1800),
        risk_flags: vec![RiskFlag::TextInSilence],
        needs_review: true,
        demographics: None,
        batch: None,
    };
    put(store, &location.manifest(), &manifest).await;
    put(store, &location.transcript(), &transcript).await;
    store
        .put_new(&location.text(), transcript.text().into())
        .await
        .unwrap();
    store
        .put_new(&location.original("wav"), vec![7u8; 1000].into())
        .await
        .unwrap();
}

impl Harness {
    /// The fixture store, indexed, with the users `ana` and `bob` (reviewers), `sue` (supervisor),
    /// `adam` (admin) and `cleo` (clinician, author "Jane Smith" of the dictation), all with password
    /// `password-123`, and the patient index [`PATIENTS`].
    pub async fn new() -> Self {
        Self::with_config(ReviewConfig::default()).await
    }

    pub async fn with_config(config: ReviewConfig) -> Self {
        let (db, database) = fresh_database();
        let mut harness = Self::on(config, Self::fixture_store().await, db).await;
        harness.database = database;
        harness
    }

    /// The in-memory store of two charts and a dictation.
    pub async fn fixture_store() -> Store {
        let store = Store::in_memory();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store");
        load_folder(&store, &root, &root).await;
        add_dictation(&store).await;
        store
    }

    /// The fixture store over a given database.
    pub async fn on_database(db: Db) -> Self {
        Self::on(ReviewConfig::default(), Self::fixture_store().await, db).await
    }

    /// A harness over the fixture store (loaded once) and a database of its own, sharing the store with
    /// others built by [`Harness::beside`]: several review servers.
    pub async fn beside(&self, db: Db) -> Self {
        Self::on((*self.state.config).clone(), self.store.clone(), db).await
    }

    async fn on(config: ReviewConfig, store: Store, db: Db) -> Self {
        assert_eq!(reindex(&store, &db).await.unwrap(), 3);
        for (name, role) in [
            ("ana", Role::Reviewer),
            ("bob", Role::Reviewer),
            ("sue", Role::Supervisor),
            ("adam", Role::Admin),
        ] {
            match add_user(&db, name, role, "password-123", None) {
                Ok(_) | Err(him_review::Error::UserExists { .. }) => {}
                Err(error) => panic!("{error:?}"),
            }
        }
        match add_user(
            &db,
            "cleo",
            Role::Clinician,
            "password-123",
            Some("Jane Smith"),
        ) {
            Ok(_) | Err(him_review::Error::UserExists { .. }) => {}
            Err(error) => panic!("{error:?}"),
        }
        let state = AppState::new(config, store.clone(), db.clone(), patients());
        let app = router(state.clone());
        Harness {
            app,
            store,
            db,
            state,
            database: None,
        }
    }

    /// GETs `/metrics` from the metrics listener's router.
    pub async fn get_metrics(&self) -> Response {
        let request = Request::get("/metrics").body(Body::empty()).unwrap();
        Self::answer(metrics_router(self.state.clone()), request).await
    }

    pub async fn send(&self, request: Request<Body>) -> Response {
        Self::answer(self.app.clone(), request).await
    }

    async fn answer(app: Router, request: Request<Body>) -> Response {
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let header_text = |name| {
            response
                .headers()
                .get(name)
                .map(|value: &header::HeaderValue| value.to_str().unwrap().to_string())
        };
        let location = header_text(header::LOCATION);
        let content_type = header_text(header::CONTENT_TYPE);
        let cookies = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|value| value.to_str().unwrap().to_string())
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Response {
            status,
            location,
            cookies,
            content_type,
            body,
        }
    }

    pub async fn get(&self, path: &str, login: Option<&Login>) -> Response {
        let mut request = Request::get(path);
        if let Some(login) = login {
            request = request.header(header::COOKIE, &login.cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// POSTs a form; `csrf` is added from the login unless `form` already names one.
    pub async fn post(&self, path: &str, login: Option<&Login>, form: &[(&str, &str)]) -> Response {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        if let Some(login) = login {
            if !form.iter().any(|(key, _)| *key == "csrf") {
                pairs.append_pair("csrf", &login.csrf);
            }
        }
        for (key, value) in form {
            pairs.append_pair(key, value);
        }
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(login) = login {
            request = request.header(header::COOKIE, &login.cookie);
        }
        self.send(request.body(Body::from(pairs.finish())).unwrap())
            .await
    }

    /// Logs in through the login form; returns the response of the login POST.
    pub async fn try_login(&self, name: &str, password: &str) -> Response {
        let form = self.get("/login", None).await;
        let cookie = form.cookies[0].split(';').next().unwrap().to_string();
        let csrf = hidden_value(&form.text(), "csrf");
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &csrf)
            .append_pair("name", name)
            .append_pair("password", password)
            .finish();
        let request = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Ana opens the flagged dictation and approves it, its flag acknowledged and authored by Jane Smith:
    /// it then waits for the clinician `cleo`'s signature.
    pub async fn approve_dictation(&self) {
        let ana = self.login("ana").await;
        self.open(DICTATION, &ana).await;
        let approved = self
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
        assert_eq!(approved.status, StatusCode::SEE_OTHER);
    }

    pub async fn login(&self, name: &str) -> Login {
        let response = self.try_login(name, "password-123").await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "login of {name}");
        let session = response
            .cookies
            .iter()
            .find(|c| c.starts_with("him_session="))
            .expect("session cookie");
        let cookie = session.split(';').next().unwrap().to_string();
        let page = self
            .get(
                "/",
                Some(&Login {
                    cookie: cookie.clone(),
                    csrf: String::new(),
                }),
            )
            .await;
        Login {
            cookie,
            csrf: hidden_value(&page.text(), "csrf"),
        }
    }

    /// Opens a document's page (which claims it when free) and returns the page.
    pub async fn open(&self, document_id: &str, login: &Login) -> Response {
        let page = self
            .get(&format!("/documents/{document_id}"), Some(login))
            .await;
        assert_eq!(page.status, StatusCode::OK, "open {document_id}");
        page
    }

    /// Audit actions recorded in the store for a document, oldest first.
    pub async fn audit_actions(&self, document_id: &str) -> Vec<String> {
        let mut events = Vec::new();
        for key in self.store.list(&Prefix::Audit).await.unwrap() {
            let event: serde_json::Value =
                serde_json::from_slice(&self.store.get(&key).await.unwrap()).unwrap();
            if event["document_id"] == document_id {
                events.push((
                    event["at"].as_str().unwrap().to_string(),
                    event["action"].as_str().unwrap().to_string(),
                ));
            }
        }
        events.sort();
        events.into_iter().map(|(_, action)| action).collect()
    }
}

/// The value of the first hidden input called `name` in a page.
pub fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}
