//! The HTTP layer: router, session middleware (authentication and CSRF), error pages.

mod actions;
mod admin;
mod client;
mod login;
mod pages;
mod templates;
pub(crate) mod worklist;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use him_store::Store;

use crate::accounts::{self, Role, Session};
use crate::config::ReviewConfig;
use crate::context::{Clock, ReviewContext};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::patients::Patients;
use crate::workflow::Actor;

pub(crate) use login::LoginGate;
pub(crate) use templates::Templates;

/// Name of the session cookie.
pub(crate) const SESSION_COOKIE: &str = "him_session";
/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 4 * 1024 * 1024;

/// What every handler shares: the [`ReviewContext`] decisions work over, with the login gate and the
/// templates of the web layer. Cheap to clone. Its context's fields read as its own (`state.store`).
#[derive(Clone)]
pub struct AppState {
    context: ReviewContext,
    pub(crate) login: Arc<LoginGate>,
    pub(crate) templates: Templates,
}

impl std::ops::Deref for AppState {
    type Target = ReviewContext;

    fn deref(&self) -> &ReviewContext {
        &self.context
    }
}

impl AppState {
    /// State over a store, an open database and the patient index.
    pub fn new(config: ReviewConfig, store: Store, db: Db, patients: Patients) -> Self {
        AppState {
            login: Arc::new(LoginGate::new(&config)),
            context: ReviewContext::new(config, store, db, patients),
            templates: Templates::new(),
        }
    }

    /// The context decisions take ([`crate::decide`]).
    pub fn context(&self) -> &ReviewContext {
        &self.context
    }

    /// The same state measuring time by `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.context.clock = clock;
        self
    }
}

/// The review UI: every route but `/login` and `/static/*` needs a session, and every POST a CSRF token.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/", get(worklist::queue))
        .route("/next", get(worklist::next))
        .route("/dashboard", get(worklist::dashboard))
        .route("/deficiencies", get(worklist::deficiencies))
        .route("/deficiencies.csv", get(worklist::deficiencies_csv))
        .route("/logout", post(actions::logout))
        .route("/documents/{id}", get(pages::document))
        .route("/documents/{id}/pages/{file}", get(pages::page_image))
        .route("/documents/{id}/audio", get(pages::audio))
        .route("/documents/{id}/original", get(pages::original))
        .route(
            "/documents/{id}/versions/{number}/text",
            get(pages::version_text),
        )
        .route("/documents/{id}/claim", post(actions::claim))
        .route("/documents/{id}/release", post(actions::release))
        .route("/documents/{id}/break-claim", post(actions::break_claim))
        .route("/documents/{id}/edit", post(actions::edit))
        .route("/documents/{id}/approve", post(actions::approve))
        .route("/documents/{id}/correct", post(actions::correct))
        .route("/documents/{id}/return", post(actions::return_document))
        .route("/documents/{id}/addendum", post(actions::addendum))
        .route("/documents/{id}/assign", post(actions::assign))
        .route("/documents/{id}/sign", post(actions::sign))
        .route("/patients/{mrn}", get(pages::patient))
        .route("/audit", get(pages::audit))
        .route("/admin/users", get(pages::users).post(admin::add_user))
        .route("/admin/users/{name}/disable", post(admin::disable_user))
        .route("/admin/users/{name}/enable", post(admin::enable_user))
        .route("/admin/users/{name}/password", post(admin::set_password))
        .route("/admin/lockouts", get(admin::lockouts))
        .route("/admin/lockouts/unlock", post(admin::unlock))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_session,
        ));
    Router::new()
        .route("/login", get(pages::login_form).post(login::login))
        .route("/static/{file}", get(pages::static_file))
        .merge(protected)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

/// The metrics listener's routes: Prometheus `/metrics` (aggregates only, no session). Served apart from
/// the UI ([`ReviewConfig::metrics_listen`]): only those who can reach that address can make the server
/// compute them.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(worklist::metrics))
        .with_state(state)
}

/// Opens the database, serves at once, and keeps the queue index up to date in the background: rebuilt from
/// the store when the database was never indexed, else caught up from where it stood in the journal of
/// filings; then the pipeline's events on the broker of `queue` (when given), with the journal read every
/// `refresh_secs` as a backstop for events missed. Serves until the process ends.
pub async fn serve(
    config: ReviewConfig,
    store: Store,
    patients: Patients,
    queue: Option<him_queue::QueueConfig>,
) -> Result<()> {
    let db = Db::connect(&config.database, config.database_connections)?;
    let listen = config.listen.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|source| Error::Serve {
            listen: listen.clone(),
            source,
        })?;
    tracing::info!(%listen, "review UI listening");
    if let Some(queue) = queue {
        tokio::spawn(crate::events::connect_and_follow(
            queue,
            store.clone(),
            db.clone(),
        ));
    }
    {
        let (store, db, every) = (store.clone(), db.clone(), config.refresh_secs);
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut follower = loop {
                match crate::queue::catch_up(&store, &db).await {
                    Ok((follower, rebuilt)) => {
                        tracing::info!(
                            rebuilt,
                            ms = started.elapsed().as_millis() as u64,
                            "queue index up to date"
                        );
                        break follower;
                    }
                    Err(error) => {
                        tracing::warn!(
                            transient = error.is_transient(),
                            "queue index catch-up failed; trying again"
                        );
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    }
                }
            };
            if every == 0 {
                return;
            }
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
            tick.tick().await;
            loop {
                tick.tick().await;
                match crate::queue::follow_filed(&store, &db, &mut follower).await {
                    Ok(0) => {}
                    Ok(indexed) => tracing::debug!(indexed, "queue index followed the journal"),
                    Err(error) => tracing::warn!(
                        transient = error.is_transient(),
                        "queue index refresh failed"
                    ),
                }
            }
        });
    }
    let metrics_listen = config.metrics_listen.trim().to_string();
    let state = AppState::new(config, store, db, patients);
    if !metrics_listen.is_empty() {
        let listener = tokio::net::TcpListener::bind(&metrics_listen)
            .await
            .map_err(|source| Error::Serve {
                listen: metrics_listen.clone(),
                source,
            })?;
        tracing::info!(listen = %metrics_listen, "review metrics listening");
        let metrics = metrics_router(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, metrics).await {
                tracing::warn!(%error, "review metrics listener ended");
            }
        });
    }
    let app = router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(|source| Error::Serve { listen, source })
}

async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if state.config.secure_cookies {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The value of a cookie.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// The address a request came from: the socket peer, or the client a trusted proxy forwarded for.
pub(crate) fn client_ip(request: &Request, trusted_proxies: &[IpAddr]) -> String {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    client::client_address(peer, request.headers(), trusted_proxies)
}

/// The logged-in user of a request, with the address it came from.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub session: Session,
    pub ip: String,
}

impl Current {
    pub fn name(&self) -> &str {
        &self.session.user.name
    }

    /// The user as the review workflow sees them.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.session.user.name.clone(),
            role: self.session.user.role,
            author: self.session.user.author.clone(),
        }
    }

    /// 403 unless the user has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        let mine = self.session.user.role;
        let allowed = match role {
            Role::Clinician => mine == Role::Clinician,
            Role::Reviewer => mine.can_review(),
            Role::Supervisor => mine.is_supervisor(),
            Role::Admin => mine.is_admin(),
        };
        if allowed {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// Records what the current user did in the audit log (a create-only object in the store, indexed).
pub(crate) async fn record(
    state: &AppState,
    current: &Current,
    action: &str,
    document_id: Option<&str>,
    detail: &str,
) -> Result<(), AppError> {
    let event =
        crate::audit::AuditEvent::now(current.name(), action, document_id, &current.ip, detail);
    Ok(crate::audit::record_audit(&state.store, &state.db, &event).await?)
}

/// Compares two strings in time independent of where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The `csrf` field of a form body.
pub(crate) fn form_value(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

async fn require_session(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_page = matches!(*request.method(), Method::GET | Method::HEAD);
    let unauthenticated = || {
        if is_page {
            Redirect::to("/login").into_response()
        } else {
            (StatusCode::UNAUTHORIZED, "login required").into_response()
        }
    };
    let Some(token) = cookie(request.headers(), SESSION_COOKIE) else {
        return unauthenticated();
    };
    let idle_timeout = state.config.idle_timeout_minutes;
    let session = match accounts::find_session(&state.db, &token, idle_timeout) {
        Ok(Some(session)) => session,
        Ok(None) => return unauthenticated(),
        Err(error) => return AppError::from(error).into_response(),
    };
    let ip = client_ip(&request, &state.config.trusted_proxies);
    let mut request = if is_page {
        request
    } else {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response();
        };
        let given = parts
            .headers
            .get("x-csrf-token")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
            .or_else(|| form_value(&bytes, "csrf"));
        if !given.is_some_and(|given| constant_time_eq(&given, &session.csrf)) {
            tracing::warn!(
                user.id = session.user.id,
                "request refused: missing or wrong csrf token"
            );
            return (
                StatusCode::FORBIDDEN,
                "invalid or missing form token; reload the page",
            )
                .into_response();
        }
        Request::from_parts(parts, Body::from(bytes))
    };
    request.extensions_mut().insert(Current { session, ip });
    next.run(request).await
}

/// A failed request: shows a short message, logs the cause once without PHI.
#[derive(Debug)]
pub(crate) enum AppError {
    Forbidden,
    NotFound,
    /// Someone else holds the document.
    Claimed,
    Internal(Error),
}

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        match error {
            Error::DocumentNotFound { .. } => AppError::NotFound,
            Error::UserNotFound { .. } => AppError::NotFound,
            Error::Store {
                source: him_store::Error::NotFound { .. },
            } => AppError::NotFound,
            other => AppError::Internal(other),
        }
    }
}

/// A name for an error that is safe to log: store keys carry MRNs, so no `Display` of store errors.
fn error_kind(error: &Error) -> &'static str {
    match error {
        Error::Database { .. } => "database",
        Error::DatabaseServer { .. } => "database_server",
        Error::DatabaseUnavailable { .. } => "database_unavailable",
        Error::DatabaseValue { .. } => "database_value",
        Error::DatabaseFile { .. } => "database_file",
        Error::Store { .. } => "store",
        Error::Unreadable { .. } => "unreadable_object",
        Error::Malformed { .. } => "malformed_object",
        Error::DocumentNotFound { .. } => "document_not_found",
        Error::UserNotFound { .. } => "user_not_found",
        Error::UserExists { .. } => "user_exists",
        Error::InvalidInput { .. } => "invalid_input",
        Error::Conflict { .. } => "conflict",
        Error::Forbidden { .. } => "forbidden",
        Error::NeedsMigration { .. } => "needs_migration",
        Error::PasswordHash => "password_hash",
        Error::Serve { .. } => "serve",
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Forbidden => {
                (StatusCode::FORBIDDEN, "you do not have access to this page").into_response()
            }
            AppError::NotFound => (StatusCode::NOT_FOUND, "not found").into_response(),
            AppError::Claimed => (
                StatusCode::CONFLICT,
                "another reviewer is working on this document",
            )
                .into_response(),
            // These details are written for users and carry no PHI.
            AppError::Internal(Error::InvalidInput { detail }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, detail).into_response()
            }
            AppError::Internal(Error::Conflict { detail }) => {
                (StatusCode::CONFLICT, detail).into_response()
            }
            AppError::Internal(Error::Forbidden { detail }) => {
                (StatusCode::FORBIDDEN, detail).into_response()
            }
            AppError::Internal(Error::UserExists { .. }) => {
                (StatusCode::CONFLICT, "a user of that name exists already").into_response()
            }
            AppError::Internal(error) => {
                tracing::error!(
                    error.kind = error_kind(&error),
                    transient = error.is_transient(),
                    "review request failed"
                );
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "something went wrong; the error was logged",
                )
                    .into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_form_values_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; him_session=xyz"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), None);
        assert_eq!(
            form_value(b"x=1&csrf=ab%20c", "csrf").as_deref(),
            Some("ab c")
        );
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
    }
}
