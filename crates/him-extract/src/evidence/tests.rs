//! The evidence search's rows (docs/MATCHING.md E1–E6), the second-person property and robustness.

use super::*;

mod rows {
    use super::*;
    use crate::extract::identify_pages;
    use crate::field::ExtractOptions;
    use crate::layout::PageContent;
    use crate::mrn::CheckDigit;

    const INDEX: &str = "mrn,family,given,birth_date,sex\n\
        40811210,Okafor,Amara,2012-03-14,F\n\
        40811228,Okafor,Chidi,1979-11-02,M\n\
        40811236,Lindqvist,Maja,2024-01-05,F\n\
        40811244,Lindqvist,Sara,1991-07-19,F\n\
        40811251,Garcia Lopez,Ana Maria,1964-03-07,F\n\
        40811269,Brennan,Thomas,1958-06-30,M\n\
        40811277,Hale,Augustus,1990-02-03,M\n\
        40811285,Hale,Augusta,1990-02-03,F\n\
        40811293,Doe,Jane,1961-05-03,F\n";

    fn index() -> PatientIndex {
        PatientIndex::from_csv(INDEX.as_bytes(), CheckDigit::None).unwrap()
    }

    fn decide_text(pages: &[&str]) -> (Fields, MatchDecision) {
        let pages: Vec<PageContent<'_>> = pages
            .iter()
            .map(|text| PageContent { text, words: &[] })
            .collect();
        let opts = ExtractOptions::new(Date::new(2026, 6, 1).unwrap());
        identify_pages(&pages, &index(), &opts, &MatchConfig::default())
    }

    fn filed(decision: &MatchDecision) -> Option<&str> {
        match &decision.outcome {
            MatchOutcome::Matched { mrn, .. } => Some(mrn),
            MatchOutcome::Unmatched { .. } => None,
        }
    }

    fn reason(decision: &MatchDecision) -> Option<UnmatchedReason> {
        match &decision.outcome {
            MatchOutcome::Unmatched { reason } => Some(*reason),
            MatchOutcome::Matched { .. } => None,
        }
    }

    #[test]
    fn roles_come_from_the_words_around_a_value() {
        let text = "GUARANTOR INFORMATION\nName: Chidi Okafor   DOB: 11/02/1979\n\
                    PATIENT\nName: Amara Okafor   DOB: 03/14/2012\n\
                    Attending: Dr Thomas Brennan   MRN: 40811210\n";
        let doc = Document::read(&[text], &[None], Date::new(2026, 6, 1).unwrap());
        let role_of = |word: &str| {
            doc.tokens
                .iter()
                .find(|t| t.key == word)
                .map(|t| t.role)
                .unwrap()
        };
        assert_eq!(role_of("chidi"), EvidenceRole::Other);
        assert_eq!(role_of("amara"), EvidenceRole::Patient);
        assert_eq!(role_of("thomas"), EvidenceRole::Other);
        // A clinician's role ends with the cell: the MRN beside the attending is the patient block's.
        assert_eq!(role_of("40811210"), EvidenceRole::Patient);
    }

    #[test]
    fn e1_a_guarantor_printed_first_is_never_filed() {
        // Row E3 files the patient; the guarantor, printed first with a clean block, stays a candidate only.
        let page = "CONSENT FOR TREATMENT OF A MINOR\n\
                    Parent/Guardian: Okafor, Chidi   DOB: 11/02/1979\n\
                    \n\
                    Patient: Okafor, Amara   DOB: 03/14/2012\n";
        let (fields, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811210"), "{decision:?}");
        assert_eq!(fields.date_of_birth.unwrap().value, "2012-03-14");
        let guarantor = decision
            .candidates
            .iter()
            .find(|c| c.mrn == "40811228")
            .unwrap();
        assert!(guarantor
            .evidence
            .iter()
            .filter(|s| s.identifier != FieldName::PatientFamily)
            .all(|s| s.role == EvidenceRole::Other));
    }

    #[test]
    fn e1_an_unreadable_patient_block_with_a_clean_parent_block_is_unmatched() {
        let page = "CONSENT FOR TREATMENT OF A MINOR\n\
                    Patient: 0k@f#r, A~~ra   DOB: 0?/1?/2O1?\n\
                    Parent/Guardian: Okafor, Chidi   DOB: 11/02/1979\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn e1_a_heading_gives_its_role_to_the_value_cells_of_its_block() {
        // Labels and values in cells apart (as a layout reads a form); the heading stands over the labels.
        let page = "DISCHARGE SUMMARY\n\
                    MOTHER\n\
                    Name:   LINDQVIST, Sara\n\
                    Birthdate:   19 July 1991\n\
                    Mother's MRN:   40811244\n\
                    PATIENT INFORMATION\n\
                    Name:   ~~~~~~~, ~~~~\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
        let mother = decision.candidates.iter().find(|c| c.mrn == "40811244");
        assert!(mother.is_none_or(|c| c.evidence.iter().all(|s| s.role == EvidenceRole::Other)));
    }

    #[test]
    fn e1_fields_read_only_from_another_persons_block_are_not_the_patients() {
        // The label reader finds a name and birth date only in the mother's block.
        let page =
            "NEWBORN ADMISSION RECORD\nMother's Name: Sara Lindqvist\nMother's DOB: 07/19/1991\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn e3_a_mothers_birth_date_read_as_the_patients_does_not_block_the_newborn() {
        let page = "NEWBORN ADMISSION RECORD\n\
                    Baby: Lindqvist, Maja   MRN: 40811236\n\
                    Mother: Lindqvist, Sara   DOB: 07/19/1991\n\
                    Infant date of birth: 01/05/2024\n";
        let (fields, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811236"), "{decision:?}");
        assert_eq!(fields.date_of_birth.unwrap().value, "2024-01-05");
    }

    #[test]
    fn e3_identity_only_in_prose_files() {
        let page = "Northside Family Practice\n12 Elm Street\n\n\
                    Dear Dr Brennan,\n\n\
                    Re: Mrs Ana Maria Garcia Lopez, born 7th March 1964\n\n\
                    I saw your patient in clinic today with her husband. She reports ...\n";
        let (fields, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811251"), "{decision:?}");
        assert_eq!(fields.date_of_birth.unwrap().value, "1964-03-07");
    }

    #[test]
    fn e3_prose_sentence_names_the_patient() {
        // A page written day first (21/04/2026): 03/05/1961 is also 3 May, and the index tells which.
        let page = "Clinic 21/04/2026\n\
                    Thank you for referring Jane Doe (date of birth 03/05/1961), whom I saw today.\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811293"), "{decision:?}");
    }

    #[test]
    fn e4_another_organisations_number_is_neither_a_match_nor_a_conflict() {
        let page = "St Olaf Hospital, Trondheim\nHospital No: 4417 882 019 3\n\
                    Patient: BRENNAN Thomas   Born: 30.06.1958\nDischarge letter\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811269"), "{decision:?}");
    }

    #[test]
    fn e4_a_well_formed_unknown_mrn_still_blocks() {
        let page = "Patient: BRENNAN Thomas   MRN: 55512345   DOB: 06/30/1958\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn e2_two_patients_each_labelled_as_the_patient_are_ambiguous() {
        let page = "Patient: Doe, Jane   DOB: 05/03/1961\n\
                    Progress note ...\n\n\n\n\n\n\n\
                    Patient: Brennan, Thomas   DOB: 06/30/1958\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn e5_near_twins_read_from_the_same_words_file_only_on_the_exact_name() {
        let page = "Patient: Augusta Hale\nDOB: 02/03/1990\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811285"), "{decision:?}");
        let page = "Patient: Augustu Hale\nDOB: 02/03/1990\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn the_dob_conflict_row_still_holds() {
        let page = "Patient: Doe, Jane   MRN: 40811293   DOB: 05/04/1961\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(
            reason(&decision),
            Some(UnmatchedReason::DobConflict),
            "{decision:?}"
        );
    }

    #[test]
    fn e6_a_labelled_birth_date_the_label_reader_missed_still_contradicts() {
        // The label reader reads the MRN and the name but not the birth date under its label row.
        let page = "Procedure Report\n\
                    Pat. Name      Hospital Number      Room\n\
                    THOMAS BRENNAN      40811269      ICU-12\n\
                    Pt. DOB        Clinic Date\n\
                    14 -DEC-1958   02-FEB-2026\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
        // The same page with his birth date files.
        let page = page.replace("14 -DEC-1958", "30 -JUN-1958");
        let (_, decision) = decide_text(&[&page]);
        assert_eq!(filed(&decision), Some("40811269"), "{decision:?}");
    }

    #[test]
    fn e3_a_complete_patient_block_outweighs_a_second_birth_date_but_never_a_second_name() {
        // The label reader reads a second birth date further down; MRN, birth date and name are printed together.
        let page = "PATIENT\nSurname: Brennan\nFirst name: Thomas\nPatient ID: 40811269\n\
                    Date of Birth: 06/30/1958\n\n\n\n\n\n\nDOB: 06/11/1959\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811269"), "{decision:?}");
        // A second patient name on the page is another patient's page: never.
        let page = format!("{page}\nPATIENT: DOE, JANE\n");
        let (_, decision) = decide_text(&[&page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn e4_a_lettered_number_whose_digits_are_another_patients_mrn_still_blocks() {
        // The index has no lettered MRNs; `E40811293` is Jane Doe's MRN with a letter: a conflict, not foreign.
        let page = "Pt   Unit No   Born\nBRENNAN / Thomas   E40811293   30-Jun-1958\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
        let page = "Pt   Unit No   Born\nBRENNAN / Thomas   SB621977   30-Jun-1958\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811269"), "{decision:?}");
    }

    #[test]
    fn header_labels_read_as_a_name_do_not_contradict() {
        assert!(label_words("Case No"));
        assert!(label_words("No"));
        assert!(!label_words("Brennan"));
        // `PARENT.   :` is a heading alone on its line (the colon is no cell of its own).
        let page = "PATIENT\nName of patient: DOE, Jane\nDOB: 05/03/1961\nPARENT.   :\n\
                    Name:   Thomas BRENNAN\nBirthdate:   06/30/1958\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811293"), "{decision:?}");
    }

    #[test]
    fn dates_as_ocr_reads_them() {
        let today = Date::new(2026, 6, 1).unwrap();
        let dates = |line: &str| -> Vec<String> {
            line_dates(line, today, false)
                .into_iter()
                .map(|(d, _, _)| d.to_string())
                .collect()
        };
        assert!(dates("DOB: JUN 071965").contains(&"1965-06-07".to_string()));
        assert!(dates("Born: April 21,.1952").contains(&"1952-04-21".to_string()));
        assert!(dates("Geb. 07 III 1964").contains(&"1964-03-07".to_string()));
        assert!(dates("born 7th March 1964").contains(&"1964-03-07".to_string()));
        assert!(dates("D/N 30.06.1958").contains(&"1958-06-30".to_string()));
        assert!(dates("DOB 17.04,1939").contains(&"1939-04-17".to_string()));
        // Month first unless the page is written day first.
        assert_eq!(dates("DOB 03/07/1964"), vec!["1964-03-07".to_string()]);
        assert!(line_dates("DOB 03/07/1964", today, true)
            .iter()
            .any(|(d, _, _)| d.to_string() == "1964-07-03"));
    }

    #[test]
    fn wristband_family_name_first_files() {
        let page = "|||| ||| || ||||\nGARCIA LOPEZ ANA MARIA  F  07-Mar-64  40811251\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811251"), "{decision:?}");
    }
}

mod second_person {
    //! Property: a form naming the patient and a second person (both in the index; either printed first;
    //! labelled or only in prose) is never filed to the second person; with the patient's block unreadable
    //! and the second person's clean, it is unmatched.

    use super::*;
    use crate::extract::identify_pages;
    use crate::field::ExtractOptions;
    use crate::layout::PageContent;
    use crate::mrn::CheckDigit;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const FAMILIES: &[&str] = &[
        "Okafor",
        "Lindqvist",
        "Nakamura",
        "Brennan",
        "Moreau",
        "Kowalczyk",
        "Haddad",
        "Van der Berg",
        "Garcia Lopez",
        "O'Neill",
        "Nguyen",
        "Abernathy",
        "Castellanos",
        "Fitzgerald",
        "Oyelaran",
        "Petrakis",
    ];
    const GIVENS: &[&str] = &[
        "Amara",
        "Chidi",
        "Maja",
        "Thomas",
        "Ana",
        "Jean-Luc",
        "Sofia",
        "Bartholomew",
        "Ines",
        "Kenji",
        "Layla",
        "Marcus",
        "Noor",
        "Oskar",
        "Priya",
        "Rafael",
    ];
    const SECOND: &[&str] = &[
        "Guarantor",
        "Mother",
        "Father",
        "Parent/Guardian",
        "Next of Kin",
        "Insured",
        "Subscriber",
        "Spouse",
        "Emergency Contact",
        "Legal Guardian",
        "Responsible Party",
        "Policy Holder",
    ];
    const PROSE: &[&str] = &[
        "mother", "father", "husband", "wife", "guardian", "daughter", "son",
    ];

    fn date(rng: &mut Rng, from: i32, span: u64) -> Date {
        let year = from + rng.below(span) as i32;
        Date::new(year, 1 + rng.below(12) as u8, 1 + rng.below(28) as u8).unwrap()
    }

    fn us(d: Date) -> String {
        format!("{:02}/{:02}/{}", d.month(), d.day(), d.year())
    }

    fn garble(text: &str, rng: &mut Rng) -> String {
        text.chars()
            .map(|c| {
                if c.is_alphanumeric() && rng.below(3) > 0 {
                    ['~', '#', '?', '%', '@'][rng.below(5) as usize]
                } else {
                    c
                }
            })
            .collect()
    }

    #[test]
    fn a_form_is_never_filed_to_the_second_person() {
        let mut rng = Rng(27);
        let today = Date::new(2026, 6, 1).unwrap();
        let (mut to_patient, mut readable) = (0, 0);
        for case in 0..300 {
            let patient_family = rng.pick(FAMILIES);
            let same_family = rng.below(2) == 0;
            let second_family = if same_family {
                patient_family
            } else {
                rng.pick(FAMILIES)
            };
            let patient_given = rng.pick(GIVENS);
            let mut second_given = rng.pick(GIVENS);
            while second_given == patient_given {
                second_given = rng.pick(GIVENS);
            }
            let patient_dob = date(&mut rng, 1940, 85);
            let second_dob = date(&mut rng, 1930, 70);
            let (patient_mrn, second_mrn) = (
                format!("{}", 20_000_000 + case * 2),
                format!("{}", 20_000_001 + case * 2),
            );
            let csv = format!(
                "mrn,family,given,birth_date,sex\n{patient_mrn},{patient_family},{patient_given},{patient_dob},U\n\
                 {second_mrn},{second_family},{second_given},{second_dob},U\n\
                 30000001,Someone,Else,{patient_dob},U\n"
            );
            let index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap();
            let unreadable = case % 3 == 2;
            let labelled = rng.below(3) > 0;
            let second_first = rng.below(2) == 0;
            let print_mrn = rng.below(2) == 0;
            let (mut pname, mut pdob, mut pmrn) = (
                format!("{patient_family}, {patient_given}"),
                us(patient_dob),
                if print_mrn {
                    format!("   MRN: {patient_mrn}")
                } else {
                    String::new()
                },
            );
            if unreadable {
                pname = garble(&pname, &mut rng);
                pdob = garble(&pdob, &mut rng);
                pmrn = garble(&pmrn.replace("MRN", "###"), &mut rng);
            }
            let role = rng.pick(SECOND);
            let (patient_block, second_block) = if labelled {
                (
                    format!("Patient: {pname}   DOB: {pdob}{pmrn}\n"),
                    if rng.below(2) == 0 {
                        format!(
                            "{role}: {second_family}, {second_given}   DOB: {}\n",
                            us(second_dob)
                        )
                    } else {
                        format!(
                            "{} INFORMATION\nName: {second_given} {second_family}\nDate of Birth: {}\n",
                            role.to_uppercase(),
                            us(second_dob)
                        )
                    },
                )
            } else {
                (
                    format!("Re: {pname}, DOB {pdob}{pmrn}.\n"),
                    format!(
                        "The patient was accompanied by her {} {second_given} {second_family} (born {}).\n",
                        rng.pick(PROSE),
                        us(second_dob)
                    ),
                )
            };
            let body = "Reviewed history and consent with the family. Plan discussed.\n";
            let page = if second_first {
                format!("CONSENT FORM\n{second_block}\n{patient_block}\n{body}")
            } else {
                format!("CONSENT FORM\n{patient_block}\n{second_block}\n{body}")
            };
            let pages = [PageContent {
                text: &page,
                words: &[],
            }];
            let (_, decision) = identify_pages(
                &pages,
                &index,
                &ExtractOptions::new(today),
                &MatchConfig::default(),
            );
            let filed = match &decision.outcome {
                MatchOutcome::Matched { mrn, .. } => Some(mrn.clone()),
                MatchOutcome::Unmatched { .. } => None,
            };
            assert_ne!(
                filed.as_deref(),
                Some(second_mrn.as_str()),
                "case {case}: filed to the second person:\n{page}"
            );
            if unreadable {
                assert_eq!(
                    filed, None,
                    "case {case}: unreadable patient block filed:\n{page}"
                );
            } else {
                readable += 1;
                to_patient += usize::from(filed.as_deref() == Some(patient_mrn.as_str()));
            }
        }
        // Filing the readable ones is the evidence search's job; most must file.
        assert!(
            to_patient * 10 >= readable * 9,
            "filed {to_patient}/{readable}"
        );
    }
}

mod never_panics {
    use super::*;
    use crate::extract::identify_pages;
    use crate::field::ExtractOptions;
    use crate::layout::PageContent;
    use crate::mrn::CheckDigit;

    #[test]
    fn random_pages_never_panic() {
        let index = PatientIndex::from_csv(
            "mrn,family,given,birth_date,sex\n40811269,Brennan,Thomas,1958-06-30,M\n0401,Ø,Ł,2000-01-01,F\n"
                .as_bytes(),
            CheckDigit::None,
        )
        .unwrap();
        let pieces = [
            "Patient:",
            "Mother's",
            "DOB",
            "06/30/1958",
            "30.06.1958",
            "JUN 071965",
            "07 III 1964",
            "Brennan",
            "Thomas",
            "40811269",
            "E40811269",
            "MR#",
            "0000000",
            "ß",
            "Ø",
            "é",
            "\u{a0}",
            "   ",
            "\n",
            "\t",
            ",",
            ";",
            ":",
            "|",
            "—",
            "7th",
            "of",
            "March",
            "99/99/9999",
            "1/1/1",
            "PARENT.",
            "Re:",
            "XXXX",
            "日本",
            "🙂",
            "-",
        ];
        let mut state: u64 = 27;
        let opts = ExtractOptions::new(Date::new(2026, 6, 1).unwrap());
        for _ in 0..600 {
            let mut page = String::new();
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let words = 1 + (state >> 33) % 60;
            for _ in 0..words {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                page.push_str(pieces[((state >> 33) % pieces.len() as u64) as usize]);
                if (state >> 40).is_multiple_of(3) {
                    page.push(' ');
                }
            }
            let pages = [PageContent {
                text: &page,
                words: &[],
            }];
            let _ = identify_pages(&pages, &index, &opts, &MatchConfig::default());
        }
    }
}
