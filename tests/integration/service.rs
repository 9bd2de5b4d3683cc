//! Service mode end to end: `him submit` → RabbitMQ → two `him worker` processes → a real S3-protocol server
//! (moto). Nothing is lost or filed twice when workers are killed, the broker restarts or storage stalls.
//!
//! The scenarios run one at a time behind a lock. They use the machine's RabbitMQ node, except the broker
//! restart, which starts a node of its own (own name, ports and data folder) and restarts that one: a test
//! never stops the machine's node.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::{fixture, require_rabbitmq};

static SERIAL: Mutex<()> = Mutex::new(());

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The key of a document's index entry, as the store lists it.
fn index_key(id: &str) -> String {
    him_store::Key::Index(him_core::DocumentId::parse(id).unwrap()).path()
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The status line of one HTTP exchange; `None` when nothing listens or answers.
fn http_status(port: u16, request: &str) -> Option<String> {
    let (head, _) = try_http_exchange(port, request)?;
    head.lines().next().map(str::to_string)
}

/// One HTTP/1.1 exchange over a fresh connection: the response head and body; `None` when nothing
/// listens on `port`.
fn try_http_exchange(port: u16, request: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    Some(match response.split_once("\r\n\r\n") {
        Some((head, body)) => (head.to_string(), body.to_string()),
        None => (response, String::new()),
    })
}

/// A moto S3 server with one bucket.
fn start_moto(port: u16, bucket: &str) -> Proc {
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start moto_server ({e}); install it with: pip install 'moto[server]'")
        });
    let moto = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let request = format!("PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    while !http_status(port, &request).is_some_and(|s| s.contains(" 200")) {
        assert!(
            Instant::now() < deadline,
            "moto_server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    moto
}

/// One scenario's world: a bucket on moto, a queue prefix, a config file, and worker processes.
struct World {
    moto: Option<Proc>,
    moto_port: u16,
    dir: tempfile::TempDir,
    config: PathBuf,
    prefix: String,
    bucket: String,
    /// The broker's URL when it is not the machine's node.
    queue_url: Option<String>,
    workers: Vec<Proc>,
}

impl World {
    fn new(name: &str, extra_config: &str) -> World {
        require_rabbitmq();
        Self::build(name, extra_config, None)
    }

    /// A world on a RabbitMQ node of the test's own.
    fn with_queue(name: &str, extra_config: &str, url: &str) -> World {
        Self::build(name, extra_config, Some(url.to_string()))
    }

    fn build(name: &str, extra_config: &str, queue_url: Option<String>) -> World {
        let moto_port = free_port();
        let unique = format!("{name}-{}-{}", std::process::id(), moto_port);
        let bucket = format!("him-{unique}");
        let moto = start_moto(moto_port, &bucket);
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("him-test-{unique}");
        let config = dir.path().join("pipeline.toml");
        let model = crate::support::repo().join("models/ggml-tiny.en.bin");
        std::fs::write(
            &config,
            format!(
                "[store]\nurl = \"s3://{bucket}/site\"\nendpoint = \"http://127.0.0.1:{moto_port}\"\nallow_http = true\n\
                 request_timeout_secs = 2\nmax_retries = 1\n\n\
                 [queue]\n{}prefix = \"{prefix}\"\nreconnect_max_ms = 2000\n\n\
                 [worker]\nmetrics_listen = \"\"\n{extra_config}\n\n\
                 [asr]\nmodel_path = {:?}\n",
                queue_url
                    .as_deref()
                    .map(|url| format!("url = {url:?}\n"))
                    .unwrap_or_default(),
                model.display().to_string()
            ),
        )
        .unwrap();
        World {
            moto: Some(moto),
            moto_port,
            dir,
            config,
            prefix,
            bucket,
            queue_url,
            workers: Vec::new(),
        }
    }

    fn him(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_him"));
        command
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("HIM_LOG", "warn");
        command
    }

    fn start_worker(&mut self) {
        let log = std::fs::File::create(
            self.dir
                .path()
                .join(format!("worker-{}.log", self.workers.len())),
        )
        .unwrap();
        let child = self
            .him()
            .args([
                "worker",
                "--config",
                self.config.to_str().unwrap(),
                "--workers",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.workers.push(Proc(child));
    }

    /// Submits files; returns document id → status.
    fn submit(&self, files: &[PathBuf], extra: &[&str]) -> BTreeMap<String, String> {
        let output = self
            .him()
            .args([
                "submit",
                "--config",
                self.config.to_str().unwrap(),
                "--station",
                "test-station",
            ])
            .args(extra)
            .args(files)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "submit failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                (
                    value["document_id"].as_str().unwrap().to_string(),
                    value["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn store(&self) -> him_store::Store {
        let config = him_store::StoreConfig {
            url: format!("s3://{}/site", self.bucket),
            endpoint: format!("http://127.0.0.1:{}", self.moto_port),
            allow_http: true,
            ..him_store::StoreConfig::default()
        };
        let env = std::collections::HashMap::from([
            ("AWS_ACCESS_KEY_ID".to_string(), "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "test".to_string()),
        ]);
        him_store::Store::from_config(&config, &env).unwrap()
    }

    /// Every key in the bucket under the site prefix.
    fn keys(&self) -> Vec<String> {
        let store = self.store();
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(store.list(&him_store::Prefix::All))
            .unwrap()
            .iter()
            .map(him_store::Key::path)
            .collect()
    }

    /// Waits until `count` documents have index entries; panics with the worker logs after `limit`.
    fn wait_for_index(&self, count: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let keys = self.keys();
            let indexed = keys.iter().filter(|k| k.starts_with("index/")).count();
            if indexed >= count {
                return keys;
            }
            if Instant::now() > deadline {
                let logs: String = (0..self.workers.len())
                    .map(|i| {
                        std::fs::read_to_string(self.dir.path().join(format!("worker-{i}.log")))
                            .unwrap_or_default()
                    })
                    .collect();
                panic!(
                    "only {indexed}/{count} documents filed after {limit:?}; worker logs:\n{logs}"
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn delete_queues(&self) {
        let mut config = him_queue::QueueConfig {
            prefix: self.prefix.clone(),
            ..him_queue::QueueConfig::default()
        };
        if let Some(url) = &self.queue_url {
            // The test's own node goes away with the test.
            config.url = url.clone();
        }
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            if let Ok(queue) = him_queue::Queue::connect(&config).await {
                let _ = queue.delete_topology().await;
                queue.close().await;
            }
        });
        let _ = Command::new("rabbitmqctl")
            .args([
                "-q",
                "delete_queue",
                &format!("{}.test-events", self.prefix),
            ])
            .output();
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.workers.clear();
        self.moto.take();
        self.delete_queues();
    }
}

/// `count` distinct small charts (fixture pages with a distinct trailing comment) in `dir`.
fn distinct_charts(dir: &Path, count: usize) -> Vec<PathBuf> {
    let sources = [
        "scans/phototest.tif",
        "scans/phototest-rotated-180.png",
        "charts/phototest-g4.pdf",
        "charts/phototest-jpeg.pdf",
        "scans/phototestrot.tif",
    ];
    (0..count)
        .map(|i| {
            let mut bytes = std::fs::read(fixture(sources[i % sources.len()])).unwrap();
            bytes.extend_from_slice(format!("\n%% copy {i}\n").as_bytes());
            let path = dir.join(format!("chart-{i:03}"));
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

/// Asserts every submitted document is filed exactly once: one index entry, one original.
fn assert_filed_once(keys: &[String], ids: &BTreeMap<String, String>) {
    for id in ids.keys() {
        let index = keys.iter().filter(|k| **k == index_key(id)).count();
        let originals = keys
            .iter()
            .filter(|k| !k.starts_with("intake/") && k.contains(&format!("/{id}/original.")))
            .count();
        let manifests = keys
            .iter()
            .filter(|k| k.contains(&format!("/{id}/")) && k.ends_with("document.json"))
            .count();
        assert_eq!(
            (index, originals),
            (1, 1),
            "document {id} filed {originals} times"
        );
        assert!(manifests <= 1);
    }
}

/// 50 mixed jobs (charts and dictations) through two worker processes: every document is filed exactly
/// once in S3, and an event is published for each.
#[test]
fn fifty_mixed_jobs_through_two_workers_are_filed_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut world = World::new("fifty", "");
    let events = EventTap::bind(&world.prefix);
    let dir = tempfile::tempdir().unwrap();
    let mut files = distinct_charts(dir.path(), 46);
    for i in 0..4 {
        let mut audio = std::fs::read(fixture("audio/jfk.wav")).unwrap();
        audio.extend_from_slice(&[0, 0, i as u8, 0]);
        let path = dir.path().join(format!("dictation-{i}.wav"));
        std::fs::write(&path, audio).unwrap();
        files.push(path);
    }
    let submitted = world.submit(&files, &[]);
    assert_eq!(submitted.len(), 50);
    assert!(submitted.values().all(|s| s == "queued"));
    world.start_worker();
    world.start_worker();
    let keys = world.wait_for_index(50, Duration::from_secs(300));
    assert_filed_once(&keys, &submitted);
    let published = events.count_until(50, Duration::from_secs(10));
    assert!(published >= 50, "{published} events for 50 documents");

    // The same files again: reported duplicate at intake, nothing new queued or filed.
    let again = world.submit(&files[..5], &[]);
    assert!(again.values().all(|s| s == "duplicate"), "{again:?}");
}

/// Killing a worker with SIGKILL in the middle of jobs, repeatedly, still files every job exactly once.
#[test]
fn killed_workers_lose_nothing_and_file_nothing_twice() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut world = World::new("kill", "");
    let dir = tempfile::tempdir().unwrap();
    let files = distinct_charts(dir.path(), 20);
    let submitted = world.submit(&files, &[]);
    world.start_worker();
    world.start_worker();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1500));
        // SIGKILL: no graceful shutdown, un-acked jobs go back to the queue.
        let victim = world.workers.remove(0);
        drop(victim);
        world.start_worker();
    }
    let keys = world.wait_for_index(20, Duration::from_secs(240));
    assert_filed_once(&keys, &submitted);
}

/// RabbitMQ restarting mid-batch: the workers reconnect by themselves and the batch completes.
#[test]
fn broker_restart_mid_batch_is_survived() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let broker = crate::support::Broker::start();
    let mut world = World::with_queue("restart", "", &broker.url());
    let dir = tempfile::tempdir().unwrap();
    let files = distinct_charts(dir.path(), 16);
    let submitted = world.submit(&files, &[]);
    world.start_worker();
    world.start_worker();
    std::thread::sleep(Duration::from_millis(1500));
    broker.restart();
    let keys = world.wait_for_index(16, Duration::from_secs(240));
    assert_filed_once(&keys, &submitted);
}

/// The S3 server stalling mid-batch: jobs whose results cannot be stored are not acked; the batch completes
/// once storage is back, with nothing lost or duplicated.
#[test]
fn storage_outage_mid_batch_loses_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut world = World::new("s3-outage", "");
    let dir = tempfile::tempdir().unwrap();
    let files = distinct_charts(dir.path(), 16);
    let submitted = world.submit(&files, &[]);
    world.start_worker();
    world.start_worker();
    std::thread::sleep(Duration::from_millis(1000));
    let pid = world.moto.as_ref().unwrap().0.id().to_string();
    // SIGSTOP freezes the server: connections hang and time out, as with a storage outage.
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_secs(6));
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let keys = world.wait_for_index(16, Duration::from_secs(240));
    assert_filed_once(&keys, &submitted);
}

/// A job that never completes within its time limit is requeued until the delivery limit, lands in the
/// dead-letter queue with its reason, and `him dlq replay` re-runs it once the cause is fixed.
#[test]
fn poison_job_is_dead_lettered_and_replayed() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // A one-second limit no letter-size chart page can meet.
    let mut world = World::new("poison", "job_timeout_secs = 1");
    let config_text = std::fs::read_to_string(&world.config)
        .unwrap()
        .replace("[queue]\n", "[queue]\ndelivery_limit = 2\n");
    std::fs::write(&world.config, config_text).unwrap();
    let poison = slow_chart(world.dir.path());
    let submitted = world.submit(std::slice::from_ref(&poison), &[]);
    let id = submitted.keys().next().unwrap().clone();
    world.start_worker();
    let deadline = Instant::now() + Duration::from_secs(120);
    let listed = loop {
        let output = world
            .him()
            .args(["dlq", "list", "--config", world.config.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        if text.contains(&id) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "job never reached the dead-letter queue"
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(listed.contains("\"reason\""), "{listed}");
    assert!(
        !world.keys().iter().any(|k| *k == index_key(&id)),
        "a dead-lettered job must not be filed"
    );

    // Fix the cause (a sane time limit), replay, and the job is filed.
    world.workers.clear();
    let fixed = std::fs::read_to_string(&world.config)
        .unwrap()
        .replace("job_timeout_secs = 1", "job_timeout_secs = 600");
    std::fs::write(&world.config, fixed).unwrap();
    let replay = world
        .him()
        .args([
            "dlq",
            "replay",
            &id,
            "--config",
            world.config.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    world.start_worker();
    let keys = world.wait_for_index(1, Duration::from_secs(120));
    assert_filed_once(&keys, &submitted);
}

/// A four-page letter-size TIFF: several seconds of OCR on one engine.
fn slow_chart(dir: &Path) -> PathBuf {
    let page = image::open(fixture("identity/charts/syn01-skew.png"))
        .unwrap()
        .to_luma8();
    let path = dir.join("slow.tif");
    let mut encoder =
        tiff::encoder::TiffEncoder::new(std::fs::File::create(&path).unwrap()).unwrap();
    for _ in 0..4 {
        encoder
            .write_image::<tiff::encoder::colortype::Gray8>(
                page.width(),
                page.height(),
                page.as_raw(),
            )
            .unwrap();
    }
    path
}

/// A queue bound to the events exchange, counting `document.*` events.
struct EventTap {
    runtime: tokio::runtime::Runtime,
    channel: lapin::Channel,
    queue: String,
}

impl EventTap {
    fn bind(prefix: &str) -> EventTap {
        use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
        use lapin::types::FieldTable;
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let queue = format!("{prefix}.test-events");
        let channel = runtime.block_on(async {
            let connection = lapin::Connection::connect(
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                lapin::ConnectionProperties::default(),
            )
            .await
            .expect("RabbitMQ not reachable at 127.0.0.1:5672");
            let channel = connection.create_channel().await.unwrap();
            let exchange = format!("{prefix}.events");
            channel
                .exchange_declare(
                    exchange.as_str().into(),
                    lapin::ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .unwrap();
            channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
            channel
                .queue_bind(
                    queue.as_str().into(),
                    exchange.as_str().into(),
                    "document.#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
            channel
        });
        EventTap {
            runtime,
            channel,
            queue,
        }
    }

    fn count_until(&self, expected: u32, limit: Duration) -> u32 {
        use lapin::options::QueueDeclareOptions;
        let deadline = Instant::now() + limit;
        loop {
            let count = self.runtime.block_on(async {
                self.channel
                    .queue_declare(
                        self.queue.as_str().into(),
                        QueueDeclareOptions {
                            passive: true,
                            ..Default::default()
                        },
                        lapin::types::FieldTable::default(),
                    )
                    .await
                    .map(|q| q.message_count())
                    .unwrap_or(0)
            });
            if count >= expected || Instant::now() > deadline {
                return count;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// One HTTP/1.1 exchange with a server that must be listening.
#[cfg(feature = "review")]
fn http_exchange(port: u16, request: &str) -> (String, String) {
    try_http_exchange(port, request).unwrap_or_else(|| panic!("nothing listens on port {port}"))
}

/// The `name=value` of every `Set-Cookie` of a response head.
#[cfg(feature = "review")]
fn set_cookies(head: &str) -> Vec<String> {
    head.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().split(';').next().unwrap_or("").to_string())
        })
        .collect()
}

/// Logs `user` in to the review UI on `port` and returns the session cookie.
#[cfg(feature = "review")]
fn review_login(port: u16, user: &str, password: &str) -> String {
    let (head, body) = http_exchange(
        port,
        "GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let login_cookie = set_cookies(&head).join("; ");
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).expect("login form has a csrf token") + marker.len();
    let csrf = body[start..].split('"').next().unwrap();
    let form = format!("csrf={csrf}&name={user}&password={password}");
    let (head, _) = http_exchange(
        port,
        &format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nCookie: {login_cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{form}",
            form.len()
        ),
    );
    let session = set_cookies(&head)
        .into_iter()
        .filter(|c| !c.ends_with('='))
        .collect::<Vec<_>>()
        .join("; ");
    assert!(!session.is_empty(), "login failed: {head}");
    session
}

/// A document submitted STAT from station ED-2 through RabbitMQ reaches the review queue, first, with
/// its station, within 2 s of being filed, waiting since its submission: the review follows the pipeline's
/// events (the periodic store listing is off here).
#[cfg(feature = "review")] // runs `him user` and `him review`
#[test]
fn stat_document_reaches_the_review_queue_first_within_two_seconds() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut world = World::new("review-events", "");
    let review_port = free_port();
    let metrics_port = free_port();
    let database = world.dir.path().join("review.db");
    let mut config = std::fs::read_to_string(&world.config).unwrap();
    config.push_str(&format!(
        "\n[review]\nlisten = \"127.0.0.1:{review_port}\"\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n\
         database = {:?}\nrefresh_secs = 0\n",
        database.display().to_string()
    ));
    std::fs::write(&world.config, config).unwrap();
    let config = world.config.to_str().unwrap().to_string();
    let added = world
        .him()
        .args([
            "user", "add", "ana", "--role", "reviewer", "--config", &config,
        ])
        .env("HIM_PASSWORD", "password-123")
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let review_log = world.dir.path().join("review.log");
    let _review = Proc(
        world
            .him()
            .args(["review", "--config", &config])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&review_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_status(
        review_port,
        "GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .is_none_or(|status| !status.contains(" 200"))
    {
        assert!(
            Instant::now() < deadline,
            "him review did not start: {}",
            std::fs::read_to_string(&review_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let session = review_login(review_port, "ana", "password-123");
    // Prometheus metrics answer on their own listener, not on the UI's.
    let metrics = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let on_metrics = http_status(metrics_port, metrics).unwrap_or_default();
    assert!(on_metrics.contains(" 200"), "{on_metrics}");
    let on_ui = http_status(review_port, metrics).unwrap_or_default();
    assert!(!on_ui.contains(" 200"), "{on_ui}");
    let queue_page = || {
        http_exchange(
            review_port,
            // No patient index here: both documents wait in the unmatched (indexing) list.
            &format!("GET /?list=unmatched HTTP/1.1\r\nHost: localhost\r\nCookie: {session}\r\nConnection: close\r\n\r\n"),
        )
        .1
    };
    world.start_worker();
    let charts = distinct_charts(world.dir.path(), 2);
    let routine = world.submit(&charts[..1], &[]);
    let routine_id = routine.keys().next().unwrap().clone();
    let stat_submit = world
        .him()
        .args(["submit", "--config", &config, "--stat", "--station", "ED-2"])
        .arg(&charts[1])
        .output()
        .unwrap();
    assert!(stat_submit.status.success());
    let line: serde_json::Value = serde_json::from_slice(&stat_submit.stdout).unwrap();
    let stat_id = line["document_id"].as_str().unwrap().to_string();

    // Poll the queue page until both documents are listed.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut stat_seen_at = None;
    let (html, seen_at) = loop {
        let html = queue_page();
        let now = chrono::Utc::now();
        if html.contains(&format!("/documents/{stat_id}\"")) {
            stat_seen_at.get_or_insert(now);
        }
        if let (Some(seen_at), true) = (
            stat_seen_at,
            html.contains(&format!("/documents/{routine_id}\"")),
        ) {
            break (html, seen_at);
        }
        assert!(
            Instant::now() < deadline,
            "documents never reached the review queue; review log:\n{}",
            std::fs::read_to_string(&review_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let store = world.store();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let entry: him_store::IndexEntry = serde_json::from_slice(
        &runtime
            .block_on(store.get(&him_store::Key::Index(
                him_core::DocumentId::parse(&stat_id).unwrap(),
            )))
            .unwrap(),
    )
    .unwrap();
    let filed_at = chrono::DateTime::parse_from_rfc3339(&entry.filed_at).unwrap();
    let delay = seen_at.signed_duration_since(filed_at);
    eprintln!(
        "STAT document in the review queue {} ms after filing",
        delay.num_milliseconds()
    );
    assert!(
        delay < chrono::Duration::seconds(2),
        "the review queue showed the document {} ms after filing",
        delay.num_milliseconds()
    );
    // First, with its station, waiting since submission.
    let stat_row = html.find(&format!("/documents/{stat_id}\"")).unwrap();
    let routine_row = html.find(&format!("/documents/{routine_id}\"")).unwrap();
    assert!(stat_row < routine_row, "the STAT document is listed first");
    let row_start = html[..stat_row].rfind("<tr").unwrap();
    let row = &html[row_start..stat_row];
    assert!(row.contains("STAT") && row.contains("ED-2"), "{row}");
    assert!(entry.job.stat);
    let submitted_at = entry.job.submitted_at.clone().unwrap();
    assert!(
        row.contains(&format!("waiting since {submitted_at}")),
        "waiting counts from submission ({submitted_at}): {row}"
    );
}

/// A dictation device writes the audio, then its job demographics sidecar two seconds later: `him watch`
/// pairs them, the queue message carries only the fact that demographics exist, and the worker files the
/// dictation into the keyed patient's folder because the spoken header corroborates the keyed MRN.
#[test]
fn drop_folder_pairs_a_sidecar_written_two_seconds_after_the_audio() {
    let index_dir = tempfile::tempdir().unwrap();
    let index = index_dir.path().join("patients.csv");
    std::fs::write(
        &index,
        "mrn,family,given,birth_date,sex\n4081123,O'Keefe,Karena,1957-03-14,F\n4081124,Okafor,Samuel,1981-07-02,M\n",
    )
    .unwrap();
    let mut world = World::new(
        "sidecar",
        &format!(
            "\n[watch]\npoll_secs = 1\nstable_secs = 1\nsidecar_grace_secs = 8\nstation = \"dict-04\"\n\n\
             [patients]\nindex = {:?}\n",
            index.display().to_string()
        ),
    );
    let drop = tempfile::tempdir().unwrap();
    let watch_log = std::fs::File::create(world.dir.path().join("watch.log")).unwrap();
    let _watch = Proc(
        world
            .him()
            .args(["watch", "--config", world.config.to_str().unwrap()])
            .arg(drop.path())
            .stdout(Stdio::null())
            .stderr(watch_log)
            .spawn()
            .unwrap(),
    );
    let audio = std::fs::read(fixture("dictation/dictation-01-en-us.ogg")).unwrap();
    std::fs::write(drop.path().join("OKEEFE KARENA dict.ogg"), &audio).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    std::fs::write(
        drop.path().join("OKEEFE KARENA dict.ogg.json"),
        r#"{"mrn": "4081123", "author": "Jane Miller", "work_type": "18842-5"}"#,
    )
    .unwrap();
    world.start_worker();
    let keys = world.wait_for_index(1, Duration::from_secs(180));
    let id = &crate::support::sha256_file(&fixture("dictation/dictation-01-en-us.ogg"))[..32];
    assert!(
        keys.contains(&format!("intake/{id}/demographics.json")),
        "{keys:?}"
    );
    assert!(
        keys.contains(&format!("patients/4081123/{id}/demographics.json")),
        "filed to the keyed patient with its demographics: {keys:?}"
    );
    let processed: Vec<String> = std::fs::read_dir(drop.path().join("processed"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        processed.len(),
        2,
        "audio and sidecar moved together: {processed:?}"
    );
    let log = std::fs::read_to_string(world.dir.path().join("watch.log")).unwrap();
    assert!(!log.contains("OKEEFE") && !log.contains("4081123"), "{log}");
}

/// A scanned batch through the service: submitted once, split by a worker into two documents filed to their
/// sheets' patients (RabbitMQ, S3 on moto), one event per document, the scan kept under batches/, and the
/// same scan submitted again reported duplicate.
#[test]
fn scanned_batch_through_a_worker_files_each_document_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let index = fixture("identity/patients.csv");
    let mut world = World::new(
        "batch",
        &format!("\n[patients]\nindex = {:?}\n", index.display().to_string()),
    );
    let events = EventTap::bind(&world.prefix);
    let scan = fixture("batches/fax-two-documents.tif");
    let submitted = world.submit(std::slice::from_ref(&scan), &[]);
    assert_eq!(submitted.values().collect::<Vec<_>>(), ["queued"]);
    world.start_worker();
    // Two documents and the batch itself.
    let keys = world.wait_for_index(3, Duration::from_secs(180));
    let batch_id = submitted.keys().next().unwrap();
    assert!(
        keys.contains(&format!("batches/{batch_id}/original.tif")),
        "{keys:?}"
    );
    assert!(keys.contains(&format!("batches/{batch_id}/batch.json")));
    for mrn in ["40000002", "40475147"] {
        let documents: Vec<&String> = keys
            .iter()
            .filter(|k| k.starts_with(&format!("patients/{mrn}/")) && k.ends_with("/document.pdf"))
            .collect();
        assert_eq!(documents.len(), 1, "patient {mrn}: {keys:?}");
    }
    let published = events.count_until(2, Duration::from_secs(10));
    assert!(published >= 2, "{published} events for 2 documents");
    let again = world.submit(std::slice::from_ref(&scan), &[]);
    assert!(again.values().all(|s| s == "duplicate"), "{again:?}");
}
