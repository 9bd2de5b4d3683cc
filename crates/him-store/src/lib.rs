//! The permanent record store of `him`.
//!
//! Originals are legal records: kept byte-for-byte and never overwritten. [`Store`] therefore offers
//! create-only writes ([`Store::put_new`], `PutMode::Create` underneath) and no update or delete. It wraps
//! `object_store` so the same code files into a local folder (the embedded default), any S3-compatible server,
//! or memory (the twin used by fast tests). Every key is a typed [`Key`] of the one [`layout`](Folder):
//! nothing formats an object key by hand, and a key's `Display` never shows the MRN it holds.
//!
//! ```
//! # tokio_test();
//! # fn tokio_test() {
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! use him_core::DocumentId;
//! use him_store::{Folder, Store, Written};
//! let store = Store::in_memory();
//! let folder = Folder::Unmatched(DocumentId::for_bytes(b"%PDF-1.7 ..."));
//! assert_eq!(store.put_new(&folder.text(), "hello".into()).await?, Written::Created);
//! assert_eq!(store.put_new(&folder.text(), "other".into()).await?, Written::AlreadyExisted);
//! assert_eq!(&store.get(&folder.text()).await?[..], b"hello");
//! # Ok::<(), him_store::Error>(())
//! # }).unwrap();
//! # }
//! ```

mod config;
mod error;
#[cfg(feature = "testsuite")]
mod faults;
mod journal;
mod layout;
mod store;

pub use config::StoreConfig;
pub use error::{Error, Result};
#[cfg(feature = "testsuite")]
pub use faults::{Fault, Faults};
pub use journal::{Entry, Follower, Journaled, Stamp, Stream};
pub use layout::{
    Folder, IndexEntry, Key, Name, Object, ObjectName, OutboxKey, Prefix, RecordState,
};
pub use store::{Requests, Store, Written, STREAM_PART_BYTES};
