//! The review state machine: one decision per document, claims, corrections, misfile reassignment and the
//! clinician's signature. One test per defect found on the landed review step.

use axum::http::StatusCode;
use serde_json::Value;

use him_review::{add_user, approve, find_document, reindex, Actor, ReviewInput, Role};

use him_store::{Folder, Key};

use crate::support::{
    patient_folder, Harness, DICTATION, DICTATION_MRN, FILED, FILED_MRN, OTHER_MRN, UNMATCHED,
};

async fn json(harness: &Harness, key: &Key) -> Value {
    serde_json::from_slice(&harness.store.get(key).await.unwrap()).unwrap()
}

/// The newest state of a version's DocumentReference (the first one or its latest snapshot).
async fn reference(harness: &Harness, folder: &Folder, version: u32) -> Value {
    let mut keys: Vec<Key> = harness
        .store
        .list(&folder.versions())
        .await
        .unwrap()
        .into_iter()
        .filter(|key| key.version_number() == Some(version))
        .filter(|key| {
            key.name()
                .is_some_and(|name| name.contains("/DocumentReference"))
        })
        .collect();
    keys.sort_by_key(Key::path);
    // `DocumentReference-0003.json` sorts before `DocumentReference.json`: the snapshots are the newest.
    let newest = keys
        .iter()
        .rfind(|k| k.path().contains("DocumentReference-"))
        .or(keys.last())
        .unwrap()
        .clone();
    json(harness, &newest).await
}

async fn version_count(harness: &Harness, folder: &Folder) -> usize {
    let mut numbers: Vec<u32> = harness
        .store
        .list(&folder.versions())
        .await
        .unwrap()
        .iter()
        .filter_map(Key::version_number)
        .collect();
    numbers.dedup();
    numbers.len()
}

async fn approve_filed(harness: &Harness, who: &crate::support::Login) {
    harness.open(FILED, who).await;
    let response = harness
        .post(
            &format!("/documents/{FILED}/approve"),
            Some(who),
            &[("text", "approved text"), ("field.author", "Gregory House")],
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::SEE_OTHER,
        "{}",
        response.text()
    );
}

both! {
    /// Two reviewers who open and approve one document at the same time produce exactly one version.
    async fn two_reviewers_racing_on_approve_file_exactly_one_version() {
        let harness = Harness::new().await;
        let (ana, bob) = (harness.login("ana").await, harness.login("bob").await);
        let path = format!("/documents/{FILED}");
        let (a, b) = tokio::join!(
            harness.get(&path, Some(&ana)),
            harness.get(&path, Some(&bob))
        );
        assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
        let approve_path = format!("{path}/approve");
        let form = [("text", "ok")];
        let (a, b) = tokio::join!(
            harness.post(&approve_path, Some(&ana), &form),
            harness.post(&approve_path, Some(&bob), &form)
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
        let folder = patient_folder(FILED_MRN, FILED);
        assert_eq!(version_count(&harness, &folder).await, 1);
        let holder_page = harness.open(FILED, &bob).await.text();
        assert!(
            !holder_page.contains(r#"id="approve""#),
            "no approve button on an approved document"
        );
    }
}

both! {
    /// Even the claim holder racing with themself (double click, two tabs) gets one approval: the state is
    /// checked under the write lock and version numbers are taken create-only.
    async fn ten_concurrent_approvals_by_the_claim_holder_write_one_version() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        harness.open(FILED, &ana).await;
        let actor = Actor {
            name: "ana".to_string(),
            role: Role::Reviewer,
            author: None,
        };
        let input = ReviewInput {
            text: "ok".to_string(),
            ..ReviewInput::default()
        };
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (state, actor, input) = (harness.state.clone(), actor.clone(), input.clone());
                tokio::spawn(async move { approve(&state, FILED, &actor, &input).await })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, him_review::Error::Conflict { .. })));
        assert_eq!(
            version_count(&harness, &patient_folder(FILED_MRN, FILED)).await,
            1
        );
    }
}

both! {
    /// After approval: a second approval, an edit, a return and a reject are refused with 409 and change
    /// nothing, whoever asks (reviewer or supervisor).
    async fn an_approved_document_refuses_every_second_decision() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        approve_filed(&harness, &ana).await;
        let folder = patient_folder(FILED_MRN, FILED);
        let before = harness.store.list(&folder.all()).await.unwrap();
        for who in ["ana", "sue"] {
            let login = harness.login(who).await;
            harness.open(FILED, &login).await;
            for (action, form) in [
                ("approve", vec![("text", "again")]),
                ("edit", vec![("text", "edited after approval")]),
                ("return", vec![("kind", "return"), ("reason", "late")]),
                ("return", vec![("kind", "reject"), ("reason", "late")]),
            ] {
                let response = harness
                    .post(&format!("/documents/{FILED}/{action}"), Some(&login), &form)
                    .await;
                assert_eq!(
                    response.status,
                    StatusCode::CONFLICT,
                    "{who} {action} {form:?}"
                );
            }
            harness
                .post(&format!("/documents/{FILED}/release"), Some(&login), &[])
                .await;
        }
        assert_eq!(harness.store.list(&folder.all()).await.unwrap(), before);
        assert_eq!(reference(&harness, &folder, 1).await["status"], "current");
        assert_eq!(
            find_document(&harness.db, FILED).unwrap().review_status,
            "approved"
        );
    }
}

both! {
    /// A decision needs the caller's own live claim: without opening, or while another reviewer holds the
    /// document, approve and addendum answer 409; a supervisor can break the claim, audited.
    async fn decisions_need_the_callers_live_claim_and_a_supervisor_can_break_it() {
        let harness = Harness::new().await;
        let (ana, bob, sue) = (
            harness.login("ana").await,
            harness.login("bob").await,
            harness.login("sue").await,
        );
        let unopened = harness
            .post(
                &format!("/documents/{FILED}/approve"),
                Some(&ana),
                &[("text", "x")],
            )
            .await;
        assert_eq!(
            unopened.status,
            StatusCode::CONFLICT,
            "approve without a claim"
        );
        approve_filed(&harness, &ana).await;
        harness.open(FILED, &bob).await;
        let addendum = harness
            .post(
                &format!("/documents/{FILED}/addendum"),
                Some(&ana),
                &[("addendum", "while bob holds it")],
            )
            .await;
        assert_eq!(addendum.status, StatusCode::CONFLICT);
        let reviewer_break = harness
            .post(&format!("/documents/{FILED}/break-claim"), Some(&ana), &[])
            .await;
        assert_eq!(reviewer_break.status, StatusCode::FORBIDDEN);
        let broken = harness
            .post(&format!("/documents/{FILED}/break-claim"), Some(&sue), &[])
            .await;
        assert_eq!(broken.status, StatusCode::SEE_OTHER);
        assert_eq!(
            find_document(&harness.db, FILED)
                .unwrap()
                .claimed_by
                .as_deref(),
            Some("sue")
        );
        let bob_late = harness
            .post(
                &format!("/documents/{FILED}/addendum"),
                Some(&bob),
                &[("addendum", "too late")],
            )
            .await;
        assert_eq!(bob_late.status, StatusCode::CONFLICT);
        let events = him_review::search_audit(
            &harness.db,
            &him_review::AuditQuery {
                action: Some("claim_break".to_string()),
                ..Default::default()
            },
            10,
        )
        .unwrap();
        assert_eq!(events.len(), 1);
        assert!(events[0].detail.contains("bob"), "{}", events[0].detail);
        assert_eq!(
            version_count(&harness, &patient_folder(FILED_MRN, FILED)).await,
            1
        );
    }
}

both! {
    /// Approving with the MRN field changed to another patient is refused (the patient changes only by
    /// reassignment), and so is a document type outside the LOINC table.
    async fn approve_with_a_changed_mrn_or_an_unknown_type_is_refused() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        harness.open(FILED, &ana).await;
        let changed = harness
            .post(
                &format!("/documents/{FILED}/approve"),
                Some(&ana),
                &[("text", "x"), ("field.mrn", OTHER_MRN)],
            )
            .await;
        assert_eq!(changed.status, StatusCode::CONFLICT);
        assert!(changed.text().contains("reassign"), "{}", changed.text());
        let draft = harness
            .post(
                &format!("/documents/{FILED}/edit"),
                Some(&ana),
                &[("text", "x"), ("field.mrn", OTHER_MRN)],
            )
            .await;
        assert_eq!(draft.status, StatusCode::CONFLICT);
        let unknown = harness
            .post(
                &format!("/documents/{FILED}/approve"),
                Some(&ana),
                &[("text", "x"), ("field.document_type", "History & Physical")],
            )
            .await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
        let folder = patient_folder(FILED_MRN, FILED);
        assert_eq!(version_count(&harness, &folder).await, 0);
        assert!(harness
            .store
            .list(&folder.reviews())
            .await
            .unwrap()
            .is_empty());
    }
}

both! {
    /// A misfiled, approved chart is moved by a supervisor to a patient chosen from the index: copied to the
    /// right folder, tombstone in the old one, old DocumentReference entered-in-error, a new current one naming
    /// the right patient; the audit record holds both patients. Reviewers cannot reassign.
    async fn reassign_corrects_a_misfile() {
        let harness = Harness::new().await;
        let (ana, sue) = (harness.login("ana").await, harness.login("sue").await);
        approve_filed(&harness, &ana).await;
        let old = patient_folder(FILED_MRN, FILED);
        let new = patient_folder(OTHER_MRN, FILED);
        harness.open(FILED, &ana).await;
        let by_reviewer = harness
            .post(
                &format!("/documents/{FILED}/assign"),
                Some(&ana),
                &[("mrn", OTHER_MRN), ("reason", "misfiled")],
            )
            .await;
        assert_eq!(by_reviewer.status, StatusCode::FORBIDDEN);
        harness
            .post(&format!("/documents/{FILED}/release"), Some(&ana), &[])
            .await;
        let page = harness
            .get(&format!("/documents/{FILED}?q=schmidt"), Some(&sue))
            .await
            .text();
        assert!(
            page.contains("Schmidt, Dennis"),
            "index search offers the patient"
        );
        let not_in_index = harness
            .post(
                &format!("/documents/{FILED}/assign"),
                Some(&sue),
                &[("mrn", "NOT-A-PATIENT-1"), ("reason", "misfiled")],
            )
            .await;
        assert_eq!(not_in_index.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(harness
            .store
            .list(&patient_folder("NOT-A-PATIENT-1", FILED).all())
            .await
            .unwrap()
            .is_empty());
        let moved = harness
            .post(
                &format!("/documents/{FILED}/assign"),
                Some(&sue),
                &[
                    ("mrn", OTHER_MRN),
                    ("reason", "misfiled: twin of the named patient"),
                ],
            )
            .await;
        assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.text());

        for name in [
            "original.tif",
            "document.json",
            "text.txt",
            "ocr.json",
            "pages/0001.png",
        ] {
            assert_eq!(
                harness.store.get(&old.object(name).unwrap()).await.unwrap(),
                harness.store.get(&new.object(name).unwrap()).await.unwrap(),
                "{name} copied byte for byte and kept in the old folder"
            );
        }
        assert_eq!(
            json(&harness, &old.moved()).await["location"],
            new.location()
        );
        let old_reference = reference(&harness, &old, 1).await;
        assert_eq!(old_reference["status"], "entered-in-error");
        assert_eq!(old_reference["meta"]["versionId"], "2");
        let new_reference = reference(&harness, &new, 1).await;
        assert_eq!(new_reference["status"], "current");
        assert_eq!(new_reference["subject"]["reference"], "Patient/pat-schmidt");
        assert_eq!(new_reference["subject"]["identifier"]["value"], OTHER_MRN);
        assert_eq!(new_reference["author"][0]["display"], "Gregory House");
        let meta = json(&harness, &new.version_object(1, "version.json").unwrap()).await;
        assert_eq!(
            meta["fields"]["mrn"], OTHER_MRN,
            "the approved fields name the new patient"
        );
        let old_meta = json(&harness, &old.version_object(1, "version.json").unwrap()).await;
        assert_eq!(
            old_meta["fields"]["mrn"], FILED_MRN,
            "the old version is kept as it was"
        );
        let item = find_document(&harness.db, FILED).unwrap();
        assert_eq!(
            (&item.location, item.mrn.as_deref()),
            (&new, Some(OTHER_MRN))
        );
        assert_eq!(item.review_status, "approved");
        let audit = him_review::search_audit(
            &harness.db,
            &him_review::AuditQuery {
                action: Some("reassign".to_string()),
                ..Default::default()
            },
            10,
        )
        .unwrap();
        assert_eq!(audit.len(), 1);
        assert!(audit[0].detail.contains(FILED_MRN) && audit[0].detail.contains(OTHER_MRN));
        // The store alone tells where it is now.
        let fresh = crate::support::fresh_db();
        reindex(&harness.store, &fresh).await.unwrap();
        assert_eq!(find_document(&fresh, FILED).unwrap().location, new);
        assert_eq!(
            find_document(&fresh, FILED).unwrap().review_status,
            "approved"
        );
        // Moving back into a folder it held before is refused rather than mixing two histories.
        let back = harness
            .post(
                &format!("/documents/{FILED}/assign"),
                Some(&sue),
                &[("mrn", FILED_MRN), ("reason", "undo")],
            )
            .await;
        assert_eq!(back.status, StatusCode::CONFLICT);
    }
}

both! {
    /// A supervisor's correction of an approved document is a new version that replaces the old one, which
    /// becomes superseded; reviewers cannot correct.
    async fn a_correction_is_a_new_version_that_supersedes_the_old() {
        let harness = Harness::new().await;
        let (ana, sue) = (harness.login("ana").await, harness.login("sue").await);
        approve_filed(&harness, &ana).await;
        harness.open(FILED, &ana).await;
        let by_reviewer = harness
            .post(
                &format!("/documents/{FILED}/correct"),
                Some(&ana),
                &[("text", "fixed"), ("reason", "typo")],
            )
            .await;
        assert_eq!(by_reviewer.status, StatusCode::FORBIDDEN);
        harness
            .post(&format!("/documents/{FILED}/release"), Some(&ana), &[])
            .await;
        harness.open(FILED, &sue).await;
        let corrected = harness
            .post(
                &format!("/documents/{FILED}/correct"),
                Some(&sue),
                &[
                    ("text", "fixed"),
                    ("reason", "typo in the plan"),
                    ("field.author", "Gregory House"),
                ],
            )
            .await;
        assert_eq!(
            corrected.status,
            StatusCode::SEE_OTHER,
            "{}",
            corrected.text()
        );
        let folder = patient_folder(FILED_MRN, FILED);
        let old = reference(&harness, &folder, 1).await;
        assert_eq!(old["status"], "superseded");
        let new = reference(&harness, &folder, 2).await;
        assert_eq!(new["status"], "current");
        assert_eq!(new["docStatus"], "amended");
        assert_eq!(new["relatesTo"][0]["code"], "replaces");
        assert_eq!(
            new["relatesTo"][0]["target"]["reference"],
            format!("DocumentReference/{FILED}-v1")
        );
        let text = harness
            .store
            .get(&folder.version_object(1, "text.txt").unwrap())
            .await
            .unwrap();
        assert_eq!(
            &text[..],
            b"approved text",
            "the old version is kept, not overwritten"
        );
    }
}

both! {
    /// A transcribed dictation approved by HIM is preliminary until its author signs; only the linked
    /// clinician can sign, from the "awaiting my signature" list; then it is final with the clinician as
    /// authenticator.
    async fn the_authoring_clinician_signs_an_approved_dictation() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        harness.open(DICTATION, &ana).await;
        let approved = harness
            .post(
                &format!("/documents/{DICTATION}/approve"),
                Some(&ana),
                &[
                    ("text", "Consultation note."),
                    ("ack", "1"),
                    ("field.author", "Dr. Jane Smith"),
                ],
            )
            .await;
        assert_eq!(
            approved.status,
            StatusCode::SEE_OTHER,
            "{}",
            approved.text()
        );
        let folder = patient_folder(DICTATION_MRN, DICTATION);
        assert_eq!(
            reference(&harness, &folder, 1).await["docStatus"],
            "preliminary"
        );

        let by_reviewer = harness
            .post(&format!("/documents/{DICTATION}/sign"), Some(&ana), &[])
            .await;
        assert_eq!(by_reviewer.status, StatusCode::FORBIDDEN);
        add_user(
            &harness.db,
            "drroe",
            Role::Clinician,
            "password-123",
            Some("John Roe"),
        )
        .unwrap();
        let roe = harness.login("drroe").await;
        let roe_list = harness.get("/", Some(&roe)).await.text();
        assert!(!roe_list.contains(DICTATION), "not John Roe's note");
        let by_other = harness
            .post(&format!("/documents/{DICTATION}/sign"), Some(&roe), &[])
            .await;
        assert_eq!(by_other.status, StatusCode::FORBIDDEN);
        let chart = harness
            .get(&format!("/documents/{FILED}"), Some(&roe))
            .await;
        assert_eq!(
            chart.status,
            StatusCode::FORBIDDEN,
            "clinicians see dictations only"
        );

        let cleo = harness.login("cleo").await;
        let list = harness.get("/", Some(&cleo)).await.text();
        assert!(
            list.contains(&format!("/documents/{DICTATION}\"")),
            "awaiting my signature"
        );
        let page = harness
            .get(&format!("/documents/{DICTATION}"), Some(&cleo))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text().contains(r#"id="sign""#));
        assert!(
            find_document(&harness.db, DICTATION)
                .unwrap()
                .claimed_by
                .is_none(),
            "clinicians do not claim"
        );
        let signed = harness
            .post(&format!("/documents/{DICTATION}/sign"), Some(&cleo), &[])
            .await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.text());
        let final_reference = reference(&harness, &folder, 1).await;
        assert_eq!(final_reference["docStatus"], "final");
        assert_eq!(final_reference["status"], "current");
        assert_eq!(final_reference["authenticator"]["display"], "Jane Smith");
        let after = harness.get("/", Some(&cleo)).await.text();
        assert!(!after.contains(&format!("/documents/{DICTATION}\"")));
        let twice = harness
            .post(&format!("/documents/{DICTATION}/sign"), Some(&cleo), &[])
            .await;
        assert_eq!(twice.status, StatusCode::CONFLICT);
        let refused = harness
            .post(
                &format!("/documents/{DICTATION}/approve"),
                Some(&cleo),
                &[("text", "x")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
}

both! {
    /// Every download is audited, and each route serves only its own media type: the audio route never
    /// serves a chart's scan.
    async fn downloads_are_audited_and_routes_keep_to_their_media_type() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        let audio_of_chart = harness
            .get(&format!("/documents/{FILED}/audio"), Some(&ana))
            .await;
        assert_eq!(audio_of_chart.status, StatusCode::NOT_FOUND);
        let original = harness
            .get(&format!("/documents/{FILED}/original"), Some(&ana))
            .await;
        assert_eq!(original.status, StatusCode::OK);
        assert_eq!(original.content_type.as_deref(), Some("image/tiff"));
        let audio = harness
            .get(&format!("/documents/{DICTATION}/audio"), Some(&ana))
            .await;
        assert_eq!(audio.content_type.as_deref(), Some("audio/wav"));
        let image = harness
            .get(
                &format!("/documents/{UNMATCHED}/pages/0001.png"),
                Some(&ana),
            )
            .await;
        assert_eq!(image.content_type.as_deref(), Some("image/png"));
        assert_eq!(harness.audit_actions(FILED).await, ["download"]);
        assert_eq!(harness.audit_actions(DICTATION).await, ["download"]);
        assert_eq!(harness.audit_actions(UNMATCHED).await, ["download"]);
    }
}

both! {
    /// The DocumentReferences of every flow (scan approved, dictation approved then signed, addendum,
    /// correction, reassignment) pass a real FHIR R4 structural validator (`scripts/fhir-validate`, installed
    /// by scripts/setup; this test fails when it is missing).
    async fn every_document_reference_passes_the_fhir_validator() {
        let harness = Harness::new().await;
        let (ana, sue, cleo) = (
            harness.login("ana").await,
            harness.login("sue").await,
            harness.login("cleo").await,
        );
        // Scan approved, with an addendum.
        harness.open(FILED, &ana).await;
        let fields = [
            ("text", "History and physical."),
            ("field.author", "Gregory House"),
            ("field.document_type", "34117-2"),
            ("field.date_of_service", "2019-03-20"),
            ("field.encounter", "E-1"),
        ];
        let ok = |response: crate::support::Response| {
            assert_eq!(
                response.status,
                StatusCode::SEE_OTHER,
                "{}",
                response.text()
            );
        };
        ok(harness
            .post(&format!("/documents/{FILED}/approve"), Some(&ana), &fields)
            .await);
        harness.open(FILED, &ana).await;
        ok(harness
            .post(
                &format!("/documents/{FILED}/addendum"),
                Some(&ana),
                &[("addendum", "Late result: normal.")],
            )
            .await);
        harness
            .post(&format!("/documents/{FILED}/release"), Some(&ana), &[])
            .await;
        // Corrected, then reassigned (a supervisor).
        harness.open(FILED, &sue).await;
        let mut corrected = fields.to_vec();
        corrected.push(("reason", "wrong plan"));
        ok(harness
            .post(
                &format!("/documents/{FILED}/correct"),
                Some(&sue),
                &corrected,
            )
            .await);
        harness.open(FILED, &sue).await;
        ok(harness
            .post(
                &format!("/documents/{FILED}/assign"),
                Some(&sue),
                &[("mrn", OTHER_MRN), ("reason", "misfiled")],
            )
            .await);
        // Dictation approved, then signed.
        harness.open(DICTATION, &ana).await;
        ok(harness
            .post(
                &format!("/documents/{DICTATION}/approve"),
                Some(&ana),
                &[
                    ("text", "Consultation note."),
                    ("ack", "1"),
                    ("field.author", "Jane Smith"),
                    ("field.document_type", "11488-4"),
                ],
            )
            .await);
        ok(harness
            .post(&format!("/documents/{DICTATION}/sign"), Some(&cleo), &[])
            .await);
        // Unmatched chart assigned, then approved.
        harness.open(UNMATCHED, &ana).await;
        ok(harness
            .post(
                &format!("/documents/{UNMATCHED}/assign"),
                Some(&ana),
                &[("mrn", "40079196")],
            )
            .await);
        ok(harness
            .post(
                &format!("/documents/{UNMATCHED}/approve"),
                Some(&ana),
                &[("text", "Progress note.")],
            )
            .await);

        // Run once per database in one process: a folder of each run's own.
        let dir = std::env::temp_dir().join(format!(
            "him-review-fhir-{}-{:?}",
            std::process::id(),
            crate::support::backend()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = Vec::new();
        let mut statuses = std::collections::BTreeSet::new();
        for key in harness
            .store
            .list(&him_store::Prefix::Patients)
            .await
            .unwrap()
        {
            if !key.path().contains("/DocumentReference") {
                continue;
            }
            let resource = json(&harness, &key).await;
            statuses.insert(format!("{}/{}", resource["status"], resource["docStatus"]));
            let file = dir.join(key.path().replace('/', "_"));
            std::fs::write(&file, serde_json::to_vec_pretty(&resource).unwrap()).unwrap();
            files.push(file);
        }
        for expected in [
            r#""current"/"final""#,
            r#""current"/"amended""#,
            r#""superseded"/"amended""#,
            r#""entered-in-error"/"final""#,
            r#""current"/"preliminary""#,
        ] {
            assert!(statuses.contains(expected), "{expected} in {statuses:?}");
        }
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fhir-validate");
        let output = std::process::Command::new("python3")
            .arg(&script)
            .args(&files)
            .output()
            .expect("python3 runs scripts/fhir-validate");
        std::fs::remove_dir_all(&dir).ok();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "fhir-validate (exit 2 = validator missing: run scripts/setup):\n{report}"
        );
        assert_eq!(
            report.lines().filter(|l| l.starts_with("ok ")).count(),
            files.len(),
            "{report}"
        );
        assert!(files.len() >= 9, "{} DocumentReferences", files.len());
    }
}
