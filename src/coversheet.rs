//! The open `him` cover sheet: a separator page whose 2-D barcode names the patient (MRN with its assigning
//! authority and date of birth: two identifiers) and optionally the encounter, document type, date of
//! service, a sheet id and the expected page count, protected by a check value. `him coversheet` prints one;
//! the batch splitter ([`crate::batch`]) reads them. The format is specified in docs/COVERSHEET.md.
//!
//! ```text
//! HIM1|M=4081121|A=GENERAL|B=19570314|E=V778|T=18842-5|S=20261130|U=3f2a…|N=4|C=1A2B3C4D
//! ```
//!
//! A payload is the version tag `HIM1`, then `KEY=value` fields separated by `|`, in any order, each key once,
//! and last the check field `C`: the first 8 hexadecimal digits (upper case) of the SHA-256 of everything
//! before `|C=`. A payload that fails any rule is not a cover sheet; the splitter then treats the page as an
//! unreadable separator, never as a patient.

use std::fmt::Write as _;

use him_core::{is_loinc_code, Mrn};
use him_decode::barcode::{self, Symbology};
use him_extract::Date;
use sha2::{Digest, Sha256};

/// The version tag every payload starts with.
pub const VERSION_TAG: &str = "HIM1";

/// The words printed on every sheet, which tell a cover sheet whose barcode cannot be read from a page.
pub const TITLE: &str = "HIM COVER SHEET";

/// What a cover sheet says.
#[derive(Clone, PartialEq, Eq)]
pub struct CoverSheet {
    /// Medical record number (letters, digits, `-`).
    pub mrn: String,
    /// The MRN's assigning authority (the issuing system or facility).
    pub authority: String,
    pub date_of_birth: Date,
    pub encounter: Option<String>,
    /// LOINC document type (`18842-5`).
    pub document_type: Option<String>,
    pub date_of_service: Option<Date>,
    /// 32 hexadecimal digits, unique per printed sheet.
    pub sheet_id: Option<String>,
    /// Pages expected after the sheet (blank back sides not counted).
    pub pages: Option<u32>,
}

impl std::fmt::Debug for CoverSheet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Identifiers are PHI: only what the sheet holds is printed, never the values.
        f.debug_struct("CoverSheet")
            .field("encounter", &self.encounter.is_some())
            .field("document_type", &self.document_type)
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}

/// Why a payload is not a valid cover sheet (names the rule, never a value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("not a him cover sheet (no {VERSION_TAG} tag)")]
    NotACoverSheet,
    #[error("check value missing or wrong")]
    BadCheck,
    #[error("field {0} is malformed")]
    Malformed(&'static str),
    #[error("field {0} is missing")]
    Missing(&'static str),
    #[error("field {0} appears twice")]
    Repeated(&'static str),
    #[error("unknown field")]
    UnknownField,
}

/// A text value allowed in a payload: 1–64 printable ASCII characters other than `|` and `=`.
fn plain(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'|' && b != b'=')
}

fn compact_date(date: Date) -> String {
    date.to_string().replace('-', "")
}

fn parse_compact_date(text: &str) -> Option<Date> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Date::parse_iso(&format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..]))
}

fn check_value(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    digest[..4].iter().fold(String::new(), |mut hex, byte| {
        let _ = write!(hex, "{byte:02X}");
        hex
    })
}

impl CoverSheet {
    /// Checks the values a payload can carry.
    pub fn validate(&self) -> Result<(), PayloadError> {
        if Mrn::parse(&self.mrn).is_none() || !plain(&self.mrn) {
            return Err(PayloadError::Malformed("M"));
        }
        if !plain(&self.authority) {
            return Err(PayloadError::Malformed("A"));
        }
        if self.encounter.as_deref().is_some_and(|e| !plain(e)) {
            return Err(PayloadError::Malformed("E"));
        }
        if self
            .document_type
            .as_deref()
            .is_some_and(|t| !is_loinc_code(t))
        {
            return Err(PayloadError::Malformed("T"));
        }
        if self
            .sheet_id
            .as_deref()
            .is_some_and(|u| u.len() != 32 || !u.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(PayloadError::Malformed("U"));
        }
        if self.pages.is_some_and(|n| n == 0 || n > 10_000) {
            return Err(PayloadError::Malformed("N"));
        }
        Ok(())
    }

    /// The barcode payload.
    pub fn payload(&self) -> Result<String, PayloadError> {
        self.validate()?;
        let mut body = format!(
            "{VERSION_TAG}|M={}|A={}|B={}",
            self.mrn,
            self.authority,
            compact_date(self.date_of_birth)
        );
        if let Some(encounter) = &self.encounter {
            let _ = write!(body, "|E={encounter}");
        }
        if let Some(document_type) = &self.document_type {
            let _ = write!(body, "|T={document_type}");
        }
        if let Some(date) = self.date_of_service {
            let _ = write!(body, "|S={}", compact_date(date));
        }
        if let Some(id) = &self.sheet_id {
            let _ = write!(body, "|U={}", id.to_ascii_lowercase());
        }
        if let Some(pages) = self.pages {
            let _ = write!(body, "|N={pages}");
        }
        let check = check_value(&body);
        Ok(format!("{body}|C={check}"))
    }

    /// Reads a payload; any deviation from the format is an error.
    pub fn parse(payload: &str) -> Result<CoverSheet, PayloadError> {
        let payload = payload.trim_end_matches(['\r', '\n']);
        if !payload.starts_with(VERSION_TAG) || !payload[VERSION_TAG.len()..].starts_with('|') {
            return Err(PayloadError::NotACoverSheet);
        }
        let (body, check) = payload.rsplit_once("|C=").ok_or(PayloadError::BadCheck)?;
        if !check.eq_ignore_ascii_case(&check_value(body)) {
            return Err(PayloadError::BadCheck);
        }
        let mut fields: [Option<&str>; 8] = [None; 8];
        const KEYS: [&str; 8] = ["M", "A", "B", "E", "T", "S", "U", "N"];
        for part in body.split('|').skip(1) {
            let (key, value) = part.split_once('=').ok_or(PayloadError::UnknownField)?;
            let slot = KEYS
                .iter()
                .position(|k| *k == key)
                .ok_or(PayloadError::UnknownField)?;
            if fields[slot].replace(value).is_some() {
                return Err(PayloadError::Repeated(KEYS[slot]));
            }
        }
        let required = |slot: usize| fields[slot].ok_or(PayloadError::Missing(KEYS[slot]));
        let sheet = CoverSheet {
            mrn: required(0)?.to_string(),
            authority: required(1)?.to_string(),
            date_of_birth: parse_compact_date(required(2)?).ok_or(PayloadError::Malformed("B"))?,
            encounter: fields[3].map(str::to_string),
            document_type: fields[4].map(str::to_string),
            date_of_service: fields[5]
                .map(|s| parse_compact_date(s).ok_or(PayloadError::Malformed("S")))
                .transpose()?,
            sheet_id: fields[6].map(str::to_ascii_lowercase),
            pages: fields[7]
                .map(|n| n.parse().map_err(|_| PayloadError::Malformed("N")))
                .transpose()?,
        };
        sheet.validate()?;
        Ok(sheet)
    }
}

/// A fresh sheet id: 32 hexadecimal digits from the clock, the process and a counter.
pub fn new_sheet_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seed = format!(
        "{nanos}:{}:{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let digest = Sha256::digest(seed.as_bytes());
    digest[..16].iter().fold(String::new(), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// Text printed on the sheet for people, besides the barcode.
#[derive(Debug, Default, Clone)]
pub struct PrintedText {
    /// The patient's name as the index holds it, when the sheet was made from the index.
    pub patient_name: Option<String>,
    /// The document type's display name.
    pub document_type_display: Option<String>,
}

/// Writes a one-page PDF (US Letter): title, the DataMatrix symbol (about 6 cm wide) and the sheet's values
/// in words.
pub fn render_pdf(sheet: &CoverSheet, printed: &PrintedText) -> anyhow::Result<Vec<u8>> {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream};

    let payload = sheet.payload()?;
    let (modules_wide, modules) =
        barcode::encode(Symbology::DataMatrix, &payload).ok_or_else(|| {
            anyhow::anyhow!("the cover sheet payload does not fit a DataMatrix symbol")
        })?;
    let modules_high = modules.len() as u32 / modules_wide.max(1);

    let mut ops: Vec<Operation> = Vec::new();
    let text = |ops: &mut Vec<Operation>, font: &str, size: f32, x: f32, y: f32, line: &str| {
        let ascii: String = line
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        ops.push(Operation::new("BT", vec![]));
        ops.push(Operation::new("Tf", vec![font.into(), size.into()]));
        ops.push(Operation::new("Td", vec![x.into(), y.into()]));
        ops.push(Operation::new(
            "Tj",
            vec![Object::string_literal(ascii.into_bytes())],
        ));
        ops.push(Operation::new("ET", vec![]));
    };
    text(&mut ops, "F2", 30.0, 72.0, 712.0, TITLE);
    text(
        &mut ops,
        "F1",
        12.0,
        72.0,
        690.0,
        "Document separator: scan this sheet in front of the document it names.",
    );
    // The symbol: one filled square per dark module, 170 pt wide, quiet zone left white.
    let side = 170.0f32;
    let module = side / modules_wide.max(modules_high) as f32;
    let (left, top) = (72.0f32, 660.0f32);
    ops.push(Operation::new("q", vec![]));
    ops.push(Operation::new("g", vec![0.into()]));
    for y in 0..modules_high {
        for x in 0..modules_wide {
            if modules[(y * modules_wide + x) as usize] {
                let (px, py) = (left + x as f32 * module, top - (y + 1) as f32 * module);
                ops.push(Operation::new(
                    "re",
                    vec![px.into(), py.into(), module.into(), module.into()],
                ));
            }
        }
    }
    ops.push(Operation::new("f", vec![]));
    ops.push(Operation::new("Q", vec![]));

    let mut lines = Vec::new();
    if let Some(name) = &printed.patient_name {
        lines.push(format!("Patient: {name}"));
    }
    lines.push(format!(
        "MRN: {}   Authority: {}",
        sheet.mrn, sheet.authority
    ));
    lines.push(format!("Date of birth: {}", sheet.date_of_birth));
    if let Some(encounter) = &sheet.encounter {
        lines.push(format!("Encounter: {encounter}"));
    }
    if let Some(code) = &sheet.document_type {
        match &printed.document_type_display {
            Some(display) => lines.push(format!("Document type: {display} ({code})")),
            None => lines.push(format!("Document type: {code}")),
        }
    }
    if let Some(date) = sheet.date_of_service {
        lines.push(format!("Date of service: {date}"));
    }
    if let Some(pages) = sheet.pages {
        lines.push(format!("Pages: {pages}"));
    }
    if let Some(id) = &sheet.sheet_id {
        lines.push(format!("Sheet: {id}"));
    }
    let mut y = top - side - 50.0;
    for line in &lines {
        text(&mut ops, "F1", 16.0, 72.0, y, line);
        y -= 26.0;
    }
    text(
        &mut ops,
        "F1",
        10.0,
        72.0,
        60.0,
        "Use one sheet per document. Do not copy this sheet for another patient.",
    );

    let mut doc = Document::with_version("1.4");
    let pages_id = doc.new_object_id();
    let regular = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let bold = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica-Bold",
    });
    let resources = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => regular, "F2" => bold },
    });
    let content = Content { operations: ops };
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode()?));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
        "Resources" => resources,
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet() -> CoverSheet {
        CoverSheet {
            mrn: "4081121".into(),
            authority: "GENERAL".into(),
            date_of_birth: Date::new(1957, 3, 14).unwrap(),
            encounter: Some("V778".into()),
            document_type: Some("18842-5".into()),
            date_of_service: Date::new(2026, 11, 30),
            sheet_id: Some("0123456789abcdef0123456789abcdef".into()),
            pages: Some(4),
        }
    }

    #[test]
    fn a_payload_reads_back() {
        let payload = sheet().payload().unwrap();
        assert!(payload.starts_with("HIM1|M=4081121|A=GENERAL|B=19570314|"));
        assert_eq!(CoverSheet::parse(&payload).unwrap(), sheet());
        let minimal = CoverSheet {
            encounter: None,
            document_type: None,
            date_of_service: None,
            sheet_id: None,
            pages: None,
            ..sheet()
        };
        assert_eq!(
            CoverSheet::parse(&minimal.payload().unwrap()).unwrap(),
            minimal
        );
    }

    #[test]
    fn a_changed_digit_fails_the_check() {
        let payload = sheet().payload().unwrap();
        let forged = payload.replace("M=4081121", "M=4081139");
        assert_eq!(CoverSheet::parse(&forged), Err(PayloadError::BadCheck));
        assert_eq!(
            CoverSheet::parse("MRN4081121"),
            Err(PayloadError::NotACoverSheet)
        );
    }

    #[test]
    fn missing_or_repeated_identifiers_are_refused() {
        let body = "HIM1|M=4081121|A=GENERAL";
        let payload = format!("{body}|C={}", check_value(body));
        assert_eq!(CoverSheet::parse(&payload), Err(PayloadError::Missing("B")));
        let body = "HIM1|M=4081121|M=4081139|A=G|B=19570314";
        let payload = format!("{body}|C={}", check_value(body));
        assert_eq!(
            CoverSheet::parse(&payload),
            Err(PayloadError::Repeated("M"))
        );
        let body = "HIM1|M=4081121|A=G|B=19571314";
        let payload = format!("{body}|C={}", check_value(body));
        assert_eq!(
            CoverSheet::parse(&payload),
            Err(PayloadError::Malformed("B"))
        );
    }

    #[test]
    fn debug_prints_no_identifier() {
        let text = format!("{:?}", sheet());
        assert!(
            !text.contains("4081121") && !text.contains("1957"),
            "{text}"
        );
    }

    #[test]
    fn the_pdf_is_one_page() {
        let pdf = render_pdf(&sheet(), &PrintedText::default()).unwrap();
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        assert_eq!(doc.get_pages().len(), 1);
    }
}
