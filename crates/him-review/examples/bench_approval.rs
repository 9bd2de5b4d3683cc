//! Approval latency against the size of the legal original (issue #28): the fixture chart filed with an
//! original of 64 KiB, 8 MiB and 128 MiB (its SHA-1 in the manifest, as the pipeline records it), approved
//! in a local-folder store; per size, the median approval time and the bytes the store read. An approval
//! attaches the original's size and hash from the manifest and never reads it, so the time does not grow
//! with the original. `cargo run --release -p him-review --example bench_approval` prints the table.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use him_review::{Actor, AppState, Db, Patients, ReviewConfig, ReviewInput, Role};
use him_store::{Key, Store};
use sha1::{Digest, Sha1};

const FILED: &str = "f1379b7ea443afb88b895d460f944eeb";

/// Files copies of the fixture chart as `ids`, each with an original of `size` bytes.
fn file_copies(root: &Path, ids: &[String], size: usize) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store");
    let original: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let sha1: String = Sha1::digest(&original)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut stack = vec![fixture.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(&fixture)
                .unwrap()
                .to_string_lossy()
                .to_string();
            if !relative.contains(FILED) {
                continue;
            }
            for id in ids {
                let target = root.join(relative.replace(FILED, id));
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                let bytes = if relative.ends_with("original.tif") {
                    original.clone()
                } else if relative.ends_with("document.json") {
                    let text = std::fs::read_to_string(&path).unwrap().replace(FILED, id);
                    let mut manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
                    manifest["bytes"] = serde_json::json!(size);
                    manifest["sha1"] = serde_json::json!(sha1);
                    serde_json::to_vec_pretty(&manifest).unwrap()
                } else if relative.ends_with(".json") {
                    std::fs::read_to_string(&path)
                        .unwrap()
                        .replace(FILED, id)
                        .into_bytes()
                } else {
                    std::fs::read(&path).unwrap()
                };
                std::fs::write(&target, bytes).unwrap();
            }
        }
    }
    assert!(Key::parse(&format!("index/{}.json", ids[0])).is_some());
}

async fn approvals(size: usize, runs: usize) -> (f64, u64) {
    let dir = tempfile_dir(size);
    let ids: Vec<String> = (0..runs).map(|n| format!("{:032x}", 0xa000 + n)).collect();
    file_copies(&dir, &ids, size);
    // The copies on disk before timing: the kernel writing back a gigabyte of fresh pages would slow
    // every fsync of the approvals.
    let _ = std::process::Command::new("sync").status();
    let store = Store::local(&dir).unwrap();
    let db = Db::in_memory().unwrap();
    him_review::reindex(&store, &db).await.unwrap();
    him_review::add_user(&db, "ana", Role::Reviewer, "password-123", None).unwrap();
    let app = AppState::new(
        ReviewConfig::default(),
        store.clone(),
        db.clone(),
        Patients {
            live: Arc::new(him_patients::LiveIndex::fixed(Arc::default())),
            mrn_system: "urn:him:mrn".to_string(),
        },
    );
    let actor = Actor {
        name: "ana".to_string(),
        role: Role::Reviewer,
        author: None,
    };
    let input = ReviewInput {
        fields: BTreeMap::from([
            ("document_type".to_string(), "11506-3".to_string()),
            ("date_of_service".to_string(), "2026-11-30".to_string()),
        ]),
        text: "Progress note.\n".to_string(),
        flags_acknowledged: Vec::new(),
    };
    let mut times = Vec::new();
    let before = store.requests();
    for id in &ids {
        assert!(him_review::claim(&db, id, "ana", 30).unwrap());
        let start = Instant::now();
        him_review::approve(&app, id, &actor, &input).await.unwrap();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let gets = store.requests().since(before).gets / runs as u64;
    let _ = std::fs::remove_dir_all(&dir);
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], gets)
}

fn tempfile_dir(size: usize) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("him-bench-approval-{}-{size}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("| original | approval, median of 9 (ms) | store reads per approval |");
    println!("|---|---|---|");
    for (label, size) in [
        ("64 KiB", 64 << 10),
        ("8 MiB", 8 << 20),
        ("128 MiB", 128 << 20),
    ] {
        let (median, gets) = approvals(size, 9).await;
        println!("| {label} | {median:.1} | {gets} |");
    }
}
