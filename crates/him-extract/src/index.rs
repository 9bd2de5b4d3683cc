//! The in-memory patient index (MPI), loaded from a FHIR Patient export or a CSV.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use serde_json::Value;

use crate::date::Date;
use crate::error::{Error, Result};
use crate::mrn::{mrn_key, CheckDigit, LeadingZeros};

/// One patient of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRecord {
    /// The medical record number as the index holds it.
    pub mrn: String,
    /// Family name as stored (Synthea names keep their digits; comparison strips them).
    pub family: String,
    /// Given names, first one first.
    pub given: Vec<String>,
    /// Date of birth, when known.
    pub birth_date: Option<Date>,
    /// Administrative sex or gender as stored (`female`, `M`…), when known.
    pub sex: Option<String>,
    /// The `Patient.id` of a FHIR index, so that FHIR resources can reference the patient; `None` for a CSV.
    pub fhir_id: Option<String>,
}

/// The hospital's patient index, searchable by MRN and by date of birth.
#[derive(Debug, Clone, Default)]
pub struct PatientIndex {
    check_digit: CheckDigit,
    records: Vec<PatientRecord>,
    by_mrn: HashMap<String, Vec<usize>>,
    /// Whether any MRN of the index starts with a zero: then leading zeros are part of MRNs, else a page's
    /// leading zeros are padding.
    zero_led: bool,
    /// The one length of every MRN of the index, while they share one (`Some(0)` before the first).
    width: Option<usize>,
    /// Positions by MRN key without its leading zeros, for [`LeadingZeros::Strip`].
    by_unpadded: HashMap<String, Vec<usize>>,
    leading_zeros: LeadingZeros,
    by_birth_date: HashMap<Date, Vec<usize>>,
    skipped: usize,
    /// Whether any MRN holds a letter.
    lettered: bool,
    /// Encounter (visit) number key → the MRN the ADT feed registered it for (PV1-19).
    encounters: HashMap<String, String>,
}

/// An MRN the index accepts: one that can name a patient folder ([`him_core::Mrn`], the one rule).
fn valid_index_mrn(mrn: &str) -> bool {
    him_core::Mrn::parse(mrn).is_some()
}

impl PatientIndex {
    /// An empty index whose MRNs follow `check_digit`.
    pub fn new(check_digit: CheckDigit) -> PatientIndex {
        PatientIndex {
            check_digit,
            width: Some(0),
            ..PatientIndex::default()
        }
    }

    /// Sets how the leading zeros of a looked-up MRN count ([`LeadingZeros::Auto`] by default).
    #[must_use]
    pub fn with_leading_zeros(mut self, policy: LeadingZeros) -> PatientIndex {
        self.leading_zeros = policy;
        self
    }

    /// Adds a patient. `line` is reported in errors (use 0 when there is no input line).
    ///
    /// Fails when the MRN is not `[A-Za-z0-9-]{1,64}` or fails the check digit.
    pub fn insert(&mut self, record: PatientRecord, line: usize) -> Result<()> {
        if !valid_index_mrn(&record.mrn) {
            return Err(Error::InvalidMrn { line });
        }
        if !self.check_digit.is_valid(&record.mrn) {
            return Err(Error::CheckDigit { line });
        }
        let position = self.records.len();
        let key = mrn_key(&record.mrn);
        self.zero_led |= key.starts_with('0');
        self.lettered |= key.chars().any(|c| c.is_ascii_alphabetic());
        self.width = match self.width {
            Some(0) => Some(key.len()),
            Some(width) if width == key.len() => Some(width),
            _ => None,
        };
        self.by_unpadded
            .entry(key.trim_start_matches('0').to_string())
            .or_default()
            .push(position);
        self.by_mrn.entry(key).or_default().push(position);
        if let Some(date) = record.birth_date {
            self.by_birth_date.entry(date).or_default().push(position);
        }
        self.records.push(record);
        Ok(())
    }

    /// Loads a CSV with the header `mrn,family,given,birth_date,sex` (columns in any order,
    /// `birth_date` as `YYYY-MM-DD`, `given` space-separated, empty `birth_date`/`sex` allowed).
    pub fn from_csv(reader: impl Read, check_digit: CheckDigit) -> Result<PatientIndex> {
        let mut index = PatientIndex::new(check_digit);
        let mut lines = BufReader::new(reader).lines();
        let header = match lines.next() {
            Some(line) => line.map_err(|source| Error::Read { source })?,
            None => return Err(Error::MissingColumn { column: "mrn" }),
        };
        let header: Vec<String> = split_csv_line(header.trim_start_matches('\u{feff}'))
            .ok_or(Error::MalformedEntry {
                line: 1,
                reason: "unbalanced quotes",
            })?
            .into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let column = |name: &'static str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or(Error::MissingColumn { column: name })
        };
        let (mrn_at, family_at, given_at) = (column("mrn")?, column("family")?, column("given")?);
        let (birth_at, sex_at) = (column("birth_date")?, column("sex")?);
        for (number, line) in lines.enumerate() {
            let line_number = number + 2;
            let line = line.map_err(|source| Error::Read { source })?;
            if line.trim().is_empty() {
                continue;
            }
            let cells = split_csv_line(&line).ok_or(Error::MalformedEntry {
                line: line_number,
                reason: "unbalanced quotes",
            })?;
            if cells.len() != header.len() {
                return Err(Error::MalformedEntry {
                    line: line_number,
                    reason: "wrong number of columns",
                });
            }
            let cell = |at: usize| cells[at].trim();
            let birth_date = match cell(birth_at) {
                "" => None,
                text => Some(Date::parse_iso(text).ok_or(Error::MalformedEntry {
                    line: line_number,
                    reason: "birth_date is not YYYY-MM-DD",
                })?),
            };
            let record = PatientRecord {
                mrn: cell(mrn_at).to_string(),
                family: cell(family_at).to_string(),
                given: cell(given_at)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
                birth_date,
                sex: Some(cell(sex_at).to_string()).filter(|s| !s.is_empty()),
                fhir_id: None,
            };
            index.insert(record, line_number)?;
        }
        Ok(index)
    }

    /// Loads a FHIR R4 bulk export of Patient resources, one JSON object per line.
    ///
    /// The MRN is the identifier whose `type.coding[].code` is `MR`; patients without one are
    /// skipped and counted ([`PatientIndex::skipped`]). The name is the `official` one, else the first.
    /// Lines of other resource types are skipped too.
    pub fn from_fhir_ndjson(reader: impl Read, check_digit: CheckDigit) -> Result<PatientIndex> {
        let mut index = PatientIndex::new(check_digit);
        for (number, line) in BufReader::new(reader).lines().enumerate() {
            let line_number = number + 1;
            let line = line.map_err(|source| Error::Read { source })?;
            if line.trim().is_empty() {
                continue;
            }
            let resource: Value =
                serde_json::from_str(&line).map_err(|_| Error::MalformedEntry {
                    line: line_number,
                    reason: "not a JSON object",
                })?;
            if resource.get("resourceType").and_then(Value::as_str) != Some("Patient") {
                index.skipped += 1;
                continue;
            }
            match patient_from_fhir(&resource, line_number)? {
                Some(record) => index.insert(record, line_number)?,
                None => index.skipped += 1,
            }
        }
        Ok(index)
    }

    /// How the leading zeros of a looked-up MRN count.
    pub fn leading_zeros(&self) -> LeadingZeros {
        self.leading_zeros
    }

    /// Makes `alias` (a merged or retired MRN) find the one patient holding `mrn`: documents naming the old
    /// number file to that patient. `false` (nothing changed) when not exactly one patient holds `mrn` or
    /// someone else holds `alias`.
    pub fn alias(&mut self, alias: &str, mrn: &str) -> bool {
        let key = mrn_key(alias);
        let target = mrn_key(mrn);
        let positions = match self.by_mrn.get(&target) {
            Some(positions) if positions.len() == 1 => positions.clone(),
            _ => return false,
        };
        if key.is_empty() || self.by_mrn.get(&key).is_some_and(|held| held != &positions) {
            return false;
        }
        self.by_unpadded
            .insert(key.trim_start_matches('0').to_string(), positions.clone());
        self.by_mrn.insert(key, positions);
        true
    }

    /// Links encounter (visit) number `encounter` to the patient of `mrn`, as the ADT feed registered it
    /// (PV1-19); a later link of the same number replaces the earlier one. Separators and case of the number
    /// do not count.
    pub fn link_encounter(&mut self, encounter: &str, mrn: &str) {
        let key = mrn_key(encounter);
        if !key.is_empty() && !mrn_key(mrn).is_empty() {
            self.encounters.insert(key, mrn.to_string());
        }
    }

    /// The MRN the ADT feed registered `encounter` for, as it was sent (look it up with
    /// [`PatientIndex::by_mrn`], which follows merges); `None` for an encounter the feed never named.
    pub fn encounter_mrn(&self, encounter: &str) -> Option<&str> {
        self.encounters.get(&mrn_key(encounter)).map(String::as_str)
    }

    /// How many patients the index holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Tells whether the index holds no patient.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// How many input entries were skipped (no MRN identifier, not a Patient).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The index's MRN check-digit scheme.
    pub fn check_digit(&self) -> CheckDigit {
        self.check_digit
    }

    /// The patients holding this MRN (spaces, dashes and case ignored); more than one is an MPI error.
    ///
    /// Separators never count (`408-112-1` is `4081121`). Leading zeros count as the index's
    /// [`LeadingZeros`] policy says; by default they are padding when no MRN of the index starts with a zero
    /// (`0021562756` is `21562756`), a number shorter than the index's one zero-padded width is padded
    /// (`123456` is `00123456`), and otherwise they are part of the number. Nothing else is "repaired": a
    /// lookup never turns one MRN into another patient's.
    pub fn by_mrn(&self, mrn: &str) -> Vec<&PatientRecord> {
        let key = mrn_key(mrn);
        let unpadded = key.trim_start_matches('0');
        if unpadded.is_empty() {
            return Vec::new();
        }
        match self.leading_zeros {
            LeadingZeros::Keep => self.lookup(self.by_mrn.get(&key)),
            LeadingZeros::Strip => self.lookup(self.by_unpadded.get(unpadded)),
            LeadingZeros::Auto => {
                let found = self.lookup(self.by_mrn.get(&key));
                if !found.is_empty() {
                    return found;
                }
                if !self.zero_led {
                    return self.lookup(self.by_mrn.get(unpadded));
                }
                match self.width {
                    // Every MRN is zero-padded to one width: pad (or unpad) the read number to it.
                    Some(width) if width > 0 && unpadded.len() <= width && key.len() != width => {
                        let padded = format!("{unpadded:0>width$}");
                        self.lookup(self.by_mrn.get(&padded))
                    }
                    _ => found,
                }
            }
        }
    }

    /// Whether any MRN of the index holds a letter (`M1234567`).
    pub fn has_lettered_mrns(&self) -> bool {
        self.lettered
    }

    /// The one length every MRN of the index shares (without separators), if they share one.
    pub fn mrn_width(&self) -> Option<usize> {
        self.width.filter(|w| *w > 0)
    }

    /// The patients born on `date`.
    pub fn by_birth_date(&self, date: Date) -> Vec<&PatientRecord> {
        self.lookup(self.by_birth_date.get(&date))
    }

    /// Every patient, in load order.
    pub fn records(&self) -> &[PatientRecord] {
        &self.records
    }

    fn lookup(&self, positions: Option<&Vec<usize>>) -> Vec<&PatientRecord> {
        positions
            .into_iter()
            .flatten()
            .filter_map(|&at| self.records.get(at))
            .collect()
    }
}

fn patient_from_fhir(resource: &Value, line: usize) -> Result<Option<PatientRecord>> {
    let identifiers = resource.get("identifier").and_then(Value::as_array);
    let mrn = identifiers.into_iter().flatten().find_map(|identifier| {
        let codings = identifier
            .pointer("/type/coding")
            .and_then(Value::as_array)?;
        codings
            .iter()
            .any(|coding| coding.get("code").and_then(Value::as_str) == Some("MR"))
            .then(|| identifier.get("value").and_then(Value::as_str))
            .flatten()
    });
    let Some(mrn) = mrn else {
        return Ok(None);
    };
    let names = resource.get("name").and_then(Value::as_array);
    let name = names.and_then(|names| {
        names
            .iter()
            .find(|n| n.get("use").and_then(Value::as_str) == Some("official"))
            .or_else(|| names.first())
    });
    let family = name
        .and_then(|n| n.get("family"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let given = name
        .and_then(|n| n.get("given"))
        .and_then(Value::as_array)
        .map(|given| {
            given
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let birth_date = match resource.get("birthDate").and_then(Value::as_str) {
        None => None,
        Some(text) => Some(Date::parse_iso(text).ok_or(Error::MalformedEntry {
            line,
            reason: "birthDate is not YYYY-MM-DD",
        })?),
    };
    let sex = resource
        .get("gender")
        .and_then(Value::as_str)
        .map(str::to_string);
    let fhir_id = resource
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| valid_fhir_id(id))
        .map(str::to_string);
    Ok(Some(PatientRecord {
        mrn: mrn.to_string(),
        family,
        given,
        birth_date,
        sex,
        fhir_id,
    }))
}

/// Whether a text is a FHIR `id`: 1 to 64 letters, digits, `-` or `.`.
fn valid_fhir_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Splits one CSV line; `"` quotes a cell and `""` is a literal quote. `None` on unbalanced quotes.
fn split_csv_line(line: &str) -> Option<Vec<String>> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            (other, _) => cell.push(other),
        }
    }
    if quoted {
        return None;
    }
    cells.push(cell);
    Some(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "mrn,family,given,birth_date,sex\n4081121,O'Keefe,Karena,1957-03-14,F\n\"5551238\",\"Smith, Jr\",John Paul,,M\n";

    #[test]
    fn loads_csv() {
        let index = PatientIndex::from_csv(CSV.as_bytes(), CheckDigit::None).unwrap();
        assert_eq!(index.len(), 2);
        let karena = index.by_mrn("408-112-1");
        assert_eq!(karena.len(), 1);
        assert_eq!(karena[0].family, "O'Keefe");
        assert_eq!(karena[0].birth_date, Date::new(1957, 3, 14));
        assert_eq!(index.by_mrn("5551238")[0].given, vec!["John", "Paul"]);
        assert_eq!(index.by_mrn("5551238")[0].family, "Smith, Jr");
        assert_eq!(
            index.by_birth_date(Date::new(1957, 3, 14).unwrap()).len(),
            1
        );
    }

    #[test]
    fn luhn_index_rejects_bad_check_digits() {
        let err = PatientIndex::from_csv(CSV.as_bytes(), CheckDigit::Luhn).unwrap_err();
        assert!(matches!(err, Error::CheckDigit { line: 3 }), "{err}");
    }

    #[test]
    fn csv_needs_every_column() {
        let err =
            PatientIndex::from_csv("mrn,family\n1,A\n".as_bytes(), CheckDigit::None).unwrap_err();
        assert!(matches!(err, Error::MissingColumn { column: "given" }));
    }

    #[test]
    fn csv_rejects_unsafe_mrns() {
        let csv = "mrn,family,given,birth_date,sex\n../x,A,B,,\n";
        let err = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap_err();
        assert!(matches!(err, Error::InvalidMrn { line: 2 }));
    }

    #[test]
    fn loads_fhir_patients_by_mr_identifier() {
        let ndjson = concat!(
            r#"{"resourceType":"Patient","id":"x","identifier":[{"system":"https://github.com/synthetichealth/synthea","value":"not-this"},{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},"value":"fb7c882a-f897-e7c5-67e0-825e7fd55d15"},{"type":{"coding":[{"code":"SS"}]},"value":"999-59-5908"}],"name":[{"use":"maiden","family":"Old1","given":["Karena692"]},{"use":"official","family":"O'Keefe54","given":["Karena692"],"prefix":["Ms."]}],"gender":"female","birthDate":"2002-07-30"}"#,
            "\n",
            r#"{"resourceType":"Patient","id":"y","identifier":[{"value":"no-mr"}],"name":[{"family":"X"}]}"#,
            "\n",
            r#"{"resourceType":"Practitioner","id":"z"}"#,
            "\n"
        );
        let index = PatientIndex::from_fhir_ndjson(ndjson.as_bytes(), CheckDigit::None).unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!(index.skipped(), 2);
        let record = &index.by_mrn("FB7C882A-F897-E7C5-67E0-825E7FD55D15")[0];
        assert_eq!(record.family, "O'Keefe54");
        assert_eq!(record.given, vec!["Karena692"]);
        assert_eq!(record.birth_date, Date::new(2002, 7, 30));
        assert_eq!(record.sex.as_deref(), Some("female"));
    }

    #[test]
    fn fhir_garbage_names_its_line() {
        let err =
            PatientIndex::from_fhir_ndjson("\n{oops\n".as_bytes(), CheckDigit::None).unwrap_err();
        assert!(matches!(err, Error::MalformedEntry { line: 2, .. }));
    }

    #[test]
    fn leading_zeros_are_padding_only_when_no_index_mrn_has_them() {
        let csv = "mrn,family,given,birth_date,sex\n21562756,Ames,Rita,1970-01-01,F\n";
        let index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap();
        assert_eq!(index.by_mrn("0021562756").len(), 1);
        assert_eq!(index.by_mrn("2156-2756").len(), 1);
        assert!(index.by_mrn("0000").is_empty());
        assert!(index.by_mrn("215627560").is_empty(), "no other repair");
        let csv = "mrn,family,given,birth_date,sex\n21562756,Ames,Rita,1970-01-01,F\n\
                   0012345,Bell,Omar,1971-01-01,M\n";
        let index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap();
        assert!(
            index.by_mrn("0021562756").is_empty(),
            "zeros are part of this index's MRNs"
        );
        assert_eq!(index.by_mrn("0012345").len(), 1);
    }

    #[test]
    fn a_fixed_width_index_pads_a_short_mrn() {
        let csv = "mrn,family,given,birth_date,sex\n00123456,Ames,Rita,1970-01-01,F\n\
                   21562756,Bell,Omar,1971-01-01,M\n";
        let index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap();
        assert_eq!(index.by_mrn("123456").len(), 1);
        assert_eq!(index.by_mrn("0000123456").len(), 1);
        assert!(index.by_mrn("1234567").is_empty(), "no other repair");
        let keep = index.clone().with_leading_zeros(LeadingZeros::Keep);
        assert!(keep.by_mrn("123456").is_empty());
        assert_eq!(keep.by_mrn("00123456").len(), 1);
    }

    #[test]
    fn stripping_zeros_finds_both_mrns_that_differ_by_zeros_alone() {
        let csv = "mrn,family,given,birth_date,sex\n0123,Ames,Rita,1970-01-01,F\n\
                   123,Bell,Omar,1971-01-01,M\n";
        let index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None)
            .unwrap()
            .with_leading_zeros(LeadingZeros::Strip);
        assert_eq!(
            index.by_mrn("00123").len(),
            2,
            "ambiguous, never one of them"
        );
        let auto = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap();
        assert_eq!(auto.by_mrn("0123")[0].family, "Ames");
        assert_eq!(auto.by_mrn("123")[0].family, "Bell");
        assert!(auto.by_mrn("00123").is_empty());
    }

    #[test]
    fn the_policy_reads_from_the_configuration() {
        #[derive(serde::Deserialize)]
        struct Config {
            zeros: LeadingZeros,
        }
        for (text, policy) in [
            ("zeros = true", LeadingZeros::Strip),
            ("zeros = false", LeadingZeros::Keep),
            (r#"zeros = "auto""#, LeadingZeros::Auto),
        ] {
            let config: Config = serde_json::from_str(&format!(
                "{{\"zeros\": {}}}",
                text.trim_start_matches("zeros = ")
            ))
            .unwrap();
            assert_eq!(config.zeros, policy);
        }
    }
}
