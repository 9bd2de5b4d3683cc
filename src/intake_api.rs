//! `him serve`: the scanning-station intake API, `POST /api/v1/intake`, in front of `intake → queue`.
//!
//! Stations authenticate with a bearer token (from the environment, never the config file; only SHA-256
//! hashes are held, compared in constant time) and upload one `file` part. The upload is counted while it
//! streams in and refused with 413 past `max_upload_bytes`. File names are never read: stations put patient
//! names in them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, ensure, Context as _};
use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use him_queue::Queue;
use him_store::Store;
use sha2::{Digest, Sha256};
use tracing::{error, info, warn};

use crate::config::IntakeConfig;
use crate::intake::{self, valid_station};
use him_core::JobDemographics;

/// Room for multipart boundaries, part headers and the `stat` field on top of the file itself.
const MULTIPART_SLACK_BYTES: u64 = 64 * 1024;

/// Shortest station token accepted: shorter ones can be guessed.
const MIN_TOKEN_CHARS: usize = 16;

/// Longest accepted `stat` field value.
const MAX_STAT_FIELD_BYTES: usize = 16;

/// Seconds a station is asked to wait before retrying when the store or queue is down.
const RETRY_AFTER_SECS: &str = "30";

/// Reads the station tokens from the variable `config.station_tokens_env` of `env`.
///
/// Returns hex SHA-256 of each token → station id. A station may have several tokens (rotation); a token
/// may not belong to two stations. Errors name the variable and the entry number, never a token.
pub fn station_tokens(
    env: &HashMap<String, String>,
    config: &IntakeConfig,
) -> anyhow::Result<HashMap<String, String>> {
    let name = &config.station_tokens_env;
    let Some(value) = env.get(name).filter(|value| !value.trim().is_empty()) else {
        bail!("no station tokens: set {name} to station_id:token[,station_id:token...]");
    };
    let mut tokens = HashMap::new();
    for (index, entry) in value.split(',').enumerate() {
        let number = index + 1;
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((station, token)) = entry.split_once(':') else {
            bail!("entry {number} of {name} is not station_id:token");
        };
        let (station, token) = (station.trim(), token.trim());
        ensure!(
            valid_station(station),
            "entry {number} of {name}: invalid station id (letters, digits, - _ . only)"
        );
        ensure!(
            token.chars().count() >= MIN_TOKEN_CHARS,
            "entry {number} of {name} (station {station}): token shorter than {MIN_TOKEN_CHARS} characters"
        );
        if tokens
            .insert(hash_token(token), station.to_string())
            .is_some()
        {
            bail!(
                "entry {number} of {name} (station {station}): token already used by another entry"
            );
        }
    }
    ensure!(!tokens.is_empty(), "no station tokens in {name}");
    Ok(tokens)
}

fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Compares without an early exit, so timing tells nothing about how much of a hash matched.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    left.iter()
        .zip(right)
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

/// What the intake API needs.
#[derive(Debug, Clone)]
pub struct IntakeState {
    pub store: Store,
    pub queue: Queue,
    /// Hex SHA-256 of a token → station id, from [`station_tokens`].
    pub tokens: HashMap<String, String>,
    /// Largest accepted file part in bytes.
    pub max_upload_bytes: u64,
}

impl IntakeState {
    /// The station a bearer token belongs to. Every hash is compared, in constant time.
    fn authenticate(&self, headers: &HeaderMap) -> Option<&str> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let presented = hash_token(token.trim());
        let mut station = None;
        for (hash, candidate) in &self.tokens {
            if constant_time_eq(hash.as_bytes(), presented.as_bytes()) {
                station = Some(candidate.as_str());
            }
        }
        station
    }
}

/// `POST /api/v1/intake` and `GET /healthz`.
pub fn intake_router(state: IntakeState) -> Router {
    let body_limit = state.max_upload_bytes.saturating_add(MULTIPART_SLACK_BYTES);
    let body_limit = usize::try_from(body_limit).unwrap_or(usize::MAX);
    Router::new()
        .route("/api/v1/intake", post(post_intake))
        .layer(DefaultBodyLimit::max(body_limit))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(Arc::new(state))
}

/// Serves [`intake_router`] on `listen` until `shutdown` completes; uploads in progress are finished.
pub async fn serve_intake(
    state: IntakeState,
    listen: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("failed to listen for station uploads on {listen}"))?;
    let address = listener
        .local_addr()
        .map_or_else(|_| listen.to_string(), |address| address.to_string());
    info!(listen = %address, stations = state.tokens.len(), "serving station intake");
    axum::serve(listener, intake_router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("station intake server failed")
}

/// 503 with `Retry-After`: the station keeps the file and sends it again later.
fn unavailable() -> Response {
    let mut response = message(
        StatusCode::SERVICE_UNAVAILABLE,
        "intake is unavailable, retry later",
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}

fn message(status: StatusCode, text: &'static str) -> Response {
    (status, Json(serde_json::json!({ "error": text }))).into_response()
}

async fn post_intake(State(state): State<Arc<IntakeState>>, request: Request) -> Response {
    let started = Instant::now();
    // Authenticate before reading a byte of the body.
    let Some(station) = state.authenticate(request.headers()).map(str::to_string) else {
        let mut response = message(StatusCode::UNAUTHORIZED, "missing or invalid station token");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    };
    let multipart = match Multipart::from_request(request, &()).await {
        Ok(multipart) => multipart,
        Err(rejection) => {
            return message(rejection.status(), "expected a multipart/form-data body")
        }
    };
    let upload = match read_upload(multipart, state.max_upload_bytes).await {
        Ok(upload) => upload,
        Err(UploadError::TooLarge) => {
            info!(
                station,
                limit = state.max_upload_bytes,
                "upload refused: too large"
            );
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file is larger than the upload limit",
            );
        }
        Err(UploadError::Malformed(text)) => return message(StatusCode::BAD_REQUEST, text),
        Err(UploadError::Spool(error)) => {
            warn!(station, error = %error, "upload failed: cannot spool it to a temporary file");
            return unavailable();
        }
        Err(UploadError::Demographics(error)) => {
            info!(station, error = %error, "upload refused: invalid job demographics");
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({
                    "error": "invalid job demographics",
                    "reason": "invalid_demographics",
                    "detail": error.to_string(),
                })),
            )
                .into_response();
        }
    };
    let bytes = upload.file.len();
    let request = intake::JobRequest {
        stat: upload.stat,
        station: Some(&station),
        demographics: upload.job.as_ref(),
    };
    match intake::submit(&state.store, &state.queue, upload.file, request).await {
        Ok(submitted) => {
            info!(
                document.id = %submitted.document_id,
                station,
                bytes,
                stat = upload.stat,
                status = submitted.status,
                duration_ms = started.elapsed().as_millis() as u64,
                "station upload accepted"
            );
            let status = if submitted.status == "queued" {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(submitted)).into_response()
        }
        Err(cause) => {
            let transient = is_transient(&cause);
            if transient {
                warn!(
                    station,
                    bytes,
                    transient,
                    error = format!("{cause:#}"),
                    "station upload failed"
                );
            } else {
                error!(
                    station,
                    bytes,
                    transient,
                    error = format!("{cause:#}"),
                    "station upload failed"
                );
            }
            if !transient {
                // Store or broker refusing (permissions, missing topology): retrying will not help.
                return message(StatusCode::INTERNAL_SERVER_ERROR, "intake failed");
            }
            unavailable()
        }
    }
}

/// Whether an intake failure may go away by itself (store or queue down) rather than need a human.
pub fn is_transient(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<him_store::Error>()
            .is_some_and(him_store::Error::is_transient)
            || cause
                .downcast_ref::<him_queue::Error>()
                .is_some_and(him_queue::Error::is_transient)
    })
}

struct Upload {
    file: intake::Original,
    stat: bool,
    /// The `job` part: job demographics from a dictation device.
    job: Option<JobDemographics>,
}

enum UploadError {
    TooLarge,
    Malformed(&'static str),
    /// The `job` part is not valid job demographics (the message names the key, never a value).
    Demographics(him_core::DemographicsError),
    /// The upload could not be written to its temporary file (disk full): the station retries later.
    Spool(std::io::Error),
}

impl From<MultipartError> for UploadError {
    fn from(error: MultipartError) -> Self {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            UploadError::TooLarge
        } else {
            UploadError::Malformed("malformed multipart body")
        }
    }
}

/// Reads the `file`, `stat` and `job` parts, counting file bytes as they arrive.
async fn read_upload(mut multipart: Multipart, max_bytes: u64) -> Result<Upload, UploadError> {
    let mut file = None;
    let mut stat = false;
    let mut job = None;
    while let Some(mut field) = multipart.next_field().await? {
        match field.name() {
            Some("file") => {
                if file.is_some() {
                    return Err(UploadError::Malformed("more than one file part"));
                }
                // Past one store part the upload goes to a temporary file, never whole into memory.
                let mut spooler = intake::Spooler::new(him_store::STREAM_PART_BYTES);
                while let Some(chunk) = field.chunk().await? {
                    if spooler.len() + chunk.len() as u64 > max_bytes {
                        return Err(UploadError::TooLarge);
                    }
                    spooler.push(&chunk).await.map_err(UploadError::Spool)?;
                }
                file = Some(spooler.finish().await.map_err(UploadError::Spool)?);
            }
            Some("stat") => {
                let mut value = Vec::new();
                while let Some(chunk) = field.chunk().await? {
                    value.extend_from_slice(&chunk);
                    if value.len() > MAX_STAT_FIELD_BYTES {
                        return Err(UploadError::Malformed("stat must be true or false"));
                    }
                }
                stat = match value.trim_ascii() {
                    b"true" => true,
                    b"false" => false,
                    _ => return Err(UploadError::Malformed("stat must be true or false")),
                };
            }
            Some("job") => {
                if job.is_some() {
                    return Err(UploadError::Malformed("more than one job part"));
                }
                let mut value = Vec::new();
                while let Some(chunk) = field.chunk().await? {
                    value.extend_from_slice(&chunk);
                    if value.len() > JobDemographics::MAX_BYTES {
                        return Err(UploadError::Demographics(
                            him_core::DemographicsError::TooLarge {
                                limit: JobDemographics::MAX_BYTES,
                            },
                        ));
                    }
                }
                job = Some(JobDemographics::parse(&value).map_err(UploadError::Demographics)?);
            }
            _ => {
                return Err(UploadError::Malformed(
                    "unexpected form field (expected file, stat and job)",
                ))
            }
        }
    }
    let Some(file) = file else {
        return Err(UploadError::Malformed("missing file part"));
    };
    if file.is_empty() {
        return Err(UploadError::Malformed("file part is empty"));
    }
    Ok(Upload { file, stat, job })
}

#[cfg(test)]
mod tests {

    use super::*;
    use axum::body::Body;
    use him_queue::QueueConfig;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const TOKEN: &str = "scan01-secret-token-0123456789";
    const BOUNDARY: &str = "him-test-boundary";

    fn state(max_upload_bytes: u64) -> IntakeState {
        let env = HashMap::from([(
            "HIM_STATION_TOKENS".to_string(),
            format!("scan-01:{TOKEN}, scan-02:another-token-abcdefghij"),
        )]);
        IntakeState {
            store: Store::in_memory(),
            queue: Queue::in_memory(&QueueConfig::default()),
            tokens: station_tokens(&env, &IntakeConfig::default()).unwrap(),
            max_upload_bytes,
        }
    }

    fn multipart_body(file: Option<&[u8]>, stat: Option<&str>) -> Vec<u8> {
        let mut body = Vec::new();
        if let Some(file) = file {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
                     filename=\"DOE JANE 1970-01-01.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(file);
            body.extend_from_slice(b"\r\n");
        }
        if let Some(stat) = stat {
            body.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"stat\"\r\n\r\n{stat}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    }

    fn upload(token: Option<&str>, body: Vec<u8>) -> Request {
        let mut builder = Request::post("/api/v1/intake").header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        );
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder.body(Body::from(body)).unwrap()
    }

    async fn send(state: &IntakeState, request: Request) -> (StatusCode, serde_json::Value) {
        let response = intake_router(state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    use crate::intake::test_support::published;

    const PDF: &[u8] = b"%PDF-1.4 a scanned chart, not really";

    /// No token, a wrong token or another scheme: 401, nothing stored or queued.
    #[tokio::test]
    async fn uploads_without_a_valid_token_are_refused() {
        let state = state(1024);
        for token in [None, Some("scan01-secret-token-0123456788"), Some("")] {
            let (status, _) = send(&state, upload(token, multipart_body(Some(PDF), None))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let basic = Request::post("/api/v1/intake")
            .header(header::AUTHORIZATION, format!("Basic {TOKEN}"))
            .body(Body::from(multipart_body(Some(PDF), None)))
            .unwrap();
        assert_eq!(send(&state, basic).await.0, StatusCode::UNAUTHORIZED);
        assert!(state
            .store
            .list(&him_store::Prefix::Intake)
            .await
            .unwrap()
            .is_empty());
        assert!(published(&state.queue).await.is_empty());
    }

    /// A valid upload is stored as the intake original and queued with the station of the token.
    #[tokio::test]
    async fn upload_is_stored_and_queued_with_the_station() {
        let state = state(1024);
        let (status, body) = send(
            &state,
            upload(Some(TOKEN), multipart_body(Some(PDF), Some("true"))),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["status"], "queued");
        let id = body["document_id"].as_str().unwrap().to_string();
        assert_eq!(body["sha256"].as_str().unwrap().len(), 64);
        let original = state
            .store
            .get(
                &him_store::Folder::Intake(him_core::DocumentId::parse(&id).unwrap())
                    .original("pdf"),
            )
            .await
            .unwrap();
        assert_eq!(&original[..], PDF);
        let jobs = published(&state.queue).await;
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].document_id, id);
        assert_eq!(jobs[0].station.as_deref(), Some("scan-01"));
        assert!(jobs[0].stat);
    }

    /// An upload larger than one store part goes through a temporary file (never whole in memory) and is
    /// stored byte for byte, with the hash of the whole; sent again, it is a duplicate.
    #[tokio::test]
    async fn large_uploads_are_spooled_and_stored_byte_for_byte() {
        let mut file = PDF.to_vec();
        file.extend((0..him_store::STREAM_PART_BYTES + 4321).map(|i| (i % 253) as u8));
        let state = state(64 << 20);
        let (status, body) = send(
            &state,
            upload(Some(TOKEN), multipart_body(Some(&file), None)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = him_core::DocumentId::parse(body["document_id"].as_str().unwrap()).unwrap();
        assert_eq!(id, him_core::DocumentId::for_bytes(&file));
        assert_eq!(body["bytes"], file.len() as u64);
        let original = state
            .store
            .get(&him_store::Folder::Intake(id).original("pdf"))
            .await
            .unwrap();
        assert!(original[..] == file[..], "stored bytes differ");
        let (_, again) = send(
            &state,
            upload(Some(TOKEN), multipart_body(Some(&file), None)),
        )
        .await;
        assert_eq!(again["status"], "duplicate");
        assert_eq!(published(&state.queue).await.len(), 1);
    }

    /// A dictation device's `job` part: stored beside the original, flagged (never carried) in the job; an
    /// invalid one is a 400 that names the key, not the value.
    #[tokio::test]
    async fn job_demographics_part_is_stored_and_flagged() {
        let state = state(1024);
        let with_job = |job: &str| {
            let mut body = multipart_body(Some(PDF), None);
            let end = format!("--{BOUNDARY}--\r\n");
            body.truncate(body.len() - end.len());
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"job\"\r\n\r\n{job}\r\n{end}"
                )
                .as_bytes(),
            );
            body
        };
        let (status, body) = send(
            &state,
            upload(Some(TOKEN), with_job(r#"{"patient": "Doe, Jane"}"#)),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["reason"], "invalid_demographics");
        assert!(!body.to_string().contains("Doe"), "{body}");
        let (status, body) = send(
            &state,
            upload(
                Some(TOKEN),
                with_job(r#"{"mrn": "4081123", "work_type": "18842-5"}"#),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = him_core::DocumentId::parse(body["document_id"].as_str().unwrap()).unwrap();
        let stored = state
            .store
            .get(&him_store::Folder::Intake(id).key(him_store::Object::Demographics))
            .await
            .unwrap();
        assert_eq!(
            JobDemographics::parse(&stored).unwrap().mrn.as_deref(),
            Some("4081123")
        );
        let jobs = published(&state.queue).await;
        assert!(jobs.len() == 1 && jobs[0].demographics);
    }

    /// The same bytes uploaded again: 200 `duplicate`, no second job.
    #[tokio::test]
    async fn second_upload_of_the_same_bytes_is_a_duplicate() {
        let state = state(1024);
        let (first, _) = send(&state, upload(Some(TOKEN), multipart_body(Some(PDF), None))).await;
        let (second, body) =
            send(&state, upload(Some(TOKEN), multipart_body(Some(PDF), None))).await;
        assert_eq!((first, second), (StatusCode::CREATED, StatusCode::OK));
        assert_eq!(body["status"], "duplicate");
        assert_eq!(published(&state.queue).await.len(), 1);
    }

    /// A file over the limit is refused with 413, whether caught by the running count or the body limit.
    #[tokio::test]
    async fn uploads_over_the_limit_are_refused() {
        let state = state(1024);
        let just_over = vec![b'x'; 1025];
        let (status, _) = send(
            &state,
            upload(Some(TOKEN), multipart_body(Some(&just_over), None)),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let far_over = vec![b'x'; 1024 + 2 * MULTIPART_SLACK_BYTES as usize];
        let (status, _) = send(
            &state,
            upload(Some(TOKEN), multipart_body(Some(&far_over), None)),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let at_limit = vec![b'x'; 1024];
        let (status, _) = send(
            &state,
            upload(Some(TOKEN), multipart_body(Some(&at_limit), None)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(published(&state.queue).await.len(), 1);
    }

    /// No file part, an empty one, a bad stat value or a non-multipart body: 400.
    #[tokio::test]
    async fn malformed_uploads_are_bad_requests() {
        let state = state(1024);
        let cases = [
            multipart_body(None, Some("true")),
            multipart_body(Some(b""), None),
            multipart_body(Some(PDF), Some("yes")),
        ];
        for body in cases {
            let (status, body) = send(&state, upload(Some(TOKEN), body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(body["error"].is_string());
        }
        let json = Request::post("/api/v1/intake")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(send(&state, json).await.0, StatusCode::BAD_REQUEST);
        assert!(published(&state.queue).await.is_empty());
    }

    /// A store that cannot be written: 503 with Retry-After, a generic message, nothing queued.
    #[tokio::test]
    async fn store_outage_is_service_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let mut state = state(1024);
        state.store = Store::local(&root).unwrap();
        std::fs::remove_dir(&root).unwrap();
        std::fs::write(&root, b"not a folder").unwrap();
        let request = upload(Some(TOKEN), multipart_body(Some(PDF), None));
        let response = intake_router(state.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"],
            "intake is unavailable, retry later"
        );
        assert!(published(&state.queue).await.is_empty());
    }

    #[tokio::test]
    async fn healthz_answers() {
        let request = Request::get("/healthz").body(Body::empty()).unwrap();
        let response = intake_router(state(1)).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// Tokens come only from the environment; bad entries are refused without echoing the token.
    #[test]
    fn station_tokens_are_parsed_and_hashed() {
        let config = IntakeConfig::default();
        let env =
            |value: &str| HashMap::from([("HIM_STATION_TOKENS".to_string(), value.to_string())]);
        let tokens =
            station_tokens(&env("a:0123456789abcdef, a:fedcba9876543210"), &config).unwrap();
        assert_eq!(tokens.len(), 2);
        assert!(tokens
            .keys()
            .all(|hash| hash.len() == 64 && !hash.contains("0123456789abcdef")));
        assert!(station_tokens(&HashMap::new(), &config).is_err());
        for bad in [
            "a:tiny",
            "Jane Doe:0123456789abcdef",
            "no-colon",
            "a:0123456789abcdef,b:0123456789abcdef",
        ] {
            let error = station_tokens(&env(bad), &config).unwrap_err().to_string();
            assert!(
                !error.contains("0123456789abcdef") && !error.contains("tiny"),
                "{error}"
            );
        }
    }

    /// Store and queue outages are transient; other failures are not.
    #[test]
    fn transient_failures_are_recognised_through_context() {
        let outage = anyhow::Error::new(him_queue::Error::Unavailable {
            operation: "publish",
            source: None,
        })
        .context("failed to queue");
        assert!(is_transient(&outage));
        assert!(!is_transient(&anyhow::anyhow!("index entry is unreadable")));
    }
}
