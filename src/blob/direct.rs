//! Direct uploads to S3 (§16): a client sends an upload's parts straight to the bucket
//! through presigned multipart-upload URLs, so the bytes never pass through perma. The
//! parts are assembled under a staging key (`{prefix}/uploads/{upload uid}`); perma then
//! reads the object once to learn its SHA-256 and size, and copies it to its content
//! address inside the store (one `CopyObject`, or part copies past the copy limit).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore};

use super::sigv4::{self, Signer};
use super::{io_err, Backend, BlobStore};

/// Where a bucket is reached: scheme and host, and the path that leads to the bucket.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    scheme: String,
    host: String,
    bucket_path: String,
}

impl Endpoint {
    /// A configured endpoint (path-style: `{endpoint}/{bucket}/{key}`), or AWS's
    /// virtual-hosted address for the bucket and region.
    pub(super) fn new(endpoint: Option<&str>, bucket: &str, region: &str) -> io::Result<Self> {
        let Some(ep) = endpoint else {
            return Ok(Endpoint {
                scheme: "https".into(),
                host: format!("{bucket}.s3.{region}.amazonaws.com"),
                bucket_path: String::new(),
            });
        };
        let url = url::Url::parse(ep)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{ep:?}: {e}")))?;
        let host = url[url::Position::BeforeHost..url::Position::AfterPort].to_owned();
        if host.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{ep:?} names no host"),
            ));
        }
        Ok(Endpoint {
            scheme: url.scheme().to_owned(),
            host,
            bucket_path: format!(
                "{}/{}",
                url.path().trim_end_matches('/'),
                sigv4::encode(bucket)
            ),
        })
    }

    fn path(&self, key: &Key) -> String {
        format!("{}/{}", self.bucket_path, sigv4::encode_key(key.as_ref()))
    }

    fn url(&self, path: &str, query: &str) -> String {
        format!("{}://{}{path}?{query}", self.scheme, self.host)
    }
}

/// What direct uploads need of an S3 backend besides `object_store`.
#[derive(Debug)]
pub(super) struct S3Direct {
    pub(super) s3: Arc<AmazonS3>,
    pub(super) bucket: String,
    pub(super) region: String,
    /// How perma reaches the bucket.
    pub(super) internal: Endpoint,
    /// The address in URLs handed to clients (`PERMA_S3_PUBLIC_ENDPOINT`).
    pub(super) public: Endpoint,
    /// Objects larger than this are copied in parts of this size.
    pub(super) copy_limit: u64,
    /// Whether new direct uploads may start (`PERMA_DIRECT_UPLOADS`); those under way
    /// finish either way.
    pub(super) enabled: bool,
    pub(super) http: reqwest::Client,
}

/// A part as a client reports it after sending it: its number and the `ETag` S3 answered.
#[derive(Debug, Clone)]
pub struct SentPart {
    /// 1-based.
    pub number: u32,
    /// The part's `ETag`.
    pub etag: String,
}

/// The request that uploads (or copies into) part `number` of multipart upload `id`.
fn part_request<'a>(
    host: &'a str,
    path: &'a str,
    number: usize,
    id: &str,
    headers: Vec<(String, String)>,
) -> sigv4::Request<'a> {
    sigv4::Request {
        method: "PUT",
        host,
        path,
        query: vec![
            ("partNumber".into(), number.to_string()),
            ("uploadId".into(), id.to_owned()),
        ],
        headers,
    }
}

impl S3Direct {
    /// Signs with the store's current credentials.
    async fn sign<T>(&self, with: impl FnOnce(&Signer) -> T) -> io::Result<T> {
        let cred = self
            .s3
            .credentials()
            .get_credential()
            .await
            .map_err(io_err)?;
        Ok(with(&Signer {
            key_id: &cred.key_id,
            secret: &cred.secret_key,
            token: cred.token.as_deref(),
            region: &self.region,
        }))
    }
}

fn refused(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

impl BlobStore {
    fn direct(&self) -> io::Result<(&Arc<dyn ObjectStore>, &str, &S3Direct)> {
        match &self.backend {
            Backend::S3 {
                store,
                prefix,
                direct,
                ..
            } => Ok((store, prefix, direct)),
            Backend::Local(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "direct uploads need S3 storage",
            )),
        }
    }

    /// Whether clients can send new uploads straight to the store.
    pub fn takes_direct_uploads(&self) -> bool {
        self.direct().is_ok_and(|(_, _, d)| d.enabled)
    }

    fn staging_key(prefix: &str, upload_uid: &str) -> Key {
        if prefix.is_empty() {
            Key::from(format!("uploads/{upload_uid}"))
        } else {
            Key::from(format!("{prefix}/uploads/{upload_uid}"))
        }
    }

    /// Starts the multipart upload a direct upload's parts go to; returns its id.
    pub async fn direct_start(&self, upload_uid: &str) -> io::Result<String> {
        let (_, prefix, d) = self.direct()?;
        d.s3.create_multipart(&Self::staging_key(prefix, upload_uid))
            .await
            .map_err(io_err)
    }

    /// A URL that lets its holder `PUT` one part of one direct upload, for `expires`.
    pub async fn direct_part_url(
        &self,
        upload_uid: &str,
        multipart_id: &str,
        part: u32,
        expires: Duration,
    ) -> io::Result<String> {
        let (_, prefix, d) = self.direct()?;
        let path = d.public.path(&Self::staging_key(prefix, upload_uid));
        let req = part_request(&d.public.host, &path, part as usize, multipart_id, vec![]);
        let now = crate::time::now_ms();
        let query = d.sign(|s| s.presign(&req, now, expires.as_secs())).await?;
        Ok(d.public.url(&path, &query))
    }

    /// Assembles the parts a client sent into the staged object. The store refusing them
    /// (a part missing, too small, or an `ETag` that is not the part's) is
    /// `InvalidInput`. Completing an upload completed before (a retry) succeeds.
    pub async fn direct_complete(
        &self,
        upload_uid: &str,
        multipart_id: &str,
        parts: &[SentPart],
    ) -> io::Result<()> {
        let (store, prefix, d) = self.direct()?;
        let key = Self::staging_key(prefix, upload_uid);
        let ids = parts
            .iter()
            .map(|p| PartId {
                content_id: p.etag.clone(),
            })
            .collect();
        match d
            .s3
            .complete_multipart(&key, &multipart_id.to_owned(), ids)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match store.head(&key).await {
                Ok(_) => Ok(()),
                Err(_) if super::unreachable_store(&e) => Err(io_err(e)),
                Err(_) => Err(refused("the store refused the parts", e)),
            },
        }
    }

    /// Ends a direct upload: its multipart upload (parts sent so far) and staged object go.
    pub async fn direct_abort(&self, upload_uid: &str, multipart_id: &str) -> io::Result<()> {
        let (store, prefix, d) = self.direct()?;
        let key = Self::staging_key(prefix, upload_uid);
        if let Err(e) = d.s3.abort_multipart(&key, &multipart_id.to_owned()).await {
            if super::unreachable_store(&e) {
                return Err(io_err(e));
            }
        }
        match store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    /// The staged object's bytes, streamed (to hash them).
    pub async fn staged_stream(
        &self,
        upload_uid: &str,
    ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        let (store, prefix, _) = self.direct()?;
        let r = store
            .get(&Self::staging_key(prefix, upload_uid))
            .await
            .map_err(io_err)?;
        Ok(r.into_stream().map_err(io_err).boxed())
    }

    /// The first `n` bytes of the staged object (to sniff its type).
    pub async fn staged_head(&self, upload_uid: &str, n: u64) -> io::Result<Bytes> {
        let (store, prefix, _) = self.direct()?;
        let options = GetOptions {
            range: Some(GetRange::Bounded(0..n.max(1))),
            ..Default::default()
        };
        let r = store
            .get_opts(&Self::staging_key(prefix, upload_uid), options)
            .await
            .map_err(io_err)?;
        r.bytes().await.map_err(io_err)
    }

    /// Makes the staged object of a verified direct upload the blob `sha256` (`size`
    /// bytes): a copy inside the store. The staged object stays (the upload's owner
    /// removes it once the asset has the blob).
    pub async fn commit_staged(&self, upload_uid: &str, sha256: &str, size: u64) -> io::Result<()> {
        let (store, prefix, d) = self.direct()?;
        let to = Self::key(prefix, sha256);
        if self.exists(sha256).await? {
            return Ok(());
        }
        let from = Self::staging_key(prefix, upload_uid);
        if size <= d.copy_limit {
            return store.copy(&from, &to).await.map_err(io_err);
        }
        let id = d.s3.create_multipart(&to).await.map_err(io_err)?;
        match self.copy_parts(d, &from, &to, &id, size).await {
            Ok(parts) => {
                d.s3.complete_multipart(&to, &id, parts)
                    .await
                    .map(drop)
                    .map_err(io_err)
            }
            Err(e) => {
                let _ = d.s3.abort_multipart(&to, &id).await;
                Err(e)
            }
        }
    }

    /// `UploadPartCopy` of `from` into the multipart upload `id` of `to`, in parts of
    /// the copy limit.
    async fn copy_parts(
        &self,
        d: &S3Direct,
        from: &Key,
        to: &Key,
        id: &str,
        size: u64,
    ) -> io::Result<Vec<PartId>> {
        let source = format!(
            "/{}/{}",
            sigv4::encode(&d.bucket),
            sigv4::encode_key(from.as_ref())
        );
        let path = d.internal.path(to);
        let mut parts = Vec::new();
        let mut start = 0;
        while start < size {
            let end = (start + d.copy_limit).min(size);
            let number = parts.len() + 1;
            let range = format!("bytes={start}-{}", end - 1);
            let headers = vec![
                ("x-amz-copy-source".to_owned(), source.clone()),
                ("x-amz-copy-source-range".to_owned(), range),
            ];
            let req = part_request(&d.internal.host, &path, number, id, headers);
            let now = crate::time::now_ms();
            let auth = d
                .sign(|s| s.authorize(&req, now, sigv4::EMPTY_SHA256))
                .await?;
            let query = format!("partNumber={number}&uploadId={}", sigv4::encode(id));
            let mut http = d.http.put(d.internal.url(&path, &query));
            for (k, v) in req.headers.iter().cloned().chain(auth) {
                http = http.header(k, v);
            }
            let resp = http.send().await.map_err(io::Error::other)?;
            let status = resp.status();
            let text = resp.text().await.map_err(io::Error::other)?;
            // S3 may answer 200 with an error document, so the ETag must be there.
            let etag = (status.is_success())
                .then(|| xml_text(&text, "ETag"))
                .flatten()
                .ok_or_else(|| {
                    io::Error::other(format!("copying part {number}: {status} {text}"))
                })?;
            parts.push(PartId { content_id: etag });
            start = end;
        }
        Ok(parts)
    }

    /// Staged objects of direct uploads, with their age: the sweep removes those whose
    /// upload has gone.
    pub async fn staged_objects(&self) -> io::Result<Vec<(String, Duration)>> {
        let (store, prefix, _) = self.direct()?;
        let dir = Self::staging_key(prefix, "");
        let mut out = Vec::new();
        let mut s = store.list(Some(&dir));
        while let Some(meta) = s.next().await {
            let meta = meta.map_err(io_err)?;
            if let Some(uid) = meta.location.filename() {
                let modified: std::time::SystemTime = meta.last_modified.into();
                out.push((uid.to_owned(), modified.elapsed().unwrap_or_default()));
            }
        }
        Ok(out)
    }

    /// Removes a staged object (the upload is used up or gone).
    pub async fn delete_staged(&self, upload_uid: &str) -> io::Result<()> {
        let (store, prefix, _) = self.direct()?;
        match store.delete(&Self::staging_key(prefix, upload_uid)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }
}

/// The text of the first `<tag>` in an XML answer, entities for quotes resolved.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&#34;", "\""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_path_style_and_virtual_hosted() {
        let e = Endpoint::new(Some("http://127.0.0.1:9000"), "media", "us-east-1").unwrap();
        assert_eq!(e.host, "127.0.0.1:9000");
        assert_eq!(e.path(&Key::from("p/uploads/ab")), "/media/p/uploads/ab");
        assert_eq!(
            e.url("/media/x", "a=1"),
            "http://127.0.0.1:9000/media/x?a=1"
        );
        let e = Endpoint::new(Some("https://s3.example.org/base/"), "b", "r").unwrap();
        assert_eq!(e.path(&Key::from("k")), "/base/b/k");
        let e = Endpoint::new(None, "media", "eu-west-1").unwrap();
        assert_eq!(e.host, "media.s3.eu-west-1.amazonaws.com");
        assert_eq!(e.path(&Key::from("k")), "/k");
        assert!(Endpoint::new(Some("not a url"), "b", "r").is_err());
    }

    #[test]
    fn etag_from_a_copy_answer() {
        let xml = r#"<?xml version="1.0"?><CopyPartResult><LastModified>x</LastModified><ETag>&quot;abc&quot;</ETag></CopyPartResult>"#;
        assert_eq!(xml_text(xml, "ETag").as_deref(), Some("\"abc\""));
        assert_eq!(xml_text("<Error><Code>x</Code></Error>", "ETag"), None);
    }
}
