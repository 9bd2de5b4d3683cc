//! `him doctor`: the newcomer's first questions, answered by `him` itself before any job arrives.
//!
//! One line per check on stdout, each failure with what to do about it:
//!
//! ```text
//! ok    configuration: pipeline.toml
//! ok    tesseract 5.3.0: languages eng+osd (/usr/share/tesseract-ocr/5/tessdata/)
//! ok    OMP_THREAD_LIMIT: 1
//! FAIL  speech model models/ggml-base-q8_0.bin: missing — run models/fetch-whisper.sh base, or point …
//! ok    store file:///srv/him-data: written create-only, second write refused, read back (probe doctor/… kept: …)
//! FAIL  queue amqp://127.0.0.1:5672/%2f: queue broker unavailable during connect: … — start RabbitMQ (…
//! skip  review database him-review.sqlite: not created yet; him review creates it
//! ```
//!
//! Exit 0 when nothing failed (warnings and skips do not count), 1 otherwise. Tesseract starts the way an OCR
//! pool thread starts it, off the async runtime; the speech model is checked on disk (present, a ggml file,
//! the SHA-256 `SHA256SUMS` beside it records), not loaded. The only writes are the store's probe object
//! ([`him_store::Key::Probe`]) and the queue topology every `him` command declares; the review database is
//! only read. Nothing printed holds a secret: URLs are shown without their user and password.
//!
//! The checks of the engines (tesseract, its thread limit, the speech model) are in `doctor/engines.rs`,
//! those of the services (store, broker, review database) in `doctor/services.rs`.

use std::collections::HashMap;
use std::fmt;
use std::process::ExitCode;

use crate::startup::{self, CommonArgs};

mod engines;
mod services;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Works, but not as well as it should; does not change the exit code.
    Warn,
    Fail,
    /// Not configured or not in this build: nothing to check.
    Skip,
}

/// The outcome of one check: what was checked, what was found, and for a failure or warning what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub subject: String,
    pub detail: String,
    pub fix: Option<String>,
}

impl Finding {
    fn ok(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Verdict::Ok, subject, detail, None)
    }

    fn skip(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Verdict::Skip, subject, detail, None)
    }

    fn fail(subject: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(Verdict::Fail, subject, detail, Some(fix.into()))
    }

    fn warn(subject: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(Verdict::Warn, subject, detail, Some(fix.into()))
    }

    fn new(
        verdict: Verdict,
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Self {
        Finding {
            verdict,
            subject: subject.into(),
            detail: detail.into(),
            fix,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.verdict {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        write!(f, "{label:<6}{}: {}", self.subject, self.detail)?;
        match &self.fix {
            Some(fix) => write!(f, " — {fix}"),
            None => Ok(()),
        }
    }
}

/// `him doctor`: prints each finding as it comes; exit 1 when any failed.
pub fn run(common: &CommonArgs) -> ExitCode {
    let mut failed = false;
    let mut report = |finding: Finding| {
        failed |= finding.verdict == Verdict::Fail;
        println!("{finding}");
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = match startup::load_config(common, &env) {
        Ok(config) => {
            report(match &common.config {
                Some(path) => Finding::ok("configuration", path.display().to_string()),
                None => Finding::ok("configuration", "built-in defaults (no --config given)"),
            });
            config
        }
        Err(error) => {
            report(Finding::fail(
                "configuration",
                format!("{error:#}"),
                "correct the file or the --config path: the shipped pipeline.toml shows every key with its \
                 default; unknown keys are refused",
            ));
            return ExitCode::from(1);
        }
    };
    report(engines::check_tesseract(&config.ocr, &env));
    report(engines::check_thread_limit(&env));
    report(engines::check_speech_model(&config.asr.model_path));
    match startup::runtime() {
        Ok(runtime) => {
            report(runtime.block_on(services::check_store(&config.store, &env)));
            report(runtime.block_on(services::check_queue(&config.queue)));
        }
        Err(error) => report(Finding::fail(
            "runtime",
            format!("{error:#}"),
            "the process could not start its threads: check the service's limits (ulimit -u)",
        )),
    }
    report(services::check_review(&config));
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// An error with its causes, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(source) = cause {
        let more = source.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = source.source();
    }
    text
}

/// A URL without its user and password (`amqp://127.0.0.1:5672/%2f`); anything else as it is.
fn url_without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{path}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line is the verdict in six columns, the subject, the detail and, for a failure, the fix.
    #[test]
    fn a_finding_is_one_line_with_its_fix() {
        let ok = Finding::ok("tesseract 5.3.0", "languages eng");
        assert_eq!(ok.to_string(), "ok    tesseract 5.3.0: languages eng");
        let fail = Finding::fail("speech model m.bin", "missing", "run x");
        assert_eq!(
            fail.to_string(),
            "FAIL  speech model m.bin: missing — run x"
        );
        assert!(Finding::skip("queue", "off")
            .to_string()
            .starts_with("skip  queue: "));
        assert!(Finding::warn("a", "b", "c")
            .to_string()
            .starts_with("warn  a: b — c"));
    }

    /// Shown URLs carry no user or password; other settings are shown as they are.
    #[test]
    fn urls_are_shown_without_user_and_password() {
        assert_eq!(
            url_without_userinfo("amqp://worker:s3cr%40t@mq.example:5672/%2f?heartbeat=10"),
            "amqp://mq.example:5672/%2f?heartbeat=10"
        );
        assert_eq!(
            url_without_userinfo("postgres://him:pw@db:5432/him_review"),
            "postgres://db:5432/him_review"
        );
        assert_eq!(
            url_without_userinfo("amqp://127.0.0.1:5672"),
            "amqp://127.0.0.1:5672"
        );
        assert_eq!(
            url_without_userinfo("him-review.sqlite"),
            "him-review.sqlite"
        );
    }
}
