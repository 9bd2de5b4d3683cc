//! The FHIR R4 `DocumentReference` written beside each approved version.

use serde_json::{json, Value};

use crate::accounts::sha256_hex;

/// What a `DocumentReference` says about one approved version.
#[derive(Debug, Clone)]
pub(crate) struct Reference<'a> {
    pub document_id: &'a str,
    pub version: u32,
    pub mrn: &'a str,
    /// LOINC document type code.
    pub loinc: Option<&'a str>,
    /// Clinician who wrote the note, as extracted or corrected.
    pub author: Option<&'a str>,
    pub reviewer: &'a str,
    pub date: &'a str,
    pub text: &'a str,
    /// The version this one appends to (addenda).
    pub appends: Option<u32>,
}

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

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// Id of the `DocumentReference` of one version.
pub(crate) fn reference_id(document_id: &str, version: u32) -> String {
    format!("{document_id}-v{version}")
}

/// The resource as JSON.
pub(crate) fn document_reference(reference: &Reference<'_>) -> Value {
    let hash = base64(&hex_to_bytes(&sha256_hex(reference.text.as_bytes())));
    let mut resource = json!({
        "resourceType": "DocumentReference",
        "id": reference_id(reference.document_id, reference.version),
        "identifier": [{"system": "urn:him:document", "value": reference.document_id}],
        "status": "current",
        "docStatus": "final",
        "subject": {"identifier": {"system": "urn:him:mrn", "value": reference.mrn}, "type": "Patient"},
        "date": reference.date,
        "authenticator": {"identifier": {"system": "urn:him:user", "value": reference.reviewer},
                          "display": reference.reviewer},
        "content": [{"attachment": {
            "contentType": "text/plain; charset=utf-8",
            "url": format!("versions/{}/text.txt", reference.version),
            "size": reference.text.len(),
            "hash": hash,
            "creation": reference.date,
        }}],
    });
    if let Some(loinc) = reference.loinc {
        resource["type"] = json!({"coding": [{"system": "http://loinc.org", "code": loinc}]});
    }
    if let Some(author) = reference.author.filter(|a| !a.is_empty()) {
        resource["author"] = json!([{"display": author}]);
    }
    if let Some(previous) = reference.appends {
        resource["relatesTo"] = json!([{"code": "appends", "target": {
            "reference": format!("DocumentReference/{}", reference_id(reference.document_id, previous))
        }}]);
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn a_final_reference_names_patient_type_author_and_hash() {
        let resource = document_reference(&Reference {
            document_id: "abc",
            version: 2,
            mrn: "123",
            loinc: Some("11506-3"),
            author: Some("Jane Doe"),
            reviewer: "ana",
            date: "2024-01-01T00:00:00.000Z",
            text: "hello",
            appends: Some(1),
        });
        assert_eq!(resource["docStatus"], "final");
        assert_eq!(resource["subject"]["identifier"]["value"], "123");
        assert_eq!(resource["type"]["coding"][0]["code"], "11506-3");
        assert_eq!(resource["authenticator"]["display"], "ana");
        assert_eq!(
            resource["content"][0]["attachment"]["hash"],
            "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
        );
        assert_eq!(
            resource["relatesTo"][0]["target"]["reference"],
            "DocumentReference/abc-v1"
        );
    }
}
