//! Untrusted patient index exports: CSV and FHIR Patient NDJSON, then lookups by what was loaded.
#![no_main]

use him_extract::{CheckDigit, PatientIndex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for check in [CheckDigit::None, CheckDigit::Luhn] {
        for index in [
            PatientIndex::from_csv(data, check),
            PatientIndex::from_fhir_ndjson(data, check),
        ]
        .into_iter()
        .flatten()
        {
            for record in index.records().iter().take(8) {
                let _ = index.by_mrn(&record.mrn);
            }
        }
    }
});
