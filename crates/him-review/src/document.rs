//! The view of one document for the review page: page images with the boxes to highlight, fields, text
//! and, for dictations, the transcript with its risk flags.

use serde::Serialize;
use serde_json::Value;

use him_core::{OcrDocument, OcrDocumentPage, OcrWord};
use him_extract::{Field, Fields, Source};
use him_store::{Key, Store};
use tracing::warn;

use crate::error::{Error, Result};
use crate::filed_check::filed_patient_warning;
use crate::queue::QueueItem;
use crate::review;

/// A box over a page image, in percent of the page size so that it scales with the image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Highlight {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
    /// `low` (low-confidence word) or `field` (source of an extracted field).
    pub class: &'static str,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PageView {
    pub number: u64,
    pub file: String,
    pub width: u64,
    pub height: u64,
    pub highlights: Vec<Highlight>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct FieldView {
    pub name: String,
    pub value: String,
    pub original: String,
    pub confidence: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DocumentView {
    pub pages: Vec<PageView>,
    pub fields: Vec<FieldView>,
    pub text: String,
    pub transcript: Value,
    /// Indexes of flagged transcript segments.
    pub flagged: Vec<usize>,
    /// Patients of the index the matcher considered.
    pub candidates: Vec<crate::patients::PatientView>,
    pub review_status: String,
    /// Every version with its newest DocumentReference state, oldest first.
    pub versions: Vec<VersionView>,
    pub awaiting_signature: bool,
    /// The patient the document is filed to, from the index.
    pub patient: Option<crate::patients::PatientView>,
    /// The dictation device's job demographics, when it sent any.
    pub demographics: Option<him_core::JobDemographics>,
    /// Why the matcher left it unmatched (`demographics_mismatch`, `uncorroborated`, …).
    pub unmatched_reason: Option<him_extract::UnmatchedReason>,
    /// Spoken fields that contradict the job demographics (`mrn`, `date_of_birth`, `patient_family`).
    pub disagreements: Vec<String>,
    /// For a filed document whose fields read name someone other than its patient, the warning in words.
    pub filed_warning: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct VersionView {
    pub number: u32,
    pub kind: String,
    pub status: String,
    pub doc_status: String,
    pub by: String,
    pub at: String,
    pub relates_to: Option<(String, u32)>,
    pub authenticator: Option<String>,
}

/// Names of the fields a reviewer can edit, in display order.
pub(crate) const EDITABLE_FIELDS: [&str; 10] = [
    "patient_family",
    "patient_given",
    "mrn",
    "date_of_birth",
    "date_of_service",
    "admission_date",
    "discharge_date",
    "document_type",
    "author",
    "encounter",
];

/// Byte spans of each OCR word in its page's text, found in reading order.
fn word_spans(page_text: &str, words: &[OcrWord]) -> Vec<Option<(usize, usize)>> {
    let mut cursor = 0;
    words
        .iter()
        .map(|word| {
            let text = word.text.as_str();
            if text.is_empty() {
                return None;
            }
            let start = cursor + page_text.get(cursor..)?.find(text)?;
            cursor = start + text.len();
            Some((start, cursor))
        })
        .collect()
}

/// `(page, start, end)` of a field read from a page's text.
fn text_source(field: &Field) -> Option<(u64, usize, usize)> {
    match field.source {
        Source::Text { page, start, end } => Some((u64::from(page), start, end)),
        Source::Box { .. } | Source::Audio { .. } => None,
    }
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 {
        0.0
    } else {
        (part / whole * 1000.0).round() / 10.0
    }
}

/// Words a field's source may span and still be boxed on the page.
const MAX_SOURCE_WORDS: usize = 8;

/// Word probability under which a transcript word is marked for checking against the audio.
const LOW_WORD_PROBABILITY: f32 = 0.5;

/// Whether a transcript token is no speech: whisper's `[BLANK_AUDIO]`, `[MUSIC]`, `(coughs)`, `*sighs*`.
fn is_non_speech(text: &str) -> bool {
    let text = text.trim();
    let wrapped = |open: char, close: char| {
        text.len() >= 2 && text.starts_with(open) && text.ends_with(close)
    };
    !text.is_empty() && (wrapped('[', ']') || wrapped('(', ')') || wrapped('*', '*'))
}

/// What a risk flag asks the reviewer to check, in words.
pub(crate) fn flag_label(flag: &him_core::RiskFlag) -> String {
    let code = serde_json::to_value(flag)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    match code.as_str() {
        "text_in_silence" => "text where the audio is silent".to_string(),
        "repetition_loop" => "repeated phrase (possible recognition loop)".to_string(),
        "low_logprob" => "low recognition confidence".to_string(),
        "low_confidence_words" => "several uncertain words".to_string(),
        "low_confidence_number" => "uncertain number or dose".to_string(),
        "temperature_fallback" => "hard to recognise (decoder fallback)".to_string(),
        "demographics_mismatch_mrn" => "spoken MRN differs from the device's".to_string(),
        "demographics_mismatch_dob" => "spoken date of birth differs from the device's".to_string(),
        "demographics_mismatch_name" => "spoken name differs from the device's".to_string(),
        other => other.replace('_', " "),
    }
}

/// The transcript as the page shows it: non-speech tokens left out, uncertain words marked, flags in words.
fn transcript_view(transcript: &him_core::Transcript) -> Value {
    let segments: Vec<Value> = transcript
        .segments
        .iter()
        .filter(|segment| !is_non_speech(&segment.text) || !segment.flags.is_empty())
        .map(|segment| {
            let words: Vec<Value> = segment
                .words
                .iter()
                .filter(|word| !is_non_speech(&word.text))
                .map(|word| {
                    serde_json::json!({"text": word.text, "start_ms": word.start_ms, "end_ms": word.end_ms,
                                       "low": word.probability < LOW_WORD_PROBABILITY,
                                       "probability": format!("{:.2}", word.probability)})
                })
                .collect();
            let text = if is_non_speech(&segment.text) {
                String::new()
            } else {
                segment.text.clone()
            };
            serde_json::json!({"text": text, "start_ms": segment.start_ms, "end_ms": segment.end_ms,
                               "words": words,
                               "flags": segment.flags.iter().map(flag_label).collect::<Vec<_>>()})
        })
        .collect();
    serde_json::json!({"segments": segments})
}

fn role_in_words(role: him_extract::EvidenceRole) -> &'static str {
    match role {
        him_extract::EvidenceRole::Patient => "as the patient's",
        him_extract::EvidenceRole::Unlabelled => "unlabelled",
        him_extract::EvidenceRole::Other => {
            "as another person's: guarantor, parent, next of kin, clinician…"
        }
    }
}

/// The evidence spans of a candidate in words: which identifiers are printed, in whose role.
fn evidence_in_words(spans: &[him_extract::EvidenceSpan]) -> String {
    if spans.is_empty() {
        return String::new();
    }
    let mut parts: Vec<String> = Vec::new();
    for role in [
        him_extract::EvidenceRole::Patient,
        him_extract::EvidenceRole::Unlabelled,
        him_extract::EvidenceRole::Other,
    ] {
        let mut names: Vec<&str> = spans
            .iter()
            .filter(|s| s.role == role)
            .map(|s| match s.identifier.as_str() {
                "patient_family" => "family name",
                "patient_given" => "given name",
                "date_of_birth" => "date of birth",
                "mrn" => "MRN",
                other => other,
            })
            .collect();
        names.dedup();
        if !names.is_empty() {
            parts.push(format!("{} {}", names.join(", "), role_in_words(role)));
        }
    }
    format!(" · printed: {}", parts.join("; "))
}

/// The boxes of one page: the sources of the fields read from it and its low-confidence words. `page` is its
/// entry of `ocr.json`; without one (no `ocr.json`, or one that does not read) the page has no words and no
/// size to scale by.
fn page_highlights(
    page: Option<&OcrDocumentPage>,
    page_index: u64,
    page_text: &str,
    fields: &Fields,
    low_confidence: f32,
) -> Vec<Highlight> {
    let (width, height, words) = page.map_or((0.0, 0.0, &[][..]), |page| {
        (
            f64::from(page.width),
            f64::from(page.height),
            page.words.as_slice(),
        )
    });
    let spans = word_spans(page_text, words);
    let boxed = |word: &OcrWord, class: &'static str, title: String| -> Highlight {
        let n = |i: usize| f64::from(word.bbox[i]);
        Highlight {
            left: percent(n(0), width),
            top: percent(n(1), height),
            width: percent(n(2), width),
            height: percent(n(3), height),
            class,
            title,
        }
    };
    let mut highlights = Vec::new();
    for (name, field) in fields.present() {
        if let Source::Box { page, bbox } = field.source {
            // Read by the page's layout: the box of the words the value came from.
            if u64::from(page) == page_index {
                let n = |i: usize| f64::from(bbox[i]);
                highlights.push(Highlight {
                    left: percent(n(0), width),
                    top: percent(n(1), height),
                    width: percent(n(2), width),
                    height: percent(n(3), height),
                    class: "field",
                    title: name.as_str().to_string(),
                });
            }
            continue;
        }
        let Some((page_of_field, start, end)) = text_source(field) else {
            continue;
        };
        if page_of_field != page_index {
            continue;
        }
        let source: Vec<&OcrWord> = words
            .iter()
            .zip(&spans)
            .filter(|(_, span)| matches!(span, Some((s, e)) if *s < end && *e > start))
            .map(|(word, _)| word)
            .collect();
        // A value read from a whole passage (a document type inferred from the text) is not boxed: its
        // boxes would cover the page and hide the low-confidence marks.
        if source.len() > MAX_SOURCE_WORDS {
            continue;
        }
        for word in source {
            highlights.push(boxed(word, "field", name.as_str().to_string()));
        }
    }
    for word in words {
        let confidence = f64::from(word.confidence);
        if confidence < f64::from(low_confidence) {
            highlights.push(boxed(word, "low", format!("confidence {confidence:.0}")));
        }
    }
    highlights
}

/// Everything the document page shows.
pub(crate) async fn load(
    store: &Store,
    patients: &crate::patients::Patients,
    item: &QueueItem,
    low_confidence: f32,
) -> Result<DocumentView> {
    let location = &item.location;
    let state = review::review_state(store, location).await?;
    let manifest = review::manifest(store, location).await?;
    // An `ocr.json` that does not read costs the pages their word boxes, not the document its page.
    let ocr = match review::read_typed_opt::<OcrDocument>(store, &location.ocr()).await {
        Ok(ocr) => ocr,
        Err(Error::Unreadable { key }) => {
            warn!(%key, "ocr words unreadable, pages shown without their boxes");
            None
        }
        Err(error) => return Err(error),
    };
    let transcript = review::transcript(store, location).await?;
    let raw_text = store
        .get_opt(&location.text())
        .await?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let page_texts: Vec<&str> = raw_text.split('\u{c}').collect();
    let ocr_pages = ocr.as_ref().map_or(&[][..], |ocr| ocr.pages.as_slice());
    let mut pages = Vec::new();
    let no_fields = Fields::default();
    let fields_read = manifest.as_ref().map_or(&no_fields, |m| &m.fields);
    for (index, page) in manifest.iter().flat_map(|m| m.pages.iter()).enumerate() {
        let Some(image) = page.image.as_deref() else {
            continue;
        };
        let number = u64::from(page.number);
        let ocr_page = ocr_pages.iter().find(|p| p.number == page.number);
        pages.push(PageView {
            number,
            file: image.trim_start_matches("pages/").to_string(),
            width: u64::from(page.width),
            height: u64::from(page.height),
            highlights: page_highlights(
                ocr_page,
                index as u64,
                page_texts.get(index).copied().unwrap_or(""),
                fields_read,
                low_confidence,
            ),
        });
    }
    // Where each candidate's identifiers are printed, and in whose role: the clerk sees why.
    for candidate in manifest
        .iter()
        .filter_map(|m| m.matching.as_ref())
        .flat_map(|matching| matching.candidates.iter())
    {
        for span in &candidate.evidence {
            let Source::Box { page, bbox } = span.source else {
                continue;
            };
            // The span's page is the document's page index; its view, the page with that number.
            let number = manifest
                .as_ref()
                .and_then(|m| m.pages.get(page as usize))
                .map(|p| u64::from(p.number));
            let Some(view) = pages.iter_mut().find(|v| Some(v.number) == number) else {
                continue;
            };
            let (width, height) = (view.width as f64, view.height as f64);
            let n = |i: usize| f64::from(bbox[i]);
            view.highlights.push(Highlight {
                left: percent(n(0), width),
                top: percent(n(1), height),
                width: percent(n(2), width),
                height: percent(n(3), height),
                class: if span.role == him_extract::EvidenceRole::Other {
                    "evidence other"
                } else {
                    "evidence"
                },
                title: format!(
                    "MRN {}: {} ({})",
                    candidate.mrn,
                    span.identifier.as_str(),
                    role_in_words(span.role)
                ),
            });
        }
    }
    let original = review::original_fields(store, location).await?;
    let filed_patient = item.mrn.as_deref().and_then(|mrn| patients.view(mrn));
    let current = review::current_fields(store, location, &state).await?;
    let fields = EDITABLE_FIELDS
        .iter()
        .map(|name| FieldView {
            name: name.to_string(),
            // A filed document's MRN is its patient's: it changes only by reassignment.
            value: match (*name, &item.mrn) {
                ("mrn", Some(mrn)) if item.status == "filed" => mrn.clone(),
                _ => current.get(*name).cloned().unwrap_or_default(),
            },
            original: original.get(*name).cloned().unwrap_or_default(),
            confidence: fields_read
                .present()
                .find(|(field, _)| field.as_str() == *name)
                .map(|(_, field)| f64::from(field.confidence)),
        })
        .collect();
    let candidates = manifest
        .iter()
        .filter_map(|m| m.matching.as_ref())
        .flat_map(|matching| matching.candidates.iter())
        .filter_map(|candidate| {
            let mut view = patients.view(&candidate.mrn)?;
            let score = |name: &str, value: Option<f32>| {
                format!(
                    "{name} {}",
                    value.map_or_else(|| "not read".to_string(), |v| format!("{v:.2}"))
                )
            };
            let s = &candidate.scores;
            view.evidence = Some(format!(
                "{} · {} · {} · {} · match {:.2}{}",
                score("MRN", s.mrn),
                score("DOB", s.date_of_birth),
                score("family", s.family),
                score("given", s.given),
                candidate.score,
                evidence_in_words(&candidate.evidence)
            ));
            Some(view)
        })
        .collect();
    let versions = state
        .versions
        .iter()
        .map(|v| VersionView {
            number: v.meta.version,
            kind: v.meta.kind.clone(),
            status: v
                .reference
                .as_ref()
                .map_or("", |r| r.status.as_str())
                .to_string(),
            doc_status: v
                .reference
                .as_ref()
                .map_or("", |r| r.doc_status.as_str())
                .to_string(),
            by: v.meta.by.clone(),
            at: v.meta.at.clone(),
            relates_to: v.meta.relates_to.clone(),
            authenticator: v
                .reference
                .as_ref()
                .and_then(|r| r.authenticator_name())
                .map(str::to_string),
        })
        .collect();
    Ok(DocumentView {
        pages,
        fields,
        text: review::current_text(store, location, &state).await?,
        flagged: transcript
            .iter()
            .flat_map(review::transcript_flags)
            .map(|(i, _)| i)
            .collect(),
        transcript: transcript.as_ref().map_or(Value::Null, transcript_view),
        candidates,
        review_status: state.status.as_str().to_string(),
        versions,
        awaiting_signature: state.awaiting_signature(),
        filed_warning: filed_patient
            .as_ref()
            .filter(|_| item.status == "filed")
            .and_then(|filed| filed_patient_warning(&original, filed, &patients.index())),
        patient: filed_patient,
        demographics: manifest.as_ref().and_then(|m| m.demographics.clone()),
        unmatched_reason: manifest.as_ref().and_then(crate::queue::unmatched_reason),
        disagreements: manifest
            .iter()
            .filter_map(|m| m.matching.as_ref())
            .flat_map(|matching| matching.disagreements.iter())
            .map(|field| field.as_str().to_string())
            .collect(),
    })
}

/// Key and media type of a dictation's original audio; `None` for anything that is not audio.
pub(crate) async fn audio_key(store: &Store, item: &QueueItem) -> Result<Option<(Key, String)>> {
    if item.kind != "dictation" {
        return Ok(None);
    }
    let Some((key, media_type)) = review::original_key(store, &item.location).await? else {
        return Ok(None);
    };
    Ok(media_type
        .starts_with("audio/")
        .then_some((key, media_type)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_speech_tokens_are_recognised() {
        for token in ["[BLANK_AUDIO]", " [MUSIC] ", "(coughs)", "*sighs*"] {
            assert!(is_non_speech(token), "{token}");
        }
        for token in ["", "[", "blood pressure", "5 mg", "(sic"] {
            assert!(!is_non_speech(token), "{token}");
        }
    }

    /// A page of `ocr.json` as the pipeline writes it.
    fn ocr_page(words: Vec<OcrWord>) -> OcrDocumentPage {
        OcrDocumentPage {
            number: 1,
            width: 1000,
            height: 2000,
            source: him_core::PageSource::Ocr,
            mean_confidence: Some(90.0),
            words,
        }
    }

    fn word(text: &str, confidence: f32, bbox: [u32; 4]) -> OcrWord {
        OcrWord {
            text: text.to_string(),
            confidence,
            bbox,
            line: 1,
        }
    }

    #[test]
    fn field_sources_and_low_confidence_words_are_boxed_in_percent() {
        let page = ocr_page(vec![
            word("MRN:", 95.0, [100, 200, 50, 20]),
            word("123", 40.0, [200, 200, 60, 20]),
        ]);
        let fields = Fields {
            mrn: Some(Field {
                value: "123".to_string(),
                confidence: 0.9,
                source: Source::Text {
                    page: 0,
                    start: 5,
                    end: 8,
                },
                raw: None,
            }),
            ..Fields::default()
        };
        let highlights = page_highlights(Some(&page), 0, "MRN: 123\n", &fields, 60.0);
        assert_eq!(
            highlights,
            [
                Highlight {
                    left: 20.0,
                    top: 10.0,
                    width: 6.0,
                    height: 1.0,
                    class: "field",
                    title: "mrn".to_string(),
                },
                Highlight {
                    left: 20.0,
                    top: 10.0,
                    width: 6.0,
                    height: 1.0,
                    class: "low",
                    title: "confidence 40".to_string(),
                },
            ]
        );
        assert!(page_highlights(Some(&page), 1, "MRN: 123\n", &fields, 0.0).is_empty());
        // Without its `ocr.json` entry a page has no words to box.
        assert!(page_highlights(None, 0, "MRN: 123\n", &fields, 60.0).is_empty());
    }

    #[test]
    fn a_candidates_evidence_is_said_in_words_by_role() {
        use him_extract::{EvidenceRole, EvidenceSpan, FieldName};
        let span = |identifier, role| EvidenceSpan {
            identifier,
            role,
            source: Source::Box {
                page: 0,
                bbox: [1, 2, 3, 4],
            },
        };
        let words = evidence_in_words(&[
            span(FieldName::PatientFamily, EvidenceRole::Patient),
            span(FieldName::PatientGiven, EvidenceRole::Patient),
            span(FieldName::DateOfBirth, EvidenceRole::Other),
        ]);
        assert_eq!(
            words,
            " · printed: family name, given name as the patient's; date of birth as another person's: \
             guarantor, parent, next of kin, clinician…"
        );
        assert_eq!(evidence_in_words(&[]), "");
    }

    #[test]
    fn a_field_read_by_layout_is_highlighted_by_its_box() {
        let page = ocr_page(Vec::new());
        let fields = Fields {
            mrn: Some(Field {
                value: "123".to_string(),
                confidence: 0.9,
                source: Source::Box {
                    page: 0,
                    bbox: [200, 200, 60, 20],
                },
                raw: None,
            }),
            ..Fields::default()
        };
        let highlights = page_highlights(Some(&page), 0, "", &fields, 60.0);
        assert_eq!(highlights.len(), 1);
        assert_eq!(
            (highlights[0].left, highlights[0].top, highlights[0].width),
            (20.0, 10.0, 6.0)
        );
        assert!(page_highlights(Some(&page), 1, "", &fields, 60.0).is_empty());
    }
}
