//! The create-only writes that file a document: `file` in `… → match → file → review`. The keys are
//! [`him_store::Folder`]'s:
//!
//! ```text
//! unmatched/<document_id>/original.<ext>   exact input bytes
//!                        /document.json    manifest (him_core::DocumentManifest)
//!                        /text.txt         plain text, pages separated by form feeds
//!                        /ocr.json         per-page words with confidence and box (him_core::OcrDocument)
//!                        /pages/0001.png   normalised page images for the review UI
//! patients/<mrn>/<document_id>/...         the same files, once matched (identity stage)
//! rejected/<document_id>/original.<ext>    exact input bytes of bad input
//!                       /rejection.json    reason code and detail
//! index/<document_id>.json                 written last: where the document went; its presence means "done"
//! filed/journal/<day>/<time>-<id>.json     the same entry in the journal of filings the review follows
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

/// The journal entry of an index entry as stored: named by its filing time (the Unix epoch when it does not
/// read, so that a retry names the same entry).
pub fn filed_entry(bytes: &[u8]) -> Option<him_store::Entry> {
    let entry = serde_json::from_slice::<IndexEntry>(bytes).ok()?;
    let stamp = him_store::Stamp::parse(&entry.filed_at)
        .or_else(|| him_store::Stamp::parse("1970-01-01T00:00:00Z"))?;
    him_store::Entry::new(him_store::Stream::Filed, stamp, entry.document_id.as_str())
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
    // The index entry, and its entry in the journal of filings (`filed/journal/`) that the review follows.
    let journaled = him_store::Journaled {
        stream: him_store::Stream::Filed,
        records: him_store::Prefix::Index,
    };
    let written = journaled
        .announce(
            store,
            &Key::Index(entry.document_id.clone()),
            index.into(),
            filed_entry,
        )
        .await
        .map_err(|error| {
            anyhow::Error::new(error).context(format!(
                "failed to store index entry for document {}",
                entry.document_id
            ))
        })?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use him_core::{JobContext, Sha256, Status};
    use him_store::{Folder, Stream};

    /// Filing writes the index entry and its journal entry once: a redelivered job finds both and adds
    /// nothing.
    #[tokio::test]
    async fn a_filing_is_journaled_once() {
        let store = Store::in_memory();
        let id = DocumentId::for_bytes(b"scan");
        let entry = IndexEntry {
            document_id: id.clone(),
            sha256: Sha256::of(b"scan"),
            status: Status::Unmatched,
            location: Folder::Unmatched(id.clone()),
            filed_at: "2026-12-07T10:00:00.000Z".to_string(),
            job: JobContext::default(),
        };
        let text = Folder::Unmatched(id.clone()).text();
        let objects = || vec![(text.clone(), Bytes::from_static(b"t"))];
        assert_eq!(
            file(&store, &entry, objects()).await.unwrap(),
            Written::Created
        );
        assert_eq!(
            file(&store, &entry, objects()).await.unwrap(),
            Written::AlreadyExisted
        );
        let journal = store.list_journal(Stream::Filed, None).await.unwrap();
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0].id(), id.as_str());
        assert_eq!(journal[0].stamp().to_string(), entry.filed_at);
    }
}
