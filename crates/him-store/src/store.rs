//! The create-only store.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig};

use crate::config::StoreConfig;
use crate::error::{Error, Result};
use crate::layout::{Key, Prefix};

/// Size of the parts [`Store::put_new_file`] reads and uploads (S3's smallest part is 5 MiB).
pub const STREAM_PART_BYTES: usize = 8 << 20;

/// Outcome of a create-only write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The object did not exist and now holds the bytes given.
    Created,
    /// An object already existed under the key; it was left untouched.
    AlreadyExisted,
}

/// A handle on the record store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// Where the store is, safe to log (no credentials).
    location: String,
    /// For a local folder: the folder, whose files are kept private to the service's user.
    local: Option<Arc<LocalRoot>>,
    /// Faults to inject (tests of callers' error handling; feature `testsuite`).
    #[cfg(feature = "testsuite")]
    faults: Option<Arc<crate::Faults>>,
    /// Requests made through this handle and its clones.
    counters: Arc<Counters>,
}

/// Requests a [`Store`] made, by kind: what a loop costs the store, for benchmarks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    pub puts: u64,
    pub gets: u64,
    pub heads: u64,
    pub lists: u64,
    /// Objects the listings returned.
    pub listed: u64,
}

impl Requests {
    /// The requests made between `earlier` and `self`.
    pub fn since(self, earlier: Requests) -> Requests {
        Requests {
            puts: self.puts - earlier.puts,
            gets: self.gets - earlier.gets,
            heads: self.heads - earlier.heads,
            lists: self.lists - earlier.lists,
            listed: self.listed - earlier.listed,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    puts: std::sync::atomic::AtomicU64,
    gets: std::sync::atomic::AtomicU64,
    heads: std::sync::atomic::AtomicU64,
    lists: std::sync::atomic::AtomicU64,
    listed: std::sync::atomic::AtomicU64,
}

fn count(counter: &std::sync::atomic::AtomicU64, n: u64) {
    counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// A local store's folder and the backend that maps keys to files in it.
#[derive(Debug)]
struct LocalRoot {
    folder: PathBuf,
    files: Arc<LocalFileSystem>,
}

impl Store {
    /// An empty store in memory: the twin for fast tests.
    pub fn in_memory() -> Self {
        Store {
            inner: Arc::new(InMemory::new()),
            location: "memory://".to_string(),
            local: None,
            #[cfg(feature = "testsuite")]
            faults: None,
            counters: Arc::default(),
        }
    }

    /// A store in a local folder, created (mode 0700) when missing. Objects written are left readable by
    /// the service's user only: files 0600, the folders a write creates 0700.
    pub fn local(folder: &FsPath) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
            .map_err(|error| Error::Config {
                detail: format!("cannot create store folder {}: {error}", folder.display()),
            })?;
        let files =
            Arc::new(
                LocalFileSystem::new_with_prefix(folder).map_err(|error| Error::Config {
                    detail: format!("cannot open store folder {}: {error}", folder.display()),
                })?,
            );
        let absolute = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
        Ok(Store {
            inner: files.clone(),
            location: format!("file://{}", absolute.display()),
            local: Some(Arc::new(LocalRoot {
                folder: absolute,
                files,
            })),
            #[cfg(feature = "testsuite")]
            faults: None,
            counters: Arc::default(),
        })
    }

    /// Opens the store a configuration names. S3 credentials come from `env`
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), never from the file.
    pub fn from_config(config: &StoreConfig, env: &HashMap<String, String>) -> Result<Self> {
        let url = config.url.trim();
        if url == "memory://" {
            return Ok(Self::in_memory());
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            return Self::s3(rest, config, env);
        }
        if let Some(path) = url.strip_prefix("file://") {
            return Self::local(FsPath::new(path));
        }
        if url.contains("://") {
            return Err(Error::Config {
                detail: format!(
                    "unsupported store URL scheme in {url:?} (use file://, s3:// or a folder path)"
                ),
            });
        }
        Self::local(FsPath::new(url))
    }

    fn s3(rest: &str, config: &StoreConfig, env: &HashMap<String, String>) -> Result<Self> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::Config {
                detail: "s3 store URL has no bucket".to_string(),
            });
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(!config.path_style)
            .with_client_options(
                // allow_http lives in the client options: set it here, where they are built.
                ClientOptions::new()
                    .with_allow_http(config.allow_http)
                    .with_timeout(Duration::from_secs(config.request_timeout_secs.max(1)))
                    .with_connect_timeout(Duration::from_secs(5)),
            )
            .with_retry(RetryConfig {
                max_retries: config.max_retries,
                retry_timeout: Duration::from_secs(config.request_timeout_secs.max(1) * 4),
                ..RetryConfig::default()
            });
        if !config.endpoint.is_empty() {
            builder = builder.with_endpoint(&config.endpoint);
        }
        if !env.contains_key("AWS_ACCESS_KEY_ID") && !config.instance_credentials {
            return Err(Error::Config {
                detail: "s3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                         (or store.instance_credentials = true to use an instance role)"
                    .to_string(),
            });
        }
        if let Some(key) = env.get("AWS_ACCESS_KEY_ID") {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = env.get("AWS_SECRET_ACCESS_KEY") {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = env.get("AWS_SESSION_TOKEN") {
            builder = builder.with_token(token);
        }
        match config.server_side_encryption.as_str() {
            "" | "AES256" => {}
            "aws:kms" => builder = builder.with_sse_kms_encryption(&config.kms_key_id),
            other => {
                return Err(Error::Config {
                    detail: format!(
                        "unknown server_side_encryption {other:?} (use \"\", AES256 or aws:kms)"
                    ),
                })
            }
        }
        let inner = builder.build().map_err(|error| Error::Config {
            detail: format!("cannot configure s3 store: {error}"),
        })?;
        let inner: Arc<dyn ObjectStore> = Arc::new(inner);
        let inner = if prefix.trim_matches('/').is_empty() {
            inner
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                inner,
                prefix.trim_matches('/'),
            ))
        };
        Ok(Store {
            inner,
            location: format!("s3://{bucket}/{prefix}"),
            local: None,
            #[cfg(feature = "testsuite")]
            faults: None,
            counters: Arc::default(),
        })
    }

    /// An in-memory store whose writes fail as `faults` says (feature `testsuite`).
    #[cfg(feature = "testsuite")]
    pub fn in_memory_with_faults(faults: Arc<crate::Faults>) -> Self {
        Store {
            faults: Some(faults),
            ..Store::in_memory()
        }
    }

    #[cfg(feature = "testsuite")]
    fn injected(&self, shown: &str) -> Result<()> {
        match &self.faults {
            Some(faults) => faults.next_write(shown),
            None => Ok(()),
        }
    }

    #[cfg(not(feature = "testsuite"))]
    fn injected(&self, _shown: &str) -> Result<()> {
        Ok(())
    }

    /// The requests made so far through this store (all its clones together).
    pub fn requests(&self) -> Requests {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        let c = &self.counters;
        Requests {
            puts: load(&c.puts),
            gets: load(&c.gets),
            heads: load(&c.heads),
            lists: load(&c.lists),
            listed: load(&c.listed),
        }
    }

    /// Where the store is, safe to log.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Checks the real key once more (defence in depth: [`Key`] only builds safe keys). `shown` is the
    /// redacted form errors carry.
    fn path(key: &str, shown: &str) -> Result<Path> {
        let valid = !key.is_empty()
            && !key.starts_with('/')
            && !key.ends_with('/')
            && key
                .split('/')
                .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
            && !key.chars().any(|c| c.is_control() || c == '\\');
        if !valid {
            return Err(Error::InvalidKey {
                key: shown.to_string(),
            });
        }
        Path::parse(key).map_err(|_| Error::InvalidKey {
            key: shown.to_string(),
        })
    }

    /// Writes `bytes` under `key` unless an object already exists there, which is then left untouched.
    ///
    /// In a local folder the new file gets mode 0600 and the folders this write created 0700.
    pub async fn put_new(&self, key: &Key, bytes: Bytes) -> Result<Written> {
        let shown = key.to_string();
        self.injected(&shown)?;
        count(&self.counters.puts, 1);
        let path = Self::path(&key.path(), &shown)?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let local = match &self.local {
            Some(root) => Some(root.plan(&shown, &path)?),
            None => None,
        };
        match self
            .inner
            .put_opts(&path, PutPayload::from(bytes), options)
            .await
        {
            Ok(_) => {
                if let Some(written) = local {
                    written.restrict(&shown)?;
                }
                Ok(Written::Created)
            }
            Err(object_store::Error::AlreadyExists { .. }) => Ok(Written::AlreadyExisted),
            Err(error) => Err(Error::from_object_store(&shown, error)),
        }
    }

    /// Writes the file at `file` (`len` bytes) under `key` unless an object already exists there, reading it
    /// in parts: memory stays near [`STREAM_PART_BYTES`] times two whatever the file's size.
    ///
    /// A file up to one part goes in one create-only write, as [`Store::put_new`]. A larger one is checked for
    /// first and then sent as a multipart upload, which no S3 server makes conditional: two writers racing on
    /// the same key both complete. Callers use it only for content-addressed keys (`document_id` is the
    /// SHA-256 of the bytes), where the racing writes hold the same bytes, so what is stored never changes.
    pub async fn put_new_file(&self, key: &Key, file: &FsPath, len: u64) -> Result<Written> {
        use tokio::io::AsyncReadExt;
        let shown = key.to_string();
        let read_error = |source: std::io::Error| Error::Source {
            key: shown.clone(),
            source,
        };
        if len <= STREAM_PART_BYTES as u64 {
            let bytes = tokio::fs::read(file).await.map_err(read_error)?;
            return self.put_new(key, Bytes::from(bytes)).await;
        }
        self.injected(&shown)?;
        let path = Self::path(&key.path(), &shown)?;
        if self.exists(key).await? {
            return Ok(Written::AlreadyExisted);
        }
        let local = match &self.local {
            Some(root) => Some(root.plan(&shown, &path)?),
            None => None,
        };
        let upload = self
            .inner
            .put_multipart(&path)
            .await
            .map_err(|error| Error::from_object_store(&shown, error))?;
        let mut writer =
            object_store::WriteMultipart::new_with_chunk_size(upload, STREAM_PART_BYTES);
        let mut source = tokio::fs::File::open(file).await.map_err(read_error)?;
        let mut buffer = vec![0u8; 1 << 20];
        let mut sent = 0u64;
        loop {
            let read = match source.read(&mut buffer).await {
                Ok(read) => read,
                Err(error) => {
                    writer.abort().await.ok();
                    return Err(read_error(error));
                }
            };
            if read == 0 {
                break;
            }
            if let Err(error) = writer.wait_for_capacity(1).await {
                return Err(Error::from_object_store(&shown, error));
            }
            writer.write(&buffer[..read]);
            sent += read as u64;
        }
        if sent != len {
            writer.abort().await.ok();
            return Err(read_error(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("spooled file changed size: {sent} bytes read, {len} expected"),
            )));
        }
        writer
            .finish()
            .await
            .map_err(|error| Error::from_object_store(&shown, error))?;
        if let Some(written) = local {
            written.restrict(&shown)?;
        }
        Ok(Written::Created)
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &Key) -> Result<Bytes> {
        count(&self.counters.gets, 1);
        let shown = key.to_string();
        let path = Self::path(&key.path(), &shown)?;
        let result = self
            .inner
            .get(&path)
            .await
            .map_err(|error| Error::from_object_store(&shown, error))?;
        result
            .bytes()
            .await
            .map_err(|error| Error::from_object_store(&shown, error))
    }

    /// Reads an object, or `None` when there is none.
    pub async fn get_opt(&self, key: &Key) -> Result<Option<Bytes>> {
        match self.get(key).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Whether an object exists under `key`.
    pub async fn exists(&self, key: &Key) -> Result<bool> {
        count(&self.counters.heads, 1);
        let shown = key.to_string();
        let path = Self::path(&key.path(), &shown)?;
        match self.inner.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(Error::from_object_store(&shown, error)),
        }
    }

    /// Size in bytes of the object under `key`.
    pub async fn size(&self, key: &Key) -> Result<u64> {
        count(&self.counters.heads, 1);
        let shown = key.to_string();
        let path = Self::path(&key.path(), &shown)?;
        let meta = self
            .inner
            .head(&path)
            .await
            .map_err(|error| Error::from_object_store(&shown, error))?;
        Ok(meta.size)
    }

    /// The redacted form of `prefix` (for errors) and its path (`None`: the whole store).
    fn prefix_path(prefix: &Prefix) -> Result<(String, Option<Path>)> {
        let shown = prefix.to_string();
        let real = prefix.path();
        let trimmed = real.trim_end_matches('/');
        let path = if trimmed.is_empty() {
            None
        } else {
            Some(Self::path(trimmed, &shown)?)
        };
        Ok((shown, path))
    }

    /// Every object of this layout under `prefix`, sorted by key. Objects outside the layout (written by
    /// something else) are not listed.
    pub async fn list(&self, prefix: &Prefix) -> Result<Vec<Key>> {
        let (shown, path) = Self::prefix_path(prefix)?;
        let mut listed: Vec<String> = self
            .inner
            .list(path.as_ref())
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(|error| Error::from_object_store(&shown, error))?;
        count(&self.counters.lists, 1);
        count(&self.counters.listed, listed.len() as u64);
        listed.sort();
        let total = listed.len();
        let keys: Vec<Key> = listed.iter().filter_map(|key| Key::parse(key)).collect();
        if keys.len() < total {
            tracing::debug!(
                skipped = total - keys.len(),
                "objects outside the store layout not listed"
            );
        }
        Ok(keys)
    }
}

impl Store {
    /// Whether any object lies under `prefix` (reads one listing page, not the whole listing).
    pub async fn any(&self, prefix: &Prefix) -> Result<bool> {
        let (shown, path) = Self::prefix_path(prefix)?;
        count(&self.counters.lists, 1);
        let mut listing = self.inner.list(path.as_ref());
        match listing.try_next().await {
            Ok(first) => Ok(first.is_some()),
            Err(error) => Err(Error::from_object_store(&shown, error)),
        }
    }

    /// Writes a journal entry create-only (`AlreadyExisted`: the same record was journaled before).
    pub async fn append(&self, entry: &crate::Entry, bytes: Bytes) -> Result<Written> {
        self.put_new(&Key::Journal(entry.clone()), bytes).await
    }

    /// Entries of a journal, sorted: the whole `stream` (`None`), or one UTC day of it, from a time on
    /// (entries stamped at or after it; on S3 the listing itself starts there).
    pub async fn list_journal(
        &self,
        stream: crate::Stream,
        day: Option<(chrono::NaiveDate, Option<crate::Stamp>)>,
    ) -> Result<Vec<crate::Entry>> {
        let prefix = Prefix::Journal(stream, day.map(|(day, _)| day));
        let (shown, path) = Self::prefix_path(&prefix)?;
        let listing = match day.and_then(|(_, from)| from) {
            Some(from) => {
                let offset = Self::path(&crate::Entry::offset(stream, from), &shown)?;
                self.inner.list_with_offset(path.as_ref(), &offset)
            }
            None => self.inner.list(path.as_ref()),
        };
        let listed: Vec<String> = listing
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(|error| Error::from_object_store(&shown, error))?;
        count(&self.counters.lists, 1);
        count(&self.counters.listed, listed.len() as u64);
        let mut entries: Vec<crate::Entry> = listed
            .iter()
            .filter_map(|path| crate::Entry::parse(path))
            .filter(|entry| match day {
                Some((_, Some(from))) => entry.stamp() >= from,
                _ => true,
            })
            .collect();
        entries.sort();
        Ok(entries)
    }
}

/// The file a local write creates and the folders missing before it.
struct LocalWrite {
    file: PathBuf,
    new_folders: Vec<PathBuf>,
}

impl LocalRoot {
    /// Where `key` goes, noting which of its folders do not exist yet.
    fn plan(&self, shown: &str, path: &Path) -> Result<LocalWrite> {
        let file = self
            .files
            .path_to_filesystem(path)
            .map_err(|_| Error::InvalidKey {
                key: shown.to_string(),
            })?;
        let new_folders = file
            .ancestors()
            .skip(1)
            .take_while(|folder| folder.starts_with(&self.folder) && *folder != self.folder)
            .take_while(|folder| !folder.exists())
            .map(FsPath::to_path_buf)
            .collect();
        Ok(LocalWrite { file, new_folders })
    }
}

impl LocalWrite {
    /// Files 0600, new folders 0700, whatever the process umask made of them.
    fn restrict(self, shown: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let set = |path: &FsPath, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(
                |source| Error::Permissions {
                    key: shown.to_string(),
                    source,
                },
            )
        };
        set(&self.file, 0o600)?;
        for folder in &self.new_folders {
            match set(folder, 0o700) {
                // A concurrent write may have created (and restricted) it; only a folder that exists matters.
                Err(_) if !folder.exists() => {}
                other => other?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Folder;

    #[test]
    fn keys_that_could_escape_are_refused() {
        for key in [
            "", "/abs", "a/../b", "a//b", "a/./b", "dir/", "a\\b", "a\nb",
        ] {
            assert!(
                matches!(Store::path(key, "shown"), Err(Error::InvalidKey { .. })),
                "{key:?}"
            );
        }
        assert!(Store::path("patients/0001/abc/original.pdf", "shown").is_ok());
    }

    #[test]
    fn s3_without_credentials_is_refused_rather_than_probing_instance_metadata() {
        let config = StoreConfig {
            url: "s3://bucket".to_string(),
            ..StoreConfig::default()
        };
        let error = Store::from_config(&config, &HashMap::new()).unwrap_err();
        assert!(error.to_string().contains("credentials missing"), "{error}");
    }

    #[tokio::test]
    async fn local_objects_are_private_to_the_service_user() {
        use him_core::{DocumentId, Mrn};
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = Store::local(&root).unwrap();
        let (abc, def) = ("ab".repeat(16), "de".repeat(16));
        let mrn = Mrn::parse("0001").unwrap();
        let folder = Folder::Patient(mrn.clone(), DocumentId::parse(&abc).unwrap());
        let key = folder.original("pdf");
        assert_eq!(
            store.put_new(&key, "x".into()).await.unwrap(),
            Written::Created
        );
        let mode = |path: &FsPath| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join(key.path())), 0o600);
        // The folders on disk: the area, the patient, the document.
        for folder in [
            "patients".to_string(),
            "patients/0001".into(),
            folder.location(),
        ] {
            assert_eq!(mode(&root.join(&folder)), 0o700, "{folder}");
        }
        // A folder that existed before keeps its mode.
        std::fs::set_permissions(
            root.join("patients/0001"),
            std::fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        let other = Folder::Patient(mrn, DocumentId::parse(&def).unwrap());
        store.put_new(&other.text(), "y".into()).await.unwrap();
        assert_eq!(mode(&root.join("patients/0001")), 0o750);
        assert_eq!(mode(&root.join(other.location())), 0o700);
        assert_eq!(mode(&root.join(other.text().path())), 0o600);
    }

    /// A file over one part is streamed as a multipart upload: stored byte for byte, private in a local
    /// folder, and never written twice.
    #[tokio::test]
    async fn large_files_are_streamed_and_kept_once() {
        use him_core::DocumentId;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("upload");
        let bytes: Vec<u8> = (0..STREAM_PART_BYTES * 2 + 12_345)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        std::fs::write(&file, &bytes).unwrap();
        let len = bytes.len() as u64;
        let key = Folder::Intake(DocumentId::parse(&"cd".repeat(16)).unwrap()).original("pdf");
        let root = dir.path().join("store");
        for store in [Store::in_memory(), Store::local(&root).unwrap()] {
            assert_eq!(
                store.put_new_file(&key, &file, len).await.unwrap(),
                Written::Created
            );
            assert_eq!(store.get(&key).await.unwrap(), bytes);
            assert_eq!(
                store.put_new_file(&key, &file, len).await.unwrap(),
                Written::AlreadyExisted
            );
        }
        let mode = std::fs::metadata(root.join(key.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A file that changed size since it was measured is refused, and nothing is stored.
        let other = Folder::Intake(DocumentId::parse(&"ce".repeat(16)).unwrap()).original("pdf");
        let store = Store::in_memory();
        let error = store
            .put_new_file(&other, &file, len + 1)
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Source { .. }), "{error:?}");
        assert!(!store.exists(&other).await.unwrap());
    }

    #[tokio::test]
    async fn errors_name_the_key_without_the_mrn() {
        use him_core::{DocumentId, Mrn};
        let store = Store::in_memory();
        let folder = Folder::Patient(
            Mrn::parse("40079196").unwrap(),
            DocumentId::parse(&"ab".repeat(16)).unwrap(),
        );
        let error = store.get(&folder.manifest()).await.unwrap_err();
        assert!(matches!(error, Error::NotFound { .. }));
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("40079196"), "{shown}");
        assert!(shown.contains("patients/[mrn]/"), "{shown}");
    }

    #[test]
    fn unknown_schemes_are_refused() {
        let config = StoreConfig {
            url: "ftp://host/x".to_string(),
            ..StoreConfig::default()
        };
        assert!(matches!(
            Store::from_config(&config, &HashMap::new()),
            Err(Error::Config { .. })
        ));
    }
}
