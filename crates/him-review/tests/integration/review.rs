//! The document page and the review actions, with the objects they write and the audit trail.

use axum::http::StatusCode;
use serde_json::Value;

use him_store::Key;

use crate::support::{
    patient_folder, unmatched, Harness, DICTATION, DICTATION_MRN, FILED, FILED_MRN, OTHER_MRN,
    UNMATCHED,
};

async fn json(harness: &Harness, key: &Key) -> Value {
    serde_json::from_slice(&harness.store.get(key).await.unwrap()).unwrap()
}

both! {
    /// The document page boxes field sources over the page image, serves the image, and audits the view.
    async fn the_document_page_highlights_sources_and_serves_pages() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        let page = harness
            .get(&format!("/documents/{FILED}"), Some(&ana))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        let html = page.text();
        assert!(html.contains(r#"class="hl field" title="mrn""#), "{html}");
        assert!(html.contains(r#"id="field-mrn" value="40158388""#));
        let image = harness
            .get(&format!("/documents/{FILED}/pages/0001.png"), Some(&ana))
            .await;
        assert_eq!(image.status, StatusCode::OK);
        assert_eq!(image.content_type.as_deref(), Some("image/png"));
        assert!(image.body.starts_with(b"\x89PNG"));
        for bad in ["0001.txt", "..%2F..%2Fx.png", "1.png"] {
            let response = harness
                .get(&format!("/documents/{FILED}/pages/{bad}"), Some(&ana))
                .await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{bad}");
        }
        assert_eq!(
            harness.get("/documents/nothex", Some(&ana)).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            harness.audit_actions(FILED).await,
            ["claim", "view", "download"]
        );
    }
}

both! {
    /// A chart whose `ocr.json` does not read (not JSON, or JSON of another shape) still shows its page,
    /// without the word boxes.
    async fn a_chart_whose_ocr_json_does_not_read_shows_its_page_without_boxes() {
        let harness = Harness::new().await;
        let copies = [
            ("0123456789abcdef0123456789abcdef", &b"{\"engine\": \"tess"[..]),
            ("fedcba9876543210fedcba9876543210", &br#"{"pages": "none"}"#[..]),
        ];
        for (id, ocr) in copies {
            crate::support::add_chart_copy_with_ocr(&harness.store, id, Some(ocr)).await;
        }
        him_review::reindex(&harness.store, &harness.db)
            .await
            .unwrap();
        let ana = harness.login("ana").await;
        for (id, _) in copies {
            let page = harness.get(&format!("/documents/{id}"), Some(&ana)).await;
            assert_eq!(page.status, StatusCode::OK, "{id}");
            let html = page.text();
            assert!(html.contains(&format!(r#"src="/documents/{id}/pages/0001.png""#)), "{html}");
            assert!(!html.contains(r#"class="hl "#), "{html}");
        }
        // The chart it was copied from, with its words, is boxed.
        let filed = harness.get(&format!("/documents/{FILED}"), Some(&ana)).await.text();
        assert!(filed.contains(r#"class="hl field" title="mrn""#), "{filed}");
    }
}

both! {
    /// A filed document whose fields read name someone other than its patient says so, in words, on its page;
    /// one whose fields name its patient does not.
    async fn the_document_page_warns_when_the_fields_read_name_another_patient() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        let filed = harness
            .get(&format!("/documents/{FILED}"), Some(&ana))
            .await
            .text();
        assert!(!filed.contains(r#"id="filed-warning""#), "{filed}");
        // The chart reads Devin Cole, born 1999-09-09, MRN 40079196; a reviewer files it to Dennis Schmidt.
        harness.open(UNMATCHED, &ana).await;
        let assign = harness
            .post(
                &format!("/documents/{UNMATCHED}/assign"),
                Some(&ana),
                &[("mrn", OTHER_MRN)],
            )
            .await;
        assert_eq!(assign.status, StatusCode::SEE_OTHER);
        let page = harness
            .get(&format!("/documents/{UNMATCHED}"), Some(&ana))
            .await
            .text();
        assert!(
            page.contains(
                "The fields read name DEVIN COLE, date of birth 1999-09-09, MRN 40079196, not the filed \
                 patient Dennis Schmidt (MRN 40158399, born 2011-03-23): check before approving."
            ),
            "{page}"
        );
    }
}

both! {
    /// Approving writes the version, its DocumentReference and the review record; a second approval is refused
    /// and writes nothing; an addendum is a new version holding only its text, linked to the approved one.
    async fn approve_writes_new_objects_and_never_overwrites() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        let folder = patient_folder(FILED_MRN, FILED);
        harness.open(FILED, &ana).await;
        let edit = [
            ("field.author", "Gregory House"),
            ("field.document_type", "11506-3"),
            ("field.date_of_service", "2019-03-20"),
            ("field.encounter", "E-77"),
            ("text", "corrected"),
        ];
        let saved = harness
            .post(&format!("/documents/{FILED}/edit"), Some(&ana), &edit)
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
        let draft = harness.open(FILED, &ana).await.text();
        assert!(draft.contains(r#"id="field-author" value="Gregory House""#));
        let approved = harness
            .post(&format!("/documents/{FILED}/approve"), Some(&ana), &edit)
            .await;
        assert_eq!(
            approved.status,
            StatusCode::SEE_OTHER,
            "{}",
            approved.text()
        );
        assert_eq!(approved.location.as_deref(), Some("/?m=approved"));

        let record = json(&harness, &folder.review(2, "approved").unwrap()).await;
        assert_eq!(record["reviewer"], "ana");
        assert_eq!(record["fields"]["author"], "Gregory House");
        assert_eq!(record["version"], 1);
        assert!(record["fields_changed"]
            .as_array()
            .unwrap()
            .contains(&Value::from("author")));
        let text = harness
            .store
            .get(&folder.version_object(1, "text.txt").unwrap())
            .await
            .unwrap();
        assert_eq!(&text[..], b"corrected");
        let reference = json(
            &harness,
            &folder.version_object(1, "DocumentReference.json").unwrap(),
        )
        .await;
        assert_eq!(reference["resourceType"], "DocumentReference");
        assert_eq!(reference["status"], "current");
        assert_eq!(
            reference["docStatus"], "final",
            "a scan is final once approved"
        );
        assert_eq!(
            reference["masterIdentifier"]["value"],
            format!("{FILED}-v1")
        );
        assert_eq!(reference["subject"]["reference"], "Patient/pat-schmitt");
        assert_eq!(reference["subject"]["identifier"]["value"], FILED_MRN);
        assert_eq!(
            reference["subject"]["identifier"]["system"],
            "urn:oid:2.16.840.1.113883.3.9999.1"
        );
        assert_eq!(reference["type"]["coding"][0]["system"], "http://loinc.org");
        assert_eq!(reference["type"]["coding"][0]["code"], "11506-3");
        assert!(reference["type"]["coding"][0]["display"].is_string());
        assert_eq!(
            reference["category"][0]["coding"][0]["code"],
            "clinical-note"
        );
        assert_eq!(reference["author"][0]["display"], "Gregory House");
        assert!(
            reference.get("authenticator").is_none(),
            "the HIM reviewer is not the authenticator"
        );
        assert_eq!(reference["context"]["period"]["start"], "2019-03-20");
        assert_eq!(
            reference["context"]["encounter"][0]["identifier"]["value"],
            "E-77"
        );
        // The legal original first, then the approved text, each with size, base64 SHA-1 and absolute URL.
        let original = harness.store.get(&folder.original("tif")).await.unwrap();
        let scan = &reference["content"][0]["attachment"];
        assert_eq!(scan["contentType"], "image/tiff");
        assert_eq!(scan["size"], original.len());
        assert_eq!(scan["hash"], sha1_base64(&original));
        assert_eq!(
            scan["url"],
            format!("http://127.0.0.1:8080/documents/{FILED}/original")
        );
        let text = &reference["content"][1]["attachment"];
        assert_eq!(text["hash"], sha1_base64(b"corrected"));
        assert_eq!(text["size"], 9);

        let queue = harness.get("/", Some(&ana)).await.text();
        let pending = queue.split("id=\"pending\"").nth(1).unwrap();
        let pending = pending.split("id=\"unmatched\"").next().unwrap();
        assert!(
            !pending.contains(&format!("/documents/{FILED}\"")),
            "approved document left the pending list"
        );

        let before = harness.store.list(&folder.all()).await.unwrap();
        harness.open(FILED, &ana).await;
        let again = harness
            .post(
                &format!("/documents/{FILED}/approve"),
                Some(&ana),
                &[("text", "second")],
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(
            harness.store.list(&folder.all()).await.unwrap(),
            before,
            "a refused approval writes nothing"
        );

        let addendum = harness
            .post(
                &format!("/documents/{FILED}/addendum"),
                Some(&ana),
                &[("addendum", "late result")],
            )
            .await;
        assert_eq!(
            addendum.status,
            StatusCode::SEE_OTHER,
            "{}",
            addendum.text()
        );
        let second = harness
            .store
            .get(&folder.version_object(2, "text.txt").unwrap())
            .await
            .unwrap();
        assert_eq!(&second[..], b"late result\n", "only the addendum text");
        let linked = json(
            &harness,
            &folder.version_object(2, "DocumentReference.json").unwrap(),
        )
        .await;
        assert_eq!(linked["relatesTo"][0]["code"], "appends");
        assert_eq!(
            linked["relatesTo"][0]["target"]["reference"],
            format!("DocumentReference/{FILED}-v1")
        );
        let meta = json(&harness, &folder.version_object(2, "version.json").unwrap()).await;
        assert_eq!(
            meta["fields"]["author"], "Gregory House",
            "the addendum keeps the reviewer's corrections"
        );
        assert_eq!(
            linked["context"]["encounter"][0]["identifier"]["value"],
            "E-77"
        );
        let amended = json(
            &harness,
            &folder
                .version_object(1, "DocumentReference-0003.json")
                .unwrap(),
        )
        .await;
        assert_eq!(
            amended["docStatus"], "amended",
            "the base was added to after release"
        );
        assert_eq!(amended["status"], "current");
        let unchanged = harness
            .store
            .get(&folder.version_object(1, "text.txt").unwrap())
            .await
            .unwrap();
        assert_eq!(&unchanged[..], b"corrected");

        assert_eq!(
            harness.audit_actions(FILED).await,
            ["claim", "view", "edit", "view", "approve", "claim", "view", "addendum"]
        );
    }
}

fn sha1_base64(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys,hashlib,base64; print(base64.b64encode(hashlib.sha1(sys.stdin.buffer.read()).digest()).decode())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

both! {
    /// A flagged transcript cannot be approved until every flag is acknowledged.
    async fn flagged_dictations_need_every_flag_acknowledged() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        let page = harness.open(DICTATION, &ana).await.text();
        assert!(page.contains(r#"name="ack" value="1""#));
        // The flag in words, not as its code.
        assert!(page.contains("text where the audio is silent"), "{page}");
        assert!(!page.contains("text_in_silence"));
        assert!(page.contains(&format!(r#"src="/documents/{DICTATION}/audio""#)));
        let path = format!("/documents/{DICTATION}/approve");
        let refused = harness
            .post(&path, Some(&ana), &[("text", "Consultation note.")])
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT);
        let folder = patient_folder(DICTATION_MRN, DICTATION);
        assert!(harness
            .store
            .list(&folder.versions())
            .await
            .unwrap()
            .is_empty());
        let accepted = harness
            .post(
                &path,
                Some(&ana),
                &[("text", "Consultation note."), ("ack", "1")],
            )
            .await;
        assert_eq!(accepted.status, StatusCode::SEE_OTHER);
        let record = json(&harness, &folder.review(1, "approved").unwrap()).await;
        assert_eq!(record["flags_acknowledged"], serde_json::json!([1]));
        let reference = json(
            &harness,
            &folder.version_object(1, "DocumentReference.json").unwrap(),
        )
        .await;
        assert_eq!(
            reference["docStatus"], "preliminary",
            "a transcription waits for its author's signature"
        );
        assert_eq!(
            reference["content"][0]["attachment"]["contentType"],
            "audio/wav"
        );

        let audio = harness
            .send(
                axum::http::Request::get(format!("/documents/{DICTATION}/audio"))
                    .header("cookie", &ana.cookie)
                    .header("range", "bytes=10-19")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(audio.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(audio.body.len(), 10);
        assert_eq!(audio.content_type.as_deref(), Some("audio/wav"));
    }
}

both! {
    /// Assigning an unmatched chart copies it into the patient's folder and leaves a tombstone; the original
    /// objects stay where they were; only patients of the index can be chosen.
    async fn assigning_copies_create_only_and_leaves_a_tombstone() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        harness.open(UNMATCHED, &ana).await;
        let page = harness
            .get(&format!("/documents/{UNMATCHED}?q=4015"), Some(&ana))
            .await
            .text();
        assert!(page.contains("MRN 40079196"), "matching candidate offered");
        assert!(page.contains("MRN 40158388"), "search result offered");
        assert!(page.contains("MRN 40158399"), "search result offered");
        let by_name = harness
            .get(
                &format!("/documents/{UNMATCHED}?q=cole+1999-09-09"),
                Some(&ana),
            )
            .await
            .text();
        assert!(by_name.contains("Cole, Devin") && !by_name.contains("Cole, Devon"));
        for bad in ["../x", "NOT-A-PATIENT-1", ""] {
            let refused = harness
                .post(
                    &format!("/documents/{UNMATCHED}/assign"),
                    Some(&ana),
                    &[("mrn", bad)],
                )
                .await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        assert!(harness
            .store
            .list(&patient_folder("NOT-A-PATIENT-1", UNMATCHED).all())
            .await
            .unwrap()
            .is_empty());
        let response = harness
            .post(
                &format!("/documents/{UNMATCHED}/assign"),
                Some(&ana),
                &[("mrn", "40079196")],
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::SEE_OTHER,
            "{}",
            response.text()
        );
        let from = unmatched(UNMATCHED);
        let to = patient_folder("40079196", UNMATCHED);
        for name in [
            "document.json",
            "ocr.json",
            "text.txt",
            "pages/0001.png",
            "original.png",
        ] {
            let original = harness
                .store
                .get(&from.object(name).unwrap())
                .await
                .unwrap();
            assert_eq!(
                harness.store.get(&to.object(name).unwrap()).await.unwrap(),
                original,
                "{name}"
            );
        }
        let tombstone = json(&harness, &from.moved()).await;
        assert_eq!(tombstone["location"], to.location());
        let queue = harness.get("/", Some(&ana)).await.text();
        assert!(queue.contains(r#"<strong id="unmatched-count">0</strong>"#));
        assert!(queue.contains(r#"<strong id="pending-count">3</strong>"#));
        // Filed now: moving it again is a supervisor's reassignment.
        let again = harness
            .post(
                &format!("/documents/{UNMATCHED}/assign"),
                Some(&ana),
                &[("mrn", "40079197"), ("reason", "x")],
            )
            .await;
        assert_eq!(again.status, StatusCode::FORBIDDEN);
        assert_eq!(
            harness.audit_actions(UNMATCHED).await,
            ["claim", "view", "view", "view", "assign"]
        );
        let assign = him_review::search_audit(
            &harness.db,
            &him_review::AuditQuery {
                action: Some("assign".to_string()),
                ..Default::default()
            },
            10,
        )
        .unwrap();
        assert!(
            assign[0].detail.contains("40079196"),
            "the assign record names the patient: {}",
            assign[0].detail
        );
    }
}

both! {
    /// Returning and rejecting need a reason, write a review record and take the document off the queue.
    async fn return_and_reject_record_the_reason() {
        let harness = Harness::new().await;
        let ana = harness.login("ana").await;
        harness.open(FILED, &ana).await;
        harness.open(UNMATCHED, &ana).await;
        let empty = harness
            .post(
                &format!("/documents/{FILED}/return"),
                Some(&ana),
                &[("kind", "return"), ("reason", " ")],
            )
            .await;
        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
        let returned = harness
            .post(
                &format!("/documents/{FILED}/return"),
                Some(&ana),
                &[("kind", "return"), ("reason", "page 2 missing")],
            )
            .await;
        assert_eq!(returned.status, StatusCode::SEE_OTHER);
        let record = json(
            &harness,
            &patient_folder(FILED_MRN, FILED)
                .review(1, "returned")
                .unwrap(),
        )
        .await;
        assert_eq!(record["reason"], "page 2 missing");
        let rejected = harness
            .post(
                &format!("/documents/{UNMATCHED}/return"),
                Some(&ana),
                &[("kind", "reject"), ("reason", "not ours")],
            )
            .await;
        assert_eq!(rejected.status, StatusCode::SEE_OTHER);
        assert!(harness
            .store
            .exists(&unmatched(UNMATCHED).review(1, "rejected").unwrap())
            .await
            .unwrap());
        assert_eq!(
            harness.audit_actions(FILED).await,
            ["claim", "view", "return"]
        );
        assert_eq!(
            harness.audit_actions(UNMATCHED).await,
            ["claim", "view", "reject"]
        );
    }
}
