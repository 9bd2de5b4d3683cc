//! Whether the identity read from a filed document names its patient: the document page warns, in words,
//! when the name, date of birth or MRN read (OCR or speech) are someone else's, so that a reviewer checks
//! the filing before approving a note into that patient's chart.

use std::collections::BTreeMap;

use him_extract::{normalize_name, sounds_like, PatientIndex};

use crate::patients::{mrn_key, PatientView};

/// Whether a name read agrees with one of the patient's: equal after normalisation, or sounding alike (a
/// dictated name is spelled by ear: `Larson` for `Larsen`).
fn name_agrees(read: &str, names: &[&str]) -> bool {
    let read_key = normalize_name(read);
    names.iter().any(|name| {
        let key = normalize_name(name);
        !key.is_empty()
            && (key == read_key
                || key.split(' ').any(|word| word == read_key)
                || sounds_like(read, name))
    })
}

/// The warning for a document filed to `filed` whose fields read (`patient_family`, `patient_given`,
/// `date_of_birth`, `mrn`, as extracted) name someone else; `None` when they name the patient, or read
/// nothing. A family name (or, without one, a given name) that is neither the patient's nor sounds like it,
/// another date of birth, or an MRN that does not find the patient in `index` (merges followed) count.
pub(crate) fn filed_patient_warning(
    read: &BTreeMap<String, String>,
    filed: &PatientView,
    index: &PatientIndex,
) -> Option<String> {
    let value = |name: &str| read.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let family = value("patient_family");
    let given = value("patient_given");
    let filed_given: Vec<&str> = filed.given.split_whitespace().collect();
    let filed_family = [filed.family.as_str()];
    let name_differs = match (family, given) {
        (Some(family), given) => {
            let straight = name_agrees(family, &filed_family);
            // `Maria Lopez` read as family `Maria`, given `Lopez`.
            let swapped = name_agrees(family, &filed_given)
                && given.is_some_and(|g| name_agrees(g, &filed_family));
            !straight && !swapped
        }
        (None, Some(given)) => {
            !name_agrees(given, &filed_given) && !name_agrees(given, &filed_family)
        }
        (None, None) => false,
    };
    let mut differs = Vec::new();
    if name_differs {
        let name = [given, family].into_iter().flatten().collect::<Vec<_>>();
        differs.push(format!("name {}", name.join(" ")));
    }
    if let Some(dob) = value("date_of_birth") {
        if filed.birth_date.as_deref().is_some_and(|born| born != dob) {
            differs.push(format!("date of birth {dob}"));
        }
    }
    if let Some(mrn) = value("mrn") {
        let holders = index.by_mrn(mrn);
        let finds_patient = holders
            .iter()
            .any(|r| mrn_key(&r.mrn) == mrn_key(&filed.mrn))
            || (holders.is_empty() && mrn_key(mrn) == mrn_key(&filed.mrn));
        if !finds_patient {
            differs.push(format!("MRN {mrn}"));
        }
    }
    if differs.is_empty() {
        return None;
    }
    let patient = [filed.given.as_str(), filed.family.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let born = filed
        .birth_date
        .as_deref()
        .map(|born| format!(", born {born}"))
        .unwrap_or_default();
    Some(format!(
        "The fields read {}, not the filed patient {patient} (MRN {}{born}): check before approving.",
        differs.join(", "),
        filed.mrn
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use him_extract::CheckDigit;

    fn index() -> PatientIndex {
        let csv = "mrn,family,given,birth_date,sex\n\
            4081121,Lopez,Maria,1960-03-03,F\n\
            4081139,Brooks,Alan,1955-01-01,M\n";
        let mut index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap();
        index.alias("4081100", "4081121");
        index
    }

    fn lopez() -> PatientView {
        PatientView {
            mrn: "4081121".into(),
            family: "Lopez".into(),
            given: "Maria".into(),
            birth_date: Some("1960-03-03".into()),
            sex: Some("F".into()),
            evidence: None,
        }
    }

    fn read(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fields_naming_someone_else_are_put_in_words() {
        let warning = filed_patient_warning(
            &read(&[("patient_family", "Brooks"), ("patient_given", "Alan")]),
            &lopez(),
            &index(),
        )
        .unwrap();
        assert_eq!(
            warning,
            "The fields read name Alan Brooks, not the filed patient Maria Lopez (MRN 4081121, born \
             1960-03-03): check before approving."
        );
        let warning = filed_patient_warning(
            &read(&[
                ("patient_family", "Lopez"),
                ("date_of_birth", "1961-03-03"),
                ("mrn", "4081139"),
            ]),
            &lopez(),
            &index(),
        )
        .unwrap();
        assert!(
            warning.starts_with("The fields read date of birth 1961-03-03, MRN 4081139, not"),
            "{warning}"
        );
    }

    #[test]
    fn fields_naming_the_patient_or_nothing_raise_no_warning() {
        for pairs in [
            vec![],
            vec![("patient_family", "LOPEZ"), ("patient_given", "MARIA")],
            // Spelled by ear, in the other order, a merged MRN, separators.
            vec![("patient_family", "Lopes"), ("patient_given", "Mariah")],
            vec![("patient_family", "Maria"), ("patient_given", "Lopez")],
            vec![("mrn", "408-110-0"), ("date_of_birth", "1960-03-03")],
            vec![("mrn", "408 112 1"), ("author", "Alan Brooks")],
        ] {
            assert_eq!(
                filed_patient_warning(&read(&pairs), &lopez(), &index()),
                None,
                "{pairs:?}"
            );
        }
    }
}
