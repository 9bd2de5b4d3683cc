//! The bounded CPU pool that runs engines (tesseract now, whisper later) off the async runtime.
//!
//! Each pool thread owns one engine, created on that thread by a factory and never shared. Jobs are closures
//! that receive the thread's engine; the caller awaits the result. A job that panics is caught, reported as
//! an error for that job only, and the thread's engine is rebuilt before the next job (its state is unknown).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;
use tracing::Span;

type Job<E> = Box<dyn FnOnce(&mut E) + Send>;

/// Why a pool job produced no result.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The job panicked; the panic is contained and the pool keeps running.
    #[error("job panicked on the cpu pool")]
    Panicked,
    /// The pool was shut down.
    #[error("cpu pool is shut down")]
    Closed,
}

/// A fixed set of threads, each owning an engine of type `E`.
pub struct CpuPool<E> {
    sender: Mutex<Option<Sender<Job<E>>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    size: usize,
}

impl<E: 'static> CpuPool<E> {
    /// Starts `size` threads (at least one) and creates one engine on each; fails if any engine fails to start.
    pub fn start<F>(size: usize, name: &str, factory: F) -> anyhow::Result<Self>
    where
        F: Fn() -> anyhow::Result<E> + Send + Sync + 'static,
    {
        let size = size.max(1);
        let (sender, receiver) = mpsc::channel::<Job<E>>();
        let receiver = Arc::new(Mutex::new(receiver));
        let factory = Arc::new(factory);
        let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<()>>();
        let mut threads = Vec::with_capacity(size);
        for index in 0..size {
            let receiver = Arc::clone(&receiver);
            let factory = Arc::clone(&factory);
            let ready = ready_tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || worker_loop(&receiver, factory.as_ref(), ready))?;
            threads.push(thread);
        }
        drop(ready_tx);
        for _ in 0..size {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    return Err(error.context(format!("failed to start {name} engine")))
                }
                Err(_) => anyhow::bail!("{name} pool thread exited during start-up"),
            }
        }
        Ok(CpuPool {
            sender: Mutex::new(Some(sender)),
            threads: Mutex::new(threads),
            size,
        })
    }

    /// Number of engine threads.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `job` with one thread's engine and returns its result. The current tracing span is carried onto
    /// the pool thread.
    pub async fn run<R, J>(&self, job: J) -> Result<R, PoolError>
    where
        R: Send + 'static,
        J: FnOnce(&mut E) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let span = Span::current();
        let boxed: Job<E> = Box::new(move |engine: &mut E| {
            let _entered = span.enter();
            let _ = tx.send(job(engine));
        });
        {
            let guard = self.sender.lock().map_err(|_| PoolError::Closed)?;
            let sender = guard.as_ref().ok_or(PoolError::Closed)?;
            sender.send(boxed).map_err(|_| PoolError::Closed)?;
        }
        // The sender is dropped without a value only when the job panicked.
        rx.await.map_err(|_| PoolError::Panicked)
    }

    /// Stops accepting jobs, lets queued ones finish and joins the threads.
    pub fn shutdown(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl<E> Drop for CpuPool<E> {
    fn drop(&mut self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
    }
}

fn worker_loop<E, F>(
    receiver: &Mutex<Receiver<Job<E>>>,
    factory: &F,
    ready: Sender<anyhow::Result<()>>,
) where
    F: Fn() -> anyhow::Result<E>,
{
    let mut engine = match factory() {
        Ok(engine) => {
            let _ = ready.send(Ok(()));
            engine
        }
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    drop(ready);
    loop {
        let job = {
            let Ok(guard) = receiver.lock() else { return };
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if catch_unwind(AssertUnwindSafe(|| job(&mut engine))).is_err() {
            tracing::warn!("engine job panicked; rebuilding the engine");
            match factory() {
                Ok(fresh) => engine = fresh,
                Err(error) => {
                    tracing::error!(error = %error, "failed to rebuild engine after a panic; pool thread stops");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_pool_threads_with_their_engine() {
        let pool = CpuPool::start(2, "test", || Ok(0u32)).unwrap();
        let name = pool
            .run(|count: &mut u32| {
                *count += 1;
                std::thread::current()
                    .name()
                    .unwrap_or_default()
                    .to_string()
            })
            .await
            .unwrap();
        assert!(name.starts_with("test-"));
        pool.shutdown();
    }

    #[tokio::test]
    async fn a_panicking_job_does_not_kill_the_pool() {
        let pool = CpuPool::start(1, "test", || Ok(())).unwrap();
        let result: Result<(), _> = pool.run(|_: &mut ()| panic!("boom")).await;
        assert!(matches!(result, Err(PoolError::Panicked)));
        assert_eq!(pool.run(|_: &mut ()| 7).await.unwrap(), 7);
    }

    #[test]
    fn engine_start_failure_is_reported() {
        let result = CpuPool::<()>::start(2, "test", || anyhow::bail!("no language data"));
        assert!(result.is_err());
    }
}
