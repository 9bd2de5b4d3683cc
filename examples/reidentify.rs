//! Re-runs `extract → match` over the OCR and transcripts already stored by `him process`, without OCR or
//! speech-to-text: the fast loop of `scripts/bench-identity --reidentify` and `scripts/bench-dictation
//! --rematch` (a dictation is matched with the job demographics its manifest records). Prints one JSON line per stored chart, keyed by its SHA-256 (the
//! benchmark maps it back to its file), in the shape of `him process`'s lines.
//!
//! `cargo run --release --example reidentify -- STORE_DIR PATIENT_INDEX [CONFIG]`
//!
//! STORE_DIR is the local folder store of the run; CONFIG (default `pipeline.toml`) gives `[patients]` and
//! `[matching]`. `REIDENTIFY_EXPLAIN=1` prints each decision's candidates and evidence roles on stderr.
//! `REIDENTIFY_LABELS_ONLY=1` decides by the label reader alone (no evidence search). With `REIDENTIFY_TEXT=DIR`, the text read from each chart's layout is written to
//! `DIR/<sha256>.txt`. The output holds identities: it is for synthetic benchmark charts only.

use std::path::{Path, PathBuf};

use him::identity::{identify, identify_transcript, load_index};
use him_core::OcrDocument;
use him_extract::{Manifest, PageContent};

fn ocr_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            ocr_files(&path, out)?;
        } else if path
            .file_name()
            .is_some_and(|name| name == "ocr.json" || name == "transcript.json")
        {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, index, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: reidentify STORE_DIR PATIENT_INDEX [CONFIG]");
    };
    let config_path = rest.first().map_or("pipeline.toml", String::as_str);
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    let config = him::config::PipelineConfig::load(Some(Path::new(config_path)), &env)?;
    let index = load_index(
        Path::new(index),
        config.patients.check_digit,
        config.patients.mrn_strip_leading_zeros,
    )?;
    let mut files = Vec::new();
    ocr_files(Path::new(store), &mut files)?;
    files.sort();
    for path in files {
        let folder = path.parent().unwrap_or(Path::new("."));
        let manifest: Manifest =
            serde_json::from_slice(&std::fs::read(folder.join("document.json"))?)?;
        if path.ends_with("transcript.json") {
            let transcript: him_core::Transcript = serde_json::from_slice(&std::fs::read(&path)?)?;
            let keyed = manifest
                .demographics
                .as_ref()
                .and_then(him_core::JobDemographics::mrn_compact);
            let encounter = manifest
                .demographics
                .as_ref()
                .and_then(|d| d.encounter.as_deref());
            let identity = identify_transcript(
                &transcript.segments,
                keyed.as_deref(),
                encounter,
                Some(&index),
                &config.patients,
                &config.matching,
            );
            explain(&manifest, &identity);
            print_line(&manifest, &identity);
            continue;
        }
        let ocr: OcrDocument = serde_json::from_slice(&std::fs::read(&path)?)?;
        let text = std::fs::read_to_string(folder.join("text.txt")).unwrap_or_default();
        let texts: Vec<&str> = text.split("\n\u{c}\n").collect();
        let pages: Vec<PageContent<'_>> = ocr
            .pages
            .iter()
            .enumerate()
            .map(|(i, page)| PageContent {
                text: texts.get(i).copied().unwrap_or_default(),
                words: &page.words,
            })
            .collect();
        if let Some(dir) = std::env::var_os("REIDENTIFY_TEXT") {
            // The rebuilt text of each page, for looking at a miss: `<sha256>.txt`.
            let rows: Vec<String> = ocr
                .pages
                .iter()
                .map(|page| him_extract::layout_text(&page.words))
                .collect();
            let name = format!("{}.txt", manifest.sha256);
            std::fs::write(Path::new(&dir).join(name), rows.join("\n\u{c}\n"))?;
        }
        let identity = if std::env::var_os("REIDENTIFY_LABELS_ONLY").is_some() {
            // The label reader alone, without the evidence search: the comparison of docs/IDENTITY.md.
            let fields = him::identity::extract_chart(&pages, &config.patients);
            let decision = him_extract::match_patient(&fields, &index, &config.matching);
            him::identity::Identity {
                fields,
                decision: Some(decision),
            }
        } else {
            identify(&pages, Some(&index), &config.patients, &config.matching)
        };
        explain(&manifest, &identity);
        print_line(&manifest, &identity);
    }
    Ok(())
}

/// With `REIDENTIFY_EXPLAIN`, every candidate of the decision with its evidence roles, on stderr (synthetic
/// benchmark charts only).
fn explain(manifest: &Manifest, identity: &him::identity::Identity) {
    if std::env::var_os("REIDENTIFY_EXPLAIN").is_none() {
        return;
    }
    if let Some(decision) = &identity.decision {
        eprintln!("{} {:?}", manifest.sha256, decision.outcome);
        for candidate in &decision.candidates {
            eprintln!("  candidate {} score {:.2}", candidate.mrn, candidate.score);
            for span in &candidate.evidence {
                eprintln!("    {:?} {:?}", span.identifier, span.role);
            }
        }
    }
}

/// One line in the shape of `him process`'s.
fn print_line(manifest: &Manifest, identity: &him::identity::Identity) {
    let status = if identity.filing_mrn().is_some() {
        "filed"
    } else {
        "unmatched"
    };
    let line = serde_json::json!({
        "sha256": manifest.sha256,
        "status": status,
        "fields": identity.fields_summary(),
        "patient": identity.patient(),
        "unmatched_reason": identity.filing_mrn().is_none().then(|| identity.unmatched_reason()),
    });
    println!("{line}");
}
