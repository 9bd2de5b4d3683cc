//! The permanent record store of `him`.
//!
//! Originals are legal records: kept byte-for-byte and never overwritten. [`Store`] therefore offers
//! create-only writes ([`Store::put_new`], `PutMode::Create` underneath) and no update or delete. It wraps
//! `object_store` so the same code files into a local folder (the embedded default), any S3-compatible server,
//! or memory (the twin used by fast tests).
//!
//! ```
//! # tokio_test();
//! # fn tokio_test() {
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! use him_store::{Store, Written};
//! let store = Store::in_memory();
//! assert_eq!(store.put_new("unmatched/abc/text.txt", "hello".into()).await?, Written::Created);
//! assert_eq!(store.put_new("unmatched/abc/text.txt", "other".into()).await?, Written::AlreadyExisted);
//! assert_eq!(&store.get("unmatched/abc/text.txt").await?[..], b"hello");
//! # Ok::<(), him_store::Error>(())
//! # }).unwrap();
//! # }
//! ```

mod config;
mod error;
mod store;

pub use config::StoreConfig;
pub use error::{Error, Result};
pub use store::{Store, Written};
