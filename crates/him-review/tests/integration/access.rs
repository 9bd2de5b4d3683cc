//! Sessions, CSRF, throttling, lock-outs, accounts and roles.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use him_review::{AppState, ReviewConfig};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::{hidden_value, patient_folder, Harness, Login, Response, FILED};

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

both! {
    /// Without a session every page redirects to the login page and every action answers 401.
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
}

both! {
    /// Every POST with a missing or wrong CSRF token answers 403 and changes nothing.
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
            .list(&patient_folder("40158388", FILED).reviews())
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
}

both! {
    /// The session cookie is HttpOnly and SameSite=Strict, Secure when configured; logout ends the session.
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
}

both! {
    /// Wrong passwords answer 401; after five failures for one user from one address even the right password
    /// answers 429, while other names from that address still get their own check.
    async fn repeated_login_failures_are_throttled() {
        let harness = Harness::new().await;
        for _ in 0..5 {
            assert_eq!(
                harness.try_login("bob", "wrong-password").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        for _ in 0..3 {
            assert_eq!(
                harness.try_login("bob", "password-123").await.status,
                StatusCode::TOO_MANY_REQUESTS
            );
        }
        assert_eq!(
            harness.try_login("nobody", "password-123").await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            harness.try_login("ana", "password-123").await.status,
            StatusCode::SEE_OTHER
        );
    }
}

/// The harness's users over a fresh [`AppState`], whose password check counter the test reads.
async fn counted(config: ReviewConfig) -> (Harness, AppState) {
    let harness = Harness::with_config(config).await;
    let state = harness.state.clone();
    (harness, state)
}

/// Logs in through the form from socket address `peer`, with an `X-Forwarded-For` header when given.
async fn login_from(
    harness: &Harness,
    name: &str,
    password: &str,
    peer: &str,
    forwarded: Option<&str>,
) -> Response {
    let form = harness.get("/login", None).await;
    let cookie = form.cookies[0].split(';').next().unwrap().to_string();
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &hidden_value(&form.text(), "csrf"))
        .append_pair("name", name)
        .append_pair("password", password)
        .finish();
    let mut request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie);
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let mut request = request.body(Body::from(body)).unwrap();
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    harness.send(request).await
}

/// Audit records of the store with `action`.
async fn audited(harness: &Harness, action: &str) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    for key in harness.store.list(&him_store::Prefix::Audit).await.unwrap() {
        let event: serde_json::Value =
            serde_json::from_slice(&harness.store.get(&key).await.unwrap()).unwrap();
        if event["action"] == action {
            events.push(event);
        }
    }
    events
}

/// One login through the form, as a task of its own (`Harness::send` is not `Send`).
async fn attempt(app: axum::Router, name: &'static str, password: String) -> StatusCode {
    let form = app
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
    let html = form.into_body().collect().await.unwrap().to_bytes();
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "csrf",
            &hidden_value(&String::from_utf8_lossy(&html), "csrf"),
        )
        .append_pair("name", name)
        .append_pair("password", &password)
        .finish();
    let request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap();
    app.oneshot(request).await.unwrap().status()
}

both! {
    multi_thread;
    /// 40 wrong passwords for one user at once: the throttle is reserved before each check, so at most five
    /// passwords are checked (argon2) and every other attempt, then and later, answers 429.
    async fn parallel_wrong_passwords_are_checked_at_most_the_limit() {
        let (harness, state) = counted(ReviewConfig::default()).await;
        let attempts: Vec<_> = (0..40)
            .map(|i| {
                tokio::spawn(attempt(
                    harness.app.clone(),
                    "bob",
                    format!("wrong-password-{i}"),
                ))
            })
            .collect();
        let mut statuses = Vec::new();
        for attempt in attempts {
            statuses.push(attempt.await.unwrap());
        }
        let checks = state.password_checks();
        let wrong = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let throttled = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert!(checks <= 5, "{checks} passwords checked");
        assert_eq!(wrong as u64, checks, "{statuses:?}");
        assert_eq!(wrong + throttled, 40, "{statuses:?}");
        assert_eq!(
            harness.try_login("bob", "password-123").await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(state.password_checks(), checks);
    }
}

both! {
    /// Spraying: one wrong password for each of 21 names from one address; the 21st answers 429, and so does
    /// any name from that address afterwards, while another address is unaffected.
    async fn many_names_from_one_address_are_throttled_together() {
        let (harness, state) = counted(ReviewConfig::default()).await;
        for i in 0..20 {
            let name = format!("user{i}");
            let response = login_from(&harness, &name, "guess-123", "198.51.100.7", None);
            assert_eq!(response.await.status, StatusCode::UNAUTHORIZED, "user{i}");
        }
        let response = login_from(&harness, "user20", "guess-123", "198.51.100.7", None).await;
        assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
        let response = login_from(&harness, "ana", "password-123", "198.51.100.7", None).await;
        assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(state.password_checks(), 20);
        let response = login_from(&harness, "ana", "password-123", "198.51.100.8", None).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
    }
}

both! {
    /// Failed logins are audited in aggregate: 300 attempts from one address leave a handful of audit objects
    /// (the first failure, the address reaching its limit), none per attempt, and no password.
    async fn failed_logins_leave_few_audit_objects() {
        let harness = Harness::new().await;
        let mut statuses = Vec::new();
        for i in 0..300 {
            statuses.push(
                harness
                    .try_login(&format!("guess{i}"), "hunter22-secret")
                    .await
                    .status,
            );
        }
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
                .count(),
            280
        );
        let keys = harness.store.list(&him_store::Prefix::Audit).await.unwrap();
        assert!(keys.len() < 10, "{} audit objects", keys.len());
        let failed = audited(&harness, "login_failed").await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["user"], "guess0");
        let locked = audited(&harness, "login_locked").await;
        assert_eq!(locked.len(), 1);
        let detail = locked[0]["detail"].as_str().unwrap();
        assert!(
            detail.contains("address") && detail.contains("20 failures"),
            "{detail}"
        );
        for key in keys {
            let text = String::from_utf8(harness.store.get(&key).await.unwrap().to_vec()).unwrap();
            assert!(!text.contains("hunter22"), "{text}");
        }
    }
}

both! {
    /// Behind a trusted proxy each client is throttled and audited by its own address; X-Forwarded-For from
    /// anyone else is ignored.
    async fn a_trusted_proxy_names_the_client() {
        let config = ReviewConfig {
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
            ..ReviewConfig::default()
        };
        let harness = Harness::with_config(config).await;
        let proxy = "10.0.0.1";
        for _ in 0..5 {
            let response = login_from(
                &harness,
                "bob",
                "wrong-password",
                proxy,
                Some("203.0.113.9"),
            );
            assert_eq!(response.await.status, StatusCode::UNAUTHORIZED);
        }
        // The attacker's own forged entry left of the proxy's changes nothing.
        let forged = Some("192.0.2.1, 203.0.113.9");
        let response = login_from(&harness, "bob", "password-123", proxy, forged).await;
        assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
        // Another client behind the same proxy is not locked out.
        let response = login_from(&harness, "bob", "password-123", proxy, Some("203.0.113.10")).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        // A direct client claiming to be someone else is itself.
        let response = login_from(&harness, "ana", "password-123", "198.51.100.7", forged).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        let mut addresses: Vec<String> = audited(&harness, "login")
            .await
            .iter()
            .map(|event| event["ip"].as_str().unwrap().to_string())
            .collect();
        addresses.sort();
        assert_eq!(addresses, vec!["198.51.100.7", "203.0.113.10"]);
        let failed = audited(&harness, "login_failed").await;
        assert_eq!(failed[0]["ip"], "203.0.113.9");
    }
}

both! {
    /// Supervisors list the lock-outs and lift them (audited); reviewers and clinicians may not.
    async fn supervisors_see_and_lift_lockouts() {
        let harness = Harness::new().await;
        let (ana, cleo, sue) = (
            harness.login("ana").await,
            harness.login("cleo").await,
            harness.login("sue").await,
        );
        for _ in 0..5 {
            harness.try_login("bob", "wrong-password").await;
        }
        assert_eq!(
            harness.try_login("bob", "password-123").await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
        for login in [&ana, &cleo] {
            assert_eq!(
                harness.get("/admin/lockouts", Some(login)).await.status,
                StatusCode::FORBIDDEN
            );
            let unlock = [("name", "bob"), ("address", "unknown")];
            let response = harness
                .post("/admin/lockouts/unlock", Some(login), &unlock)
                .await;
            assert_eq!(response.status, StatusCode::FORBIDDEN);
        }
        let page = harness.get("/admin/lockouts", Some(&sue)).await;
        assert_eq!(page.status, StatusCode::OK);
        let text = page.text();
        assert!(
            text.contains("<td>bob</td>") && text.contains("unknown"),
            "{text}"
        );
        assert!(harness
            .get("/", Some(&sue))
            .await
            .text()
            .contains("/admin/lockouts"));
        assert!(!harness
            .get("/", Some(&ana))
            .await
            .text()
            .contains("/admin/lockouts"));
        let unlock = [("name", "bob"), ("address", "unknown")];
        let response = harness
            .post("/admin/lockouts/unlock", Some(&sue), &unlock)
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        assert!(!harness
            .get("/admin/lockouts", Some(&sue))
            .await
            .text()
            .contains("<td>bob</td>"));
        assert_eq!(
            harness.try_login("bob", "password-123").await.status,
            StatusCode::SEE_OTHER
        );
        let unlocks = audited(&harness, "unlock").await;
        assert_eq!(unlocks.len(), 1);
        assert_eq!(unlocks[0]["user"], "sue");
        assert!(unlocks[0]["detail"]
            .as_str()
            .unwrap()
            .contains("5 failures removed"));
        let empty = harness
            .post("/admin/lockouts/unlock", Some(&sue), &[])
            .await;
        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

both! {
    /// Admins disable accounts (ending their sessions; their logins then fail like wrong passwords) and enable
    /// them again; both are audited. Nobody disables their own account.
    async fn admins_disable_and_enable_accounts() {
        let harness = Harness::new().await;
        let (ana, sue, adam) = (
            harness.login("ana").await,
            harness.login("sue").await,
            harness.login("adam").await,
        );
        assert_eq!(
            harness
                .post("/admin/users/ana/disable", Some(&sue), &[])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let response = harness
            .post("/admin/users/ana/disable", Some(&adam), &[])
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        assert_eq!(
            harness.get("/", Some(&ana)).await.location.as_deref(),
            Some("/login")
        );
        assert_eq!(
            harness.try_login("ana", "password-123").await.status,
            StatusCode::UNAUTHORIZED
        );
        let users = harness.get("/admin/users", Some(&adam)).await.text();
        assert!(
            users.contains("disabled") && users.contains("/admin/users/ana/enable"),
            "{users}"
        );
        assert_eq!(
            harness
                .post("/admin/users/adam/disable", Some(&adam), &[])
                .await
                .status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            harness
                .post("/admin/users/nobody/disable", Some(&adam), &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let response = harness
            .post("/admin/users/ana/enable", Some(&adam), &[])
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        harness.login("ana").await;
        assert_eq!(audited(&harness, "user_disable").await.len(), 1);
        assert_eq!(audited(&harness, "user_enable").await.len(), 1);
        // A password set by the admin ends the user's sessions.
        let ana = harness.login("ana").await;
        let response = harness
            .post(
                "/admin/users/ana/password",
                Some(&adam),
                &[("password", "new-password-456")],
            )
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        assert_eq!(
            harness.get("/", Some(&ana)).await.location.as_deref(),
            Some("/login")
        );
        assert_eq!(
            harness.try_login("ana", "new-password-456").await.status,
            StatusCode::SEE_OTHER
        );
    }
}

both! {
    /// A clinician is not a reviewer: no audit, lock-out or admin pages. Admins add clinicians with the author
    /// name their notes carry, and no clinician without one.
    async fn clinicians_are_linked_to_an_author_and_are_not_supervisors() {
        let harness = Harness::new().await;
        let cleo = harness.login("cleo").await;
        for page in ["/audit", "/admin/lockouts", "/admin/users"] {
            assert_eq!(
                harness.get(page, Some(&cleo)).await.status,
                StatusCode::FORBIDDEN,
                "{page}"
            );
        }
        let adam = harness.login("adam").await;
        let users = harness.get("/admin/users", Some(&adam)).await.text();
        assert!(
            users.contains("Jane Smith") && users.contains("clinician"),
            "{users}"
        );
        let without_author = [
            ("name", "carl"),
            ("role", "clinician"),
            ("password", "password-123"),
        ];
        let response = harness
            .post("/admin/users", Some(&adam), &without_author)
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
        let with_author = [
            ("name", "carl"),
            ("role", "clinician"),
            ("password", "password-123"),
            ("author", "Carl Jones"),
        ];
        let response = harness
            .post("/admin/users", Some(&adam), &with_author)
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        assert!(harness
            .get("/admin/users", Some(&adam))
            .await
            .text()
            .contains("Carl Jones"));
        harness.login("carl").await;
    }
}

both! {
    /// With secure cookies every response carries HSTS; without, none does.
    async fn hsts_is_sent_when_cookies_are_secure() {
        for secure_cookies in [true, false] {
            let harness = Harness::with_config(ReviewConfig {
                secure_cookies,
                ..ReviewConfig::default()
            })
            .await;
            for path in ["/login", "/", "/static/app.css", "/nope"] {
                let response = harness
                    .app
                    .clone()
                    .oneshot(Request::get(path).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let hsts = response.headers().get(header::STRICT_TRANSPORT_SECURITY);
                if secure_cookies {
                    assert_eq!(
                        hsts.unwrap(),
                        "max-age=31536000; includeSubDomains",
                        "{path}"
                    );
                } else {
                    assert!(hsts.is_none(), "{path}");
                }
            }
        }
    }
}

both! {
    /// Reviewers get 403 on the audit and admin pages; supervisors reach the audit page; admins reach both.
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
}
