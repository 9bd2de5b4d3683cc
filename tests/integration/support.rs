//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `fixtures/`, which must exist.
pub fn fixture(relative: &str) -> PathBuf {
    let path = repo().join("fixtures").join(relative);
    assert!(path.exists(), "fixture {} is missing", path.display());
    path
}

/// What one `him process` run printed.
pub struct Run {
    pub lines: Vec<Value>,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Run {
    /// The line printed for an input path.
    pub fn line_for(&self, input: &Path) -> &Value {
        let input = input.display().to_string();
        self.lines
            .iter()
            .find(|line| line["input"] == input.as_str())
            .unwrap_or_else(|| panic!("no JSON line for {input}; stderr:\n{}", self.stderr))
    }
}

/// Runs `him process` into `store` over `files`, with extra arguments and environment.
pub fn process_with(store: &Path, files: &[PathBuf], args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_him"));
    command
        .arg("process")
        .arg("--store")
        .arg(store)
        .args(args)
        .args(files);
    command.env_remove("HIM_LOG");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("failed to start the him binary");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"))
        })
        .collect();
    Run {
        lines,
        stderr,
        code: output.status.code(),
    }
}

/// Runs `him process` over one file with a configuration given as TOML text.
pub fn process_one_with_config(store: &Path, file: &Path, config_toml: &str) -> Run {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), config_toml).unwrap();
    process_with(
        store,
        &[file.to_path_buf()],
        &["--config", config.path().to_str().unwrap()],
        &[],
    )
}

/// Runs `him process` with two OCR workers and default settings.
pub fn process(store: &Path, files: &[PathBuf]) -> Run {
    process_with(store, files, &["--workers", "2"], &[])
}

/// Lower-case hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> String {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    format!("{:x}", Sha256::digest(bytes))
}

/// Every file under a folder, as paths relative to it.
pub fn files_under(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Collapses all whitespace to single spaces.
pub fn normalise_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Character error rate: edit distance over the reference length, after whitespace normalisation.
pub fn cer(reference: &str, hypothesis: &str) -> f64 {
    let reference: Vec<char> = normalise_whitespace(reference).chars().collect();
    let hypothesis: Vec<char> = normalise_whitespace(hypothesis).chars().collect();
    let mut previous: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut current = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            let substitution = previous[j] + usize::from(r != h);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[hypothesis.len()] as f64 / reference.len().max(1) as f64
}

/// Reads a stored object as text.
pub fn stored_text(store: &Path, key: &str) -> String {
    std::fs::read_to_string(store.join(key))
        .unwrap_or_else(|e| panic!("cannot read stored {key}: {e}"))
}

/// Reads a stored JSON object.
pub fn stored_json(store: &Path, key: &str) -> Value {
    serde_json::from_str(&stored_text(store, key))
        .unwrap_or_else(|e| panic!("stored {key} is not JSON: {e}"))
}

#[test]
fn cer_counts_edits_over_reference_length() {
    assert_eq!(cer("abcd", "abcd"), 0.0);
    assert_eq!(cer("abcd", "abed"), 0.25);
    assert_eq!(cer("a  b\nc", "a b c"), 0.0);
}
