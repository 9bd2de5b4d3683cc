//! One conformance suite, run against every backend the store supports.
//!
//! The in-memory twin, the local folder and a real S3-protocol server (moto, started by the test on a
//! loopback port) all run the same suite. The S3 test fails, never skips, when `moto_server` is missing.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use him_core::{DocumentId, Mrn};
use him_store::{Entry, Folder, Follower, Stamp, Store, StoreConfig, Stream, Written};

/// Runs every check against `store`, in document folders derived from `prefix` (fresh per run).
async fn conformance(store: &Store, prefix: &str) -> Folder {
    let unique = format!("{prefix}-{:?}", Instant::now());
    let doc = Folder::Patient(
        Mrn::parse("0001").unwrap(),
        DocumentId::for_bytes(format!("{unique}/doc").as_bytes()),
    );
    let key = doc.original("pdf");
    assert!(
        !store.exists(&key).await.unwrap(),
        "a new key must not exist"
    );
    assert_eq!(
        store.put_new(&key, "first".into()).await.unwrap(),
        Written::Created
    );
    assert_eq!(
        store.put_new(&key, "second".into()).await.unwrap(),
        Written::AlreadyExisted
    );
    assert_eq!(
        &store.get(&key).await.unwrap()[..],
        b"first",
        "create-only write must not overwrite"
    );
    assert_eq!(store.size(&key).await.unwrap(), 5);
    assert!(store.get_opt(&doc.manifest()).await.unwrap().is_none());

    store.put_new(&doc.text(), "t".into()).await.unwrap();
    let listed = store.list(&doc.all()).await.unwrap();
    assert_eq!(listed, vec![doc.original("pdf"), doc.text()]);

    // A create race has exactly one winner.
    let race = Folder::Unmatched(DocumentId::for_bytes(format!("{unique}/race").as_bytes()));
    let race_key = race.manifest();
    let attempts = (0..8).map(|i| {
        let store = store.clone();
        let key = race_key.clone();
        tokio::spawn(async move {
            store
                .put_new(&key, format!("writer {i}").into())
                .await
                .unwrap()
        })
    });
    let mut created = 0;
    for attempt in attempts {
        if attempt.await.unwrap() == Written::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one concurrent create must win");
    doc
}

/// Journals: entries listed whole, by day from a time, and followed from a cursor (late writes inside the
/// window read once). Needs a store whose `mpi/journal/` is empty.
async fn journal_conformance(store: &Store) {
    let at = |text: &str| Stamp::parse(text).unwrap();
    let entry = |stamp: Stamp, id: &str| Entry::new(Stream::Mpi, stamp, id).unwrap();
    let a = entry(at("2026-01-01T23:59:59.999Z"), "a");
    let b = entry(at("2026-01-02T00:00:00.000Z"), "b");
    let c = entry(at("2026-01-02T10:00:00.000Z"), "c");
    for e in [&c, &a, &b] {
        assert_eq!(
            store.append(e, "{}".into()).await.unwrap(),
            Written::Created
        );
    }
    assert_eq!(
        store.append(&a, "{}".into()).await.unwrap(),
        Written::AlreadyExisted
    );
    let day2 = b.stamp().day();
    assert_eq!(
        store
            .list_journal(Stream::Mpi, Some((day2, Some(c.stamp()))))
            .await
            .unwrap(),
        vec![c.clone()]
    );
    assert_eq!(
        store
            .list_journal(Stream::Mpi, Some((day2, None)))
            .await
            .unwrap(),
        vec![b.clone(), c.clone()]
    );
    let empty_day = at("2025-06-01T00:00:00Z").day();
    assert!(store
        .list_journal(Stream::Mpi, Some((empty_day, None)))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .list_journal(Stream::Outbox, None)
        .await
        .unwrap()
        .is_empty());

    let mut follower = Follower::new(Stream::Mpi, Duration::from_secs(60));
    assert_eq!(follower.poll(store).await.unwrap(), vec![a, b, c]);
    assert!(follower.poll(store).await.unwrap().is_empty());
    let now = entry(Stamp::now(), "now");
    store.append(&now, "{}".into()).await.unwrap();
    assert_eq!(follower.poll(store).await.unwrap(), vec![now.clone()]);
    assert!(follower.poll(store).await.unwrap().is_empty());
    // Stamped before the last poll, visible only after it (a slow write): read once, in the window.
    let late = entry(Stamp::now().before(Duration::from_secs(5)), "late");
    store.append(&late, "{}".into()).await.unwrap();
    assert_eq!(follower.poll(store).await.unwrap(), vec![late]);
    assert!(follower.poll(store).await.unwrap().is_empty());
    // A follower resuming at a position reads what is stamped from it on, not history.
    let resumed = Follower::resume(Stream::Mpi, Duration::from_secs(60), now.stamp())
        .poll(store)
        .await
        .unwrap();
    assert_eq!(resumed, vec![now], "{resumed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_store_conforms() {
    let store = Store::in_memory();
    conformance(&store, "suite").await;
    journal_conformance(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_folder_store_conforms() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::local(folder.path()).unwrap();
    conformance(&store, "suite").await;
    journal_conformance(&store).await;
}

/// A moto S3 server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends one plain HTTP request to the server and returns the status line.
fn http(port: u16, request: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    Ok(response.lines().next().unwrap_or_default().to_string())
}

fn start_moto(bucket: &str) -> Moto {
    let port = free_port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start moto_server ({e}); install it with: pip install 'moto[server]'")
        });
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = format!("PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        match http(port, &request) {
            Ok(status) if status.contains(" 200") => return moto,
            _ if Instant::now() > deadline => {
                panic!("moto_server did not come up on port {port} within 30 s")
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn s3_store(port: u16, url: &str) -> Store {
    let config = StoreConfig {
        url: url.to_string(),
        endpoint: format!("http://127.0.0.1:{port}"),
        allow_http: true,
        path_style: true,
        ..StoreConfig::default()
    };
    let env = HashMap::from([
        ("AWS_ACCESS_KEY_ID".to_string(), "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "test".to_string()),
    ]);
    Store::from_config(&config, &env).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_store_on_moto_conforms() {
    let moto = start_moto("him-conformance");
    let store = s3_store(moto.port, "s3://him-conformance/site-a");
    let doc = conformance(&store, "suite").await;
    journal_conformance(&store).await;
    // Objects live under the configured prefix inside the bucket, not at its root.
    let bare = s3_store(moto.port, "s3://him-conformance");
    assert!(store.exists(&doc.original("pdf")).await.unwrap());
    assert!(!bare.exists(&doc.original("pdf")).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreachable_s3_is_a_transient_error() {
    let store = s3_store(free_port(), "s3://nowhere");
    let key = Folder::Unmatched(DocumentId::for_bytes(b"x")).text();
    let error = store.put_new(&key, "x".into()).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
}
