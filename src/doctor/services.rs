//! The services' checks: the store's create-only writes, the broker, the review database.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use him_queue::{Queue, QueueConfig};
use him_store::{Key, Store, StoreConfig, Written};

use super::{error_chain, url_without_userinfo, Finding};

/// Longest wait for the broker and the review database to answer.
const SERVICE_LIMIT: Duration = Duration::from_secs(5);

/// Longest wait for the store's three probe requests (an S3 client retries within it).
const STORE_LIMIT: Duration = Duration::from_secs(20);

/// Opens the store and checks its create-only semantics with a probe of its own.
pub(super) async fn check_store(config: &StoreConfig, env: &HashMap<String, String>) -> Finding {
    let local = !config.url.trim().starts_with("s3://");
    let fix = if local {
        "give the service's user write access to the folder, or set [store] url (--store) to one it may write"
    } else {
        "check the bucket, [store] endpoint and region, and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
    };
    let store = match Store::from_config(config, env) {
        Ok(store) => store,
        Err(error) => {
            let shown = url_without_userinfo(&config.url);
            return Finding::fail(format!("store {shown}"), error_chain(&error), fix);
        }
    };
    let subject = format!("store {}", store.location());
    match tokio::time::timeout(STORE_LIMIT, probe_store(&store)).await {
        Ok(Ok(key)) => Finding::ok(
            subject,
            format!("written create-only, second write refused, read back (probe {key} kept: the store has no delete)"),
        ),
        Ok(Err((detail, None))) => Finding::fail(subject, detail, fix),
        Ok(Err((detail, Some(own_fix)))) => Finding::fail(subject, detail, own_fix),
        Err(_) => Finding::fail(subject, format!("no answer within {} s", STORE_LIMIT.as_secs()), fix),
    }
}

/// Writes a new probe, writes it again (which must be refused) and reads it back. A failure is its detail,
/// with a fix of its own where the store's general one does not fit.
async fn probe_store(store: &Store) -> Result<Key, (String, Option<String>)> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ");
    let key = Key::probe(&format!("probe-{stamp}-{}.txt", std::process::id()))
        .ok_or_else(|| ("the probe's name is not a store key".to_string(), None))?;
    let first = Bytes::from(format!("him doctor probe {stamp}\n"));
    match store.put_new(&key, first.clone()).await {
        Ok(Written::Created) => {}
        Ok(Written::AlreadyExisted) => {
            return Err((format!("the new probe {key} existed already"), None))
        }
        Err(error) => return Err((format!("cannot write: {}", error_chain(&error)), None)),
    }
    let create_only =
        "use a store that honours conditional writes (S3 If-None-Match: *; AWS S3, a recent \
                       MinIO): him relies on them never to overwrite an original";
    match store
        .put_new(&key, Bytes::from_static(b"overwritten\n"))
        .await
    {
        Ok(Written::AlreadyExisted) => {}
        Ok(Written::Created) => {
            return Err((
                "a second write to the same key was taken: this store overwrites".to_string(),
                Some(create_only.to_string()),
            ))
        }
        Err(error) => {
            return Err((
                format!(
                    "a second write to the same key failed instead of being refused: {}",
                    error_chain(&error)
                ),
                Some(create_only.to_string()),
            ))
        }
    }
    match store.get(&key).await {
        Ok(read) if read == first => Ok(key),
        Ok(_) => Err((
            "the probe read back holds other bytes: this store overwrites".to_string(),
            Some(create_only.to_string()),
        )),
        Err(error) => Err((format!("cannot read back: {}", error_chain(&error)), None)),
    }
}

/// Connects to the broker (declaring the topology, as every `him` command does) within [`SERVICE_LIMIT`].
pub(super) async fn check_queue(config: &QueueConfig) -> Finding {
    if config.url.trim().is_empty() {
        return Finding::skip("queue", "not configured ([queue] url is empty)");
    }
    let subject = format!("queue {}", url_without_userinfo(&config.url));
    let start =
        "start RabbitMQ (rabbitmq-server -detached, or systemctl start rabbitmq-server), or point \
                 [queue] url (HIM_AMQP_URL) at a running broker";
    match tokio::time::timeout(SERVICE_LIMIT, Queue::connect(config)).await {
        Ok(Ok(queue)) => {
            queue.close().await;
            Finding::ok(subject, format!("connected, queues {}.* declared", config.prefix))
        }
        Ok(Err(error @ him_queue::Error::Refused { .. })) => Finding::fail(
            subject,
            error_chain(&error),
            "check the user, password and virtual host of [queue] url (HIM_AMQP_URL) and the user's permissions",
        ),
        Ok(Err(error @ him_queue::Error::Config { .. })) => Finding::fail(
            subject,
            error_chain(&error),
            "correct [queue] url: amqp://user@host:5672/%2f, the password through HIM_AMQP_URL",
        ),
        Ok(Err(error)) => Finding::fail(subject, error_chain(&error), start),
        Err(_) => Finding::fail(subject, format!("no answer within {} s", SERVICE_LIMIT.as_secs()), start),
    }
}

/// Reads the review database without changing it.
#[cfg(feature = "review")]
pub(super) fn check_review(config: &crate::config::PipelineConfig) -> Finding {
    use him_review::{DatabaseProbe, Dialect};
    let database = config.review.database.trim();
    if database.is_empty() {
        return Finding::skip(
            "review database",
            "not configured ([review] database is empty)",
        );
    }
    let postgres = him_review::is_postgres_url(database);
    let subject = format!("review database {}", url_without_userinfo(database));
    match him_review::probe_database(database, SERVICE_LIMIT) {
        Ok(DatabaseProbe::NotCreated) => Finding::skip(subject, "not created yet; him review creates it"),
        Ok(DatabaseProbe::Answered { dialect, accounts }) => {
            let kind = match dialect {
                Dialect::Sqlite => "SQLite",
                Dialect::Postgres => "PostgreSQL",
            };
            let accounts = match accounts {
                None => "no tables yet (him review creates them)".to_string(),
                Some(0) => "no accounts yet (HIM_PASSWORD=… him user add NAME --role supervisor)".to_string(),
                Some(1) => "1 account".to_string(),
                Some(n) => format!("{n} accounts"),
            };
            Finding::ok(subject, format!("{kind} answers; {accounts}"))
        }
        Err(error) if postgres => Finding::fail(
            subject,
            error_chain(&error),
            "start PostgreSQL, or correct [review] database (postgres://user@host:5432/database; user, password, \
             database)",
        ),
        Err(error) => Finding::fail(
            subject,
            error_chain(&error),
            "give the service's user read and write access to the file and its folder, or point [review] \
             database at another path",
        ),
    }
}

#[cfg(not(feature = "review"))]
pub(super) fn check_review(_: &crate::config::PipelineConfig) -> Finding {
    Finding::skip(
        "review database",
        "this build has no review UI (built without the feature review)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that keeps create-only writes passes with its probe kept; one that cannot be written fails
    /// with the fix for its kind.
    #[tokio::test]
    async fn the_store_probe_needs_create_only_writes() {
        let store = Store::in_memory();
        let key = probe_store(&store).await.unwrap();
        assert!(key.path().starts_with("doctor/probe-"), "{key}");
        assert!(store.exists(&key).await.unwrap());

        let faults = std::sync::Arc::new(him_store::Faults::default());
        faults.fail_writes(him_store::Fault::Refused, 1);
        let refusing = Store::in_memory_with_faults(faults);
        let (detail, fix) = probe_store(&refusing).await.unwrap_err();
        assert!(detail.starts_with("cannot write"), "{detail}");
        assert_eq!(fix, None);
    }
}
