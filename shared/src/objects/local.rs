//! Embedded object store: bytes in immutable blob files named by random ids, keys in a SQLite
//! index.
//!
//! Keys never become file paths, so no key can name a place outside the store (no traversal, no
//! symlink, no reserved or over-long file name), a file and a folder of one name can coexist as
//! in S3, and the first page of a listing costs the same in a folder of 100 or 100,000 objects
//! (an index range scan). A write streams into `tmp/`, is fsynced, renamed into `blobs/` and only
//! then indexed in one transaction: a failed or oversized upload leaves nothing behind.
//!
//! A direct upload is one sparse file in `uploads/`, each part written at its offset (so
//! completing it is a rename, not a copy), with the parts received recorded in the index.
//! [`LocalObjects::sweep`] removes what a crash or an abandoned upload leaves behind.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use rusqlite::{params, OptionalExtension, Row};
use rusqlite_migration::{Migrations, M};
use tokio::sync::RwLock;

use super::{
    ByteRange, ByteSource, ByteStream, CopyRefused, Download, IfDest, ListPage, Listed, ObjectInfo,
    ObjectStore, PartInfo, Presign,
};
use super::{ObjectError, ObjectResult};
use crate::embedded_db::Db;
use crate::layout;
use block_writer::{digest_of, write_stream, Digest, Target};

mod block_writer;
mod read;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    key          TEXT PRIMARY KEY,
    blob         TEXT,
    size         INTEGER NOT NULL,
    etag         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    modified     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_blob ON objects (blob);
CREATE TABLE IF NOT EXISTS uploads (
    id           TEXT PRIMARY KEY,
    key          TEXT NOT NULL,
    content_type TEXT NOT NULL,
    created      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS upload_parts (
    upload_id    TEXT NOT NULL,
    part_number  INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    etag         TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
";

/// The index's schema, one numbered step per change. Step 1 is the schema indexes had before
/// steps were counted (hence `IF NOT EXISTS`): such an index, at `user_version` 0, passes through
/// it unchanged.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(SCHEMA)])
}

/// Sorts after every valid UTF-8 continuation of a key: `prefix + SKIP` is past its subtree.
const SKIP: char = '\u{10FFFF}';
/// Rows read per index query while filling a page.
const CHUNK: usize = 256;

#[derive(Clone)]
pub struct LocalObjects {
    root: PathBuf,
    db: Db,
    /// Per direct upload: part writes share it, completion and abort take it alone, so no part
    /// is ever written into a file that has become an object.
    upload_locks: Arc<Mutex<HashMap<String, Arc<RwLock<()>>>>>,
}

/// A digest as S3 gives an MD5 in an ETag: hex, quoted.
fn quoted_etag(digest: &Digest) -> String {
    format!("\"{}\"", hex::encode(digest))
}

/// A database error the caller cannot act on: HTTP 500.
fn db_error(err: rusqlite::Error) -> ObjectError {
    ObjectError::other(err)
}

fn io_err(e: std::io::Error) -> ObjectError {
    ObjectError::other(e)
}

fn info_from_row(row: &Row<'_>) -> rusqlite::Result<(ObjectInfo, Option<String>)> {
    Ok((
        ObjectInfo {
            key: row.get(0)?,
            size: row.get::<_, i64>(2)? as u64,
            etag: row.get(3)?,
            content_type: row.get(4)?,
            modified: Utc
                .timestamp_millis_opt(row.get(5)?)
                .single()
                .unwrap_or_default(),
        },
        row.get(1)?,
    ))
}

const COLUMNS: &str = "key, blob, size, etag, content_type, modified";

impl LocalObjects {
    /// Opens (creating) the store under `root`, and clears temp files a crash may have left.
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        for dir in ["blobs", "tmp", "uploads"] {
            std::fs::create_dir_all(root.join(dir))
                .with_context(|| format!("creating {}", root.join(dir).display()))?;
        }
        for entry in std::fs::read_dir(root.join("tmp"))? {
            let _ = std::fs::remove_file(entry?.path());
        }
        Ok(Self {
            root: root.to_owned(),
            db: Db::open(&root.join("index.db"), &migrations())?,
            upload_locks: Arc::default(),
        })
    }

    fn blob_path(&self, blob: &str) -> PathBuf {
        self.root.join("blobs").join(blob)
    }

    /// Upload ids are generated here (hex), so they are safe file names; anything else is no
    /// upload of ours.
    fn upload_path(&self, upload_id: &str) -> Option<PathBuf> {
        (upload_id.len() == 32 && upload_id.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.root.join("uploads").join(upload_id))
    }

    fn upload_lock(&self, upload_id: &str) -> Arc<RwLock<()>> {
        let mut locks = self.upload_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(upload_id.to_owned()).or_default().clone()
    }

    async fn upload_key(&self, upload_id: &str) -> ObjectResult<Option<String>> {
        let id = upload_id.to_owned();
        self.db
            .with(move |c| {
                c.query_row("SELECT key FROM uploads WHERE id = ?1", [id], |r| r.get(0))
                    .optional()
            })
            .await
            .map_err(db_error)
    }

    async fn forget_upload(&self, upload_id: &str) -> ObjectResult<()> {
        {
            // The upload's lock and its parts'.
            let mut locks = self.upload_locks.lock().unwrap_or_else(|e| e.into_inner());
            let parts = layout::upload_parts(upload_id);
            locks.retain(|k, _| k != upload_id && !k.starts_with(&parts));
        }
        let id = upload_id.to_owned();
        self.db
            .with(move |c| {
                let tx = c.transaction()?;
                tx.execute("DELETE FROM upload_parts WHERE upload_id = ?1", [&id])?;
                tx.execute("DELETE FROM uploads WHERE id = ?1", [&id])?;
                tx.commit()
            })
            .await
            .map_err(db_error)
    }

    /// Removes what is older than `age` and belongs to nothing: direct uploads never completed,
    /// temp files of interrupted writes, and blobs no key points to (a crash between writing
    /// and indexing). Returns how many were removed.
    pub async fn sweep(&self, age: std::time::Duration) -> ObjectResult<usize> {
        let cutoff = Utc::now() - chrono::Duration::from_std(age).unwrap_or_default();
        let stale: Vec<String> = {
            let cutoff = cutoff.timestamp_millis();
            self.db
                .with(move |c| {
                    let mut stmt = c.prepare("SELECT id FROM uploads WHERE created < ?1")?;
                    let ids = stmt.query_map([cutoff], |r| r.get(0))?;
                    ids.collect()
                })
                .await
                .map_err(db_error)?
        };
        let mut removed = 0;
        // Staged form uploads a crash left behind, and finished ZIP archives, which live a day.
        let mut staged = Vec::new();
        for root in layout::EXPIRING_ROOTS {
            staged.extend(self.keys_older_than(root, cutoff).await?);
        }
        removed += staged.len();
        self.delete(&staged).await?;
        for id in &stale {
            if let Some(path) = self.upload_path(id) {
                let _ = tokio::fs::remove_file(path).await;
            }
            self.forget_upload(id).await?;
            removed += 1;
        }
        for dir in ["tmp", "uploads", "blobs"] {
            let mut entries = tokio::fs::read_dir(self.root.join(dir))
                .await
                .map_err(io_err)?;
            while let Some(entry) = entries.next_entry().await.map_err(io_err)? {
                // The inode's change time, not the content's: a blob hard-linked just now by a
                // copy keeps its source's old mtime but gets a fresh ctime.
                let old = entry
                    .metadata()
                    .await
                    .map(|m| changed_at(&m))
                    .is_ok_and(|t| t < cutoff);
                if !old {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let owned = match dir {
                    "tmp" => false,
                    "uploads" => self.upload_key(&name).await?.is_some(),
                    _ => {
                        let blob = name.clone();
                        self.db
                            .with(move |c| {
                                c.query_row("SELECT 1 FROM objects WHERE blob = ?1", [blob], |_| {
                                    Ok(())
                                })
                                .optional()
                            })
                            .await
                            .map_err(db_error)?
                            .is_some()
                    }
                };
                if !owned && tokio::fs::remove_file(entry.path()).await.is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// The keys below `prefix` of objects last written before `cutoff`.
    async fn keys_older_than(
        &self,
        prefix: &str,
        cutoff: chrono::DateTime<Utc>,
    ) -> ObjectResult<Vec<String>> {
        let (from, to) = (prefix.to_owned(), format!("{prefix}{SKIP}"));
        let cutoff = cutoff.timestamp_millis();
        self.db
            .with(move |c| {
                let mut stmt = c.prepare(
                    "SELECT key FROM objects WHERE key >= ?1 AND key < ?2 AND modified < ?3",
                )?;
                let keys = stmt.query_map(params![from, to, cutoff], |r| r.get(0))?;
                keys.collect()
            })
            .await
            .map_err(db_error)
    }

    /// Sweeps now and then every hour, for as long as the process runs.
    pub fn spawn_sweeper(&self) {
        let store = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                match store.sweep(std::time::Duration::from_secs(24 * 3600)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "swept abandoned uploads and files"),
                    Err(e) => tracing::warn!(error = %e, "sweeping the object store failed"),
                }
            }
        });
    }

    async fn row(&self, key: &str) -> ObjectResult<Option<(ObjectInfo, Option<String>)>> {
        let key = key.to_owned();
        // From the readers' pool (the embedded database's module says why).
        self.db
            .read(move |c| {
                c.prepare_cached(&format!("SELECT {COLUMNS} FROM objects WHERE key = ?1"))?
                    .query_row([key], info_from_row)
                    .optional()
            })
            .await
            .map_err(db_error)
    }

    /// Indexes `info` (with its blob), returning the blob it replaced, if any.
    async fn index(&self, info: &ObjectInfo, blob: Option<String>) -> ObjectResult<Option<String>> {
        let info = info.clone();
        self.db
            .with(move |c| {
                let tx = c.transaction()?;
                let old = upsert(&tx, &info, blob)?;
                tx.commit()?;
                Ok(old)
            })
            .await
            .map_err(db_error)
    }

    /// Indexes `info` if its key meets `dest` (always without one): the blob it replaced, or
    /// `None` when the condition did not hold and nothing was written.
    async fn index_if(
        &self,
        info: &ObjectInfo,
        blob: Option<String>,
        dest: Option<Condition>,
    ) -> ObjectResult<Option<Option<String>>> {
        let info = info.clone();
        self.db
            .with(move |c| {
                let tx = c.transaction()?;
                if let Some(dest) = dest {
                    if !dest.holds(&tx, &info.key)? {
                        return Ok(None);
                    }
                }
                let old = upsert(&tx, &info, blob)?;
                tx.commit()?;
                Ok(Some(old))
            })
            .await
            .map_err(db_error)
    }

    /// Completes a direct upload if `key` meets `dest`; when it does not, the upload stays as
    /// it was (S3 leaves a multipart upload whose completion was refused), and `None`.
    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
        dest: Option<Condition>,
    ) -> ObjectResult<Option<ObjectInfo>> {
        let lock = self.upload_lock(upload_id);
        let _alone = lock.write().await;
        let (path, info) = self.assemble(key, upload_id, parts).await?;
        let blob = (info.size > 0).then(|| uuid::Uuid::new_v4().simple().to_string());
        match &blob {
            Some(blob) => tokio::fs::rename(&path, self.blob_path(blob))
                .await
                .map_err(io_err)?,
            None => {
                let _ = tokio::fs::remove_file(&path).await;
            }
        }
        match self.index_if(&info, blob.clone(), dest).await {
            Ok(Some(replaced)) => self.remove_blob(replaced).await,
            Ok(None) => {
                // The bytes go back where the upload keeps them.
                match &blob {
                    Some(blob) => tokio::fs::rename(self.blob_path(blob), &path).await,
                    None => tokio::fs::File::create(&path).await.map(|_| ()),
                }
                .map_err(io_err)?;
                return Ok(None);
            }
            Err(e) => {
                self.remove_blob(blob).await;
                return Err(e);
            }
        }
        // The object exists now: a failure to drop the bookkeeping must not undo that (the
        // sweeper removes the records later).
        if let Err(e) = self.forget_upload(upload_id).await {
            tracing::warn!(error = %e, "completed upload not forgotten");
        }
        Ok(Some(info))
    }

    /// Checks `parts` against those received and cuts the upload's file to their size: its
    /// path, and the object it makes.
    async fn assemble(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> ObjectResult<(PathBuf, ObjectInfo)> {
        let received = self
            .list_parts(key, upload_id)
            .await?
            .ok_or_else(|| ObjectError::Invalid("The upload does not exist any more.".into()))?;
        let mut hasher = blake3::Hasher::new();
        for part in parts {
            if !received.contains(part) {
                return Err(ObjectError::Invalid(format!(
                    "Part {} was not received as listed.",
                    part.part_number
                )));
            }
            // S3's multipart ETag in shape: the digest of the parts' digests, and their number.
            hasher.update(&hex::decode(part.etag.trim_matches('"')).unwrap_or_default());
        }
        let size: u64 = parts.iter().map(|p| p.size).sum();
        let path = self.upload_path(upload_id).expect("checked by list_parts");
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .map_err(io_err)?;
        // Parts re-sent or sent beyond the end never reach the object.
        file.set_len(size).await.map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        let id = upload_id.to_owned();
        let content_type = self
            .db
            .with(move |c| {
                c.query_row(
                    "SELECT content_type FROM uploads WHERE id = ?1",
                    [id],
                    |r| r.get::<_, String>(0),
                )
            })
            .await
            .map_err(db_error)?;
        let info = ObjectInfo {
            key: key.to_owned(),
            size,
            etag: format!("\"{}-{}\"", hex::encode(digest_of(&hasher)), parts.len()),
            content_type,
            modified: Utc::now(),
        };
        Ok((path, info))
    }

    /// Indexes a written blob: afterwards the blob it replaced goes; if indexing fails, the new
    /// blob goes instead, so either way no blob is left unreferenced.
    async fn commit(&self, info: ObjectInfo, blob: Option<String>) -> ObjectResult<ObjectInfo> {
        match self.index(&info, blob.clone()).await {
            Ok(replaced) => {
                self.remove_blob(replaced).await;
                Ok(info)
            }
            Err(e) => {
                self.remove_blob(blob).await;
                Err(e)
            }
        }
    }

    async fn remove_blob(&self, blob: Option<String>) {
        if let Some(blob) = blob {
            if let Err(e) = tokio::fs::remove_file(self.blob_path(&blob)).await {
                tracing::warn!(error = %e, blob, "could not remove a replaced blob");
            }
        }
    }

    /// A new blob with the bytes of `blob`; `None` if `blob` is gone (its object was replaced
    /// or deleted meanwhile). Blobs are never modified in place, so the two can share the bytes
    /// (a hard link), with a real copy where links are not supported.
    async fn clone_blob(&self, blob: &str) -> ObjectResult<Option<String>> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (src, dst) = (self.blob_path(blob), self.blob_path(&id));
        if tokio::fs::hard_link(&src, &dst).await.is_ok() {
            return Ok(Some(id));
        }
        match tokio::fs::copy(&src, &dst).await {
            Ok(_) => Ok(Some(id)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Indexes `copy` (its bytes in `blob`) if, at that moment, `source` still holds `etag`
    /// and `copy.key` meets `dest`: one transaction, so no other write comes in between.
    async fn index_copy(
        &self,
        source: &str,
        etag: &str,
        copy: &ObjectInfo,
        blob: Option<String>,
        dest: Condition,
    ) -> ObjectResult<Result<Option<String>, CopyRefused>> {
        let (source, etag, copy) = (source.to_owned(), etag.to_owned(), copy.clone());
        self.db
            .with(move |c| {
                let tx = c.transaction()?;
                let still: Option<String> = tx
                    .query_row("SELECT etag FROM objects WHERE key = ?1", [&source], |r| {
                        r.get(0)
                    })
                    .optional()?;
                if still.as_deref() != Some(etag.as_str()) {
                    return Ok(Err(CopyRefused::SourceChanged));
                }
                if !dest.holds(&tx, &copy.key)? {
                    return Ok(Err(CopyRefused::DestinationTaken));
                }
                let replaced = upsert(&tx, &copy, blob)?;
                tx.commit()?;
                Ok(Ok(replaced))
            })
            .await
            .map_err(db_error)
    }

    /// Streams `body` into a new blob (written beside the request, see [`block_writer`]);
    /// returns (blob id, size, etag), or nothing stored.
    async fn write_blob(
        &self,
        body: ByteSource<'_>,
        max_bytes: u64,
    ) -> ObjectResult<(Option<String>, u64, String)> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.root.join("tmp").join(&id);
        let written = write_stream(Target::New(tmp.clone()), body, max_bytes).await?;
        let etag = quoted_etag(&written.digest);
        if written.size == 0 {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Ok((None, 0, etag));
        }
        if let Err(e) = tokio::fs::rename(&tmp, self.blob_path(&id)).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io_err(e));
        }
        Ok((Some(id), written.size, etag))
    }

    /// Writes `body` into a new blob and describes it as the object `key` (not yet indexed).
    async fn write_object(
        &self,
        key: &str,
        body: ByteSource<'_>,
        content_type: &str,
        max_bytes: u64,
    ) -> ObjectResult<(ObjectInfo, Option<String>)> {
        let (blob, size, etag) = self.write_blob(body, max_bytes).await?;
        let info = ObjectInfo {
            key: key.to_owned(),
            size,
            etag,
            content_type: content_type.to_owned(),
            modified: Utc::now(),
        };
        Ok((info, blob))
    }

    /// The next index rows after `after` (or from `prefix` on, inclusive, when `after` is None).
    async fn rows_after(
        &self,
        prefix: &str,
        after: Option<String>,
        n: usize,
    ) -> ObjectResult<Vec<ObjectInfo>> {
        let prefix = prefix.to_owned();
        self.db
            .read_apart(move |c| {
                let (sql, bound) = match after {
                    Some(a) => ("key > ?1", a),
                    None => ("key >= ?1", prefix),
                };
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM objects WHERE {sql} ORDER BY key LIMIT ?2"
                ))?;
                let rows = stmt.query_map(params![bound, n as i64], info_from_row)?;
                rows.map(|r| r.map(|(info, _)| info)).collect()
            })
            .await
            .map_err(db_error)
    }
}

#[async_trait]
impl ObjectStore for LocalObjects {
    async fn head(&self, key: &str) -> ObjectResult<Option<ObjectInfo>> {
        Ok(self.row(key).await?.map(|(info, _)| info))
    }

    async fn list(
        &self,
        prefix: &str,
        delimited: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> ObjectResult<ListPage> {
        let limit = limit.clamp(1, super::MAX_LIST_PAGE);
        // Resume after the cursor; after a rolled-up folder, past everything inside it.
        let mut after = cursor.map(|c| {
            if delimited && c.ends_with('/') && c != prefix {
                format!("{c}{SKIP}")
            } else {
                c.to_owned()
            }
        });
        // One entry more than asked tells whether there is a next page.
        let mut items: Vec<Listed> = Vec::new();
        'fill: while items.len() <= limit {
            let rows = self.rows_after(prefix, after.clone(), CHUNK).await?;
            if rows.is_empty() {
                break;
            }
            for info in rows {
                if !info.key.starts_with(prefix) {
                    break 'fill;
                }
                let rest = &info.key[prefix.len()..];
                match rest.find('/') {
                    Some(i) if delimited => {
                        let folder = format!("{prefix}{}", &rest[..=i]);
                        after = Some(format!("{folder}{SKIP}"));
                        items.push(Listed::Prefix(folder));
                        // The rest of this folder is skipped: query again from past it.
                        continue 'fill;
                    }
                    _ => {
                        after = Some(info.key.clone());
                        items.push(Listed::Object(info));
                    }
                }
                if items.len() > limit {
                    break 'fill;
                }
            }
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|i| i.key().to_owned())
        } else {
            None
        };
        Ok(ListPage { items, next })
    }

    async fn list_after(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> ObjectResult<ListPage> {
        // Undelimited, this store's cursor already is the last key listed.
        self.list(prefix, false, after, limit).await
    }

    async fn put(
        &self,
        key: &str,
        body: ByteSource<'_>,
        content_type: &str,
        max_bytes: u64,
    ) -> ObjectResult<ObjectInfo> {
        let (info, blob) = self
            .write_object(key, body, content_type, max_bytes)
            .await?;
        self.commit(info, blob).await
    }

    async fn put_if(
        &self,
        key: &str,
        body: ByteSource<'_>,
        content_type: &str,
        max_bytes: u64,
        dest: IfDest<'_>,
    ) -> ObjectResult<Option<ObjectInfo>> {
        let (info, blob) = self
            .write_object(key, body, content_type, max_bytes)
            .await?;
        match self
            .index_if(&info, blob.clone(), Some(Condition::from(dest)))
            .await
        {
            Ok(Some(replaced)) => {
                self.remove_blob(replaced).await;
                Ok(Some(info))
            }
            other => {
                self.remove_blob(blob).await;
                other.map(|_| None)
            }
        }
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> ObjectResult<Option<Download>> {
        // A concurrent replace may remove the blob between the index read and the open; once
        // open, the file stays readable. So: read, open, and on a vanished blob read again.
        for _ in 0..3 {
            let Some((info, blob)) = self.row(key).await? else {
                return Ok(None);
            };
            let Some(blob) = blob else {
                let body: ByteStream = Box::pin(futures::stream::empty());
                return Ok(Some(Download { info, body }));
            };
            let file = match tokio::fs::File::open(self.blob_path(&blob)).await {
                Ok(f) => f.into_std().await,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(e)),
            };
            let body = read::stream(file, info.size, range).await.map_err(io_err)?;
            return Ok(Some(Download { info, body }));
        }
        Err(ObjectError::other(anyhow::anyhow!(
            "object {key} kept changing while being opened"
        )))
    }

    async fn delete(&self, keys: &[String]) -> ObjectResult<()> {
        let keys = keys.to_vec();
        let blobs = self
            .db
            .with(move |c| {
                let tx = c.transaction()?;
                let mut blobs = Vec::new();
                {
                    let mut stmt =
                        tx.prepare("DELETE FROM objects WHERE key = ?1 RETURNING blob")?;
                    for key in &keys {
                        let blob: Option<Option<String>> =
                            stmt.query_row([key], |r| r.get(0)).optional()?;
                        blobs.extend(blob.flatten());
                    }
                }
                tx.commit()?;
                Ok(blobs)
            })
            .await
            .map_err(db_error)?;
        for blob in blobs {
            self.remove_blob(Some(blob)).await;
        }
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str) -> ObjectResult<Option<ObjectInfo>> {
        let Some((source, blob)) = self.row(from).await? else {
            return Ok(None);
        };
        let new_blob = match blob {
            Some(blob) => Some(self.clone_blob(&blob).await?.ok_or_else(|| {
                ObjectError::other(anyhow::anyhow!("object {from} changed while being copied"))
            })?),
            None => None,
        };
        let info = ObjectInfo {
            key: to.to_owned(),
            modified: Utc::now(),
            ..source
        };
        self.commit(info, new_blob).await.map(Some)
    }

    async fn copy_if(
        &self,
        from: &str,
        etag: &str,
        to: &str,
        dest: IfDest<'_>,
    ) -> ObjectResult<Result<ObjectInfo, CopyRefused>> {
        let Some((source, blob)) = self.row(from).await? else {
            return Ok(Err(CopyRefused::SourceChanged));
        };
        if source.etag != etag {
            return Ok(Err(CopyRefused::SourceChanged));
        }
        let new_blob = match blob {
            Some(blob) => match self.clone_blob(&blob).await? {
                Some(id) => Some(id),
                None => return Ok(Err(CopyRefused::SourceChanged)),
            },
            None => None,
        };
        let info = ObjectInfo {
            key: to.to_owned(),
            modified: Utc::now(),
            ..source
        };
        let indexed = self
            .index_copy(from, etag, &info, new_blob.clone(), Condition::from(dest))
            .await;
        match indexed {
            Ok(Ok(replaced)) => {
                self.remove_blob(replaced).await;
                Ok(Ok(info))
            }
            other => {
                self.remove_blob(new_blob).await;
                other.map(|r| r.map(|_| info))
            }
        }
    }

    async fn delete_if_match(&self, key: &str, etag: &str) -> ObjectResult<bool> {
        let (key, etag) = (key.to_owned(), etag.to_owned());
        let deleted: Option<Option<String>> = self
            .db
            .with(move |c| {
                c.query_row(
                    "DELETE FROM objects WHERE key = ?1 AND etag = ?2 RETURNING blob",
                    [key, etag],
                    |r| r.get(0),
                )
                .optional()
            })
            .await
            .map_err(db_error)?;
        let removed = deleted.is_some();
        self.remove_blob(deleted.flatten()).await;
        Ok(removed)
    }

    async fn presign(
        &self,
        _: Presign<'_>,
        _: std::time::Duration,
    ) -> ObjectResult<Option<String>> {
        Ok(None)
    }

    async fn begin_upload(&self, key: &str, content_type: &str) -> ObjectResult<String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = self.upload_path(&id).expect("generated ids are valid");
        tokio::fs::File::create(&path).await.map_err(io_err)?;
        let (row_id, key, ct) = (id.clone(), key.to_owned(), content_type.to_owned());
        self.db
            .with(move |c| {
                c.execute(
                    "INSERT INTO uploads (id, key, content_type, created) VALUES (?1, ?2, ?3, ?4)",
                    params![row_id, key, ct, Utc::now().timestamp_millis()],
                )
            })
            .await
            .map_err(db_error)?;
        Ok(id)
    }

    async fn put_part(
        &self,
        upload_id: &str,
        part_number: u32,
        offset: u64,
        size: u64,
        body: ByteSource<'_>,
    ) -> ObjectResult<PartInfo> {
        let lock = self.upload_lock(upload_id);
        let _writing = lock.read().await;
        let (Some(path), Some(_)) = (
            self.upload_path(upload_id),
            self.upload_key(upload_id).await?,
        ) else {
            drop(_writing);
            self.forget_upload(upload_id).await?;
            return Err(ObjectError::Invalid(
                "The upload does not exist any more.".into(),
            ));
        };
        // One writer per part at a time; and while it writes, the part counts as not received,
        // so a re-send that breaks off cannot leave the old record over new, partial bytes.
        let part_lock = self.upload_lock(&layout::upload_part(upload_id, part_number));
        let _this_part = part_lock.write().await;
        let id = upload_id.to_owned();
        self.db
            .with(move |c| {
                c.execute(
                    "DELETE FROM upload_parts WHERE upload_id = ?1 AND part_number = ?2",
                    params![id, part_number],
                )
            })
            .await
            .map_err(db_error)?;
        // Through a file handle of its own, so parts are written side by side; synced before it
        // is recorded, so no record names bytes a crash could still lose.
        let written = write_stream(Target::At(path, offset), body, size).await?;
        if written.size != size {
            return Err(ObjectError::Invalid(format!(
                "The part must be exactly {size} bytes; {} arrived.",
                written.size
            )));
        }
        let part = PartInfo {
            part_number,
            size,
            etag: quoted_etag(&written.digest),
        };
        let (id, row) = (upload_id.to_owned(), part.clone());
        self.db
            .with(move |c| {
                c.execute(
                    "INSERT INTO upload_parts (upload_id, part_number, size, etag) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (upload_id, part_number) \
                     DO UPDATE SET size = excluded.size, etag = excluded.etag",
                    params![id, row.part_number, row.size as i64, row.etag],
                )
            })
            .await
            .map_err(db_error)?;
        Ok(part)
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> ObjectResult<Option<Vec<PartInfo>>> {
        if self.upload_key(upload_id).await?.as_deref() != Some(key) {
            return Ok(None);
        }
        let id = upload_id.to_owned();
        let parts = self
            .db
            .with(move |c| {
                let mut stmt = c.prepare(
                    "SELECT part_number, size, etag FROM upload_parts WHERE upload_id = ?1 \
                     ORDER BY part_number",
                )?;
                let rows = stmt.query_map([id], |r| {
                    Ok(PartInfo {
                        part_number: r.get(0)?,
                        size: r.get::<_, i64>(1)? as u64,
                        etag: r.get(2)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .map_err(db_error)?;
        Ok(Some(parts))
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> ObjectResult<ObjectInfo> {
        self.complete(key, upload_id, parts, None)
            .await?
            .ok_or_else(|| ObjectError::other(anyhow::anyhow!("an unconditional write refused")))
    }

    async fn complete_upload_if(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
        dest: IfDest<'_>,
    ) -> ObjectResult<Option<ObjectInfo>> {
        self.complete(key, upload_id, parts, Some(Condition::from(dest)))
            .await
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> ObjectResult<()> {
        let lock = self.upload_lock(upload_id);
        let _alone = lock.write().await;
        if self.upload_key(upload_id).await?.as_deref() != Some(key) {
            return Ok(());
        }
        if let Some(path) = self.upload_path(upload_id) {
            let _ = tokio::fs::remove_file(path).await;
        }
        self.forget_upload(upload_id).await
    }

    async fn ping(&self) -> ObjectResult<()> {
        tokio::fs::metadata(self.root.join("blobs"))
            .await
            .map(|_| ())
            .map_err(|e| ObjectError::Unavailable(e.into()))
    }
}

/// An [`IfDest`] the index can check inside its own transaction.
enum Condition {
    Absent,
    Matches(String),
}

impl From<IfDest<'_>> for Condition {
    fn from(dest: IfDest<'_>) -> Self {
        match dest {
            IfDest::Absent => Self::Absent,
            IfDest::Matches(etag) => Self::Matches(etag.to_owned()),
        }
    }
}

impl Condition {
    fn holds(&self, tx: &rusqlite::Transaction<'_>, key: &str) -> rusqlite::Result<bool> {
        let etag: Option<String> = tx
            .query_row("SELECT etag FROM objects WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(match self {
            Self::Absent => etag.is_none(),
            Self::Matches(wanted) => etag.as_deref() == Some(wanted.as_str()),
        })
    }
}

/// Writes the index row of `info`, returning the blob of the row it replaced, if any.
fn upsert(
    tx: &rusqlite::Transaction<'_>,
    info: &ObjectInfo,
    blob: Option<String>,
) -> rusqlite::Result<Option<String>> {
    let old: Option<Option<String>> = tx
        .query_row(
            "SELECT blob FROM objects WHERE key = ?1",
            [&info.key],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "INSERT INTO objects (key, blob, size, etag, content_type, modified) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO UPDATE SET \
         blob = excluded.blob, size = excluded.size, etag = excluded.etag, \
         content_type = excluded.content_type, modified = excluded.modified",
        params![
            info.key,
            blob,
            info.size as i64,
            info.etag,
            info.content_type,
            info.modified.timestamp_millis()
        ],
    )?;
    Ok(old.flatten())
}

/// When the inode last changed (ctime) on Unix, the modification time elsewhere.
fn changed_at(meta: &std::fs::Metadata) -> chrono::DateTime<Utc> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        chrono::DateTime::from_timestamp(meta.ctime(), meta.ctime_nsec() as u32).unwrap_or_default()
    }
    #[cfg(not(unix))]
    {
        meta.modified()
            .map(chrono::DateTime::<Utc>::from)
            .unwrap_or_default()
    }
}
