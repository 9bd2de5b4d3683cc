//! Helpers shared by the integration tests: running `him process`, reading the store, and RabbitMQ nodes of a
//! test's own ([`Broker`]).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// Fails unless the machine's RabbitMQ node answers on 127.0.0.1:5672.
pub fn require_rabbitmq() {
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", 5672)).is_ok(),
        "RabbitMQ not reachable at 127.0.0.1:5672: start it with `rabbitmq-server -detached`"
    );
}

/// Where Debian keeps the RabbitMQ programs that run as the calling user (the ones in /usr/sbin switch to
/// the `rabbitmq` user and its environment).
pub fn rabbitmq_program(name: &str) -> PathBuf {
    let debian = Path::new("/usr/lib/rabbitmq/bin").join(name);
    if debian.is_file() {
        debian
    } else {
        PathBuf::from(name)
    }
}

/// Two consecutive free ports below the ephemeral range (an outgoing connection can hold a port above
/// 32768 that a listener then cannot bind).
pub fn free_port_pair() -> u16 {
    let start = 20_000 + (std::process::id() % 5_000) as u16 * 2;
    (start..30_000)
        .step_by(2)
        .find(|&port| {
            TcpListener::bind(("127.0.0.1", port)).is_ok()
                && TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
        })
        .expect("two free ports between 20000 and 30000")
}

/// A RabbitMQ node of the test's own: its own node name, AMQP and distribution ports and data folder, so
/// that it can be stopped and restarted without touching the machine's node. Stopped on drop.
pub struct Broker {
    dir: tempfile::TempDir,
    node: String,
    port: u16,
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port_pair();
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(
            dir.path().join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\n"),
        )
        .unwrap();
        let broker = Broker {
            node: format!("him-test-{port}@localhost"),
            dir,
            port,
        };
        broker.launch();
        broker
    }

    /// The AMQP URL of the node (guest, loopback only).
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn launch(&self) {
        let folder = self.dir.path();
        let status = Command::new(rabbitmq_program("rabbitmq-server"))
            .arg("-detached")
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_DIST_PORT", (self.port + 1).to_string())
            .env("RABBITMQ_MNESIA_BASE", folder.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", folder.join("log"))
            .env("RABBITMQ_PID_FILE", folder.join("pid"))
            .env("RABBITMQ_CONFIG_FILE", folder.join("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", folder.join("enabled_plugins"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot start a RabbitMQ node for the test ({e}): apt-get install -y rabbitmq-server")
            });
        assert!(
            status.success(),
            "rabbitmq-server -detached failed for {}",
            self.node
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ready = self
                .ctl(&["await_startup", "--timeout", "60"])
                .is_ok_and(|o| o.status.success());
            if ready && quorum_queues_work(&self.url()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the test's RabbitMQ node {} did not start within 120 s; see {}",
                self.node,
                folder.join("log").display()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn ctl(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new(rabbitmq_program("rabbitmqctl"))
            .args(["-q", "-n", &self.node])
            .args(args)
            .output()
    }

    /// Stops the node; its port then refuses connections.
    pub fn stop(&self) {
        let stop = self.ctl(&["stop"]).unwrap();
        assert!(
            stop.status.success(),
            "rabbitmqctl stop: {}",
            String::from_utf8_lossy(&stop.stderr)
        );
    }

    /// Stops the node and starts it again on the same data, waiting until it serves again.
    pub fn restart(&self) {
        self.stop();
        std::thread::sleep(Duration::from_secs(2));
        self.launch();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.ctl(&["stop"]);
    }
}

/// Whether a quorum queue can be declared: after a restart the node answers before its quorum system does.
pub fn quorum_queues_work(url: &str) -> bool {
    let config = him_queue::QueueConfig {
        url: url.to_string(),
        prefix: format!("him-test-probe-{}", std::process::id()),
        ..him_queue::QueueConfig::default()
    };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        match him_queue::Queue::connect(&config).await {
            Ok(queue) => {
                let _ = queue.delete_topology().await;
                queue.close().await;
                true
            }
            Err(_) => false,
        }
    })
}

#[test]
fn cer_counts_edits_over_reference_length() {
    assert_eq!(cer("abcd", "abcd"), 0.0);
    assert_eq!(cer("abcd", "abed"), 0.25);
    assert_eq!(cer("a  b\nc", "a b c"), 0.0);
}
