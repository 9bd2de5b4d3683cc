//! Sessions, CSRF, throttling and roles.

use axum::http::StatusCode;
use him_review::ReviewConfig;

use crate::support::{Harness, Login, FILED};

const PAGES: [&str; 6] = [
    "/",
    "/documents/f1379b7ea443afb88b895d460f944eeb",
    "/documents/f1379b7ea443afb88b895d460f944eeb/pages/0001.png",
    "/documents/d1c7a7e0000000000000000000000001/audio",
    "/audit",
    "/admin/users",
];

const ACTIONS: [&str; 10] = [
    "/logout",
    "/documents/f1379b7ea443afb88b895d460f944eeb/claim",
    "/documents/f1379b7ea443afb88b895d460f944eeb/release",
    "/documents/f1379b7ea443afb88b895d460f944eeb/edit",
    "/documents/f1379b7ea443afb88b895d460f944eeb/approve",
    "/documents/f1379b7ea443afb88b895d460f944eeb/return",
    "/documents/f1379b7ea443afb88b895d460f944eeb/addendum",
    "/documents/2a8ede9685cc60e43b4ec49f5dac16db/assign",
    "/admin/users",
    "/documents/f1379b7ea443afb88b895d460f944eeb/approve",
];

/// Without a session every page redirects to the login page and every action answers 401.
#[tokio::test]
async fn without_a_session_pages_redirect_and_actions_are_refused() {
    let harness = Harness::new().await;
    for page in PAGES {
        let response = harness.get(page, None).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(response.location.as_deref(), Some("/login"), "{page}");
    }
    for action in ACTIONS {
        let response = harness.post(action, None, &[]).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{action}");
    }
    let forged = Login {
        cookie: "him_session=forged".to_string(),
        csrf: "x".to_string(),
    };
    assert_eq!(
        harness.get("/", Some(&forged)).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(harness.get("/login", None).await.status, StatusCode::OK);
    assert_eq!(
        harness.get("/static/app.js", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        harness.get("/static/app.css", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        harness.get("/static/nope.js", None).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Every POST with a missing or wrong CSRF token answers 403 and changes nothing.
#[tokio::test]
async fn posts_without_the_csrf_token_are_forbidden() {
    let harness = Harness::new().await;
    let ana = harness.login("ana").await;
    for action in ACTIONS {
        let missing = harness
            .send(
                axum::http::Request::post(action)
                    .header("cookie", &ana.cookie)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(axum::body::Body::from("text=x"))
                    .unwrap(),
            )
            .await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN, "{action}");
        let wrong = harness.post(action, Some(&ana), &[("csrf", "0000")]).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{action}");
    }
    assert!(harness
        .store
        .list(&format!("patients/40158388/{FILED}/reviews/"))
        .await
        .unwrap()
        .is_empty());
    // The login form has its own token.
    let response = harness
        .send(
            axum::http::Request::post("/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from("name=ana&password=password-123"))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
}

/// The session cookie is HttpOnly and SameSite=Strict, Secure when configured; logout ends the session.
#[tokio::test]
async fn session_cookies_are_locked_down_and_logout_ends_them() {
    let harness = Harness::with_config(ReviewConfig {
        secure_cookies: true,
        ..ReviewConfig::default()
    })
    .await;
    let response = harness.try_login("ana", "password-123").await;
    let cookie = response
        .cookies
        .iter()
        .find(|c| c.starts_with("him_session="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let ana = harness.login("ana").await;
    assert_eq!(
        harness.post("/logout", Some(&ana), &[]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        harness.get("/", Some(&ana)).await.location.as_deref(),
        Some("/login")
    );
}

/// Wrong passwords answer 401; after five failures from one address even the right one answers 429.
#[tokio::test]
async fn repeated_login_failures_are_throttled() {
    let harness = Harness::new().await;
    for _ in 0..5 {
        assert_eq!(
            harness.try_login("bob", "wrong-password").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        harness.try_login("bob", "password-123").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        harness.try_login("nobody", "password-123").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Reviewers get 403 on the audit and admin pages; supervisors reach the audit page; admins reach both.
#[tokio::test]
async fn roles_guard_the_audit_and_admin_pages() {
    let harness = Harness::new().await;
    let ana = harness.login("ana").await;
    assert_eq!(
        harness.get("/audit", Some(&ana)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        harness.get("/admin/users", Some(&ana)).await.status,
        StatusCode::FORBIDDEN
    );
    let add = [
        ("name", "eve"),
        ("role", "admin"),
        ("password", "password-123"),
    ];
    assert_eq!(
        harness.post("/admin/users", Some(&ana), &add).await.status,
        StatusCode::FORBIDDEN
    );
    let sue = harness.login("sue").await;
    let audit = harness.get("/audit?user=ana", Some(&sue)).await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(audit.text().contains("login"));
    assert_eq!(
        harness.get("/admin/users", Some(&sue)).await.status,
        StatusCode::FORBIDDEN
    );
    let adam = harness.login("adam").await;
    assert_eq!(
        harness.get("/audit", Some(&adam)).await.status,
        StatusCode::OK
    );
    let added = harness.post("/admin/users", Some(&adam), &add).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let users = harness.get("/admin/users", Some(&adam)).await;
    assert!(users.text().contains("eve"));
    harness.login("eve").await;
}
