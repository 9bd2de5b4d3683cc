//! Matching extracted fields against the patient index: a scored, explainable decision.

use crate::decision::{
    Candidate, IdentifierScores, MatchConfig, MatchDecision, MatchOutcome, MatchRule,
    UnmatchedReason,
};

use crate::date::Date;
use crate::field::{FieldName, Fields};
use crate::index::{PatientIndex, PatientRecord};
use crate::names::name_similarity;

pub(crate) struct Page<'a> {
    pub(crate) mrn: Option<&'a str>,
    pub(crate) birth_date: Option<Date>,
    pub(crate) family: Option<&'a str>,
    pub(crate) given: Option<&'a str>,
}

fn best_given(page_given: &str, record: &PatientRecord) -> f32 {
    record
        .given
        .iter()
        .map(|g| name_similarity(page_given, g))
        .fold(0.0, f32::max)
}

pub(crate) fn score(page: &Page<'_>, record: &PatientRecord, mrn_score: Option<f32>) -> Candidate {
    let straight = (
        page.family.map(|f| name_similarity(f, &record.family)),
        page.given.map(|g| best_given(g, record)),
    );
    // A header printed `GIVEN FAMILY` where `FAMILY, GIVEN` was meant: accept swapped names, slightly discounted.
    let swapped = match (page.family, page.given) {
        (Some(f), Some(g)) => Some((
            Some(name_similarity(g, &record.family) * 0.95),
            Some(best_given(f, record) * 0.95),
        )),
        _ => None,
    };
    let weakest =
        |pair: (Option<f32>, Option<f32>)| pair.0.unwrap_or(1.0).min(pair.1.unwrap_or(1.0));
    let (family, given) = match swapped {
        Some(pair) if weakest(pair) > weakest(straight) => pair,
        _ => straight,
    };
    let date_of_birth = page.birth_date.map(|d| {
        if record.birth_date == Some(d) {
            1.0
        } else {
            0.0
        }
    });
    let scores = IdentifierScores {
        mrn: mrn_score,
        date_of_birth,
        family,
        given,
    };
    let present: Vec<f32> = [
        scores.mrn,
        scores.date_of_birth,
        scores.family,
        scores.given,
    ]
    .into_iter()
    .flatten()
    .collect();
    let mean = if present.is_empty() {
        0.0
    } else {
        present.iter().sum::<f32>() / present.len() as f32
    };
    Candidate {
        mrn: record.mrn.clone(),
        scores,
        score: mean,
        evidence: Vec::new(),
    }
}

fn name_agrees(candidate: &Candidate, cfg: &MatchConfig) -> bool {
    let scores = candidate.scores;
    scores.family.is_some_and(|s| s >= cfg.family_threshold)
        && scores.given.is_some_and(|s| s >= cfg.given_threshold)
}

/// Whether the page's family and given name are exactly the candidate's (after normalisation), not merely
/// similar: what tells a patient apart from a near-twin (`Augustus` / `Augusta`, same family and birth date).
fn name_exact(candidate: &Candidate) -> bool {
    candidate.scores.family == Some(1.0) && candidate.scores.given == Some(1.0)
}

fn dob_agrees(candidate: &Candidate) -> bool {
    candidate.scores.date_of_birth == Some(1.0)
}

fn name_conflicts(candidate: &Candidate, cfg: &MatchConfig) -> bool {
    let below = |s: Option<f32>| s.is_some_and(|s| s < cfg.name_conflict_below);
    below(candidate.scores.family) || below(candidate.scores.given)
}

fn unmatched(
    reason: UnmatchedReason,
    candidates: Vec<Candidate>,
    corrected_mrn: Option<String>,
) -> MatchDecision {
    MatchDecision {
        outcome: MatchOutcome::Unmatched { reason },
        candidates,
        corrected_mrn,
        disagreements: Vec::new(),
    }
}

/// Decides which patient, if any, a document belongs to.
///
/// An MRN matches only when it passes the index's check digit, is held by exactly one patient
/// and is corroborated by the date of birth or the full name, with neither contradicting it.
/// Without a usable MRN, name plus date of birth may match when exactly one patient fits.
/// An MRN alone never matches.
pub fn match_patient(fields: &Fields, index: &PatientIndex, cfg: &MatchConfig) -> MatchDecision {
    let page = Page {
        mrn: fields.mrn.as_ref().map(|f| f.value.as_str()),
        birth_date: fields.date_of_birth_date(),
        family: fields.patient_family.as_ref().map(|f| f.value.as_str()),
        given: fields.patient_given.as_ref().map(|f| f.value.as_str()),
    };
    let check_digit = index.check_digit();
    let mrn_valid = page.mrn.is_some_and(|m| check_digit.is_valid(m));

    // Patients holding the MRN as read, else the one correction the index knows.
    let mut corrected_mrn = None;
    let mut mrn_records: Vec<&PatientRecord> = match page.mrn {
        Some(mrn) if mrn_valid => index.by_mrn(mrn),
        _ => Vec::new(),
    };
    let mut ambiguous_correction = false;
    if mrn_records.is_empty() && cfg.accept_ocr_corrected_mrn {
        let known: Vec<(&String, Vec<&PatientRecord>)> = fields
            .mrn_candidates
            .iter()
            .filter(|c| check_digit.is_valid(c))
            .map(|c| (c, index.by_mrn(c)))
            .filter(|(_, records)| !records.is_empty())
            .collect();
        match known.as_slice() {
            [(correction, records)] => {
                corrected_mrn = Some((*correction).clone());
                mrn_records = records.clone();
            }
            [] => {}
            _ => ambiguous_correction = true,
        }
    }
    let mrn_score = if corrected_mrn.is_some() { 0.9 } else { 1.0 };

    let mut candidates: Vec<Candidate> = mrn_records
        .iter()
        .map(|r| score(&page, r, Some(mrn_score)))
        .collect();
    if let Some(dob) = page.birth_date {
        for record in index.by_birth_date(dob) {
            if mrn_records.iter().any(|r| std::ptr::eq(*r, record)) {
                continue;
            }
            let other_mrn = page.mrn.map(|_| 0.0);
            candidates.push(score(&page, record, other_mrn));
        }
    }
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));

    let identity = [
        FieldName::Mrn,
        FieldName::DateOfBirth,
        FieldName::PatientFamily,
        FieldName::PatientGiven,
    ];
    if identity.iter().any(|&f| fields.has_conflict(f)) {
        return unmatched(
            UnmatchedReason::ConflictingFields,
            candidates,
            corrected_mrn,
        );
    }
    if ambiguous_correction {
        return unmatched(UnmatchedReason::Ambiguous, candidates, corrected_mrn);
    }
    // Patients other than the MRN's owner that the name and date of birth fit.
    let name_dob_fits: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !mrn_records.iter().any(|r| r.mrn == c.mrn))
        .filter(|c| dob_agrees(c) && name_agrees(c, cfg))
        .collect();

    if !mrn_records.is_empty() {
        if mrn_records.len() > 1 {
            return unmatched(UnmatchedReason::Ambiguous, candidates, corrected_mrn);
        }
        let owner_mrn = &mrn_records[0].mrn;
        let Some(owner) = candidates
            .iter()
            .find(|c| &c.mrn == owner_mrn && c.scores.mrn.is_some_and(|s| s > 0.0))
        else {
            return unmatched(UnmatchedReason::NoCandidate, candidates, corrected_mrn);
        };
        if owner.scores.date_of_birth == Some(0.0) {
            return unmatched(UnmatchedReason::DobConflict, candidates, corrected_mrn);
        }
        // Other patients the name and date of birth fit block the MRN's owner unless the page tells them
        // apart: the MRN as printed, the owner's exact date of birth and exact name, and no other patient
        // with that exact name.
        let told_apart = corrected_mrn.is_none()
            && dob_agrees(owner)
            && name_exact(owner)
            && name_dob_fits.iter().all(|c| !name_exact(c));
        if name_conflicts(owner, cfg) || (!name_dob_fits.is_empty() && !told_apart) {
            return unmatched(UnmatchedReason::MrnConflict, candidates, corrected_mrn);
        }
        let dob_ok = dob_agrees(owner);
        // Without the birth date, only the exact name corroborates the MRN: a near-twin's name (`Lena` for
        // `Lina`) fits the owner's approximately, and the twin may be the one the page is about.
        let name_ok = name_agrees(owner, cfg) && (dob_ok || name_exact(owner));
        let rule = match (corrected_mrn.is_some(), dob_ok, name_ok) {
            (_, false, false) => {
                let reason =
                    if page.birth_date.is_none() && page.family.is_none() && page.given.is_none() {
                        UnmatchedReason::MrnOnly
                    } else {
                        UnmatchedReason::InsufficientFields
                    };
                return unmatched(reason, candidates, corrected_mrn);
            }
            (true, _, _) => MatchRule::CorrectedMrn,
            (false, true, true) => MatchRule::MrnDobName,
            (false, true, false) => MatchRule::MrnDob,
            (false, false, true) => MatchRule::MrnName,
        };
        let outcome = MatchOutcome::Matched {
            mrn: owner.mrn.clone(),
            score: owner.score,
            rule,
        };
        return MatchDecision {
            outcome,
            candidates,
            corrected_mrn,
            disagreements: Vec::new(),
        };
    }

    // No patient holds the MRN (or none was readable): name + date of birth, if allowed.
    let mrn_unknown = page.mrn.is_some() && mrn_valid;
    if page.birth_date.is_none() || page.family.is_none() || page.given.is_none() {
        let reason = if page.mrn.is_some() {
            UnmatchedReason::NoCandidate
        } else {
            UnmatchedReason::InsufficientFields
        };
        return unmatched(reason, candidates, corrected_mrn);
    }
    let allowed = if mrn_unknown {
        cfg.name_dob_when_mrn_unknown
    } else {
        cfg.name_dob_without_mrn
    };
    match name_dob_fits.as_slice() {
        [] => unmatched(UnmatchedReason::NoCandidate, candidates, corrected_mrn),
        [_] if !allowed && mrn_unknown => {
            unmatched(UnmatchedReason::MrnConflict, candidates, corrected_mrn)
        }
        [_] if !allowed => unmatched(
            UnmatchedReason::InsufficientFields,
            candidates,
            corrected_mrn,
        ),
        [only] => {
            let outcome = MatchOutcome::Matched {
                mrn: only.mrn.clone(),
                score: only.score,
                rule: MatchRule::NameDob,
            };
            MatchDecision {
                outcome,
                candidates,
                corrected_mrn,
                disagreements: Vec::new(),
            }
        }
        fits => {
            // Several patients fit the name and date of birth; one fitting both exactly, the others only
            // approximately (near-twins), is the one.
            let exact: Vec<&&Candidate> = fits.iter().filter(|c| name_exact(c)).collect();
            match exact.as_slice() {
                [only] if allowed => {
                    let outcome = MatchOutcome::Matched {
                        mrn: only.mrn.clone(),
                        score: only.score,
                        rule: MatchRule::NameDob,
                    };
                    MatchDecision {
                        outcome,
                        candidates,
                        corrected_mrn,
                        disagreements: Vec::new(),
                    }
                }
                _ => unmatched(UnmatchedReason::Ambiguous, candidates, corrected_mrn),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::extract;
    use crate::field::ExtractOptions;
    use crate::mrn::CheckDigit;

    const INDEX: &str = "mrn,family,given,birth_date,sex\n\
        4081121,O'Keefe,Karena,1957-03-14,F\n\
        4081122,Smith,John,1960-01-02,M\n\
        5550001,Doe,Jane,1980-05-05,F\n\
        5550002,Doe,Jane,1980-05-05,F\n\
        6660001,Karena692,O'Keefe54,2002-07-30,F\n\
        7770001,Hale,Augustus,1990-02-03,M\n\
        7770002,Hale,Augusta,1990-02-03,F\n";

    fn index() -> PatientIndex {
        PatientIndex::from_csv(INDEX.as_bytes(), CheckDigit::None).unwrap()
    }

    fn decide_with(page: &str, index: &PatientIndex) -> MatchDecision {
        let opts = ExtractOptions {
            check_digit: index.check_digit(),
            ..ExtractOptions::new(Date::new(2024, 6, 1).unwrap())
        };
        let labels_only = match_patient(&extract(&[page], &opts), index, &MatchConfig::default());
        // The pipeline's path: the same decision after the evidence search (every row holds on both).
        let pages = [crate::layout::PageContent {
            text: page,
            words: &[],
        }];
        let (_, searched) =
            crate::extract::identify_pages(&pages, index, &opts, &MatchConfig::default());
        assert_eq!(
            labels_only.outcome, searched.outcome,
            "the evidence search changed a row:\n{page}"
        );
        labels_only
    }

    fn decide(page: &str) -> MatchOutcome {
        decide_with(page, &index()).outcome
    }

    fn reason(reason: UnmatchedReason) -> MatchOutcome {
        MatchOutcome::Unmatched { reason }
    }

    fn matched_mrn(outcome: &MatchOutcome) -> Option<&str> {
        match outcome {
            MatchOutcome::Matched { mrn, .. } => Some(mrn),
            MatchOutcome::Unmatched { .. } => None,
        }
    }

    #[test]
    fn mrn_with_dob_and_name_matches() {
        let outcome = decide("PATIENT: O'KEEFE, KARENA\nMRN: 408-112-1\nDOB: 03/14/1957");
        assert_eq!(
            outcome,
            MatchOutcome::Matched {
                mrn: "4081121".into(),
                score: 1.0,
                rule: MatchRule::MrnDobName
            }
        );
    }

    #[test]
    fn mrn_with_dob_only_matches() {
        let outcome = decide("MRN: 4081121 DOB: 1957-03-14");
        assert!(matches!(
            outcome,
            MatchOutcome::Matched {
                rule: MatchRule::MrnDob,
                ..
            }
        ));
    }

    /// An MRN one digit off that belongs to another patient must not file the document there.
    #[test]
    fn mrn_one_digit_off_of_another_patient_is_unmatched() {
        let outcome = decide("PATIENT: O'KEEFE, KARENA\nMRN: 4081122\nDOB: 03/14/1957");
        assert_eq!(outcome, reason(UnmatchedReason::DobConflict));
        let outcome = decide("PATIENT: O'KEEFE, KARENA\nMRN: 4081122");
        assert_eq!(outcome, reason(UnmatchedReason::MrnConflict));
    }

    /// A patient the index does not know is never filed.
    #[test]
    fn absent_patient_is_unmatched() {
        let outcome = decide("PATIENT: NOBODY, NEMO\nDOB: 01/01/1990");
        assert_eq!(outcome, reason(UnmatchedReason::NoCandidate));
        let outcome = decide("PATIENT: NOBODY, NEMO\nMRN: 9999999\nDOB: 01/01/1990");
        assert_eq!(outcome, reason(UnmatchedReason::NoCandidate));
    }

    /// Two patients fitting equally means review, not a guess.
    #[test]
    fn two_candidates_are_ambiguous() {
        let outcome = decide("PATIENT: DOE, JANE\nDOB: 05/05/1980");
        assert_eq!(outcome, reason(UnmatchedReason::Ambiguous));
    }

    /// A valid MRN whose owner has another date of birth is a conflict.
    #[test]
    fn valid_mrn_with_contradicting_dob_is_unmatched() {
        let outcome = decide("PATIENT: O'KEEFE, KARENA\nMRN: 4081121\nDOB: 03/15/1957");
        assert_eq!(outcome, reason(UnmatchedReason::DobConflict));
    }

    /// An MRN with nothing to corroborate it never matches.
    #[test]
    fn mrn_alone_is_unmatched() {
        assert_eq!(decide("MRN: 4081121"), reason(UnmatchedReason::MrnOnly));
        assert_eq!(
            decide("MRN: 4081121\nPatient: Keefe"),
            reason(UnmatchedReason::InsufficientFields)
        );
    }

    #[test]
    fn mrn_owned_by_a_different_name_is_a_conflict() {
        let outcome = decide("PATIENT: SMITH, JOHN\nMRN: 4081121");
        assert_eq!(outcome, reason(UnmatchedReason::MrnConflict));
    }

    #[test]
    fn name_and_dob_match_without_mrn() {
        let outcome = decide("Name: Karena O'Keefe\nD.O.B. March 14, 1957");
        assert!(matches!(
            outcome,
            MatchOutcome::Matched {
                rule: MatchRule::NameDob,
                ..
            }
        ));
        assert_eq!(matched_mrn(&outcome), Some("4081121"));
    }

    #[test]
    fn unknown_well_formed_mrn_blocks_name_dob_fallback() {
        let outcome = decide("Name: Karena O'Keefe\nMRN: 7777777\nDOB: 03/14/1957");
        assert_eq!(outcome, reason(UnmatchedReason::MrnConflict));
    }

    #[test]
    fn ocr_corrected_mrn_needs_the_index_and_corroboration() {
        let outcome = decide("PATIENT: O'KEEFE, KARENA\nMRN: 4O8ll2l\nDOB: 03/14/1957");
        assert!(matches!(
            outcome,
            MatchOutcome::Matched {
                rule: MatchRule::CorrectedMrn,
                ..
            }
        ));
        assert_eq!(decide("MRN: 4O8ll2l"), reason(UnmatchedReason::MrnOnly));
    }

    /// Row 2 of docs/MATCHING.md: an OCR-damaged MRN whose corrections name two patients of the index is
    /// no one's, however well the name and date of birth fit one of them.
    #[test]
    fn an_ocr_corrected_mrn_two_patients_could_own_is_ambiguous() {
        let page = "PATIENT: O'KEEFE, KARENA\nMRN: 4O8ll2l\nDOB: 03/14/1957";
        let opts = ExtractOptions::new(Date::new(2024, 6, 1).unwrap());
        let corrections = extract(&[page], &opts).mrn_candidates;
        assert!(corrections.len() >= 2, "{corrections:?}");
        // Both owners carry the page's name and birth date: only the MRN could tell them apart, and it can't.
        let mut csv = String::from("mrn,family,given,birth_date,sex\n");
        for correction in &corrections[..2] {
            csv.push_str(&format!("{correction},O'Keefe,Karena,1957-03-14,F\n"));
        }
        let index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap();
        let decision = decide_with(page, &index);
        assert_eq!(decision.outcome, reason(UnmatchedReason::Ambiguous));
        assert_eq!(decision.corrected_mrn, None);
    }

    /// A twin's MRN with the other twin's name and no birth date: the name fits the MRN's owner only
    /// approximately, so nothing corroborates the MRN (held-out chart: `LENA TRAN` with `Lina`'s MRN).
    #[test]
    fn mrn_with_a_near_name_and_no_birth_date_is_not_corroborated() {
        let outcome = decide("PATIENT: HALE, AUGUSTA\nMRN: 7770001");
        assert!(
            matches!(outcome, MatchOutcome::Unmatched { .. }),
            "{outcome:?}"
        );
        let outcome = decide("PATIENT: HALE, AUGUSTUS\nMRN: 7770001");
        assert_eq!(matched_mrn(&outcome), Some("7770001"));
    }

    #[test]
    fn luhn_index_confirms_corrections() {
        let csv = "mrn,family,given,birth_date,sex\n4081121,O'Keefe,Karena,1957-03-14,F\n";
        let index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::Luhn).unwrap();
        let decision = decide_with(
            "PATIENT: O'KEEFE, KARENA\nMRN: 4O8112l\nDOB: 03/14/1957",
            &index,
        );
        assert_eq!(decision.corrected_mrn.as_deref(), Some("4081121"));
        assert_eq!(matched_mrn(&decision.outcome), Some("4081121"));
        // One digit off fails Luhn: unreadable, so only name + DOB could match, and they do.
        let decision = decide_with(
            "PATIENT: O'KEEFE, KARENA\nMRN: 4081122\nDOB: 03/14/1957",
            &index,
        );
        assert!(matches!(
            decision.outcome,
            MatchOutcome::Matched {
                rule: MatchRule::NameDob,
                ..
            }
        ));
    }

    #[test]
    fn synthea_digits_and_swapped_order_are_tolerated() {
        // The index row has given and family swapped: tolerated, slightly discounted.
        let outcome = decide("PATIENT: O'KEEFE, KARENA\nMRN: 6660001\nDOB: 07/30/2002");
        assert!(matches!(outcome, MatchOutcome::Matched { score, .. } if score < 1.0));
        let csv = "mrn,family,given,birth_date,sex\n6660001,O'Keefe54,Karena692,2002-07-30,F\n";
        let index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap();
        let decision = decide_with(
            "Patient: O'KEEFE KARENA\nMRN: 6660001\nDOB: 07/30/2002",
            &index,
        );
        assert!(matches!(
            decision.outcome,
            MatchOutcome::Matched {
                rule: MatchRule::MrnDobName,
                ..
            }
        ));
    }

    #[test]
    fn conflicting_pages_are_unmatched() {
        let outcome = decide(
            "PATIENT: O'KEEFE, KARENA\nMRN: 4081121\nDOB: 03/14/1957\n\nPATIENT: SMITH, JOHN",
        );
        assert_eq!(outcome, reason(UnmatchedReason::ConflictingFields));
    }

    /// An MRN printed with zero padding is the index's MRN when no MRN of the index starts with a zero.
    #[test]
    fn zero_padded_mrn_files_to_its_owner() {
        let outcome = decide("Patient: O'Keefe, Karena   MRN: 004081121   DOB: 03/14/1957");
        assert_eq!(matched_mrn(&outcome), Some("4081121"));
    }

    /// Decision table, near-twins (same family name and birth date, given names a letter apart): the MRN
    /// as printed with its owner's exact name and birth date files, even though the twin fits the name
    /// approximately.
    #[test]
    fn exact_mrn_name_and_dob_file_despite_a_near_twin() {
        let outcome = decide("Patient: Hale, Augustus   MRN: 7770001   DOB: 02/03/1990");
        assert_eq!(matched_mrn(&outcome), Some("7770001"));
        let outcome = decide("Patient: Hale, Augusta   MRN: 7770002   DOB: 02/03/1990");
        assert_eq!(matched_mrn(&outcome), Some("7770002"));
    }

    /// Decision table: the MRN of one twin with the other twin's exact name stays unmatched.
    #[test]
    fn a_twins_mrn_with_the_other_twins_name_is_a_conflict() {
        let outcome = decide("Patient: Hale, Augusta   MRN: 7770001   DOB: 02/03/1990");
        assert_eq!(outcome, reason(UnmatchedReason::MrnConflict));
    }

    /// Decision table: without an MRN, the one patient fitting name and birth date exactly files; a name
    /// that fits both twins only approximately is ambiguous.
    #[test]
    fn name_and_dob_without_mrn_file_only_on_an_exact_fit() {
        let outcome = decide("Patient: Hale, Augusta   DOB: 02/03/1990");
        assert!(matches!(
            outcome,
            MatchOutcome::Matched { ref mrn, rule: MatchRule::NameDob, .. } if mrn == "7770002"
        ));
        let outcome = decide("Patient: Hale, Augustu   DOB: 02/03/1990");
        assert_eq!(outcome, reason(UnmatchedReason::Ambiguous));
    }

    /// Property: for random near-twin pairs, a document printed for one twin, with its MRN as printed or
    /// swapped for the other twin's, is never filed to the other twin.
    #[test]
    fn a_document_for_one_near_twin_is_never_filed_to_the_other() {
        const FAMILIES: [&str; 8] = [
            "Hale",
            "O'Keefe",
            "Nguyen",
            "Garcia-Lopez",
            "Smith",
            "Okafor",
            "Kowalski",
            "Lee",
        ];
        const GIVEN: [(&str, &str); 8] = [
            ("Augustus", "Augusta"),
            ("Corrin", "Corinne"),
            ("Jon", "Joan"),
            ("Daniel", "Danielle"),
            ("Francis", "Frances"),
            ("Marc", "Mark"),
            ("Eric", "Erica"),
            ("Jean", "Joan"),
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for round in 0..300 {
            let family = FAMILIES[next(8) as usize];
            let (mut a, mut b) = GIVEN[next(8) as usize];
            if next(2) == 1 {
                (a, b) = (b, a);
            }
            let (year, month, day) = (1930 + next(80), 1 + next(12), 1 + next(28));
            // Twins share the birth date, or (one-letter name differences) do not.
            let b_year = if next(3) == 0 { year + 1 } else { year };
            let dob_printed = next(3) != 0;
            let mrn_a = format!("{}", 1_000_000 + next(8_999_999));
            // The twin's MRN: two digits transposed, or the next number.
            let mut digits: Vec<char> = mrn_a.chars().collect();
            let at = 1 + next(digits.len() as u64 - 2) as usize;
            digits.swap(at, at + 1);
            let mut mrn_b: String = digits.into_iter().collect();
            if mrn_b == mrn_a {
                mrn_b = format!("{}", mrn_a.parse::<u64>().unwrap() + 1);
            }
            let csv = format!(
                "mrn,family,given,birth_date,sex\n{mrn_a},{family},{a},{year}-{month:02}-{day:02},F\n\
                 {mrn_b},{family},{b},{b_year}-{month:02}-{day:02},M\n4081122,Smith,John,1960-01-02,M\n"
            );
            let index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap();
            let printed_mrn = match next(3) {
                0 => Some(mrn_a.as_str()),
                1 => Some(mrn_b.as_str()),
                _ => None,
            };
            let mut page = format!("Patient: {}, {a}\n", family.to_uppercase());
            if dob_printed {
                page.push_str(&format!("DOB: {month:02}/{day:02}/{year}\n"));
            }
            if let Some(mrn) = printed_mrn {
                page.push_str(&format!("MRN: {mrn}\n"));
            }
            let decision = decide_with(&page, &index);
            assert_ne!(
                matched_mrn(&decision.outcome),
                Some(mrn_b.as_str()),
                "round {round}: a document for {a} filed to the twin {b}: {page:?} {decision:?}"
            );
            if printed_mrn == Some(mrn_a.as_str()) && (dob_printed || b_year != year) {
                assert_eq!(
                    matched_mrn(&decision.outcome),
                    Some(mrn_a.as_str()),
                    "round {round}: exact evidence for {a} must file: {page:?} {decision:?}"
                );
            }
        }
    }

    #[test]
    fn decision_serializes_for_document_json() {
        let decision = decide_with("MRN: 4081121", &index());
        let json = serde_json::to_value(&decision).unwrap();
        assert_eq!(json["outcome"]["status"], "unmatched");
        assert_eq!(json["outcome"]["reason"], "mrn_only");
        assert_eq!(json["candidates"][0]["mrn"], "4081121");
    }

    #[test]
    fn config_rejects_unknown_keys_and_fills_defaults() {
        let cfg: MatchConfig = serde_json::from_str(r#"{"family_threshold": 0.95}"#).unwrap();
        assert_eq!(cfg.family_threshold, 0.95);
        assert_eq!(cfg.given_threshold, 0.85);
        assert!(serde_json::from_str::<MatchConfig>(r#"{"bogus": 1}"#).is_err());
    }
}
