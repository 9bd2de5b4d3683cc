//! One conformance suite, run against every backend the store supports.
//!
//! The in-memory twin and the local folder run here; the S3-protocol server (moto) runs the same suite
//! from the application's integration tests, where the server is started.

use him_store::{Store, Written};

/// Runs every check against `store`, under a fresh `prefix`.
async fn conformance(store: &Store, prefix: &str) {
    let key = format!("{prefix}/doc/original.pdf");
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
    assert!(store
        .get_opt(&format!("{prefix}/missing"))
        .await
        .unwrap()
        .is_none());

    store
        .put_new(&format!("{prefix}/doc/text.txt"), "t".into())
        .await
        .unwrap();
    let listed = store.list(&format!("{prefix}/doc")).await.unwrap();
    assert_eq!(
        listed,
        vec![
            format!("{prefix}/doc/original.pdf"),
            format!("{prefix}/doc/text.txt")
        ]
    );

    // A create race has exactly one winner.
    let race_key = format!("{prefix}/race/document.json");
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_store_conforms() {
    conformance(&Store::in_memory(), "suite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_folder_store_conforms() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::local(folder.path()).unwrap();
    conformance(&store, "suite").await;
}
