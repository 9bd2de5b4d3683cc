//! The login form's POST. Hashing is bounded: argon2 (19 MiB a hash) runs on the blocking pool only while
//! holding one of `login_hash_concurrency` permits, and at most `login_queue` more logins wait for one; a
//! login beyond that answers 503 without hashing. Throttling is reserved before the password is checked
//! ([`crate::throttle`]); throttled and refused attempts write nothing to the record store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::accounts::{self, User};
use crate::audit::{record_audit, AuditEvent};
use crate::config::ReviewConfig;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::password::Memory;
use crate::throttle::{self, Attempt};
use crate::web::actions::{session_cookie, with_cookie};
use crate::web::pages::{login_page, LOGIN_COOKIE};
use crate::web::{client_ip, cookie, form_value, AppError, AppState};

/// Largest login form accepted.
const MAX_LOGIN_BYTES: usize = 64 * 1024;

/// The permits password hashing runs under, shared by logins and the admin's account changes.
#[derive(Debug)]
pub(crate) struct LoginGate {
    /// Logins hashing or waiting to: hashing permits plus the queue.
    admission: Arc<Semaphore>,
    /// Hashes computed at once.
    hashing: Arc<Semaphore>,
    /// Working memory of the hashes, one buffer per hashing permit at most, reused.
    memory: Arc<Mutex<Vec<Memory>>>,
    /// Password verifications run by logins.
    checks: AtomicU64,
}

impl LoginGate {
    /// Permits for `login_hash_concurrency` hashes (at least one) and `login_queue` waiting logins.
    pub fn new(config: &ReviewConfig) -> Self {
        let hashing = config
            .login_hash_concurrency
            .clamp(1, Semaphore::MAX_PERMITS);
        let admission = hashing
            .saturating_add(config.login_queue)
            .min(Semaphore::MAX_PERMITS);
        LoginGate {
            admission: Arc::new(Semaphore::new(admission)),
            hashing: Arc::new(Semaphore::new(hashing)),
            memory: Arc::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// A place among the logins hashing or waiting, if one is free.
    fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.admission.clone().try_acquire_owned().ok()
    }

    /// Runs blocking password work (argon2) on the blocking pool once a hashing permit is free, in the
    /// working memory that goes with the permit, holding both until the work is done, even if the request is
    /// dropped meanwhile.
    pub async fn hash<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let permit = self
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::PasswordHash)?;
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let lock = || pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut memory = lock().pop().unwrap_or_default();
            let outcome = work(&mut memory);
            // Back before the permit is: whoever takes the permit next finds the buffer.
            lock().push(memory);
            drop(permit);
            outcome
        })
        .await
        .map_err(|_| Error::PasswordHash)?
    }

    /// Checks a name and password under a hashing permit, counting the check.
    async fn verify(&self, db: &Db, name: &str, password: String) -> Result<Option<User>> {
        let (db, name) = (db.clone(), name.to_string());
        self.checks.fetch_add(1, Ordering::Relaxed);
        self.hash(move |memory| accounts::verify_login(memory, &db, &name, &password))
            .await
    }
}

impl crate::web::AppState {
    /// Password verifications run by logins since this state was made (attempts refused as throttled or busy
    /// run none): for monitoring and tests.
    pub fn password_checks(&self) -> u64 {
        self.login.checks.load(Ordering::Relaxed)
    }
}

fn invalid(state: &AppState) -> Response {
    login_page(
        state,
        Some("User or password is wrong."),
        StatusCode::UNAUTHORIZED,
    )
}

fn throttled(state: &AppState) -> Response {
    login_page(
        state,
        Some("Too many failed attempts; try again later or ask a supervisor to unlock."),
        StatusCode::TOO_MANY_REQUESTS,
    )
}

fn busy(state: &AppState) -> Response {
    let mut response = login_page(
        state,
        Some("The server is busy; try again in a moment."),
        StatusCode::SERVICE_UNAVAILABLE,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

pub(crate) async fn login(State(state): State<AppState>, request: Request) -> Response {
    let ip = client_ip(&request, &state.config.trusted_proxies);
    let expected = cookie(request.headers(), LOGIN_COOKIE);
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_LOGIN_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response();
    };
    let given = form_value(&body, "csrf");
    if expected.is_none() || given != expected {
        return (
            StatusCode::FORBIDDEN,
            "invalid or missing form token; reload the page",
        )
            .into_response();
    }
    let name = form_value(&body, "name").unwrap_or_default();
    let password = form_value(&body, "password").unwrap_or_default();
    if !accounts::valid_name(&name) {
        // No account has such a name: nothing to check, count or audit.
        return invalid(&state);
    }
    match attempt(&state, &name, password, &ip).await {
        Ok(response) => response,
        Err(error) => AppError::from(error).into_response(),
    }
}

async fn attempt(state: &AppState, name: &str, password: String, ip: &str) -> Result<Response> {
    let reservation = match throttle::reserve(&state.db, &state.config, name, ip)? {
        Attempt::Reserved(reservation) => reservation,
        Attempt::Throttled => {
            tracing::warn!("login throttled");
            return Ok(throttled(state));
        }
    };
    let Some(_admitted) = state.login.admit() else {
        throttle::release(&state.db, &reservation)?;
        tracing::warn!("login refused: password hashing busy");
        return Ok(busy(state));
    };
    // An error from here on leaves the reservation counted as a failure.
    let Some(user) = state.login.verify(&state.db, name, password).await? else {
        for alert in throttle::failed(&state.db, &state.config, reservation)? {
            let event = AuditEvent::now(name, alert.action, None, ip, &alert.detail);
            record_audit(&state.store, &state.db, &event).await?;
        }
        return Ok(invalid(state));
    };
    throttle::succeeded(&state.db, reservation)?;
    let ttl = state.config.session_ttl_minutes;
    let (token, _csrf) = accounts::create_session(&state.db, user.id, ttl)?;
    let event = AuditEvent::now(name, "login", None, ip, "");
    record_audit(&state.store, &state.db, &event).await?;
    tracing::info!(user.id = user.id, "login");
    let response = with_cookie(
        Redirect::to("/").into_response(),
        &session_cookie(state, &token, ttl.saturating_mul(60)),
    );
    Ok(with_cookie(
        response,
        &format!("{LOGIN_COOKIE}=; Path=/login; Max-Age=0"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::{router, AppState};
    use axum::body::Body;
    use him_store::Store;
    use tower::ServiceExt;

    /// A login arriving when every hashing permit and queue place is taken answers 503 at once: no hash, no
    /// failure counted, nothing audited.
    #[tokio::test]
    async fn a_full_queue_answers_busy_without_hashing() {
        let db = Db::in_memory().unwrap();
        let store = Store::in_memory();
        let state = AppState::new(
            ReviewConfig::default(),
            store.clone(),
            db.clone(),
            crate::patients::Patients::default(),
        );
        let taken = state
            .login
            .admission
            .clone()
            .try_acquire_many_owned(2 + 16)
            .unwrap();
        let app = router(state.clone());
        let form = app
            .clone()
            .oneshot(
                axum::http::Request::get("/login")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let set_cookie = form.headers()[header::SET_COOKIE].to_str().unwrap();
        let token = set_cookie
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("him_login=")
            .unwrap()
            .to_string();
        let request = axum::http::Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("him_login={token}"))
            .body(Body::from(format!(
                "csrf={token}&name=ana&password=whatever1"
            )))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("busy"));
        assert_eq!(state.password_checks(), 0);
        let failures: i64 = db
            .query_one("SELECT COUNT(*) FROM login_failures", Vec::new())
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(failures, 0);
        assert!(store
            .list(&him_store::Prefix::Audit)
            .await
            .unwrap()
            .is_empty());
        drop(taken);
    }
}
