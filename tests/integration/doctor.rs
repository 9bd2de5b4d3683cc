//! `him doctor` on the real tesseract, speech model, store and RabbitMQ: green where everything is there; on a
//! machine without tesseract's language data, without the speech model and with RabbitMQ stopped, each problem
//! named with its fix.

use std::path::Path;
use std::process::Command;

use crate::support::{files_under, repo, require_rabbitmq, Broker};

/// What one `him doctor` run printed.
struct Doctor {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

impl Doctor {
    /// The line of the check whose subject starts with `subject` (after the six columns of the verdict).
    fn line(&self, subject: &str) -> &str {
        self.stdout
            .lines()
            .find(|line| line.get(6..).is_some_and(|rest| rest.starts_with(subject)))
            .unwrap_or_else(|| {
                panic!(
                    "no {subject} line in:\n{}\nstderr:\n{}",
                    self.stdout, self.stderr
                )
            })
    }
}

/// Runs `him doctor --config CONFIG` with `env` added to an environment without the variables it reads.
fn doctor(config: &Path, env: &[(&str, &str)]) -> Doctor {
    let mut command = Command::new(env!("CARGO_BIN_EXE_him"));
    command.arg("doctor").arg("--config").arg(config);
    for variable in [
        "HIM_LOG",
        "OMP_THREAD_LIMIT",
        "TESSDATA_PREFIX",
        "HIM_AMQP_URL",
        "HIM_STORE_URL",
    ] {
        command.env_remove(variable);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("failed to start the him binary");
    Doctor {
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code(),
    }
}

/// Deletes the queues and exchanges a run declared under `prefix` on the broker at `url`.
fn delete_topology(url: &str, prefix: &str) {
    let config = him_queue::QueueConfig {
        url: url.to_string(),
        prefix: prefix.to_string(),
        ..him_queue::QueueConfig::default()
    };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let queue = him_queue::Queue::connect(&config).await.unwrap();
        queue.delete_topology().await.unwrap();
        queue.close().await;
    });
}

/// With tesseract's data, the tiny.en model, a local store, the machine's RabbitMQ and an SQLite review
/// database, every check passes or has nothing to check, and the store holds the probe and nothing else.
#[test]
fn doctor_is_green_on_a_ready_machine() {
    require_rabbitmq();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let review = dir.path().join("review.sqlite");
    #[cfg(feature = "review")]
    drop(him_review::Db::open(&review).unwrap());
    let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
    let prefix = format!("him-test-doctor-{}", std::process::id());
    let config = dir.path().join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = {:?}\n\n[asr]\nmodel_path = {:?}\n\n[queue]\nurl = {url:?}\nprefix = {prefix:?}\n\n\
             [review]\ndatabase = {:?}\n",
            store.display().to_string(),
            repo().join("models/ggml-tiny.en.bin").display().to_string(),
            review.display().to_string(),
        ),
    )
    .unwrap();

    let run = doctor(&config, &[]);
    delete_topology(url, &prefix);

    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    for line in run.stdout.lines() {
        assert!(
            line.starts_with("ok    ") || line.starts_with("skip  "),
            "{line}"
        );
    }
    assert!(run.line("tesseract").contains("languages eng+osd"));
    assert!(run.line("OMP_THREAD_LIMIT").starts_with("ok    "));
    let model = run.line("speech model");
    assert!(
        model.starts_with("ok    ") && model.contains("sha256 as SHA256SUMS records"),
        "{model}"
    );
    assert!(run.line("store").starts_with("ok    "));
    assert!(run
        .line("queue amqp://127.0.0.1:5672/")
        .starts_with("ok    "));
    assert!(!run.stdout.contains("guest:"), "{}", run.stdout);
    #[cfg(feature = "review")]
    assert!(run.line("review database").contains("SQLite answers"));
    let written = files_under(&store);
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].starts_with("doctor/probe-"), "{written:?}");
}

/// Without tesseract's language data (TESSDATA_PREFIX names an empty folder), without the speech model and
/// with the queue's RabbitMQ node stopped (a node of the test's own, started and then stopped here; the
/// machine's node is never touched), the three problems are named with their fixes and the exit code is 1;
/// the store, which works, still passes.
#[test]
fn doctor_names_each_missing_piece_and_its_fix() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let tessdata = dir.path().join("tessdata");
    std::fs::create_dir(&tessdata).unwrap();
    let model = dir.path().join("models/ggml-base-q8_0.bin");
    let config = dir.path().join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = {:?}\n\n[asr]\nmodel_path = {:?}\n\n[queue]\nurl = {:?}\n\n[review]\ndatabase = {:?}\n",
            dir.path().join("store").display().to_string(),
            model.display().to_string(),
            broker.url(),
            dir.path().join("review.sqlite").display().to_string(),
        ),
    )
    .unwrap();
    let env = [("TESSDATA_PREFIX", tessdata.to_str().unwrap())];
    let up = doctor(&config, &env);
    assert!(
        up.line("queue").starts_with("ok    "),
        "the test's node should answer before it is stopped:\n{}",
        up.stdout
    );

    broker.stop();
    let run = doctor(&config, &env);

    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let tesseract = run.line("tesseract");
    assert!(tesseract.starts_with("FAIL  "), "{tesseract}");
    assert!(
        tesseract.contains(&format!(
            "no language data eng in TESSDATA_PREFIX {}",
            tessdata.display()
        )),
        "{tesseract}"
    );
    assert!(
        tesseract.contains("unset TESSDATA_PREFIX")
            && tesseract.contains("apt-get install tesseract-ocr-eng"),
        "{tesseract}"
    );
    let speech = run.line("speech model");
    assert!(
        speech.starts_with(&format!(
            "FAIL  speech model {}: missing — ",
            model.display()
        )),
        "{speech}"
    );
    assert!(
        speech.contains("run models/fetch-whisper.sh base"),
        "{speech}"
    );
    let queue = run.line("queue");
    assert!(queue.starts_with("FAIL  "), "{queue}");
    assert!(
        queue.contains(&broker.url().replace("guest:guest@", "")),
        "{queue}"
    );
    assert!(queue.contains("rabbitmq-server -detached"), "{queue}");
    assert!(!run.stdout.contains("guest:"), "{}", run.stdout);
    assert!(run.line("store").starts_with("ok    "));
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with("FAIL")).count(),
        3,
        "{}",
        run.stdout
    );
}
