//! `him watch DIR`: dictation drop folders in front of `intake → queue`.
//!
//! Each scan lists the folder (not recursively), waits until a file kept its size and modification time
//! for `stable_secs` (so a file still being copied is never taken), submits it, then moves it to
//! `processed/` (queued or duplicate) or `failed/` (the file itself cannot be used). Intake is idempotent on
//! SHA-256, so a crash between submitting and moving only leads to a `duplicate` on the next run.
//!
//! File names are never logged: stations put patient names in them. Logs carry document ids and sizes.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{ensure, Context as _};
use bytes::Bytes;
use him_core::{Kind, MediaType};
use him_queue::Queue;
use him_store::Store;
use tracing::{debug, error, info, warn};

use crate::config::WatchConfig;
use crate::intake;
use crate::intake_api::is_transient;

/// Subfolder of files submitted (queued or duplicate).
pub const PROCESSED_DIR: &str = "processed";

/// Subfolder of files that cannot be submitted (unreadable, empty, too large).
pub const FAILED_DIR: &str = "failed";

/// Longest wait between retries of a file whose submission failed.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Name endings of files that copy tools are still writing under a temporary name.
const TEMPORARY_SUFFIXES: [&str; 4] = [".tmp", ".part", ".partial", ".crdownload"];

/// What one scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanSummary {
    /// Files submitted and queued, then moved to `processed/`.
    pub queued: usize,
    /// Files already queued or filed, moved to `processed/`.
    pub duplicates: usize,
    /// Files moved to `failed/`.
    pub failed: usize,
    /// Files left in place after a failed submission or move, to be retried after a backoff.
    pub deferred: usize,
    /// Files not yet stable.
    pub waiting: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Observation {
    size: u64,
    modified: Option<SystemTime>,
    since: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Retry {
    attempts: u32,
    next: Instant,
}

/// A drop folder and what the watcher remembers about its files between scans.
#[derive(Debug)]
pub struct DropFolder {
    dir: PathBuf,
    store: Store,
    queue: Queue,
    config: WatchConfig,
    observed: HashMap<OsString, Observation>,
    retries: HashMap<OsString, Retry>,
}

/// Watches `dir` until `shutdown` completes. A scan in progress is finished first.
pub async fn watch(
    dir: &Path,
    store: Store,
    queue: Queue,
    config: WatchConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let poll = Duration::from_secs(config.poll_secs.max(1));
    let mut folder = DropFolder::open(dir, store, queue, config)?;
    info!(dir = %dir.display(), station = %folder.config.station, "watching drop folder");
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        match folder.scan_once(Instant::now()).await {
            Ok(summary) if summary != ScanSummary::default() => {
                debug!(?summary, "drop folder scanned")
            }
            Ok(_) => {}
            Err(cause) => warn!(error = format!("{cause:#}"), "drop folder scan failed"),
        }
    }
    info!("drop folder watcher stopped");
    Ok(())
}

impl DropFolder {
    /// Checks the configuration and the folder, creating `processed/` and `failed/` when missing.
    pub fn open(
        dir: &Path,
        store: Store,
        queue: Queue,
        config: WatchConfig,
    ) -> anyhow::Result<Self> {
        config.validate()?;
        ensure!(
            dir.is_dir(),
            "drop folder {} is not a folder",
            dir.display()
        );
        for sub in [PROCESSED_DIR, FAILED_DIR] {
            std::fs::create_dir_all(dir.join(sub)).with_context(|| {
                format!("failed to create {sub}/ in drop folder {}", dir.display())
            })?;
        }
        Ok(DropFolder {
            dir: dir.to_path_buf(),
            store,
            queue,
            config,
            observed: HashMap::new(),
            retries: HashMap::new(),
        })
    }

    /// Lists the folder once and takes every file that has been stable since an earlier scan, with its job
    /// demographics sidecar (`<file name>.json`) when one is there. Audio without a sidecar waits
    /// `sidecar_grace_secs` more, for a sidecar written after it.
    /// `now` is passed in so tests can move time forward without sleeping.
    pub async fn scan_once(&mut self, now: Instant) -> anyhow::Result<ScanSummary> {
        let mut summary = ScanSummary::default();
        let mut listed: Vec<(OsString, u64)> = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.dir)
            .await
            .with_context(|| format!("failed to list drop folder {}", self.dir.display()))?;
        while let Some(entry) = entries
            .next_entry()
            .await
            .context("failed to list drop folder")?
        {
            let name = entry.file_name();
            if skipped_name(&name) {
                continue;
            }
            // Symbolic links are not followed (they may point anywhere); subfolders, processed/ and
            // failed/ included, are not entered.
            let Ok(metadata) = tokio::fs::symlink_metadata(entry.path()).await else {
                continue;
            };
            if !metadata.file_type().is_file() {
                continue;
            }
            let seen = Observation {
                size: metadata.len(),
                modified: metadata.modified().ok(),
                since: now,
            };
            let previous = self.observed.entry(name.clone()).or_insert(seen);
            if (previous.size, previous.modified) != (seen.size, seen.modified) {
                *previous = seen;
            }
            listed.push((name, seen.size));
        }
        let present: Vec<OsString> = listed.iter().map(|(name, _)| name.clone()).collect();
        let stable_for = Duration::from_secs(self.config.stable_secs);
        let stable_since = |observed: &HashMap<OsString, Observation>, name: &OsStr| {
            observed
                .get(name)
                .map(|o| now.saturating_duration_since(o.since))
                .filter(|age| *age >= stable_for)
        };
        for (name, size) in listed {
            if let Some(audio) = sidecar_of(&name) {
                if present.contains(&audio) {
                    continue; // taken with its audio
                }
                let orphan_for = Duration::from_secs(self.config.orphan_sidecar_secs);
                if stable_since(&self.observed, &name).is_some_and(|age| age >= orphan_for) {
                    warn!(
                        bytes = size,
                        reason = "orphan_sidecar",
                        "drop folder sidecar has no audio beside it"
                    );
                    self.move_to(&name, FAILED_DIR, now, &mut summary).await;
                } else {
                    summary.waiting += 1;
                }
                continue;
            }
            let Some(age) = stable_since(&self.observed, &name) else {
                summary.waiting += 1;
                continue;
            };
            if self
                .retries
                .get(&name)
                .is_some_and(|retry| retry.next > now)
            {
                summary.deferred += 1;
                continue;
            }
            let mut sidecar_name = name.clone();
            sidecar_name.push(".json");
            let sidecar = if present.contains(&sidecar_name) {
                if stable_since(&self.observed, &sidecar_name).is_none() {
                    summary.waiting += 1;
                    continue;
                }
                Some(sidecar_name)
            } else {
                None
            };
            let grace_over =
                age >= stable_for + Duration::from_secs(self.config.sidecar_grace_secs);
            self.take(&name, size, sidecar, grace_over, now, &mut summary)
                .await;
        }
        self.observed.retain(|name, _| present.contains(name));
        self.retries.retain(|name, _| present.contains(name));
        Ok(summary)
    }

    /// Submits one stable file, with its job demographics when `sidecar` names them, and moves it (and the
    /// sidecar) away. Audio without a sidecar is left waiting until `grace_over`.
    async fn take(
        &mut self,
        name: &OsStr,
        size: u64,
        sidecar: Option<OsString>,
        grace_over: bool,
        now: Instant,
        summary: &mut ScanSummary,
    ) {
        let path = self.dir.join(name);
        if size == 0 || size > self.config.max_file_bytes {
            let reason = if size == 0 { "empty" } else { "too_large" };
            warn!(bytes = size, reason, "drop folder file cannot be submitted");
            self.move_pair(name, sidecar.as_deref(), FAILED_DIR, now, summary)
                .await;
            return;
        }
        let original = match tokio::fs::read(&path).await {
            Ok(bytes) => Bytes::from(bytes),
            Err(cause) if cause.kind() == io::ErrorKind::NotFound => {
                // Taken away by someone else between listing and reading.
                self.observed.remove(name);
                return;
            }
            Err(cause) => {
                // std's io errors carry no path, so this logs no file name.
                warn!(bytes = size, error = %cause, reason = "unreadable", "drop folder file cannot be submitted");
                self.move_pair(name, sidecar.as_deref(), FAILED_DIR, now, summary)
                    .await;
                return;
            }
        };
        if original.len() as u64 != size {
            // Changed between the last look and the read: watch it again from scratch.
            self.observed.remove(name);
            summary.waiting += 1;
            return;
        }
        let is_audio = MediaType::sniff(&original).is_some_and(|m| m.kind() == Kind::Dictation);
        if sidecar.is_none() && is_audio && !grace_over {
            summary.waiting += 1;
            return;
        }
        let demographics = match &sidecar {
            None => None,
            Some(sidecar_name) => {
                let path = self.dir.join(sidecar_name);
                let parsed = tokio::task::spawn_blocking(move || intake::read_demographics(&path))
                    .await
                    .map_err(anyhow::Error::new)
                    .and_then(|read| read);
                match parsed {
                    Ok(demographics) => Some(demographics),
                    Err(cause) => {
                        // The error names the key, never the value; the pair goes to failed/ together.
                        warn!(bytes = size, error = %cause, reason = "invalid_demographics", "drop folder sidecar cannot be used");
                        self.move_pair(name, sidecar.as_deref(), FAILED_DIR, now, summary)
                            .await;
                        return;
                    }
                }
            }
        };
        let started = Instant::now();
        let request = intake::JobRequest {
            stat: self.config.stat,
            station: Some(&self.config.station),
            demographics: demographics.as_ref(),
        };
        let submitted = intake::submit(&self.store, &self.queue, original, request).await;
        match submitted {
            Ok(submitted) => {
                info!(
                    document.id = %submitted.document_id,
                    bytes = submitted.bytes,
                    status = submitted.status,
                    demographics = demographics.is_some(),
                    duration_ms = started.elapsed().as_millis() as u64,
                    "drop folder file submitted"
                );
                if self
                    .move_pair(name, sidecar.as_deref(), PROCESSED_DIR, now, summary)
                    .await
                {
                    if submitted.status == "queued" {
                        summary.queued += 1;
                    } else {
                        summary.duplicates += 1;
                    }
                }
            }
            Err(cause) => {
                let retry = self.defer(name, now);
                summary.deferred += 1;
                let transient = is_transient(&cause);
                let error = format!("{cause:#}");
                let retry_secs = retry.next.saturating_duration_since(now).as_secs();
                if transient {
                    warn!(
                        bytes = size,
                        transient,
                        attempts = retry.attempts,
                        retry_secs,
                        error,
                        "drop folder submission failed"
                    );
                } else {
                    // Not the file's fault (store or broker refusing): it stays in place for a human to fix.
                    error!(
                        bytes = size,
                        transient,
                        attempts = retry.attempts,
                        retry_secs,
                        error,
                        "drop folder submission failed"
                    );
                }
            }
        }
    }

    /// Moves a file and its sidecar (when it has one) into a subfolder; returns whether the file moved.
    async fn move_pair(
        &mut self,
        name: &OsStr,
        sidecar: Option<&OsStr>,
        sub: &str,
        now: Instant,
        summary: &mut ScanSummary,
    ) -> bool {
        let moved = self.move_to(name, sub, now, summary).await;
        if let Some(sidecar) = sidecar.filter(|_| moved) {
            // The sidecar is not counted as a second failed file.
            let mut ignored = ScanSummary::default();
            self.move_to(sidecar, sub, now, &mut ignored).await;
        }
        moved
    }

    /// Moves a file into a subfolder without overwriting; returns whether it moved.
    async fn move_to(
        &mut self,
        name: &OsStr,
        sub: &str,
        now: Instant,
        summary: &mut ScanSummary,
    ) -> bool {
        let source = self.dir.join(name);
        let folder = self.dir.join(sub);
        let moved = tokio::task::spawn_blocking(move || move_no_clobber(&source, &folder)).await;
        match moved {
            Ok(Ok(())) => {
                self.observed.remove(name);
                self.retries.remove(name);
                if sub == FAILED_DIR {
                    summary.failed += 1;
                }
                true
            }
            Ok(Err(cause)) => {
                let retry = self.defer(name, now);
                summary.deferred += 1;
                error!(folder = sub, error = %cause, attempts = retry.attempts, "failed to move a drop folder file");
                false
            }
            Err(join) => {
                self.defer(name, now);
                summary.deferred += 1;
                error!(folder = sub, error = %join, "failed to move a drop folder file");
                false
            }
        }
    }

    /// Schedules the next attempt of a file with exponential backoff.
    fn defer(&mut self, name: &OsStr, now: Instant) -> Retry {
        let poll = Duration::from_secs(self.config.poll_secs.max(1));
        let retry = self.retries.entry(name.to_os_string()).or_insert(Retry {
            attempts: 0,
            next: now,
        });
        retry.attempts += 1;
        let delay = poll
            .saturating_mul(1 << retry.attempts.min(10))
            .min(MAX_BACKOFF);
        retry.next = now + delay;
        *retry
    }
}

/// The audio file name a sidecar name belongs to: `a.wav.json` → `a.wav`; `None` for other names.
fn sidecar_of(name: &OsStr) -> Option<OsString> {
    let lossy = name.to_string_lossy();
    let stem = lossy.strip_suffix(".json")?;
    (!stem.is_empty()).then(|| OsString::from(stem))
}

/// Dotfiles, names copy tools use while writing, and Office-style `~` lock files.
fn skipped_name(name: &OsStr) -> bool {
    let lossy = name.to_string_lossy();
    let lower = lossy.to_ascii_lowercase();
    lossy.starts_with('.')
        || lossy.starts_with('~')
        || TEMPORARY_SUFFIXES
            .iter()
            .any(|suffix| lower.ends_with(suffix))
        || lossy == PROCESSED_DIR
        || lossy == FAILED_DIR
}

/// `name`, `name.1`, `name.2`… with the number before the extension: `a.wav`, `a.1.wav`.
fn numbered(name: &OsStr, number: u32) -> OsString {
    if number == 0 {
        return name.to_os_string();
    }
    let path = Path::new(name);
    let (Some(stem), Some(extension)) = (path.file_stem(), path.extension()) else {
        let mut numbered = name.to_os_string();
        numbered.push(format!(".{number}"));
        return numbered;
    };
    let mut numbered = stem.to_os_string();
    numbered.push(format!(".{number}."));
    numbered.push(extension);
    numbered
}

/// Moves `source` into `folder` under its name, or a numbered one when that is taken; never overwrites.
///
/// A hard link fails when the target exists, which makes "take this name" atomic; where links are not
/// supported (some network shares) it falls back to checking, then renaming.
fn move_no_clobber(source: &Path, folder: &Path) -> io::Result<()> {
    let name = source
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    for number in 0..10_000 {
        let target = folder.join(numbered(name, number));
        match std::fs::hard_link(source, &target) {
            Ok(()) => return std::fs::remove_file(source),
            Err(cause) if cause.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) if target.symlink_metadata().is_ok() => continue,
            Err(_) => return std::fs::rename(source, &target),
        }
    }
    Err(io::Error::other(
        "no free numbered name in the target folder",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use him_core::JobDemographics;
    use him_queue::QueueConfig;

    const SECOND: Duration = Duration::from_secs(1);
    const AUDIO: &[u8] = b"RIFF\x24\x00\x00\x00WAVEfmt not really a dictation";

    fn folder(dir: &Path) -> DropFolder {
        let config = WatchConfig {
            station: "drop-3".to_string(),
            sidecar_grace_secs: 0,
            ..WatchConfig::default()
        };
        DropFolder::open(
            dir,
            Store::in_memory(),
            Queue::in_memory(&QueueConfig::default()),
            config,
        )
        .unwrap()
    }

    use crate::intake::test_support::published;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A complete file is queued once, with the folder's station, and moved to processed/.
    #[tokio::test]
    async fn complete_file_is_queued_once_and_moved() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = folder(dir.path());
        std::fs::write(dir.path().join("DOE JANE 2024-05-01.wav"), AUDIO).unwrap();
        let t0 = Instant::now();
        assert_eq!(watcher.scan_once(t0).await.unwrap().waiting, 1);
        let summary = watcher.scan_once(t0 + 5 * SECOND).await.unwrap();
        assert_eq!(
            summary,
            ScanSummary {
                queued: 1,
                ..ScanSummary::default()
            }
        );
        assert_eq!(names(dir.path()), ["failed", "processed"]);
        assert_eq!(
            names(&dir.path().join("processed")),
            ["DOE JANE 2024-05-01.wav"]
        );
        assert_eq!(
            watcher.scan_once(t0 + 10 * SECOND).await.unwrap(),
            ScanSummary::default()
        );
        let jobs = published(&watcher.queue).await;
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].station.as_deref(), Some("drop-3"));
    }

    /// A file that keeps growing is only taken once it stayed the same for `stable_secs`.
    #[tokio::test]
    async fn growing_file_waits_until_stable() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = folder(dir.path());
        let path = dir.path().join("dictation.wav");
        std::fs::write(&path, &AUDIO[..10]).unwrap();
        let t0 = Instant::now();
        assert_eq!(watcher.scan_once(t0).await.unwrap().waiting, 1);
        std::fs::write(&path, AUDIO).unwrap();
        assert_eq!(watcher.scan_once(t0 + 5 * SECOND).await.unwrap().waiting, 1);
        assert_eq!(watcher.scan_once(t0 + 9 * SECOND).await.unwrap().waiting, 1);
        assert_eq!(watcher.scan_once(t0 + 10 * SECOND).await.unwrap().queued, 1);
        let jobs = published(&watcher.queue).await;
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].bytes, AUDIO.len() as u64);
    }

    /// The same bytes dropped again after the first was processed: a duplicate, moved without overwriting.
    #[tokio::test]
    async fn same_bytes_dropped_twice_are_queued_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = folder(dir.path());
        let t0 = Instant::now();
        std::fs::write(dir.path().join("dictation.wav"), AUDIO).unwrap();
        watcher.scan_once(t0).await.unwrap();
        assert_eq!(watcher.scan_once(t0 + 5 * SECOND).await.unwrap().queued, 1);
        std::fs::write(dir.path().join("dictation.wav"), AUDIO).unwrap();
        watcher.scan_once(t0 + 6 * SECOND).await.unwrap();
        let summary = watcher.scan_once(t0 + 11 * SECOND).await.unwrap();
        assert_eq!(
            summary,
            ScanSummary {
                duplicates: 1,
                ..ScanSummary::default()
            }
        );
        assert_eq!(
            names(&dir.path().join("processed")),
            ["dictation.1.wav", "dictation.wav"]
        );
        assert_eq!(published(&watcher.queue).await.len(), 1);
    }

    /// After a crash between submitting and moving, a restarted watcher does not queue the file again.
    #[tokio::test]
    async fn restart_after_crash_before_move_does_not_queue_twice() {
        let dir = tempfile::tempdir().unwrap();
        let before_crash = folder(dir.path());
        std::fs::write(dir.path().join("dictation.wav"), AUDIO).unwrap();
        let submitted = intake::submit(
            &before_crash.store,
            &before_crash.queue,
            Bytes::from_static(AUDIO),
            intake::JobRequest {
                station: Some("drop-3"),
                ..intake::JobRequest::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(submitted.status, "queued");
        let (store, queue) = (before_crash.store.clone(), before_crash.queue.clone());
        drop(before_crash);

        let mut restarted =
            DropFolder::open(dir.path(), store, queue, WatchConfig::default()).unwrap();
        let t0 = Instant::now();
        restarted.scan_once(t0).await.unwrap();
        // Audio waits `sidecar_grace_secs` (10 s by default) for a sidecar after it is stable.
        let summary = restarted.scan_once(t0 + 16 * SECOND).await.unwrap();
        assert_eq!(summary.duplicates, 1);
        assert_eq!(names(&dir.path().join("processed")), ["dictation.wav"]);
        assert_eq!(published(&restarted.queue).await.len(), 1);
    }

    /// Dotfiles, temporary names and subfolders are left alone.
    #[tokio::test]
    async fn hidden_temporary_and_nested_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = folder(dir.path());
        std::fs::write(dir.path().join(".dictation.wav"), AUDIO).unwrap();
        std::fs::write(dir.path().join("dictation.wav.part"), AUDIO).unwrap();
        std::fs::create_dir(dir.path().join("nested")).unwrap();
        std::fs::write(dir.path().join("nested").join("dictation.wav"), AUDIO).unwrap();
        std::fs::write(dir.path().join("processed").join("old.wav"), AUDIO).unwrap();
        let t0 = Instant::now();
        watcher.scan_once(t0).await.unwrap();
        assert_eq!(
            watcher.scan_once(t0 + 60 * SECOND).await.unwrap(),
            ScanSummary::default()
        );
        assert!(published(&watcher.queue).await.is_empty());
    }

    /// Empty and oversized files go to failed/ without being submitted.
    #[tokio::test]
    async fn unusable_files_go_to_failed() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = folder(dir.path());
        watcher.config.max_file_bytes = 8;
        std::fs::write(dir.path().join("empty.wav"), b"").unwrap();
        std::fs::write(dir.path().join("large.wav"), AUDIO).unwrap();
        let t0 = Instant::now();
        watcher.scan_once(t0).await.unwrap();
        assert_eq!(watcher.scan_once(t0 + 5 * SECOND).await.unwrap().failed, 2);
        assert_eq!(
            names(&dir.path().join("failed")),
            ["empty.wav", "large.wav"]
        );
        assert!(published(&watcher.queue).await.is_empty());
    }

    /// A failed submission leaves the file in place and retries it only after a growing backoff.
    #[tokio::test]
    async fn failed_submission_is_retried_with_backoff() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = folder(dir.path());
        watcher.config.station = "not a station".to_string();
        std::fs::write(dir.path().join("dictation.wav"), AUDIO).unwrap();
        let t0 = Instant::now();
        watcher.scan_once(t0).await.unwrap();
        assert_eq!(
            watcher.scan_once(t0 + 5 * SECOND).await.unwrap().deferred,
            1
        );
        assert_eq!(
            watcher.scan_once(t0 + 7 * SECOND).await.unwrap().deferred,
            1
        );
        watcher.config.station = "drop-3".to_string();
        assert_eq!(
            watcher.scan_once(t0 + 8 * SECOND).await.unwrap().deferred,
            1
        );
        assert_eq!(watcher.scan_once(t0 + 9 * SECOND).await.unwrap().queued, 1);
        assert_eq!(published(&watcher.queue).await.len(), 1);
    }

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(numbered(OsStr::new("a.wav"), 0), "a.wav");
        assert_eq!(numbered(OsStr::new("a.b.wav"), 2), "a.b.2.wav");
        assert_eq!(numbered(OsStr::new("noext"), 1), "noext.1");
    }

    #[test]
    fn default_config_is_valid() {
        WatchConfig::default().validate().unwrap();
        let bad = WatchConfig {
            station: "Jane Doe".to_string(),
            ..WatchConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    fn folder_with_grace(dir: &Path) -> DropFolder {
        let mut watcher = folder(dir);
        watcher.config.sidecar_grace_secs = 10;
        watcher.config.orphan_sidecar_secs = 60;
        watcher
    }

    /// A sidecar written after the audio is paired with it: the audio waits for it, the job says that
    /// demographics exist (never their values), the store holds them, and both files move together.
    #[tokio::test]
    async fn a_late_sidecar_is_paired_with_its_audio() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = folder_with_grace(dir.path());
        std::fs::write(dir.path().join("dict_001.wav"), AUDIO).unwrap();
        let t0 = Instant::now();
        watcher.scan_once(t0).await.unwrap();
        // Stable, but within the grace period: waits for a sidecar.
        assert_eq!(watcher.scan_once(t0 + 5 * SECOND).await.unwrap().waiting, 1);
        std::fs::write(
            dir.path().join("dict_001.wav.json"),
            r#"{"mrn": "4081123", "work_type": "18842-5"}"#,
        )
        .unwrap();
        let summary = watcher.scan_once(t0 + 7 * SECOND).await.unwrap();
        assert_eq!(summary.queued, 0, "the sidecar is not stable yet");
        let summary = watcher.scan_once(t0 + 12 * SECOND).await.unwrap();
        assert_eq!(summary.queued, 1, "{summary:?}");
        assert_eq!(
            names(&dir.path().join("processed")),
            ["dict_001.wav", "dict_001.wav.json"]
        );
        let jobs = published(&watcher.queue).await;
        assert_eq!(jobs.len(), 1);
        assert!(jobs[0].demographics);
        assert!(!serde_json::to_string(&jobs[0]).unwrap().contains("4081123"));
        let key =
            him_store::Folder::Intake(him_core::DocumentId::parse(&jobs[0].document_id).unwrap())
                .key(him_store::Object::Demographics);
        let stored = watcher.store.get(&key).await.unwrap();
        assert_eq!(
            JobDemographics::parse(&stored).unwrap().mrn.as_deref(),
            Some("4081123")
        );
    }

    /// Audio without a sidecar is submitted without one once the grace period is over.
    #[tokio::test]
    async fn audio_without_a_sidecar_goes_after_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = folder_with_grace(dir.path());
        std::fs::write(dir.path().join("dict_002.wav"), AUDIO).unwrap();
        let t0 = Instant::now();
        watcher.scan_once(t0).await.unwrap();
        assert_eq!(watcher.scan_once(t0 + 9 * SECOND).await.unwrap().queued, 0);
        assert_eq!(watcher.scan_once(t0 + 15 * SECOND).await.unwrap().queued, 1);
        let jobs = published(&watcher.queue).await;
        assert!(!jobs[0].demographics);
    }

    /// An invalid sidecar sends the pair to failed/ (nothing is submitted without the demographics the device
    /// meant to send); a sidecar whose audio never comes goes to failed/ after `orphan_sidecar_secs`.
    #[tokio::test]
    async fn invalid_and_orphan_sidecars_go_to_failed() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = folder_with_grace(dir.path());
        std::fs::write(dir.path().join("dict_003.wav"), AUDIO).unwrap();
        std::fs::write(
            dir.path().join("dict_003.wav.json"),
            r#"{"patient": "Doe"}"#,
        )
        .unwrap();
        // Larger than any job demographics: refused without being read whole.
        std::fs::write(
            dir.path().join("dict_004.wav"),
            b"RIFF\x24\x00\x00\x00WAVEfmt another one",
        )
        .unwrap();
        let mut huge = br#"{"mrn": "1", "author": ""#.to_vec();
        huge.resize(JobDemographics::MAX_BYTES * 4, b'a');
        std::fs::write(dir.path().join("dict_004.wav.json"), huge).unwrap();
        std::fs::write(dir.path().join("lost.wav.json"), r#"{"mrn": "1"}"#).unwrap();
        let t0 = Instant::now();
        watcher.scan_once(t0).await.unwrap();
        let summary = watcher.scan_once(t0 + 5 * SECOND).await.unwrap();
        assert_eq!((summary.queued, summary.failed), (0, 2), "{summary:?}");
        assert_eq!(
            names(&dir.path().join("failed")),
            [
                "dict_003.wav",
                "dict_003.wav.json",
                "dict_004.wav",
                "dict_004.wav.json"
            ]
        );
        assert!(dir.path().join("lost.wav.json").exists());
        watcher.scan_once(t0 + 70 * SECOND).await.unwrap();
        assert!(!dir.path().join("lost.wav.json").exists());
        assert!(published(&watcher.queue).await.is_empty());
    }
}
