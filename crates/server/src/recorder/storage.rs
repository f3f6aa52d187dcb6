//! Where composed recordings live: a directory (the data directory by default), or an
//! S3-compatible bucket (`object_store`) when one is configured.
//!
//! Objects are named by key (`<recording id>.webm`); reads take an optional byte range so
//! playback can seek (HTTP Range).

use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use futures_util::TryStreamExt;
use object_store::{GetOptions, GetRange, ObjectStore};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The recording store.
#[derive(Debug, Clone)]
pub enum Storage {
    /// Files under a directory.
    Local(PathBuf),
    /// Objects in an S3-compatible bucket.
    S3(Arc<dyn ObjectStore>),
}

/// Where an S3-compatible bucket is.
#[derive(Debug, Clone)]
pub struct S3Config {
    pub bucket: String,
    /// `http(s)://host:port` of a non-AWS server (MinIO, Ceph, …); AWS when `None`.
    pub endpoint: Option<String>,
    pub region: String,
}

fn s3_error(e: object_store::Error) -> std::io::Error {
    match e {
        object_store::Error::NotFound { .. } => std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()),
        other => std::io::Error::other(other.to_string()),
    }
}

impl Storage {
    /// An S3-compatible bucket; credentials come from `AWS_ACCESS_KEY_ID` /
    /// `AWS_SECRET_ACCESS_KEY` (and the other standard `AWS_*` variables).
    pub fn s3(cfg: &S3Config) -> std::io::Result<Storage> {
        let mut b =
            object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&cfg.bucket).with_region(&cfg.region);
        if let Some(endpoint) = &cfg.endpoint {
            b = b.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        Ok(Storage::S3(Arc::new(b.build().map_err(s3_error)?)))
    }
}

impl Storage {
    /// Stores the file at `src` under `key` (moved when possible); returns its size.
    pub async fn put_file(&self, key: &str, src: &Path) -> std::io::Result<u64> {
        match self {
            Storage::Local(root) => {
                tokio::fs::create_dir_all(root).await?;
                let dest = root.join(key);
                let tmp = root.join(format!("{key}.part"));
                // Copy (the raw directory may be on another file system), then rename: a crash
                // never leaves half a recording under a real name.
                tokio::fs::copy(src, &tmp).await?;
                tokio::fs::rename(&tmp, &dest).await?;
                Ok(tokio::fs::metadata(&dest).await?.len())
            }
            Storage::S3(store) => {
                // Large files go up in parts; the object appears only when the upload completes.
                let mut file = tokio::fs::File::open(src).await?;
                let mut w = object_store::buffered::BufWriter::new(store.clone(), key.into());
                tokio::io::copy(&mut file, &mut w).await?;
                w.shutdown().await?;
                self.size(key).await
            }
        }
    }

    /// The size of a stored object.
    pub async fn size(&self, key: &str) -> std::io::Result<u64> {
        match self {
            Storage::Local(root) => Ok(tokio::fs::metadata(root.join(key)).await?.len()),
            Storage::S3(store) => Ok(store.head(&key.into()).await.map_err(s3_error)?.size),
        }
    }

    /// A body streaming `range` of the object (the whole object without one).
    pub async fn read(&self, key: &str, range: Option<Range<u64>>) -> std::io::Result<Body> {
        match self {
            Storage::Local(root) => {
                let mut f = tokio::fs::File::open(root.join(key)).await?;
                let len = f.metadata().await?.len();
                let range = range.unwrap_or(0..len);
                f.seek(SeekFrom::Start(range.start)).await?;
                let reader = f.take(range.end.saturating_sub(range.start));
                Ok(Body::from_stream(tokio_util::io::ReaderStream::new(reader)))
            }
            Storage::S3(store) => {
                let options = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
                let got = store.get_opts(&key.into(), options).await.map_err(s3_error)?;
                Ok(Body::from_stream(got.into_stream().map_err(s3_error)))
            }
        }
    }

    /// Deletes an object; a missing one is not an error.
    pub async fn delete(&self, key: &str) -> std::io::Result<()> {
        match self {
            Storage::Local(root) => match tokio::fs::remove_file(root.join(key)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            Storage::S3(store) => match store.delete(&key.into()).await {
                Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
                Err(e) => Err(s3_error(e)),
            },
        }
    }
}

/// A `Range` header that cannot be satisfied (HTTP 416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// Parses a `Range: bytes=…` header against an object of `len` bytes: `Ok(None)` for the
/// whole object. Multiple ranges are answered with the whole object, as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, len: u64) -> Result<Option<Range<u64>>, Unsatisfiable> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| Unsatisfiable)?;
        if n == 0 {
            return Err(Unsatisfiable);
        }
        len.saturating_sub(n)..len
    } else {
        let start: u64 = a.parse().map_err(|_| Unsatisfiable)?;
        let end =
            if b.is_empty() { len } else { b.parse::<u64>().map_err(|_| Unsatisfiable)?.saturating_add(1).min(len) };
        start..end
    };
    if range.start >= len || range.start >= range.end {
        return Err(Unsatisfiable);
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Ok(Some(0..10)));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some(90..100)));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some(90..100)));
        assert_eq!(parse_range(Some("bytes=50-500"), 100), Ok(Some(50..100)));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=9-3"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=x-3"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=-0"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("items=0-1"), 100), Ok(None));
    }

    #[tokio::test]
    async fn local_put_read_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        std::fs::write(&src, b"0123456789").unwrap();
        let s = Storage::Local(dir.path().join("store"));
        assert_eq!(s.put_file("a.webm", &src).await.unwrap(), 10);
        assert_eq!(s.size("a.webm").await.unwrap(), 10);
        let body = s.read("a.webm", Some(2..5)).await.unwrap();
        let bytes = axum::body::to_bytes(body, 100).await.unwrap();
        assert_eq!(&bytes[..], b"234");
        s.delete("a.webm").await.unwrap();
        s.delete("a.webm").await.unwrap();
        assert!(s.size("a.webm").await.is_err());
    }
}
