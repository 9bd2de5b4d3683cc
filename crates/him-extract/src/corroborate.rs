//! Matching a dictation: the spoken header alone, or a keyed MRN (job demographics) that the spoken header must
//! corroborate.
//!
//! A keyed MRN is a claim. It files into the keyed patient's folder only when the spoken date of birth equals
//! the patient's or the spoken name is the patient's (by spelling, by sound or by spelled-out letters), and
//! nothing spoken contradicts it. A contradiction (the spoken date of birth is another, the spoken name is
//! clearly another, or the spoken header fits another patient) sends it to the unmatched queue as
//! `demographics_mismatch`, filed to neither patient. Nothing heard clearly → `uncorroborated`, with the keyed
//! patient first among the candidates offered to the reviewer.

use crate::decision::{
    Candidate, MatchConfig, MatchDecision, MatchOutcome, MatchRule, UnmatchedReason,
};
use crate::field::{FieldName, Fields};
use crate::index::{PatientIndex, PatientRecord};
use crate::matching::{match_patient, score, Page};
use crate::phonetic::{fit, Fit};

/// How the spoken name compares with one patient's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameFit {
    /// No name heard.
    Absent,
    /// Family and given name agree (in either order), or the spelled-out family name and a given name
    /// that does not differ.
    Agrees,
    /// Heard, but neither clearly this patient's nor clearly another's.
    Unclear,
    /// Family and given name both clearly another's.
    Differs,
}

/// Confidence of a name read without a cue (`spoken_cues`'s unlabelled name is 0.4).
const GUESSED_NAME_CONFIDENCE: f32 = 0.45;

/// Whether the name was read without a cue (the first capitalised words of the header).
fn name_is_guessed(fields: &Fields) -> bool {
    fields
        .patient_family
        .as_ref()
        .is_some_and(|f| f.confidence <= GUESSED_NAME_CONFIDENCE)
}

/// How close a heard family name must be (Jaro-Winkler) when the given name is heard exactly, for a patient
/// already chosen by the spoken date of birth (`loose`).
const LOOSE_FAMILY: f32 = 0.82;

fn name_fit(fields: &Fields, record: &PatientRecord, cfg: &MatchConfig, loose: bool) -> NameFit {
    let heard_family: Vec<&str> = fields
        .patient_family
        .iter()
        .map(|f| f.value.as_str())
        .collect();
    let heard_given: Vec<&str> = fields
        .patient_given
        .iter()
        .map(|f| f.value.as_str())
        .collect();
    let spelled: Vec<&str> = fields.spelled.iter().map(String::as_str).collect();
    if heard_family.is_empty() && heard_given.is_empty() && spelled.is_empty() {
        return NameFit::Absent;
    }
    let family = [record.family.as_str()];
    let given: Vec<&str> = record.given.iter().map(String::as_str).collect();
    let pair = |f: &[&str], g: &[&str]| {
        (
            fit(
                f,
                &spelled,
                &family,
                cfg.family_threshold,
                cfg.name_conflict_below,
            ),
            fit(g, &[], &given, cfg.given_threshold, cfg.name_conflict_below),
        )
    };
    let straight = pair(&heard_family, &heard_given);
    let swapped = pair(&heard_given, &heard_family);
    let judge = |(family, given): (Fit, Fit)| match (family, given) {
        (Fit::Agrees, Fit::Agrees) => NameFit::Agrees,
        // Spelled letters are strong evidence of the family name; the given name must not differ.
        (Fit::Agrees, Fit::Unclear | Fit::Absent)
            if spelled
                .iter()
                .any(|s| crate::phonetic::spelled_is(s, &record.family)) =>
        {
            NameFit::Agrees
        }
        (Fit::Differs, Fit::Differs) => NameFit::Differs,
        (Fit::Differs, Fit::Absent) | (Fit::Absent, Fit::Differs) => NameFit::Differs,
        _ => NameFit::Unclear,
    };
    // Born that day, the exact given name and a family name close in spelling (`Schrema` / `Schreiber`).
    let loosely = loose && {
        let page = page(fields, None);
        let scores = score(&page, record, None).scores;
        scores.given.is_some_and(|g| g >= 0.97) && scores.family.is_some_and(|f| f >= LOOSE_FAMILY)
    };
    match (judge(straight), judge(swapped)) {
        (NameFit::Agrees, _) | (_, NameFit::Agrees) => NameFit::Agrees,
        _ if loosely => NameFit::Agrees,
        (NameFit::Differs, NameFit::Differs) => NameFit::Differs,
        _ => NameFit::Unclear,
    }
}

fn page<'a>(fields: &'a Fields, mrn: Option<&'a str>) -> Page<'a> {
    Page {
        mrn,
        birth_date: fields.date_of_birth_date(),
        family: fields.patient_family.as_ref().map(|f| f.value.as_str()),
        given: fields.patient_given.as_ref().map(|f| f.value.as_str()),
    }
}

fn decision(
    outcome: MatchOutcome,
    candidates: Vec<Candidate>,
    disagreements: Vec<FieldName>,
) -> MatchDecision {
    MatchDecision {
        outcome,
        candidates,
        corrected_mrn: None,
        disagreements,
    }
}

fn unmatched(reason: UnmatchedReason, candidates: Vec<Candidate>) -> MatchDecision {
    decision(MatchOutcome::Unmatched { reason }, candidates, Vec::new())
}

/// Patients other than `except` whose date of birth is the spoken one and whose name the spoken name fits.
fn others_fitting<'a>(
    fields: &Fields,
    index: &'a PatientIndex,
    except: Option<&str>,
    cfg: &MatchConfig,
) -> Vec<&'a PatientRecord> {
    let Some(dob) = fields.date_of_birth_date() else {
        return Vec::new();
    };
    index
        .by_birth_date(dob)
        .into_iter()
        .filter(|r| Some(r.mrn.as_str()) != except)
        .filter(|r| name_fit(fields, r, cfg, true) == NameFit::Agrees)
        .collect()
}

/// Whether the spoken name is spelled exactly as `record`'s (what tells a patient from a near-twin).
fn name_exact(fields: &Fields, record: &PatientRecord) -> bool {
    let candidate = score(&page(fields, None), record, None);
    candidate.scores.family == Some(1.0) && candidate.scores.given == Some(1.0)
}

/// The unmatched decision naming the disagreeing fields, when there are any.
fn contradiction(
    reason: UnmatchedReason,
    candidates: &[Candidate],
    mut disagreements: Vec<FieldName>,
) -> Option<MatchDecision> {
    if disagreements.is_empty() {
        return None;
    }
    disagreements.sort();
    disagreements.dedup();
    Some(decision(
        MatchOutcome::Unmatched { reason },
        candidates.to_vec(),
        disagreements,
    ))
}

/// Puts `owner`, scored against the fields with its MRN taken as read, first among the candidates.
fn owner_first(
    fields: &Fields,
    owner: &PatientRecord,
    candidates: &mut Vec<Candidate>,
) -> Candidate {
    let owner_candidate = score(&page(fields, Some(&owner.mrn)), owner, Some(1.0));
    candidates.retain(|c| c.mrn != owner.mrn);
    candidates.insert(0, owner_candidate.clone());
    owner_candidate
}

/// Whose the MRN read (or heard) in the document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadMrn {
    /// None read, or nobody's.
    Unknown,
    /// The claimed patient's.
    Owners,
    /// Another patient's.
    Another,
}

fn read_mrn(fields: &Fields, index: &PatientIndex, owner: &PatientRecord) -> ReadMrn {
    let Some(read) = fields.mrn.as_ref().map(|f| f.value.as_str()) else {
        return ReadMrn::Unknown;
    };
    let holders = index.by_mrn(read);
    if holders.iter().any(|r| r.mrn == owner.mrn) {
        ReadMrn::Owners
    } else if holders.is_empty() {
        ReadMrn::Unknown
    } else {
        ReadMrn::Another
    }
}

/// Matches a dictation: with a keyed MRN from the job demographics, corroborates it against the spoken
/// header and the keyed encounter (visit) number; without one, matches the spoken header itself
/// ([`match_spoken`]).
///
/// An encounter that the ADT feed registered for the keyed patient ([`PatientIndex::encounter_mrn`])
/// corroborates the keyed MRN in place of the spoken header (rule `keyed_mrn+encounter`), but anything spoken
/// that contradicts it still leaves the dictation unmatched; one the feed registered for another patient is
/// a contradiction itself (`demographics_mismatch`, field `encounter`); one the feed never named changes
/// nothing.
pub fn match_dictation(
    fields: &Fields,
    keyed_mrn: Option<&str>,
    encounter: Option<&str>,
    index: &PatientIndex,
    cfg: &MatchConfig,
) -> MatchDecision {
    match keyed_mrn {
        Some(keyed) => corroborate(fields, keyed, encounter, index, cfg),
        None => match_spoken(fields, index, cfg),
    }
}

/// Whose the keyed encounter number is, by the ADT feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EncounterOwner {
    /// None keyed, or a number the feed never named (or linked to an MRN the index no longer holds).
    Unknown,
    /// The keyed patient's.
    Keyed,
    /// Another patient's.
    Another,
}

fn encounter_owner(
    encounter: Option<&str>,
    index: &PatientIndex,
    owner: &PatientRecord,
) -> EncounterOwner {
    let Some(linked) = encounter.and_then(|e| index.encounter_mrn(e)) else {
        return EncounterOwner::Unknown;
    };
    // `by_mrn` follows merges and identifier changes: an encounter of a merged MRN is the survivor's.
    match index.by_mrn(linked).as_slice() {
        [] => EncounterOwner::Unknown,
        [holder] if holder.mrn == owner.mrn => EncounterOwner::Keyed,
        _ => EncounterOwner::Another,
    }
}

/// Corroborates a keyed MRN with the spoken header and the keyed encounter.
fn corroborate(
    fields: &Fields,
    keyed: &str,
    encounter: Option<&str>,
    index: &PatientIndex,
    cfg: &MatchConfig,
) -> MatchDecision {
    let owners = if index.check_digit().is_valid(keyed) {
        index.by_mrn(keyed)
    } else {
        Vec::new()
    };
    // Everyone the spoken header could be about, for the reviewer.
    let spoken = match_patient(fields, index, cfg);
    let mut candidates = spoken.candidates.clone();
    let owner = match owners.as_slice() {
        [owner] => *owner,
        [] => {
            // The keyed number is nobody's: the claim is wrong, whatever was said.
            return decision(
                MatchOutcome::Unmatched {
                    reason: UnmatchedReason::DemographicsMismatch,
                },
                candidates,
                vec![FieldName::Mrn],
            );
        }
        _ => return unmatched(UnmatchedReason::Ambiguous, candidates),
    };
    let owner_candidate = owner_first(fields, owner, &mut candidates);

    let mut disagreements = Vec::new();
    let encounter = encounter_owner(encounter, index, owner);
    // The keyed encounter is another patient's visit: the device's two identifiers disagree.
    if encounter == EncounterOwner::Another {
        disagreements.push(FieldName::Encounter);
    }
    // A spoken MRN that belongs to another patient.
    if read_mrn(fields, index, owner) == ReadMrn::Another {
        disagreements.push(FieldName::Mrn);
    }
    let dob = fields.date_of_birth_date();
    let dob_agrees = match (dob, owner.birth_date) {
        (Some(spoken), Some(indexed)) if spoken == indexed => true,
        (Some(_), _) => {
            disagreements.push(FieldName::DateOfBirth);
            false
        }
        (None, _) => false,
    };
    let mut owner_name = name_fit(fields, owner, cfg, false);
    // A name guessed from capitalised words (no cue) may support the claim, never contradict it.
    if name_is_guessed(fields) && owner_name == NameFit::Differs {
        owner_name = NameFit::Unclear;
    }
    let others = others_fitting(fields, index, Some(&owner.mrn), cfg);
    // The spoken name is clearly not the keyed patient's, or the spoken name and date of birth fit another
    // patient better (exactly theirs, not the keyed patient's).
    let fits_other_better = others.iter().any(|other| {
        owner_name != NameFit::Agrees || (name_exact(fields, other) && !name_exact(fields, owner))
    });
    if owner_name == NameFit::Differs || fits_other_better {
        disagreements.push(FieldName::PatientFamily);
    }
    if let Some(contradicted) = contradiction(
        UnmatchedReason::DemographicsMismatch,
        &candidates,
        disagreements,
    ) {
        return contradicted;
    }
    let name_agrees = owner_name == NameFit::Agrees;
    // A near-twin (same date of birth, a name that sounds the same) the spoken header cannot tell apart.
    let twin_blocks = name_agrees && !others.is_empty() && !name_exact(fields, owner);
    let spoken_rule = match (dob_agrees, name_agrees) {
        _ if twin_blocks => None,
        (true, true) => Some(MatchRule::KeyedMrnDobName),
        (true, false) => Some(MatchRule::KeyedMrnDob),
        (false, true) => Some(MatchRule::KeyedMrnName),
        (false, false) => None,
    };
    // The feed's encounter of the keyed patient corroborates without the audio (and tells a near-twin apart:
    // the visit is the keyed patient's).
    let rule = spoken_rule
        .or((encounter == EncounterOwner::Keyed).then_some(MatchRule::KeyedMrnEncounter));
    match rule {
        Some(rule) => decision(
            MatchOutcome::Matched {
                mrn: owner.mrn.clone(),
                score: owner_candidate.score,
                rule,
            },
            candidates,
            Vec::new(),
        ),
        None => unmatched(UnmatchedReason::Uncorroborated, candidates),
    }
}

/// Matches a document that follows a cover sheet: the sheet's MRN and date of birth must be one patient of
/// the index, and the document's own header (`fields`, read by OCR) must not name another: an MRN of
/// another patient, or a header that matches another patient; and, when the header does not show the sheet
/// patient's MRN, another date of birth or a full name (family and given) clearly another's →
/// [`UnmatchedReason::CoverSheetConflict`]. Beside the sheet patient's MRN, a date or name read otherwise is
/// taken for an OCR misreading. A header that says nothing is no contradiction: the
/// sheet's two identifiers file it.
pub fn match_cover_sheet(
    fields: &Fields,
    sheet_mrn: &str,
    sheet_dob: crate::Date,
    index: &PatientIndex,
    cfg: &MatchConfig,
) -> MatchDecision {
    let read = match_patient(fields, index, cfg);
    let mut candidates = read.candidates.clone();
    let owners = index.by_mrn(sheet_mrn);
    let owner = match owners.as_slice() {
        [owner] if owner.birth_date == Some(sheet_dob) => *owner,
        other => {
            let (reason, field) = match other {
                [] => (UnmatchedReason::CoverSheetUnknownPatient, FieldName::Mrn),
                [_] => (
                    UnmatchedReason::CoverSheetUnknownPatient,
                    FieldName::DateOfBirth,
                ),
                _ => return unmatched(UnmatchedReason::Ambiguous, candidates),
            };
            return decision(MatchOutcome::Unmatched { reason }, candidates, vec![field]);
        }
    };
    owner_first(fields, owner, &mut candidates);

    let mut disagreements = Vec::new();
    let number = read_mrn(fields, index, owner);
    let mrn_agrees = number == ReadMrn::Owners;
    if number == ReadMrn::Another {
        disagreements.push(FieldName::Mrn);
    }
    if let MatchOutcome::Matched { mrn, .. } = &read.outcome {
        if *mrn != owner.mrn {
            disagreements.push(FieldName::Mrn);
        }
    }
    // A date of birth read otherwise on a page that also shows the sheet patient's MRN is a misreading (fax
    // resolution turns 13 into 23); without that MRN it may be another patient (a namesake), so it conflicts.
    if !mrn_agrees
        && fields
            .date_of_birth_date()
            .is_some_and(|read| read != sheet_dob)
    {
        disagreements.push(FieldName::DateOfBirth);
    }
    // A name counts against the sheet only when both parts were read, clearly another's, and the header does
    // not show the sheet patient's MRN: one garbled word is OCR noise, not a patient.
    let full_name = fields.patient_family.is_some() && fields.patient_given.is_some();
    if !mrn_agrees
        && full_name
        && !name_is_guessed(fields)
        && name_fit(fields, owner, cfg, false) == NameFit::Differs
    {
        disagreements.push(FieldName::PatientFamily);
    }
    if let Some(contradicted) = contradiction(
        UnmatchedReason::CoverSheetConflict,
        &candidates,
        disagreements,
    ) {
        return contradicted;
    }
    decision(
        MatchOutcome::Matched {
            mrn: owner.mrn.clone(),
            score: 1.0,
            rule: MatchRule::CoverSheet,
        },
        candidates,
        Vec::new(),
    )
}

/// Matches a spoken header without job demographics: as a chart ([`match_patient`]), then, when that finds no
/// candidate, by the spoken date of birth and the spoken name compared by sound and spelled letters. Exactly
/// one patient born that day must fit the name, no near-twin may fit it too, and a spoken MRN must not
/// belong to anyone else.
pub fn match_spoken(fields: &Fields, index: &PatientIndex, cfg: &MatchConfig) -> MatchDecision {
    // A heard number nobody holds is a mishearing more often than a patient we do not know: it neither
    // matches nor blocks (an MRN heard right still has to be corroborated).
    let unknown_mrn = fields
        .mrn
        .as_ref()
        .is_some_and(|mrn| index.by_mrn(&mrn.value).is_empty());
    let without_mrn;
    let fields = if unknown_mrn {
        without_mrn = Fields {
            mrn: None,
            mrn_candidates: Vec::new(),
            ..fields.clone()
        };
        &without_mrn
    } else {
        fields
    };
    let mut decision = match_patient(fields, index, cfg);
    // A name guessed from capitalised words (no cue introduced it) does not block what the MRN and the date
    // of birth agree on.
    if name_is_guessed(fields) && !matches!(decision.outcome, MatchOutcome::Matched { .. }) {
        let nameless = Fields {
            patient_family: None,
            patient_given: None,
            ..fields.clone()
        };
        let retried = match_patient(&nameless, index, cfg);
        if matches!(
            retried.outcome,
            MatchOutcome::Matched {
                rule: MatchRule::MrnDob,
                ..
            }
        ) {
            decision = retried;
        }
    }
    // Name and date of birth chose a patient by spelling; a recogniser spells by ear, so another patient born
    // that day whose name sounds the same (a near-twin) makes it ambiguous unless the name is exactly one's.
    if let MatchOutcome::Matched {
        mrn,
        rule: MatchRule::NameDob,
        ..
    } = &decision.outcome
    {
        let others = others_fitting(fields, index, Some(mrn), cfg);
        let chosen = index.by_mrn(mrn);
        let told_apart = chosen.iter().all(|r| name_exact(fields, r))
            && others.iter().all(|r| !name_exact(fields, r));
        if !others.is_empty() && !told_apart {
            return MatchDecision {
                outcome: MatchOutcome::Unmatched {
                    reason: UnmatchedReason::Ambiguous,
                },
                ..decision
            };
        }
        return decision;
    }
    let retry = matches!(
        decision.outcome,
        MatchOutcome::Unmatched {
            reason: UnmatchedReason::NoCandidate
                | UnmatchedReason::InsufficientFields
                | UnmatchedReason::MrnOnly
        }
    );
    if !retry || !cfg.name_dob_without_mrn {
        return decision;
    }
    let fits = others_fitting(fields, index, None, cfg);
    let [only] = fits.as_slice() else {
        return decision;
    };
    if let Some(mrn) = fields.mrn.as_ref().map(|f| f.value.as_str()) {
        let owners = index.by_mrn(mrn);
        if !owners.is_empty() && owners.iter().all(|r| r.mrn != only.mrn) {
            return decision;
        }
    }
    let candidate = score(&page(fields, None), only, None);
    let mut candidates = decision.candidates;
    candidates.retain(|c| c.mrn != only.mrn);
    candidates.insert(0, candidate.clone());
    MatchDecision {
        outcome: MatchOutcome::Matched {
            mrn: only.mrn.clone(),
            score: candidate.score,
            rule: MatchRule::DobSpokenName,
        },
        candidates,
        corrected_mrn: None,
        disagreements: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{Field, Source};
    use crate::mrn::CheckDigit;

    const INDEX: &str = "mrn,family,given,birth_date,sex\n\
        4081123,O'Keefe,Karena,1957-03-14,F\n\
        4081124,Okafor,Samuel,1981-07-02,M\n\
        5520914,Emmerich,Carol,1968-05-14,F\n\
        7770001,Hale,Augustus,1990-02-03,M\n\
        7770002,Hale,Augusta,1990-02-03,F\n";

    fn index() -> PatientIndex {
        PatientIndex::from_csv(INDEX.as_bytes(), CheckDigit::None).unwrap()
    }

    fn field(value: &str) -> Option<Field> {
        Some(Field {
            value: value.to_string(),
            confidence: 0.8,
            source: Source::Audio {
                start_ms: 0,
                end_ms: 1,
            },
            raw: None,
        })
    }

    fn heard(family: &str, given: &str, dob: &str) -> Fields {
        let opt = |v: &str| if v.is_empty() { None } else { field(v) };
        Fields {
            patient_family: opt(family),
            patient_given: opt(given),
            date_of_birth: opt(dob),
            ..Fields::default()
        }
    }

    fn decide(fields: &Fields, keyed: Option<&str>) -> MatchDecision {
        match_dictation(fields, keyed, None, &index(), &MatchConfig::default())
    }

    fn filed(decision: &MatchDecision) -> Option<&str> {
        match &decision.outcome {
            MatchOutcome::Matched { mrn, .. } => Some(mrn),
            MatchOutcome::Unmatched { .. } => None,
        }
    }

    fn reason(decision: &MatchDecision) -> Option<UnmatchedReason> {
        match decision.outcome {
            MatchOutcome::Unmatched { reason } => Some(reason),
            MatchOutcome::Matched { .. } => None,
        }
    }

    #[test]
    fn keyed_mrn_corroborated_by_the_spoken_birth_date_files() {
        let d = decide(&heard("", "", "1957-03-14"), Some("4081123"));
        assert_eq!(filed(&d), Some("4081123"));
        assert!(matches!(
            d.outcome,
            MatchOutcome::Matched {
                rule: MatchRule::KeyedMrnDob,
                ..
            }
        ));
        // By a misheard but same-sounding name.
        let d = decide(&heard("O'Keeffe", "Karina", ""), Some("4081123"));
        assert_eq!(filed(&d), Some("4081123"));
        // By spelled letters with a garbled family name.
        let mut fields = heard("Rich", "Carol", "");
        fields.spelled = vec!["EMMERITH".to_string()];
        assert_eq!(filed(&decide(&fields, Some("5520914"))), Some("5520914"));
    }

    #[test]
    fn one_digit_off_keyed_mrn_with_a_contradicting_birth_date_files_to_neither() {
        // Keyed 4081124 (Okafor) for a dictation about O'Keefe, 1957-03-14.
        let d = decide(&heard("O'Keefe", "Karena", "1957-03-14"), Some("4081124"));
        assert_eq!(filed(&d), None);
        assert_eq!(reason(&d), Some(UnmatchedReason::DemographicsMismatch));
        assert!(d.disagreements.contains(&FieldName::DateOfBirth));
        assert!(d.disagreements.contains(&FieldName::PatientFamily));
        assert_eq!(
            d.candidates[0].mrn, "4081124",
            "keyed patient offered first"
        );
    }

    #[test]
    fn nothing_heard_leaves_a_keyed_mrn_uncorroborated() {
        let d = decide(&Fields::default(), Some("4081123"));
        assert_eq!(reason(&d), Some(UnmatchedReason::Uncorroborated));
        assert_eq!(d.candidates[0].mrn, "4081123");
        let d = decide(&heard("Garbled", "", ""), Some("4081123"));
        assert_eq!(filed(&d), None);
    }

    #[test]
    fn unknown_keyed_mrn_is_a_mismatch() {
        let d = decide(&heard("O'Keefe", "Karena", "1957-03-14"), Some("9999999"));
        assert_eq!(reason(&d), Some(UnmatchedReason::DemographicsMismatch));
        assert_eq!(d.disagreements, vec![FieldName::Mrn]);
    }

    #[test]
    fn a_near_twin_blocks_a_name_that_sounds_like_both() {
        // Keyed Augusta, spoken "Augustus": the spoken name is exactly the twin's.
        let d = decide(&heard("Hale", "Augustus", "1990-02-03"), Some("7770002"));
        assert_eq!(reason(&d), Some(UnmatchedReason::DemographicsMismatch));
        // Keyed Augusta, spoken "Augusta": told apart by the exact name.
        let d = decide(&heard("Hale", "Augusta", "1990-02-03"), Some("7770002"));
        assert_eq!(filed(&d), Some("7770002"));
        // Without demographics, a misheard "Agusta" fits both twins: unmatched.
        let d = decide(&heard("Hale", "Agusta", "1990-02-03"), None);
        assert_eq!(filed(&d), None);
    }

    #[test]
    fn spoken_birth_date_and_a_name_heard_by_sound_file_without_demographics() {
        let d = decide(&heard("Okeefe", "Karina", "1957-03-14"), None);
        assert_eq!(filed(&d), Some("4081123"));
        let mut fields = heard("Rich", "Carl", "1968-05-14");
        fields.spelled = vec!["EMMERICH".to_string()];
        assert_eq!(filed(&decide(&fields, None)), Some("5520914"));
        // A spoken MRN of someone else blocks it.
        let mut fields = heard("Okeefe", "Karina", "1957-03-14");
        fields.mrn = field("4081124");
        assert_eq!(filed(&decide(&fields, None)), None);
        // A misheard MRN nobody holds does not block the name and date of birth.
        let mut fields = heard("O'Keefe", "Karena", "1957-03-14");
        fields.mrn = field("96682378");
        assert_eq!(filed(&decide(&fields, None)), Some("4081123"));
        // The exact given name and a close family name, born that day.
        assert_eq!(
            filed(&decide(&heard("Okeef", "Karena", "1957-03-14"), None)),
            Some("4081123")
        );
        // Another date of birth: nobody.
        assert_eq!(
            filed(&decide(&heard("Okeefe", "Karina", "1957-03-15"), None)),
            None
        );
    }

    /// The index with visits the ADT feed registered: `V-100` for O'Keefe, `V-200` for Okafor, `V-300` for
    /// Augusta Hale.
    fn index_with_encounters() -> PatientIndex {
        let mut index = index();
        index.link_encounter("V-100", "4081123");
        index.link_encounter("V-200", "4081124");
        index.link_encounter("V-300", "7770002");
        index
    }

    fn decide_with_encounter(fields: &Fields, keyed: &str, encounter: &str) -> MatchDecision {
        match_dictation(
            fields,
            Some(keyed),
            Some(encounter),
            &index_with_encounters(),
            &MatchConfig::default(),
        )
    }

    fn rule(decision: &MatchDecision) -> Option<MatchRule> {
        match decision.outcome {
            MatchOutcome::Matched { rule, .. } => Some(rule),
            MatchOutcome::Unmatched { .. } => None,
        }
    }

    /// D5: the keyed MRN and an encounter the feed registered for that patient file with nothing heard.
    #[test]
    fn a_keyed_mrn_with_its_patients_encounter_files_without_a_spoken_header() {
        let d = decide_with_encounter(&Fields::default(), "4081123", "V-100");
        assert_eq!(filed(&d), Some("4081123"));
        assert_eq!(rule(&d), Some(MatchRule::KeyedMrnEncounter));
        assert_eq!(d.candidates[0].mrn, "4081123");
        // Separators and case of the visit number do not count; a name heard unclearly does not block it.
        let d = decide_with_encounter(&heard("", "Karl", ""), "4081123", "v100");
        assert_eq!(rule(&d), Some(MatchRule::KeyedMrnEncounter));
        // A header that corroborates too keeps the spoken rule.
        let d = decide_with_encounter(&heard("", "", "1957-03-14"), "4081123", "V-100");
        assert_eq!(rule(&d), Some(MatchRule::KeyedMrnDob));
        // The visit tells a near-twin apart where a name that sounds like both could not.
        let d = decide_with_encounter(&heard("Hale", "Agusta", ""), "7770002", "V-300");
        assert_eq!(filed(&d), Some("7770002"));
    }

    /// D2 still holds with the encounter: a contradiction in the audio leaves it unmatched, filed to neither.
    #[test]
    fn a_spoken_contradiction_outweighs_the_encounter() {
        for (fields, field) in [
            (heard("", "", "1981-07-02"), FieldName::DateOfBirth),
            (heard("Okafor", "Samuel", ""), FieldName::PatientFamily),
            (
                Fields {
                    mrn: field("4081124"),
                    ..Fields::default()
                },
                FieldName::Mrn,
            ),
        ] {
            let d = decide_with_encounter(&fields, "4081123", "V-100");
            assert_eq!(filed(&d), None, "{field:?}");
            assert_eq!(reason(&d), Some(UnmatchedReason::DemographicsMismatch));
            assert!(d.disagreements.contains(&field), "{:?}", d.disagreements);
            assert_eq!(d.candidates[0].mrn, "4081123");
        }
    }

    /// D6: an encounter the feed registered for another patient contradicts the keyed MRN, even when the
    /// audio agrees with it.
    #[test]
    fn an_encounter_of_another_patient_is_a_mismatch() {
        let d = decide_with_encounter(
            &heard("O'Keefe", "Karena", "1957-03-14"),
            "4081123",
            "V-200",
        );
        assert_eq!(filed(&d), None);
        assert_eq!(reason(&d), Some(UnmatchedReason::DemographicsMismatch));
        assert_eq!(d.disagreements, vec![FieldName::Encounter]);
        assert_eq!(d.candidates[0].mrn, "4081123");
    }

    /// D7: an encounter the feed never named changes nothing.
    #[test]
    fn an_encounter_unknown_to_the_feed_changes_nothing() {
        let d = decide_with_encounter(&Fields::default(), "4081123", "V-999");
        assert_eq!(reason(&d), Some(UnmatchedReason::Uncorroborated));
        let d = decide_with_encounter(&heard("", "", "1957-03-14"), "4081123", "V-999");
        assert_eq!(rule(&d), Some(MatchRule::KeyedMrnDob));
        // Without a keyed MRN the encounter is not used: the spoken header decides alone.
        let d = match_dictation(
            &Fields::default(),
            None,
            Some("V-100"),
            &index_with_encounters(),
            &MatchConfig::default(),
        );
        assert_eq!(filed(&d), None);
    }

    fn sheet(fields: &Fields, mrn: &str, dob: (i32, u8, u8)) -> MatchDecision {
        let dob = crate::Date::new(dob.0, dob.1, dob.2).unwrap();
        match_cover_sheet(fields, mrn, dob, &index(), &MatchConfig::default())
    }

    #[test]
    fn a_cover_sheet_files_when_the_header_says_nothing_or_agrees() {
        let d = sheet(&Fields::default(), "4081123", (1957, 3, 14));
        assert_eq!(filed(&d), Some("4081123"));
        let d = sheet(
            &heard("O'Keefe", "Karena", "1957-03-14"),
            "4081123",
            (1957, 3, 14),
        );
        assert_eq!(filed(&d), Some("4081123"));
    }

    #[test]
    fn a_header_naming_another_patient_is_a_conflict() {
        // Another patient's name and date of birth on the pages.
        let d = sheet(
            &heard("Okafor", "Samuel", "1981-07-02"),
            "4081123",
            (1957, 3, 14),
        );
        assert_eq!(reason(&d), Some(UnmatchedReason::CoverSheetConflict));
        assert!(d.disagreements.contains(&FieldName::DateOfBirth));
        // Another patient's MRN alone.
        let fields = Fields {
            mrn: field("4081124"),
            ..Fields::default()
        };
        let d = sheet(&fields, "4081123", (1957, 3, 14));
        assert_eq!(reason(&d), Some(UnmatchedReason::CoverSheetConflict));
        assert_eq!(d.disagreements, vec![FieldName::Mrn]);
        // Another date of birth with nothing else read may be a namesake: a conflict.
        let d = sheet(&heard("", "", "1957-03-24"), "4081123", (1957, 3, 14));
        assert_eq!(reason(&d), Some(UnmatchedReason::CoverSheetConflict));
    }

    /// Where a sheet for 4081123 files a header that shows 4081123 beside these values.
    fn filed_beside_mrn(family: &str, given: &str, dob: &str) -> Option<String> {
        let fields = Fields {
            mrn: field("4081123"),
            ..heard(family, given, dob)
        };
        filed(&sheet(&fields, "4081123", (1957, 3, 14))).map(str::to_string)
    }

    #[test]
    fn a_misread_birth_date_beside_the_sheet_patients_mrn_is_no_conflict() {
        assert_eq!(
            filed_beside_mrn("O'Keefe", "Karena", "1957-03-24"),
            Some("4081123".into())
        );
    }

    #[test]
    fn one_garbled_name_word_is_no_conflict() {
        let d = sheet(&heard("Bod", "", ""), "4081123", (1957, 3, 14));
        assert_eq!(filed(&d), Some("4081123"));
        assert_eq!(
            filed_beside_mrn("Girard", "Mid", "1957-03-14"),
            Some("4081123".into())
        );
    }

    #[test]
    fn a_sheet_whose_identifiers_are_not_one_patient_files_nothing() {
        let d = sheet(&Fields::default(), "4081123", (1957, 3, 15));
        assert_eq!(reason(&d), Some(UnmatchedReason::CoverSheetUnknownPatient));
        let d = sheet(&Fields::default(), "9999999", (1957, 3, 14));
        assert_eq!(reason(&d), Some(UnmatchedReason::CoverSheetUnknownPatient));
    }
}
