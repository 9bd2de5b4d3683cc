//! Account administration (admins) and lifting login lock-outs (supervisors). Every change is audited.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::json;

use crate::accounts::{self, Role};
use crate::error::Error;
use crate::throttle;
use crate::web::{form_value, AppError, AppState, Current};

async fn audit(
    state: &AppState,
    current: &Current,
    action: &str,
    detail: &str,
) -> Result<(), AppError> {
    crate::web::record(state, current, action, None, detail).await
}

/// A form field, `None` when missing or blank.
fn field(body: &[u8], name: &str) -> Option<String> {
    form_value(body, name)
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

pub(crate) async fn add_user(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    body: Bytes,
) -> Result<Response, AppError> {
    current.require(Role::Admin)?;
    let name = form_value(&body, "name").unwrap_or_default();
    let role: Role = form_value(&body, "role").unwrap_or_default().parse()?;
    let password = form_value(&body, "password").unwrap_or_default();
    let author = field(&body, "author");
    let db = state.db.clone();
    let added = state
        .login
        .hash(move |memory| {
            accounts::add_user_with(memory, &db, &name, role, &password, author.as_deref())
        })
        .await?;
    audit(
        &state,
        &current,
        "user_add",
        &format!("{} as {}", added.name, role),
    )
    .await?;
    Ok(Redirect::to("/admin/users?m=user_added").into_response())
}

pub(crate) async fn set_password(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    current.require(Role::Admin)?;
    let password = form_value(&body, "password").unwrap_or_default();
    let (db, user) = (state.db.clone(), name.clone());
    state
        .login
        .hash(move |memory| accounts::set_password_with(memory, &db, &user, &password))
        .await?;
    audit(&state, &current, "user_password", &name).await?;
    Ok(Redirect::to("/admin/users?m=password_set").into_response())
}

async fn set_disabled(
    state: AppState,
    current: Current,
    name: String,
    disabled: bool,
) -> Result<Response, AppError> {
    current.require(Role::Admin)?;
    if disabled && name == current.name() {
        return Err(Error::Conflict {
            detail: "you cannot disable your own account".to_string(),
        }
        .into());
    }
    accounts::set_disabled(&state.db, &name, disabled)?;
    let (action, message) = if disabled {
        ("user_disable", "user_disabled")
    } else {
        ("user_enable", "user_enabled")
    };
    audit(&state, &current, action, &name).await?;
    Ok(Redirect::to(&format!("/admin/users?m={message}")).into_response())
}

pub(crate) async fn disable_user(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    set_disabled(state, current, name, true).await
}

pub(crate) async fn enable_user(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    set_disabled(state, current, name, false).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LockoutsQuery {
    m: Option<String>,
}

pub(crate) async fn lockouts(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Query(query): Query<LockoutsQuery>,
) -> Result<Response, AppError> {
    current.require(Role::Supervisor)?;
    let lockouts = throttle::locked_out(&state.db, &state.config)?;
    let message = match query.m.as_deref() {
        Some("unlocked") => Some("Unlocked."),
        _ => None,
    };
    state.templates.render(
        "lockouts.html",
        json!({"user": current.session.user, "csrf": current.session.csrf, "lockouts": lockouts,
               "message": message, "window": state.config.login_window_minutes}),
    )
}

pub(crate) async fn unlock(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    body: Bytes,
) -> Result<Response, AppError> {
    current.require(Role::Supervisor)?;
    let name = field(&body, "name");
    let address = field(&body, "address");
    let removed = throttle::unlock(&state.db, name.as_deref(), address.as_deref())?;
    let detail = format!(
        "name {}; address {}; {removed} failures removed",
        name.as_deref().unwrap_or("-"),
        address.as_deref().unwrap_or("-")
    );
    audit(&state, &current, "unlock", &detail).await?;
    Ok(Redirect::to("/admin/lockouts?m=unlocked").into_response())
}
