//! The create-only writes that file a document: `file` in `… → match → file → review`. The keys are
//! [`him_store::Folder`]'s:
//!
//! ```text
//! unmatched/<document_id>/original.<ext>   exact input bytes
//!                        /document.json    manifest (him_core::DocumentManifest)
//!                        /text.txt         plain text, pages separated by form feeds
//!                        /ocr.json         per-page words with confidence and box
//!                        /pages/0001.png   normalised page images for the review UI
//! patients/<mrn>/<document_id>/...         the same files, once matched (identity stage)
//! rejected/<document_id>/original.<ext>    exact input bytes of bad input
//!                       /rejection.json    reason code and detail
//! index/<document_id>.json                 written last: where the document went; its presence means "done"
//! ```
//!
//! Every write is create-only, so nothing filed is ever overwritten. The index entry is the commit point:
//! a run interrupted before it is simply run again, and the files it already wrote are left as they are.

use bytes::Bytes;
use him_core::DocumentId;
pub use him_store::IndexEntry;
use him_store::{Key, Store, Written};

/// Looks up whether a document was already filed.
pub async fn lookup(store: &Store, id: &DocumentId) -> anyhow::Result<Option<IndexEntry>> {
    let Some(bytes) = store.get_opt(&Key::Index(id.clone())).await? else {
        return Ok(None);
    };
    let entry = serde_json::from_slice(&bytes)
        .map_err(|error| anyhow::anyhow!("index entry for document {id} is unreadable: {error}"))?;
    Ok(Some(entry))
}

/// Writes a set of objects (create-only, concurrently), then the index entry. Returns
/// [`Written::AlreadyExisted`] when another run filed the same document first: nothing of this run
/// replaced anything of that one.
pub async fn file(
    store: &Store,
    entry: &IndexEntry,
    objects: Vec<(Key, Bytes)>,
) -> anyhow::Result<Written> {
    let writes = objects.into_iter().map(|(key, bytes)| async move {
        store.put_new(&key, bytes).await.map_err(|error| {
            anyhow::Error::new(error).context(format!(
                "failed to store an object for document {}",
                entry.document_id
            ))
        })
    });
    futures::future::try_join_all(writes).await?;
    let index = serde_json::to_vec_pretty(entry)?;
    let written = store
        .put_new(&Key::Index(entry.document_id.clone()), index.into())
        .await
        .map_err(|error| {
            anyhow::Error::new(error).context(format!(
                "failed to store index entry for document {}",
                entry.document_id
            ))
        })?;
    Ok(written)
}
