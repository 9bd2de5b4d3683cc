//! A review UI over an in-memory store holding two real charts (one filed, one unmatched) and a
//! hand-written flagged STAT dictation, with helpers to log in and send requests.

use std::path::Path;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use him_review::{add_user, reindex, router, AppState, Db, ReviewConfig, Role};
use him_store::Store;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

pub const FILED: &str = "f1379b7ea443afb88b895d460f944eeb";
pub const FILED_MRN: &str = "40158388";
pub const UNMATCHED: &str = "2a8ede9685cc60e43b4ec49f5dac16db";
pub const DICTATION: &str = "d1c7a7e0000000000000000000000001";
pub const DICTATION_MRN: &str = "40000001";

pub struct Harness {
    pub app: Router,
    pub store: Store,
    pub db: Db,
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
            let key = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            store
                .put_new(&key, std::fs::read(&path).unwrap().into())
                .await
                .unwrap();
        }
    }
}

async fn put_json(store: &Store, key: &str, value: serde_json::Value) {
    store
        .put_new(key, serde_json::to_vec(&value).unwrap().into())
        .await
        .unwrap();
}

/// A flagged STAT dictation filed to a patient.
async fn add_dictation(store: &Store) {
    let location = format!("patients/{DICTATION_MRN}/{DICTATION}");
    put_json(
        store,
        &format!("index/{DICTATION}.json"),
        json!({
        "document_id": DICTATION, "sha256": format!("{DICTATION}{DICTATION}"), "status": "filed",
        "location": location, "filed_at": "2024-03-01T10:00:05Z"}),
    )
    .await;
    put_json(
        store,
        &format!("{location}/document.json"),
        json!({
        "schema": 1, "document_id": DICTATION, "kind": "dictation", "media_type": "audio/wav",
        "received_at": "2024-03-01T10:00:00Z", "status": "filed", "page_count": 0, "pages": [],
        "priority": "stat", "station": "ED-2",
        "fields": {"document_type": {"value": "11488-4", "confidence": 0.9,
                                     "source": {"kind": "audio", "start_ms": 0, "end_ms": 900}},
                   "author": {"value": "Jane Smith", "confidence": 0.8,
                              "source": {"kind": "audio", "start_ms": 1000, "end_ms": 1800}}},
        "patient": {"mrn": DICTATION_MRN, "score": 1.0, "rule": "mrn+dob+name"}, "matching": null}),
    )
    .await;
    put_json(store, &format!("{location}/transcript.json"), json!({"language": "en", "segments": [
        {"text": "Consultation note.", "start_ms": 0, "end_ms": 900, "avg_logprob": -0.2, "no_speech_prob": 0.01,
         "words": [{"text": "Consultation", "start_ms": 0, "end_ms": 600, "probability": 0.9},
                   {"text": "note.", "start_ms": 600, "end_ms": 900, "probability": 0.9}], "flags": []},
        {"text": "Thank you for watching.", "start_ms": 1000, "end_ms": 1800, "avg_logprob": -1.2,
         "no_speech_prob": 0.8, "words": [], "flags": ["text_in_silence"]}]}))
    .await;
    store
        .put_new(
            &format!("{location}/text.txt"),
            "Consultation note. Thank you for watching.".into(),
        )
        .await
        .unwrap();
    store
        .put_new(&format!("{location}/original.wav"), vec![7u8; 1000].into())
        .await
        .unwrap();
}

impl Harness {
    /// The fixture store, indexed, with the users `ana` and `bob` (reviewers), `sue` (supervisor),
    /// `adam` (admin) and `cleo` (clinician, author "Jane Smith" of the dictation), all with password
    /// `password-123`.
    pub async fn new() -> Self {
        Self::with_config(ReviewConfig::default()).await
    }

    pub async fn with_config(config: ReviewConfig) -> Self {
        let store = Store::in_memory();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store");
        load_folder(&store, &root, &root).await;
        add_dictation(&store).await;
        let db = Db::in_memory().unwrap();
        assert_eq!(reindex(&store, &db).await.unwrap(), 3);
        for (name, role) in [
            ("ana", Role::Reviewer),
            ("bob", Role::Reviewer),
            ("sue", Role::Supervisor),
            ("adam", Role::Admin),
        ] {
            add_user(&db, name, role, "password-123", None).unwrap();
        }
        add_user(
            &db,
            "cleo",
            Role::Clinician,
            "password-123",
            Some("Jane Smith"),
        )
        .unwrap();
        let app = router(AppState::new(config, store.clone(), db.clone()));
        Harness { app, store, db }
    }

    pub async fn send(&self, request: Request<Body>) -> Response {
        let response = self.app.clone().oneshot(request).await.unwrap();
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

    /// Audit actions recorded in the store for a document, oldest first.
    pub async fn audit_actions(&self, document_id: &str) -> Vec<String> {
        let mut events = Vec::new();
        for key in self.store.list("audit/").await.unwrap() {
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
