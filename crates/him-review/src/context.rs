//! What review decisions work over, apart from the web layer: the store, the review database, the patient
//! index, the configuration, the clock, the outbox's event-id key and the write lock. The web state
//! ([`crate::AppState`]) holds one and lends it to [`crate::decide`].

use std::sync::Arc;

use him_interfaces::outbox::EventIdKey;
use him_store::Store;

use crate::config::ReviewConfig;
use crate::db::Db;
use crate::patients::Patients;

/// Serialises review writes of this process so that state checks and writes do not interleave. One for
/// the process, whatever the number of contexts: two contexts over one store still take turns.
static WRITE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What every review decision needs. Cheap to clone (its parts are shared).
#[derive(Clone)]
pub struct ReviewContext {
    pub store: Store,
    pub db: Db,
    pub config: Arc<ReviewConfig>,
    /// The patient index documents are assigned to (empty: nothing can be assigned).
    pub patients: Arc<Patients>,
    /// What the ages, turnaround colours and deficiency due dates are measured against.
    pub clock: Clock,
    /// The store's secret for outbox event ids, read on the first decision that writes an event.
    pub(crate) event_id_key: Arc<tokio::sync::OnceCell<EventIdKey>>,
    /// The process-wide lock decisions take between reading a document's state and writing.
    pub(crate) write_lock: &'static tokio::sync::Mutex<()>,
}

impl ReviewContext {
    /// A context over a store, an open database and the patient index, measuring time by the system clock.
    pub fn new(config: ReviewConfig, store: Store, db: Db, patients: Patients) -> Self {
        ReviewContext {
            store,
            db,
            config: Arc::new(config),
            patients: Arc::new(patients),
            clock: Clock::system(),
            event_id_key: Arc::default(),
            write_lock: &WRITE_LOCK,
        }
    }

    /// The store's secret for outbox event ids (made on first use, then kept for the context's life).
    pub(crate) async fn event_id_key(&self) -> crate::Result<&EventIdKey> {
        self.event_id_key
            .get_or_try_init(|| async { Ok(EventIdKey::load(&self.store).await?) })
            .await
    }
}

/// The time the UI measures ages against: the system clock, or a fixed or shifted one in tests.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(chrono::Utc::now))
    }

    /// The system clock shifted by `offset` (a test's "three days later").
    pub fn shifted(offset: chrono::Duration) -> Self {
        Clock(Arc::new(move || chrono::Utc::now() + offset))
    }

    /// A clock that stands still at `start` until its handle moves it (tests).
    pub fn manual(
        start: chrono::DateTime<chrono::Utc>,
    ) -> (Self, Arc<std::sync::Mutex<chrono::DateTime<chrono::Utc>>>) {
        let time = Arc::new(std::sync::Mutex::new(start));
        let read = time.clone();
        let clock = Clock(Arc::new(move || {
            *read.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
        }));
        (clock, time)
    }

    /// Now, by this clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}
