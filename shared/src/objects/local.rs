//! Embedded object store: bytes in immutable blob files named by random ids, keys in a SQLite
//! index.
//!
//! Keys never become file paths, so no key can name a place outside the store (no traversal, no
//! symlink, no reserved or over-long file name), a file and a folder of one name can coexist as
//! in S3, and the first page of a listing costs the same in a folder of 100 or 100,000 objects
//! (an index range scan). A write streams into `tmp/`, is fsynced, renamed into `blobs/` and only
//! then indexed in one transaction: a failed or oversized upload leaves nothing behind.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use anyhow::Context;
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use futures::StreamExt;
use md5::{Digest, Md5};
use rusqlite::{params, OptionalExtension, Row};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::{ByteRange, ByteStream, Download, ListPage, Listed, ObjectInfo, ObjectStore};
use crate::store::sqlite::{other, Db};
use crate::store::{StoreError, StoreResult};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    key          TEXT PRIMARY KEY,
    blob         TEXT,
    size         INTEGER NOT NULL,
    etag         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    modified     INTEGER NOT NULL
);
";

/// Sorts after every valid UTF-8 continuation of a key: `prefix + SKIP` is past its subtree.
const SKIP: char = '\u{10FFFF}';
/// Rows read per index query while filling a page.
const CHUNK: usize = 256;

#[derive(Clone)]
pub struct LocalObjects {
    root: PathBuf,
    db: Db,
}

fn io_err(e: std::io::Error) -> StoreError {
    StoreError::other(e)
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
        for dir in ["blobs", "tmp"] {
            std::fs::create_dir_all(root.join(dir))
                .with_context(|| format!("creating {}", root.join(dir).display()))?;
        }
        for entry in std::fs::read_dir(root.join("tmp"))? {
            let _ = std::fs::remove_file(entry?.path());
        }
        Ok(Self {
            root: root.to_owned(),
            db: Db::open(&root.join("index.db"), SCHEMA)?,
        })
    }

    fn blob_path(&self, blob: &str) -> PathBuf {
        self.root.join("blobs").join(blob)
    }

    async fn row(&self, key: &str) -> StoreResult<Option<(ObjectInfo, Option<String>)>> {
        let key = key.to_owned();
        self.db
            .with(move |c| {
                c.query_row(
                    &format!("SELECT {COLUMNS} FROM objects WHERE key = ?1"),
                    [key],
                    info_from_row,
                )
                .optional()
            })
            .await
            .map_err(other)
    }

    /// Indexes `info` (with its blob), returning the blob it replaced, if any.
    async fn index(&self, info: &ObjectInfo, blob: Option<String>) -> StoreResult<Option<String>> {
        let info = info.clone();
        self.db
            .with(move |c| {
                let tx = c.transaction()?;
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
                tx.commit()?;
                Ok(old.flatten())
            })
            .await
            .map_err(other)
    }

    /// Indexes a written blob: afterwards the blob it replaced goes; if indexing fails, the new
    /// blob goes instead, so either way no blob is left unreferenced.
    async fn commit(&self, info: ObjectInfo, blob: Option<String>) -> StoreResult<ObjectInfo> {
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

    /// Streams `body` into a new blob; returns (blob id, size, etag), or nothing stored.
    async fn write_blob(
        &self,
        mut body: ByteStream,
        max_bytes: u64,
    ) -> StoreResult<(Option<String>, u64, String)> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.root.join("tmp").join(&id);
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await.map_err(io_err)?;
            let mut md5 = Md5::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(io_err)?;
                size += chunk.len() as u64;
                if size > max_bytes {
                    return Err(StoreError::TooLarge { limit: max_bytes });
                }
                md5.update(&chunk);
                file.write_all(&chunk).await.map_err(io_err)?;
            }
            file.sync_all().await.map_err(io_err)?;
            Ok((size, format!("\"{}\"", hex::encode(md5.finalize()))))
        }
        .await;
        match result {
            Ok((0, etag)) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Ok((None, 0, etag))
            }
            Ok((size, etag)) => {
                tokio::fs::rename(&tmp, self.blob_path(&id))
                    .await
                    .map_err(io_err)?;
                Ok((Some(id), size, etag))
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    /// The next index rows after `after` (or from `prefix` on, inclusive, when `after` is None).
    async fn rows_after(
        &self,
        prefix: &str,
        after: Option<String>,
        n: usize,
    ) -> StoreResult<Vec<ObjectInfo>> {
        let prefix = prefix.to_owned();
        self.db
            .with(move |c| {
                let (sql, bound) = match after {
                    Some(a) => ("key > ?1", a),
                    None => ("key >= ?1", prefix),
                };
                let mut stmt = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM objects WHERE {sql} ORDER BY key LIMIT ?2"
                ))?;
                let rows = stmt.query_map(params![bound, n as i64], info_from_row)?;
                rows.map(|r| r.map(|(info, _)| info)).collect()
            })
            .await
            .map_err(other)
    }
}

#[async_trait]
impl ObjectStore for LocalObjects {
    async fn head(&self, key: &str) -> StoreResult<Option<ObjectInfo>> {
        Ok(self.row(key).await?.map(|(info, _)| info))
    }

    async fn list(
        &self,
        prefix: &str,
        delimited: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<ListPage> {
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

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        content_type: &str,
        max_bytes: u64,
    ) -> StoreResult<ObjectInfo> {
        let (blob, size, etag) = self.write_blob(body, max_bytes).await?;
        let info = ObjectInfo {
            key: key.to_owned(),
            size,
            etag,
            content_type: content_type.to_owned(),
            modified: Utc::now(),
        };
        self.commit(info, blob).await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> StoreResult<Option<Download>> {
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
            let mut file = match tokio::fs::File::open(self.blob_path(&blob)).await {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(e)),
            };
            let body: ByteStream = match range {
                Some(r) => {
                    file.seek(SeekFrom::Start(r.start)).await.map_err(io_err)?;
                    Box::pin(ReaderStream::new(file.take(r.len())))
                }
                None => Box::pin(ReaderStream::new(file)),
            };
            return Ok(Some(Download { info, body }));
        }
        Err(StoreError::other(anyhow::anyhow!(
            "object {key} kept changing while being opened"
        )))
    }

    async fn delete(&self, keys: &[String]) -> StoreResult<()> {
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
            .map_err(other)?;
        for blob in blobs {
            self.remove_blob(Some(blob)).await;
        }
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str) -> StoreResult<Option<ObjectInfo>> {
        let Some((source, blob)) = self.row(from).await? else {
            return Ok(None);
        };
        // Blobs are never modified in place, so the copy can share the bytes (a hard link),
        // falling back to a real copy where links are not supported.
        let new_blob = match blob {
            Some(blob) => {
                let id = uuid::Uuid::new_v4().simple().to_string();
                let (src, dst) = (self.blob_path(&blob), self.blob_path(&id));
                if tokio::fs::hard_link(&src, &dst).await.is_err() {
                    tokio::fs::copy(&src, &dst).await.map_err(io_err)?;
                }
                Some(id)
            }
            None => None,
        };
        let info = ObjectInfo {
            key: to.to_owned(),
            modified: Utc::now(),
            ..source
        };
        self.commit(info, new_blob).await.map(Some)
    }

    async fn ping(&self) -> StoreResult<()> {
        tokio::fs::metadata(self.root.join("blobs"))
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.into()))
    }
}
