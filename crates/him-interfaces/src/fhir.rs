//! The FHIR R4 (4.0.1) `DocumentReference` written beside each approved version.
//!
//! The resource follows the US Core DocumentReference profile where it fits (without claiming it
//! in `meta.profile`): `type` from LOINC (or the NullFlavor `UNK` that US Core's type value set
//! allows when the type is unknown), `category` `clinical-note`, a `subject` that names the
//! patient's MRN and, when the patient was found in a FHIR index, references `Patient/<id>`,
//! `date`, `author`, `context.period` (the stay from admission to discharge when both dates are
//! printed, else the day of service) and `context.encounter`, and one `content` per attachment
//! (the legal original first, then the approved text) with `contentType`, `url`, `size` and the
//! base64 SHA-1 `hash` that R4's `Attachment.hash` is defined as. `content.format` is left out:
//! the IHE format code system has been published under more than one canonical URL.
//!
//! Empty strings, arrays and objects are never written (FHIR JSON forbids them): an empty
//! optional value is the same as an absent one. `scripts/fhir-validate` checks the result.

use serde_json::{json, Map, Value};
use sha1::{Digest, Sha1};

/// `DocumentReference.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefStatus {
    Current,
    Superseded,
    EnteredInError,
}

impl RefStatus {
    /// The FHIR code.
    pub fn as_str(self) -> &'static str {
        match self {
            RefStatus::Current => "current",
            RefStatus::Superseded => "superseded",
            RefStatus::EnteredInError => "entered-in-error",
        }
    }
}

/// `DocumentReference.docStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocStatus {
    Preliminary,
    Final,
    Amended,
}

impl DocStatus {
    /// The FHIR code.
    pub fn as_str(self) -> &'static str {
        match self {
            DocStatus::Preliminary => "preliminary",
            DocStatus::Final => "final",
            DocStatus::Amended => "amended",
        }
    }
}

/// `DocumentReference.relatesTo.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// An addendum to the target.
    Appends,
    /// A correction of the target.
    Replaces,
}

impl Relation {
    fn as_str(self) -> &'static str {
        match self {
            Relation::Appends => "appends",
            Relation::Replaces => "replaces",
        }
    }
}

/// What an attachment holds, as FHIR describes it: its size and SHA-1. Taken from the bytes for text
/// written now, and from the manifest for an original (recorded when it was filed), so that attaching an
/// original never reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content {
    pub size: u64,
    pub sha1: [u8; 20],
}

impl Content {
    /// Size and SHA-1 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Content {
            size: bytes.len() as u64,
            sha1: Sha1::digest(bytes).into(),
        }
    }

    /// Size and SHA-1 as recorded in a manifest (`sha1` in hex); `None` when the hash is not 40 hex digits.
    pub fn recorded(size: u64, sha1_hex: &str) -> Option<Self> {
        let hex = sha1_hex.as_bytes();
        if hex.len() != 40 {
            return None;
        }
        let mut sha1 = [0u8; 20];
        for (out, pair) in sha1.iter_mut().zip(hex.chunks(2)) {
            let digit = |c: u8| (c as char).to_digit(16);
            *out = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Some(Content { size, sha1 })
    }
}

/// One attachment: FHIR R4 `Attachment` with size and base64 SHA-1 hash. Holds no content (which is PHI).
#[derive(Debug, Clone)]
pub struct Attachment<'a> {
    /// MIME type, e.g. `text/plain; charset=utf-8`, `application/pdf`, `audio/wav`.
    pub content_type: &'a str,
    pub content: Content,
    /// Where the bytes can be fetched.
    pub url: String,
    pub title: &'a str,
    /// When the content was first created (FHIR `dateTime`).
    pub creation: Option<&'a str>,
}

/// Who the document is about.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// FHIR `Patient.id` from a FHIR index.
    pub patient_id: Option<&'a str>,
    pub mrn: &'a str,
    pub mrn_system: &'a str,
    pub display: Option<&'a str>,
}

/// What a `DocumentReference` says about one version of a document.
#[derive(Debug, Clone)]
pub struct Reference<'a> {
    pub document_id: &'a str,
    pub version: u32,
    /// System of the document identifiers (config, default "urn:him:document").
    pub identifier_system: &'a str,
    pub status: RefStatus,
    pub doc_status: DocStatus,
    /// LOINC document type code; must be in the table (checked by `loinc_type`).
    pub doc_type: Option<&'a str>,
    pub subject: Subject<'a>,
    /// When this resource version was made (RFC 3339 instant).
    pub date: &'a str,
    pub author: Option<&'a str>,
    pub authenticator: Option<&'a str>,
    /// Date of service, `YYYY-MM-DD`.
    pub date_of_service: Option<&'a str>,
    /// Admission and discharge dates, `YYYY-MM-DD`: with both, `context.period` is the stay.
    pub admission_date: Option<&'a str>,
    pub discharge_date: Option<&'a str>,
    pub encounter: Option<&'a str>,
    pub encounter_system: &'a str,
    /// The legal original (scan or audio); absent only when it cannot be read.
    pub original: Option<Attachment<'a>>,
    /// The approved text (or, for an addendum, only the addendum text).
    pub text: Attachment<'a>,
    /// `(relation, target version)`: appends (addendum) or replaces (correction) an earlier
    /// version of the same document.
    pub relates_to: Option<(Relation, u32)>,
}

const LOINC: &str = "http://loinc.org";
const NULL_FLAVOR: &str = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor";
const IDENTIFIER_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
const CATEGORY: &str = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category";

/// Id of the `DocumentReference` of one version: `<document_id>-v<version>`.
pub fn reference_id(document_id: &str, version: u32) -> String {
    format!("{document_id}-v{version}")
}

/// `(code, display)` of a LOINC document type code in him-extract's table; `None` for unknown codes.
pub fn loinc_type(code: &str) -> Option<(&'static str, &'static str)> {
    him_extract::document_types()
        .iter()
        .find(|(known, _)| *known == code)
        .copied()
}

/// Standard base64 (RFC 4648, with padding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The SHA-1 of `bytes` in base64: FHIR R4 `Attachment.hash`.
#[cfg(test)]
pub fn sha1_base64(bytes: &[u8]) -> String {
    base64(&Sha1::digest(bytes))
}

/// A FHIR `id`: 1 to 64 of `A-Z a-z 0-9 - .`.
fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Drops nulls, empty strings, empty arrays and empty objects, deepest first: FHIR JSON allows none.
fn prune(value: &mut Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => {
            items.retain_mut(prune);
            !items.is_empty()
        }
        Value::Object(fields) => {
            fields.retain(|_, v| prune(v));
            !fields.is_empty()
        }
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

/// `type`: the LOINC code with its display, or — when the type is unknown — the NullFlavor `UNK`
/// that US Core's DocumentReference type value set includes for exactly that case (a generic
/// LOINC note code would claim a type nobody assigned).
fn document_type(doc_type: Option<&str>) -> Value {
    match doc_type.and_then(loinc_type) {
        Some((code, display)) => json!({
            "coding": [{"system": LOINC, "code": code, "display": display}],
            "text": display,
        }),
        None => json!({
            "coding": [{"system": NULL_FLAVOR, "code": "UNK", "display": "unknown"}],
            "text": "Document type unknown",
        }),
    }
}

fn subject(subject: &Subject<'_>) -> Value {
    let mut value = json!({
        "type": "Patient",
        "identifier": {
            "type": {
                "coding": [{"system": IDENTIFIER_TYPE, "code": "MR", "display": "Medical record number"}],
            },
            "system": subject.mrn_system,
            "value": subject.mrn,
        },
        "display": non_empty(subject.display),
    });
    if let Some(id) = subject.patient_id.filter(|id| is_fhir_id(id)) {
        value["reference"] = json!(format!("Patient/{id}"));
    }
    value
}

fn attachment(attachment: &Attachment<'_>, language: Option<&str>) -> Value {
    // `unsignedInt` stops at 2^31 - 1; a larger size is left out rather than written wrong.
    let size = i32::try_from(attachment.content.size).ok();
    json!({
        "attachment": {
            "contentType": attachment.content_type,
            "language": language,
            "url": attachment.url,
            "size": size,
            "hash": base64(&attachment.content.sha1),
            "title": attachment.title,
            "creation": non_empty(attachment.creation),
        }
    })
}

/// The resource as JSON. Never panics; an unknown `doc_type` is written as the NullFlavor `UNK`
/// (callers validate first with [`loinc_type`]).
pub fn document_reference(reference: &Reference<'_>) -> Value {
    let id = reference_id(reference.document_id, reference.version);
    let mut context = Map::new();
    let admission = non_empty(reference.admission_date).map(str::trim);
    let discharge = non_empty(reference.discharge_date).map(str::trim);
    match (admission, discharge) {
        // ISO dates order as text; FHIR forbids a period that ends before it starts (per-1).
        (Some(start), Some(end)) if start <= end => {
            context.insert("period".into(), json!({"start": start, "end": end}));
        }
        _ => {
            if let Some(day) = non_empty(reference.date_of_service) {
                context.insert("period".into(), json!({"start": day, "end": day}));
            }
        }
    }
    if let Some(encounter) = non_empty(reference.encounter) {
        context.insert(
            "encounter".into(),
            json!([{
                "type": "Encounter",
                "identifier": {"system": reference.encounter_system, "value": encounter},
            }]),
        );
    }
    let mut content: Vec<Value> = Vec::with_capacity(2);
    if let Some(original) = &reference.original {
        content.push(attachment(original, None));
    }
    content.push(attachment(&reference.text, Some("en")));
    let relates_to = reference.relates_to.map(|(relation, target)| {
        json!([{
            "code": relation.as_str(),
            "target": {
                "reference": format!(
                    "DocumentReference/{}",
                    reference_id(reference.document_id, target)
                ),
            },
        }])
    });
    let mut resource = json!({
        "resourceType": "DocumentReference",
        "id": id,
        "meta": {"versionId": "1", "lastUpdated": reference.date},
        "masterIdentifier": {"system": reference.identifier_system, "value": id},
        "identifier": [{"system": reference.identifier_system, "value": reference.document_id}],
        "status": reference.status.as_str(),
        "docStatus": reference.doc_status.as_str(),
        "type": document_type(reference.doc_type),
        "category": [{
            "coding": [{"system": CATEGORY, "code": "clinical-note", "display": "Clinical Note"}],
        }],
        "subject": subject(&reference.subject),
        "date": reference.date,
        "author": non_empty(reference.author).map(|author| json!([{"display": author}])),
        "authenticator": non_empty(reference.authenticator).map(|a| json!({"display": a})),
        "context": context,
        "content": content,
        "relatesTo": relates_to,
    });
    prune(&mut resource);
    resource
}

/// A later state of an existing resource (a new snapshot; the old object is never overwritten):
/// sets `status`, `docStatus` and `authenticator` when given, bumps `meta.versionId` (1 when
/// absent or not a number) and sets `meta.lastUpdated = at`. A value that is not a JSON object
/// comes back unchanged.
pub fn restate(
    resource: &Value,
    status: Option<RefStatus>,
    doc_status: Option<DocStatus>,
    authenticator: Option<&str>,
    at: &str,
) -> Value {
    let mut next = resource.clone();
    let Some(fields) = next.as_object_mut() else {
        return next;
    };
    if let Some(status) = status {
        fields.insert("status".into(), json!(status.as_str()));
    }
    if let Some(doc_status) = doc_status {
        fields.insert("docStatus".into(), json!(doc_status.as_str()));
    }
    if let Some(authenticator) = non_empty(authenticator) {
        fields.insert("authenticator".into(), json!({"display": authenticator}));
    }
    let meta = fields.entry("meta").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    if let Some(meta) = meta.as_object_mut() {
        let version = meta
            .get("versionId")
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(1, |v| v.saturating_add(1));
        meta.insert("versionId".into(), json!(version.to_string()));
        meta.insert("lastUpdated".into(), json!(at));
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCAN: &[u8] = b"%PDF-1.4 scanned chart";
    const TEXT: &[u8] = b"Progress note\nPatient is improving.\n";
    const ADDENDUM: &[u8] = b"ADDENDUM: potassium rechecked, 4.1.\n";

    fn text(bytes: &[u8], version: u32) -> Attachment<'_> {
        Attachment {
            content_type: "text/plain; charset=utf-8",
            content: Content::of(bytes),
            url: format!("https://him.example.org/documents/doc-7f3a/versions/{version}/text.txt"),
            title: "Approved text",
            creation: Some("2024-03-15T10:00:00Z"),
        }
    }

    fn full() -> Reference<'static> {
        Reference {
            document_id: "doc-7f3a",
            version: 2,
            identifier_system: "urn:him:document",
            status: RefStatus::Current,
            doc_status: DocStatus::Final,
            doc_type: Some("11506-3"),
            subject: Subject {
                patient_id: Some("pat-408"),
                mrn: "4081121",
                mrn_system: "urn:oid:2.16.840.1.113883.19.5",
                display: Some("O'Keefe, Karena"),
            },
            date: "2024-03-15T10:20:30.000Z",
            author: Some("Dr. Jane Doe"),
            authenticator: Some("ana"),
            date_of_service: Some("2024-03-14"),
            admission_date: None,
            discharge_date: None,
            encounter: Some("E12345"),
            encounter_system: "urn:him:encounter",
            original: Some(Attachment {
                content_type: "application/pdf",
                content: Content::of(SCAN),
                url: "https://him.example.org/documents/doc-7f3a/original.pdf".into(),
                title: "Scanned chart",
                creation: None,
            }),
            text: text(TEXT, 2),
            relates_to: Some((Relation::Replaces, 1)),
        }
    }

    /// Samples for `scripts/fhir-validate`: written to `$HIM_FHIR_SAMPLES` when it is set.
    fn samples() -> Vec<(&'static str, Value)> {
        let resource = document_reference(&full());
        let minimal = document_reference(&Reference {
            doc_type: None,
            subject: Subject {
                patient_id: None,
                mrn: "4081121",
                mrn_system: "urn:him:mrn",
                display: None,
            },
            status: RefStatus::Current,
            doc_status: DocStatus::Preliminary,
            author: None,
            authenticator: Some(""),
            date_of_service: None,
            encounter: None,
            original: None,
            relates_to: None,
            version: 1,
            ..full()
        });
        let addendum = document_reference(&Reference {
            version: 3,
            doc_status: DocStatus::Amended,
            text: Attachment {
                title: "Addendum",
                ..text(ADDENDUM, 3)
            },
            relates_to: Some((Relation::Appends, 2)),
            ..full()
        });
        let superseded = restate(
            &resource,
            Some(RefStatus::Superseded),
            None,
            None,
            "2024-03-16T08:00:00Z",
        );
        let withdrawn = restate(
            &minimal,
            Some(RefStatus::EnteredInError),
            None,
            Some("reviewer-2"),
            "2024-03-16T09:00:00+01:00",
        );
        vec![
            ("full", resource),
            ("minimal", minimal),
            ("addendum", addendum),
            ("superseded", superseded),
            ("entered-in-error", withdrawn),
        ]
    }

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn sha1_known_vectors() {
        assert_eq!(sha1_base64(b"hello"), "qvTGHdzF6KLavt4PO0gs2a6pQ00=");
        assert_eq!(sha1_base64(b""), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
        assert_eq!(sha1_base64(SCAN), "V1KUfv9BDiotkFB1/LnqRMvyv2k=");
    }

    #[test]
    fn a_recorded_hash_attaches_as_the_bytes_would() {
        let recorded = Content::recorded(SCAN.len() as u64, &him_core::sha1_hex(SCAN));
        assert_eq!(recorded, Some(Content::of(SCAN)));
        assert_eq!(Content::recorded(1, "abc"), None);
        assert_eq!(Content::recorded(1, &"zz".repeat(20)), None);
    }

    #[test]
    fn codes_and_ids() {
        assert_eq!(RefStatus::EnteredInError.as_str(), "entered-in-error");
        assert_eq!(RefStatus::Superseded.as_str(), "superseded");
        assert_eq!(DocStatus::Amended.as_str(), "amended");
        assert_eq!(DocStatus::Preliminary.as_str(), "preliminary");
        assert_eq!(reference_id("abc", 3), "abc-v3");
        assert_eq!(
            loinc_type("18842-5"),
            Some(("18842-5", "Discharge summary"))
        );
        assert_eq!(loinc_type("28570-0"), Some(("28570-0", "Procedure note")));
        assert_eq!(loinc_type("99999-9"), None);
        assert_eq!(loinc_type(""), None);
    }

    #[test]
    fn a_full_resource() {
        let expected = json!({
            "resourceType": "DocumentReference",
            "id": "doc-7f3a-v2",
            "meta": {"versionId": "1", "lastUpdated": "2024-03-15T10:20:30.000Z"},
            "masterIdentifier": {"system": "urn:him:document", "value": "doc-7f3a-v2"},
            "identifier": [{"system": "urn:him:document", "value": "doc-7f3a"}],
            "status": "current",
            "docStatus": "final",
            "type": {
                "coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}],
                "text": "Progress note",
            },
            "category": [{"coding": [{
                "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                "code": "clinical-note",
                "display": "Clinical Note",
            }]}],
            "subject": {
                "reference": "Patient/pat-408",
                "type": "Patient",
                "identifier": {
                    "type": {"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "MR",
                        "display": "Medical record number",
                    }]},
                    "system": "urn:oid:2.16.840.1.113883.19.5",
                    "value": "4081121",
                },
                "display": "O'Keefe, Karena",
            },
            "date": "2024-03-15T10:20:30.000Z",
            "author": [{"display": "Dr. Jane Doe"}],
            "authenticator": {"display": "ana"},
            "context": {
                "period": {"start": "2024-03-14", "end": "2024-03-14"},
                "encounter": [{
                    "type": "Encounter",
                    "identifier": {"system": "urn:him:encounter", "value": "E12345"},
                }],
            },
            "content": [
                {"attachment": {
                    "contentType": "application/pdf",
                    "url": "https://him.example.org/documents/doc-7f3a/original.pdf",
                    "size": 22,
                    "hash": "V1KUfv9BDiotkFB1/LnqRMvyv2k=",
                    "title": "Scanned chart",
                }},
                {"attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "language": "en",
                    "url": "https://him.example.org/documents/doc-7f3a/versions/2/text.txt",
                    "size": 36,
                    "hash": "t3S3CuuFlEi2teZw8+KgVTeQLi0=",
                    "title": "Approved text",
                    "creation": "2024-03-15T10:00:00Z",
                }},
            ],
            "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/doc-7f3a-v1"}}],
        });
        assert_eq!(document_reference(&full()), expected);
    }

    /// With both an admission and a discharge date, the period is the stay; the encounter stays.
    #[test]
    fn the_period_is_the_stay_when_admission_and_discharge_are_printed() {
        let stay = document_reference(&Reference {
            doc_type: Some("18842-5"),
            admission_date: Some("2024-03-10"),
            discharge_date: Some("2024-03-14"),
            ..full()
        });
        assert_eq!(
            stay["context"],
            json!({
                "period": {"start": "2024-03-10", "end": "2024-03-14"},
                "encounter": [{
                    "type": "Encounter",
                    "identifier": {"system": "urn:him:encounter", "value": "E12345"},
                }],
            })
        );
        let day = json!({"start": "2024-03-14", "end": "2024-03-14"});
        for (admission, discharge) in [
            (Some("2024-03-10"), None),
            (None, Some("2024-03-14")),
            (Some("2024-03-10"), Some(" ")),
            (Some("2024-03-20"), Some("2024-03-14")),
        ] {
            let resource = document_reference(&Reference {
                admission_date: admission,
                discharge_date: discharge,
                ..full()
            });
            assert_eq!(
                resource["context"]["period"], day,
                "{admission:?} {discharge:?}"
            );
        }
        let no_service_day = document_reference(&Reference {
            admission_date: Some("2024-03-10"),
            discharge_date: None,
            date_of_service: None,
            encounter: None,
            ..full()
        });
        assert!(no_service_day.get("context").is_none());
    }

    #[test]
    fn a_minimal_resource_names_the_patient_by_mrn_and_the_type_as_unknown() {
        let resource = document_reference(&Reference {
            doc_type: Some("not-a-code"),
            subject: Subject {
                patient_id: Some("bad/id"),
                mrn: "4081121",
                mrn_system: "urn:him:mrn",
                display: Some(" "),
            },
            author: Some(""),
            authenticator: None,
            date_of_service: None,
            encounter: None,
            original: None,
            relates_to: None,
            ..full()
        });
        assert_eq!(
            resource["type"],
            json!({
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
                    "code": "UNK",
                    "display": "unknown",
                }],
                "text": "Document type unknown",
            })
        );
        assert_eq!(resource["subject"]["type"], "Patient");
        assert_eq!(resource["subject"]["identifier"]["value"], "4081121");
        for absent in ["author", "authenticator", "context", "relatesTo"] {
            assert!(resource.get(absent).is_none(), "{absent}");
        }
        assert!(resource["subject"].get("reference").is_none());
        assert!(resource["subject"].get("display").is_none());
        let content = resource["content"].as_array().expect("content");
        assert_eq!(content.len(), 1);
        assert_eq!(content[0]["attachment"]["language"], "en");
    }

    #[test]
    fn an_addendum_appends_to_the_earlier_version() {
        let resource = document_reference(&Reference {
            version: 3,
            text: text(ADDENDUM, 3),
            relates_to: Some((Relation::Appends, 2)),
            ..full()
        });
        assert_eq!(
            resource["relatesTo"],
            json!([{"code": "appends", "target": {"reference": "DocumentReference/doc-7f3a-v2"}}])
        );
        assert_eq!(
            resource["content"][1]["attachment"]["hash"],
            "oslpgZuWAXmfQj8V4BQBLFSEvLg="
        );
    }

    #[test]
    fn restate_bumps_the_version_and_leaves_the_original_alone() {
        let first = document_reference(&full());
        let second = restate(
            &first,
            Some(RefStatus::Superseded),
            None,
            None,
            "2024-04-01T00:00:00Z",
        );
        assert_eq!(second["meta"]["versionId"], "2");
        assert_eq!(second["meta"]["lastUpdated"], "2024-04-01T00:00:00Z");
        assert_eq!(second["status"], "superseded");
        assert_eq!(second["docStatus"], "final");
        assert_eq!(second["authenticator"]["display"], "ana");
        assert_eq!(first["meta"]["versionId"], "1");
        assert_eq!(first["status"], "current");

        let third = restate(
            &second,
            None,
            Some(DocStatus::Amended),
            Some("bob"),
            "2024-04-02T00:00:00Z",
        );
        assert_eq!(third["meta"]["versionId"], "3");
        assert_eq!(third["docStatus"], "amended");
        assert_eq!(third["status"], "superseded");
        assert_eq!(third["authenticator"]["display"], "bob");

        let bare = restate(
            &json!({"resourceType": "DocumentReference"}),
            Some(RefStatus::EnteredInError),
            None,
            None,
            "2024-04-03T00:00:00Z",
        );
        assert_eq!(
            bare,
            json!({
                "resourceType": "DocumentReference",
                "status": "entered-in-error",
                "meta": {"versionId": "1", "lastUpdated": "2024-04-03T00:00:00Z"},
            })
        );
        let odd = restate(&json!({"meta": "x"}), None, None, None, "t");
        assert_eq!(odd["meta"]["versionId"], "1");
        assert_eq!(restate(&json!([1]), None, None, None, "t"), json!([1]));
    }

    /// The samples pass `scripts/fhir-validate` (scripts/setup installs its validator; without it this
    /// test fails and says so). `HIM_FHIR_SAMPLES=DIR` keeps them in DIR.
    #[test]
    fn samples_pass_the_fhir_validator() {
        use std::path::{Path, PathBuf};
        use std::process::Command;

        let kept = std::env::var_os("HIM_FHIR_SAMPLES").map(PathBuf::from);
        let dir = kept.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("him-fhir-samples-{}", std::process::id()))
        });
        std::fs::create_dir_all(&dir).expect("samples folder");
        let mut files = Vec::new();
        for (name, resource) in samples() {
            assert_eq!(resource["resourceType"], "DocumentReference");
            let file = dir.join(format!("{name}.json"));
            let json = serde_json::to_string_pretty(&resource).expect("json");
            std::fs::write(&file, json).expect("sample written");
            files.push(file);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fhir-validate");
        let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
        let installed = Command::new(&python)
            .arg(&script)
            .arg("--check")
            .status()
            .is_ok_and(|status| status.success());
        let outcome = installed.then(|| {
            Command::new(&python)
                .arg(&script)
                .args(&files)
                .output()
                .expect("fhir-validate runs")
        });
        if kept.is_none() {
            std::fs::remove_dir_all(&dir).ok();
        }
        match outcome {
            Some(output) => assert!(
                output.status.success(),
                "fhir-validate:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
            None => panic!(
                "the FHIR validator is not installed: run scripts/setup (it pip-installs the pinned \
                 fhir.resources); this test never skips"
            ),
        }
    }
}
