//! The store layout and the create-only writes that file a document: `file` in `… → match → file → review`.
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
use him_core::{DocumentId, Sha256, Status};
use him_store::{Store, Written};
use serde::{Deserialize, Serialize};

/// Object-key prefix of a document waiting in the unmatched (indexing) area.
pub fn unmatched_prefix(id: &DocumentId) -> String {
    format!("unmatched/{id}")
}

/// Object-key prefix of a document filed into a patient's folder. The MRN must have passed
/// `him_extract::is_safe_mrn_for_key`.
pub fn patient_prefix(mrn: &str, id: &DocumentId) -> String {
    format!("patients/{mrn}/{id}")
}

/// Object-key prefix of a rejected document.
pub fn rejected_prefix(id: &DocumentId) -> String {
    format!("rejected/{id}")
}

/// Object key of a document's index entry.
pub fn index_key(id: &DocumentId) -> String {
    format!("index/{id}.json")
}

/// `index/<document_id>.json`: where a document was filed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub document_id: DocumentId,
    pub sha256: Sha256,
    pub status: Status,
    pub location: String,
    pub filed_at: String,
}

/// Looks up whether a document was already filed.
pub async fn lookup(store: &Store, id: &DocumentId) -> anyhow::Result<Option<IndexEntry>> {
    let Some(bytes) = store.get_opt(&index_key(id)).await? else {
        return Ok(None);
    };
    let entry = serde_json::from_slice(&bytes)
        .map_err(|error| anyhow::anyhow!("index entry for document {id} is unreadable: {error}"))?;
    Ok(Some(entry))
}

/// Writes a set of objects under the entry's location (create-only, concurrently), then the index entry.
/// Returns [`Written::AlreadyExisted`] when another run filed the same document first: nothing of this run
/// replaced anything of that one.
pub async fn file(
    store: &Store,
    entry: &IndexEntry,
    objects: Vec<(String, Bytes)>,
) -> anyhow::Result<Written> {
    let writes = objects.into_iter().map(|(name, bytes)| {
        let key = format!("{}/{name}", entry.location);
        async move {
            store.put_new(&key, bytes).await.map_err(|error| {
                anyhow::Error::new(error).context(format!(
                    "failed to store {name} for document {}",
                    entry.document_id
                ))
            })
        }
    });
    futures::future::try_join_all(writes).await?;
    let index = serde_json::to_vec_pretty(entry)?;
    let written = store
        .put_new(&index_key(&entry.document_id), index.into())
        .await
        .map_err(|error| {
            anyhow::Error::new(error).context(format!(
                "failed to store index entry for document {}",
                entry.document_id
            ))
        })?;
    Ok(written)
}
