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

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// `DocumentReference.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// An addendum to the target.
    Appends,
    /// A correction of the target.
    Replaces,
}

impl Relation {
    /// The FHIR code.
    pub fn as_str(self) -> &'static str {
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

/// Whether a value is absent in FHIR JSON's sense: an empty string, array or object is the same as
/// none, and FHIR JSON allows none of them to be written (every optional field of the resource is
/// skipped when this holds).
trait Absent {
    fn absent(&self) -> bool;
}

impl Absent for String {
    fn absent(&self) -> bool {
        self.is_empty()
    }
}

impl Absent for u32 {
    fn absent(&self) -> bool {
        false
    }
}

impl<T: Absent> Absent for Option<T> {
    fn absent(&self) -> bool {
        self.as_ref().is_none_or(Absent::absent)
    }
}

impl<T: Absent> Absent for Vec<T> {
    fn absent(&self) -> bool {
        self.iter().all(Absent::absent)
    }
}

/// `skip_serializing_if` of every optional field.
fn absent<T: Absent>(value: &T) -> bool {
    value.absent()
}

/// `resourceType`: a stored resource of another type does not read as a DocumentReference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ResourceType {
    #[default]
    DocumentReference,
}

/// The FHIR R4 `DocumentReference` as this product writes it (review) and reads it back (review,
/// delivery). Only the fields the product writes are modelled; an absent optional field and an empty one
/// are the same and neither is ever written.
///
/// Fields are declared in the order of their JSON names, sorted: the JSON written is byte for byte what
/// the earlier `serde_json::Value` form wrote (its objects were sorted maps), so stored snapshots of one
/// version read and diff alike whichever code wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentReference {
    /// Who signed it (`display` only); absent until someone did.
    #[serde(default, skip_serializing_if = "absent")]
    pub authenticator: Option<FhirReference>,
    /// Who wrote the document (`display` only).
    #[serde(default, skip_serializing_if = "absent")]
    pub author: Vec<FhirReference>,
    /// US Core category `clinical-note`.
    #[serde(default, skip_serializing_if = "absent")]
    pub category: Vec<CodeableConcept>,
    /// The attachments: the legal original first (when there is one), then the approved text.
    #[serde(default, skip_serializing_if = "absent")]
    pub content: Vec<FhirContent>,
    /// The period of care and the encounter.
    #[serde(default, skip_serializing_if = "absent")]
    pub context: Option<Context>,
    /// When this resource version was made (RFC 3339 instant).
    #[serde(default, skip_serializing_if = "absent")]
    pub date: Option<String>,
    /// Preliminary until signed, final, or amended.
    pub doc_status: DocStatus,
    /// `<document id>-v<version>` as stored; absent in the form pushed to a FHIR server (which assigns it).
    #[serde(default, skip_serializing_if = "absent")]
    pub id: Option<String>,
    /// The document's identifier (the same for all its versions).
    #[serde(default, skip_serializing_if = "absent")]
    pub identifier: Vec<Identifier>,
    /// The identifier of this version.
    #[serde(default, skip_serializing_if = "absent")]
    pub master_identifier: Option<Identifier>,
    /// Resource version and last update; absent in the form pushed to a FHIR server.
    #[serde(default, skip_serializing_if = "absent")]
    pub meta: Option<Meta>,
    /// The version an addendum appends to or a correction replaces.
    #[serde(default, skip_serializing_if = "absent")]
    pub relates_to: Vec<RelatesTo>,
    /// Always `DocumentReference`.
    pub resource_type: ResourceType,
    /// Current, superseded or entered in error.
    pub status: RefStatus,
    /// The patient: by MRN, and by `Patient/<id>` when a FHIR index knows the patient.
    #[serde(default, skip_serializing_if = "absent")]
    pub subject: Option<FhirReference>,
    /// The LOINC document type, or the NullFlavor `UNK`.
    #[serde(default, skip_serializing_if = "absent")]
    pub r#type: Option<CodeableConcept>,
}

/// `Resource.meta`: the resource version (a number as text) and when it was last updated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// RFC 3339 instant.
    #[serde(default, skip_serializing_if = "absent")]
    pub last_updated: Option<String>,
    /// `1`, `2`, … (text, as FHIR has it).
    #[serde(default, skip_serializing_if = "absent")]
    pub version_id: Option<String>,
}

/// FHIR `Identifier`: a value in a system, optionally typed (the MRN's `MR`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identifier {
    /// The namespace of the value (a URI).
    #[serde(default, skip_serializing_if = "absent")]
    pub system: Option<String>,
    /// What kind of identifier it is.
    #[serde(default, skip_serializing_if = "absent")]
    pub r#type: Option<CodeableConcept>,
    /// The identifier itself.
    #[serde(default, skip_serializing_if = "absent")]
    pub value: Option<String>,
}

/// FHIR `CodeableConcept`: codings and a text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeableConcept {
    /// The codes, in their systems.
    #[serde(default, skip_serializing_if = "absent")]
    pub coding: Vec<Coding>,
    /// The concept in words.
    #[serde(default, skip_serializing_if = "absent")]
    pub text: Option<String>,
}

/// FHIR `Coding`: one code of a code system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coding {
    /// The code.
    #[serde(default, skip_serializing_if = "absent")]
    pub code: Option<String>,
    /// Its meaning in words.
    #[serde(default, skip_serializing_if = "absent")]
    pub display: Option<String>,
    /// The code system (a URI).
    #[serde(default, skip_serializing_if = "absent")]
    pub system: Option<String>,
}

/// FHIR `Reference` (subject, author, authenticator, encounter, relatesTo target): a literal reference,
/// a logical one (type and identifier), and/or a display text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FhirReference {
    /// Text for the referenced thing (a patient's or clinician's name: PHI, never logged).
    #[serde(default, skip_serializing_if = "absent")]
    pub display: Option<String>,
    /// Logical reference by identifier.
    #[serde(default, skip_serializing_if = "absent")]
    pub identifier: Option<Identifier>,
    /// Literal reference, `<type>/<id>`.
    #[serde(default, skip_serializing_if = "absent")]
    pub reference: Option<String>,
    /// The resource type referenced (`Patient`, `Encounter`, `DocumentReference`).
    #[serde(default, skip_serializing_if = "absent")]
    pub r#type: Option<String>,
}

/// `DocumentReference.context`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// The encounter, by identifier.
    #[serde(default, skip_serializing_if = "absent")]
    pub encounter: Vec<FhirReference>,
    /// The stay from admission to discharge, or the day of service.
    #[serde(default, skip_serializing_if = "absent")]
    pub period: Option<Period>,
}

/// FHIR `Period` (dates `YYYY-MM-DD`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    /// Last day.
    #[serde(default, skip_serializing_if = "absent")]
    pub end: Option<String>,
    /// First day.
    #[serde(default, skip_serializing_if = "absent")]
    pub start: Option<String>,
}

/// `DocumentReference.content`: one attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FhirContent {
    /// The attachment.
    #[serde(default, skip_serializing_if = "absent")]
    pub attachment: Option<FhirAttachment>,
}

/// FHIR `Attachment` as written: where the bytes are and what they hash to; `data` only in the form
/// pushed to a FHIR server (the approved text inline).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FhirAttachment {
    /// MIME type.
    #[serde(default, skip_serializing_if = "absent")]
    pub content_type: Option<String>,
    /// When the content was first created (FHIR `dateTime`).
    #[serde(default, skip_serializing_if = "absent")]
    pub creation: Option<String>,
    /// The content inline, base64 (PHI: never logged).
    #[serde(default, skip_serializing_if = "absent")]
    pub data: Option<String>,
    /// Base64 SHA-1 of the content.
    #[serde(default, skip_serializing_if = "absent")]
    pub hash: Option<String>,
    /// Language of the content (`en` for the approved text).
    #[serde(default, skip_serializing_if = "absent")]
    pub language: Option<String>,
    /// Bytes (`unsignedInt`: at most 2^31 - 1; larger sizes are left out).
    #[serde(default, skip_serializing_if = "absent")]
    pub size: Option<u32>,
    /// `original` for the legal original; anything else is the text.
    #[serde(default, skip_serializing_if = "absent")]
    pub title: Option<String>,
    /// Where the bytes can be fetched.
    #[serde(default, skip_serializing_if = "absent")]
    pub url: Option<String>,
}

/// `DocumentReference.relatesTo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatesTo {
    /// Appends or replaces.
    pub code: Relation,
    /// The other version.
    pub target: FhirReference,
}

impl Absent for Meta {
    fn absent(&self) -> bool {
        self.last_updated.absent() && self.version_id.absent()
    }
}

impl Absent for Identifier {
    fn absent(&self) -> bool {
        self.system.absent() && self.r#type.absent() && self.value.absent()
    }
}

impl Absent for CodeableConcept {
    fn absent(&self) -> bool {
        self.coding.absent() && self.text.absent()
    }
}

impl Absent for Coding {
    fn absent(&self) -> bool {
        self.code.absent() && self.display.absent() && self.system.absent()
    }
}

impl Absent for FhirReference {
    fn absent(&self) -> bool {
        self.display.absent()
            && self.identifier.absent()
            && self.reference.absent()
            && self.r#type.absent()
    }
}

impl Absent for Context {
    fn absent(&self) -> bool {
        self.encounter.absent() && self.period.absent()
    }
}

impl Absent for Period {
    fn absent(&self) -> bool {
        self.end.absent() && self.start.absent()
    }
}

impl Absent for FhirContent {
    fn absent(&self) -> bool {
        self.attachment.absent()
    }
}

impl Absent for FhirAttachment {
    fn absent(&self) -> bool {
        self.content_type.absent()
            && self.creation.absent()
            && self.data.absent()
            && self.hash.absent()
            && self.language.absent()
            && self.size.absent()
            && self.title.absent()
            && self.url.absent()
    }
}

impl Absent for RelatesTo {
    fn absent(&self) -> bool {
        false
    }
}

/// Why stored bytes are not a DocumentReference. Says what and where, never quotes the bytes (a
/// resource names the patient).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a DocumentReference: {what} at line {line} column {column}")]
pub struct Unparsed {
    /// What is wrong, in words that hold no content.
    pub what: &'static str,
    pub line: usize,
    pub column: usize,
}

impl From<serde_json::Error> for Unparsed {
    fn from(error: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let what = match error.classify() {
            Category::Io => "unreadable",
            Category::Syntax => "not JSON",
            Category::Eof => "truncated JSON",
            Category::Data => "a field is missing or has the wrong type",
        };
        Unparsed {
            what,
            line: error.line(),
            column: error.column(),
        }
    }
}

/// `Some(text)` unless empty: an empty string is never written.
fn text(value: impl Into<String>) -> Option<String> {
    Some(value.into()).filter(|v| !v.is_empty())
}

impl FhirReference {
    /// A reference that is only a display text (author, authenticator).
    pub fn display(display: &str) -> Self {
        FhirReference {
            display: text(display),
            ..FhirReference::default()
        }
    }
}

impl Coding {
    fn new(system: &str, code: &str, display: &str) -> Self {
        Coding {
            code: text(code),
            display: text(display),
            system: text(system),
        }
    }
}

impl DocumentReference {
    /// Reads a stored resource (as this code and every earlier version of it wrote them). Never panics:
    /// anything else is an [`Unparsed`] that says what is wrong without quoting the content.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Unparsed> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The stored form: pretty-printed JSON, as the store keeps it.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising these structs cannot fail: every map key is a string.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// A later state of this resource (a new snapshot; `self` is never changed): sets `status`,
    /// `docStatus` and `authenticator` when given, bumps `meta.versionId` (1 when absent or not a
    /// number) and sets `meta.lastUpdated = at`.
    pub fn restate(
        &self,
        status: Option<RefStatus>,
        doc_status: Option<DocStatus>,
        authenticator: Option<&str>,
        at: &str,
    ) -> Self {
        let mut next = self.clone();
        if let Some(status) = status {
            next.status = status;
        }
        if let Some(doc_status) = doc_status {
            next.doc_status = doc_status;
        }
        if let Some(authenticator) = non_empty(authenticator) {
            next.authenticator = Some(FhirReference::display(authenticator));
        }
        let meta = next.meta.get_or_insert_with(Meta::default);
        let version = meta
            .version_id
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(1, |v| v.saturating_add(1));
        meta.version_id = Some(version.to_string());
        meta.last_updated = text(at);
        next
    }

    /// Whether the version is current (neither superseded nor entered in error).
    pub fn is_current(&self) -> bool {
        self.status == RefStatus::Current
    }

    /// Whether the version waits for its author's signature.
    pub fn is_preliminary(&self) -> bool {
        self.doc_status == DocStatus::Preliminary
    }

    /// Who signed it, as written.
    pub fn authenticator_name(&self) -> Option<&str> {
        self.authenticator.as_ref()?.display.as_deref()
    }

    /// The first author, as written.
    pub fn author_name(&self) -> Option<&str> {
        self.author.first()?.display.as_deref()
    }

    /// The first coding of the document type (LOINC, or the NullFlavor `UNK`).
    pub fn type_coding(&self) -> Option<&Coding> {
        self.r#type.as_ref()?.coding.first()
    }

    /// The first day of the period of care.
    pub fn period_start(&self) -> Option<&str> {
        self.context.as_ref()?.period.as_ref()?.start.as_deref()
    }

    /// The identifier value of the first encounter.
    pub fn encounter_value(&self) -> Option<&str> {
        self.context
            .as_ref()?
            .encounter
            .first()?
            .identifier
            .as_ref()?
            .value
            .as_deref()
    }

    /// The system of the masterIdentifier.
    pub fn identifier_system(&self) -> Option<&str> {
        self.master_identifier.as_ref()?.system.as_deref()
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

/// `type`: the LOINC code with its display, or — when the type is unknown — the NullFlavor `UNK`
/// that US Core's DocumentReference type value set includes for exactly that case (a generic
/// LOINC note code would claim a type nobody assigned).
fn document_type(doc_type: Option<&str>) -> CodeableConcept {
    let (coding, label) = match doc_type.and_then(loinc_type) {
        Some((code, display)) => (Coding::new(LOINC, code, display), display),
        None => (
            Coding::new(NULL_FLAVOR, "UNK", "unknown"),
            "Document type unknown",
        ),
    };
    CodeableConcept {
        coding: vec![coding],
        text: text(label),
    }
}

fn subject(subject: &Subject<'_>) -> FhirReference {
    FhirReference {
        display: non_empty(subject.display).and_then(text),
        identifier: Some(Identifier {
            system: text(subject.mrn_system),
            r#type: Some(CodeableConcept {
                coding: vec![Coding::new(IDENTIFIER_TYPE, "MR", "Medical record number")],
                text: None,
            }),
            value: text(subject.mrn),
        }),
        reference: subject
            .patient_id
            .filter(|id| is_fhir_id(id))
            .map(|id| format!("Patient/{id}")),
        r#type: text("Patient"),
    }
}

fn attachment(attachment: &Attachment<'_>, language: Option<&str>) -> FhirContent {
    FhirContent {
        attachment: Some(FhirAttachment {
            content_type: text(attachment.content_type),
            creation: non_empty(attachment.creation).and_then(text),
            data: None,
            hash: text(base64(&attachment.content.sha1)),
            language: language.and_then(text),
            // `unsignedInt` stops at 2^31 - 1; a larger size is left out rather than written wrong.
            size: i32::try_from(attachment.content.size)
                .ok()
                .and_then(|size| u32::try_from(size).ok()),
            title: text(attachment.title),
            url: text(attachment.url.as_str()),
        }),
    }
}

/// The resource. Never panics; an unknown `doc_type` is written as the NullFlavor `UNK`
/// (callers validate first with [`loinc_type`]).
pub fn document_reference(reference: &Reference<'_>) -> DocumentReference {
    let id = reference_id(reference.document_id, reference.version);
    let admission = non_empty(reference.admission_date).map(str::trim);
    let discharge = non_empty(reference.discharge_date).map(str::trim);
    let period = match (admission, discharge) {
        // ISO dates order as text; FHIR forbids a period that ends before it starts (per-1).
        (Some(start), Some(end)) if start <= end => Some((start, end)),
        _ => non_empty(reference.date_of_service).map(|day| (day, day)),
    }
    .map(|(start, end)| Period {
        end: text(end),
        start: text(start),
    });
    let encounter = non_empty(reference.encounter)
        .map(|encounter| FhirReference {
            identifier: Some(Identifier {
                system: text(reference.encounter_system),
                r#type: None,
                value: text(encounter),
            }),
            r#type: text("Encounter"),
            ..FhirReference::default()
        })
        .into_iter()
        .collect();
    let mut content = Vec::with_capacity(2);
    if let Some(original) = &reference.original {
        content.push(attachment(original, None));
    }
    content.push(attachment(&reference.text, Some("en")));
    let relates_to = reference
        .relates_to
        .map(|(relation, target)| RelatesTo {
            code: relation,
            target: FhirReference {
                reference: Some(format!(
                    "DocumentReference/{}",
                    reference_id(reference.document_id, target)
                )),
                ..FhirReference::default()
            },
        })
        .into_iter()
        .collect();
    DocumentReference {
        authenticator: non_empty(reference.authenticator).map(FhirReference::display),
        author: non_empty(reference.author)
            .map(FhirReference::display)
            .into_iter()
            .collect(),
        category: vec![CodeableConcept {
            coding: vec![Coding::new(CATEGORY, "clinical-note", "Clinical Note")],
            text: None,
        }],
        content,
        context: Some(Context { encounter, period }).filter(|context| !context.absent()),
        date: text(reference.date),
        doc_status: reference.doc_status,
        id: Some(id.clone()),
        identifier: vec![Identifier {
            system: text(reference.identifier_system),
            r#type: None,
            value: text(reference.document_id),
        }],
        master_identifier: Some(Identifier {
            system: text(reference.identifier_system),
            r#type: None,
            value: Some(id),
        }),
        meta: Some(Meta {
            last_updated: text(reference.date),
            version_id: text("1"),
        }),
        relates_to,
        resource_type: ResourceType::DocumentReference,
        status: reference.status,
        subject: Some(subject(&reference.subject)),
        r#type: Some(document_type(reference.doc_type)),
    }
}
/// FHIR JSON (R4 §2.6.2): no nulls, no empty strings, arrays or objects, anywhere; panics naming the path.
#[cfg(test)]
pub(crate) fn assert_valid_fhir_json(value: &serde_json::Value, path: &str) {
    use serde_json::Value;
    match value {
        Value::Null => panic!("{path} is null"),
        Value::String(text) => assert!(!text.is_empty(), "{path} is an empty string"),
        Value::Array(items) => {
            assert!(!items.is_empty(), "{path} is an empty array");
            for (i, item) in items.iter().enumerate() {
                assert_valid_fhir_json(item, &format!("{path}[{i}]"));
            }
        }
        Value::Object(fields) => {
            assert!(!fields.is_empty(), "{path} is an empty object");
            for (name, field) in fields {
                assert_valid_fhir_json(field, &format!("{path}.{name}"));
            }
        }
        Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The resource as the JSON the store holds.
    fn value(resource: &DocumentReference) -> Value {
        serde_json::from_slice(&resource.to_json()).expect("json")
    }

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
    fn samples() -> Vec<(&'static str, DocumentReference)> {
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
        let superseded = resource.restate(
            Some(RefStatus::Superseded),
            None,
            None,
            "2024-03-16T08:00:00Z",
        );
        let withdrawn = minimal.restate(
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
        let resource = document_reference(&full());
        assert_eq!(value(&resource), expected);
        // Byte for byte what the `serde_json::Value` form wrote (its objects were sorted maps).
        let json = String::from_utf8(resource.to_json()).expect("utf-8");
        assert_eq!(json, serde_json::to_string_pretty(&expected).expect("json"));
        assert_eq!(DocumentReference::from_json(json.as_bytes()), Ok(resource));
    }

    /// With both an admission and a discharge date, the period is the stay; the encounter stays.
    #[test]
    fn the_period_is_the_stay_when_admission_and_discharge_are_printed() {
        let stay = value(&document_reference(&Reference {
            doc_type: Some("18842-5"),
            admission_date: Some("2024-03-10"),
            discharge_date: Some("2024-03-14"),
            ..full()
        }));
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
            let resource = value(&document_reference(&Reference {
                admission_date: admission,
                discharge_date: discharge,
                ..full()
            }));
            assert_eq!(
                resource["context"]["period"], day,
                "{admission:?} {discharge:?}"
            );
        }
        let no_service_day = value(&document_reference(&Reference {
            admission_date: Some("2024-03-10"),
            discharge_date: None,
            date_of_service: None,
            encounter: None,
            ..full()
        }));
        assert!(no_service_day.get("context").is_none());
    }

    #[test]
    fn a_minimal_resource_names_the_patient_by_mrn_and_the_type_as_unknown() {
        let resource = value(&document_reference(&Reference {
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
        }));
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
        let resource = value(&document_reference(&Reference {
            version: 3,
            text: text(ADDENDUM, 3),
            relates_to: Some((Relation::Appends, 2)),
            ..full()
        }));
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
        let second = first.restate(
            Some(RefStatus::Superseded),
            None,
            None,
            "2024-04-01T00:00:00Z",
        );
        let (first_json, second_json) = (value(&first), value(&second));
        assert_eq!(second_json["meta"]["versionId"], "2");
        assert_eq!(second_json["meta"]["lastUpdated"], "2024-04-01T00:00:00Z");
        assert_eq!(second_json["status"], "superseded");
        assert_eq!(second_json["docStatus"], "final");
        assert_eq!(second_json["authenticator"]["display"], "ana");
        assert_eq!(first_json["meta"]["versionId"], "1");
        assert_eq!(first_json["status"], "current");

        let third = second.restate(
            None,
            Some(DocStatus::Amended),
            Some("bob"),
            "2024-04-02T00:00:00Z",
        );
        assert_eq!(
            third.meta.as_ref().unwrap().version_id.as_deref(),
            Some("3")
        );
        assert_eq!(third.doc_status, DocStatus::Amended);
        assert_eq!(third.status, RefStatus::Superseded);
        assert_eq!(third.authenticator_name(), Some("bob"));
        // Only the changed fields differ.
        let mut expected = second.clone();
        expected.doc_status = DocStatus::Amended;
        expected.authenticator = Some(FhirReference::display("bob"));
        expected.meta = third.meta.clone();
        assert_eq!(third, expected);

        let bare = DocumentReference::from_json(
            br#"{"resourceType": "DocumentReference", "status": "current", "docStatus": "final"}"#,
        )
        .expect("a bare resource reads");
        let restated = bare.restate(
            Some(RefStatus::EnteredInError),
            None,
            None,
            "2024-04-03T00:00:00Z",
        );
        assert_eq!(
            value(&restated),
            json!({
                "resourceType": "DocumentReference",
                "status": "entered-in-error",
                "docStatus": "final",
                "meta": {"versionId": "1", "lastUpdated": "2024-04-03T00:00:00Z"},
            })
        );
        let odd = DocumentReference::from_json(
            br#"{"resourceType": "DocumentReference", "status": "current", "docStatus": "final",
                 "meta": {"versionId": "x"}}"#,
        )
        .expect("reads");
        let restated = odd.restate(None, None, None, "t");
        assert_eq!(restated.meta.unwrap().version_id.as_deref(), Some("1"));
    }

    /// What a stored resource that does not read says: what and where, never the content.
    #[test]
    fn a_stored_resource_that_does_not_read_is_an_error_that_quotes_nothing() {
        for (bytes, what) in [
            (&b"[1]"[..], "a field is missing or has the wrong type"),
            (b"{\"resourceType\": \"DocumentReference\"", "truncated JSON"),
            (b"O'Keefe", "not JSON"),
            (
                br#"{"resourceType": "Patient", "status": "current", "docStatus": "final"}"#,
                "a field is missing or has the wrong type",
            ),
            (
                br#"{"resourceType": "DocumentReference", "status": "O'Keefe", "docStatus": "final"}"#,
                "a field is missing or has the wrong type",
            ),
            (
                br#"{"resourceType": "DocumentReference", "status": "current", "docStatus": "final",
                     "meta": "O'Keefe"}"#,
                "a field is missing or has the wrong type",
            ),
        ] {
            let error = DocumentReference::from_json(bytes).expect_err("refused");
            assert_eq!(error.what, what);
            assert!(!error.to_string().contains("Keefe"), "{error}");
        }
    }

    /// Every sample reads back as itself, and none writes a null or an empty string, array or object.
    #[test]
    fn samples_read_back_and_write_nothing_empty() {
        for (name, resource) in samples() {
            assert_valid_fhir_json(&value(&resource), name);
            // Keys in the order the `serde_json::Value` form wrote them (sorted), at every depth.
            assert_eq!(
                String::from_utf8(resource.to_json()).expect("utf-8"),
                serde_json::to_string_pretty(&value(&resource)).expect("json"),
                "{name}"
            );
            assert_eq!(
                DocumentReference::from_json(&resource.to_json()).as_ref(),
                Ok(&resource),
                "{name}"
            );
        }
        // Empty optional values given to the builder are left out, not written empty.
        let empty = document_reference(&Reference {
            identifier_system: "",
            encounter_system: "",
            subject: Subject {
                patient_id: Some(""),
                mrn: "",
                mrn_system: "",
                display: Some(""),
            },
            date: "",
            ..full()
        });
        assert_valid_fhir_json(&value(&empty), "empty");
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
            assert_eq!(resource.resource_type, ResourceType::DocumentReference);
            let file = dir.join(format!("{name}.json"));
            std::fs::write(&file, resource.to_json()).expect("sample written");
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
