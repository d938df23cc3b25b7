//! Configuration (§8, §9): `perma.toml` (optional) overlaid by `PERMA_*` environment
//! variables. Every field has a default so `perma serve` runs with nothing set.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::blob::{BlobStore, S3Settings};

mod check;
pub mod memory;

pub use check::{check, known_names};
pub use memory::MemoryPlan;

/// Everything `perma serve` and the maintenance commands need to know.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`PERMA_LISTEN`, default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Directory for the SQLite database, blobs and temporary uploads
    /// (`PERMA_DATA_DIR`, default `./perma-data`).
    pub data_dir: PathBuf,
    /// Base of every URL perma hands out (`PERMA_PUBLIC_URL`, default `http://{listen}`).
    pub public_url: Option<String>,
    /// Metadata database (`PERMA_DATABASE_URL`): `sqlite://…`; default `{data_dir}/perma.db`.
    pub database_url: Option<String>,
    /// Blob storage (`PERMA_STORAGE`): `file:///path` or `s3://bucket[/prefix]`;
    /// default `{data_dir}/blobs`.
    pub storage: Option<String>,
    /// Endpoint of an S3-compatible server (`PERMA_S3_ENDPOINT`); when set, path-style
    /// addressing is used. Unset: AWS itself.
    pub s3_endpoint: Option<String>,
    /// S3 region (`PERMA_S3_REGION`, default `us-east-1`).
    pub s3_region: String,
    /// The S3 endpoint as clients reach it, in the part URLs of direct uploads
    /// (`PERMA_S3_PUBLIC_ENDPOINT`, default the endpoint perma uses). §16.
    pub s3_public_endpoint: Option<String>,
    /// Objects larger than this are copied inside the store in parts of this size
    /// (`PERMA_S3_COPY_PART_BYTES`, default 5 GiB, S3's largest single copy). §16.
    pub s3_copy_part_bytes: u64,
    /// Whether clients may send large files straight to S3 storage
    /// (`PERMA_DIRECT_UPLOADS`, `on` or `off`; default on). Off, or on local storage,
    /// `/v3/uploads/direct` starts tus uploads. §16.
    pub direct_uploads: bool,
    /// Seconds a presigned part URL of a direct upload is valid
    /// (`PERMA_DIRECT_URL_SECONDS`, default 900). §16.
    pub direct_url_seconds: u64,
    /// Largest accepted upload in bytes (`PERMA_MAX_UPLOAD_BYTES`, default 1 GiB). §5.
    pub max_upload_bytes: u64,
    /// `max-age` of permanent-URL responses in seconds (`PERMA_PERMANENT_MAX_AGE`, default 60). §4.
    pub permanent_max_age: u64,
    /// `stale-while-revalidate` of permanent-URL responses in seconds
    /// (`PERMA_PERMANENT_SWR`, default 300). §4.
    pub permanent_stale_while_revalidate: u64,
    /// Admin user created on first start when both are set (`PERMA_ADMIN_EMAIL`). §8.
    pub admin_email: Option<String>,
    /// Password of that admin user (`PERMA_ADMIN_PASSWORD`). §8.
    pub admin_password: Option<String>,
    /// Lifetime of a login session in seconds (`PERMA_SESSION_TTL`, default 30 days).
    pub session_ttl: u64,
    /// What perma's caches may hold together, in bytes (`PERMA_MEMORY_BYTES`, default
    /// 512 MiB): divided by [`Config::memory_plan`]. docs/operations.md, "Memory".
    pub memory_bytes: u64,
    /// Memory budget of the delivery index in bytes (`PERMA_INDEX_BYTES`; default what
    /// `memory_bytes` leaves after the other caches, about 280 MiB or 800,000 assets). Past
    /// it, the least recently used entries are evicted and loaded again, with one indexed
    /// query, when asked for. §4, §6.
    pub index_bytes: Option<u64>,
    /// Bytes of stored image renditions (`PERMA_RENDITION_BUDGET_BYTES`, default 1 GiB);
    /// past it, the least recently served are deleted (§11).
    pub rendition_budget_bytes: u64,
    /// Renditions rendered at once (`PERMA_RENDER_CONCURRENCY`, default: the number of
    /// cores); further requests for missing renditions wait (§11).
    pub render_concurrency: usize,
    /// Seconds one rendition may take to render (`PERMA_RENDER_TIMEOUT`, default 30);
    /// past it the render is stopped, the request gets a 422 and the same rendition is
    /// refused at once for a while (§11).
    pub render_timeout: u64,
    /// Bytes all renders in progress may use together (`PERMA_RENDER_MEMORY_BYTES`,
    /// default 512 MiB). Each render reserves its estimate (input file, decoded pixels,
    /// resized copies, encoder buffers) before decoding and waits while the sum would pass
    /// it; a render whose estimate alone passes it gets 422 (§11).
    pub render_memory_bytes: u64,
    /// Renditions stored per source file (`PERMA_RENDITIONS_PER_SOURCE`, default 200);
    /// past it a new transform of that file gets 422 until the budget evicts some (§11).
    pub renditions_per_source: u64,
    /// Renders (requests for renditions not stored yet) one client address may cause per
    /// minute (`PERMA_RENDER_MISSES_PER_MINUTE`, default 120; 0: no limit); past it 429
    /// with `Retry-After`. Stored renditions are never limited.
    pub render_misses_per_minute: u64,
    /// Seconds a request head may take to arrive, counted from the connection's start or
    /// the previous answer (`PERMA_HEAD_TIMEOUT`, default 30): an idle keep-alive
    /// connection, or a head sent slowly, is closed, on both delivery paths.
    pub head_timeout: u64,
    /// Open connections one client address may have (`PERMA_MAX_CONNECTIONS_PER_CLIENT`,
    /// default 256; 0: no cap). Past it a new connection gets 503 and is closed.
    /// Proxies in `trusted_proxies` are not capped (they carry many clients).
    pub max_connections_per_client: u64,
    /// Networks webhook receivers may be in besides public addresses
    /// (`PERMA_WEBHOOK_ALLOW_NETS`, comma-separated CIDR list such as `127.0.0.0/8`). By
    /// default loopback, link-local and private ranges are refused (SSRF), §13.
    pub webhook_allow_nets: Vec<String>,
    /// CDN purge targets (`PERMA_PURGE`, comma-separated): `http-purge:URL` sends `PURGE`
    /// for each affected URL to that cache, `surrogate-key:URL` one `POST` naming the
    /// `asset-{uid}` keys, §13.
    pub purge: Vec<String>,
    /// Seconds between sweeps of the trash, which remove for good what is older than its
    /// stack's retention (`PERMA_TRASH_SWEEP_SECONDS`, default 3600, §15).
    pub trash_sweep_seconds: u64,
    /// Largest resumable upload in bytes (`PERMA_MAX_RESUMABLE_BYTES`, default 10 GiB, §16).
    pub max_resumable_bytes: u64,
    /// Seconds an unfinished resumable upload is kept after its last bytes arrived
    /// (`PERMA_UPLOAD_EXPIRY`, default 86400, §16); then its bytes are reclaimed.
    pub upload_expiry: u64,
    /// Unfinished resumable uploads one user or token may have open at once
    /// (`PERMA_MAX_OPEN_UPLOADS`, default 20, §16).
    pub max_open_uploads: u64,
    /// Bytes one user or token may have announced in unfinished resumable uploads
    /// (`PERMA_MAX_UPLOAD_BYTES_IN_FLIGHT`, default 50 GiB, §16).
    pub max_upload_bytes_in_flight: u64,
    /// Seconds between flushes of link insights' counts to the database
    /// (`PERMA_INSIGHTS_FLUSH_SECONDS`, default 10, §17): a crash loses at most this much.
    pub insights_flush_seconds: u64,
    /// Referring pages kept per asset and day (`PERMA_INSIGHTS_REFERRERS`, default 20,
    /// §17); the others are counted together.
    pub insights_referrers: u64,
    /// Days an audit log entry is kept (`PERMA_AUDIT_RETENTION_DAYS`, default 365, §14);
    /// older ones are removed by the same sweep as the trash.
    pub audit_retention_days: u64,
    /// Most assets and folders a trash item may hold to be restored in one transaction;
    /// a bigger folder comes back as a background job (`PERMA_RESTORE_INLINE_MAX`, default
    /// 1000, §15).
    pub restore_inline_max: u64,
    /// Assets and folders such a job restores per transaction (`PERMA_RESTORE_CHUNK`,
    /// default 500): what it holds in memory at once.
    pub restore_chunk: usize,
    /// First retry delay of webhooks and purges in milliseconds (`PERMA_EVENT_RETRY_MS`,
    /// default 5000); it doubles with each attempt, with jitter, up to 8 attempts.
    pub event_retry_ms: u64,
    /// Seconds a webhook receiver or purge target has to answer (`PERMA_EVENT_TIMEOUT`,
    /// default 30).
    pub event_timeout: u64,
    /// How long finished webhook executions and purge jobs (succeeded or given up) are
    /// kept (`PERMA_EVENT_RETENTION_DAYS`, default 30 days); older ones are deleted.
    pub event_retention: std::time::Duration,
    /// Seconds a client may take no bytes of an answer before its connection is closed
    /// (`PERMA_SEND_TIMEOUT`, default 60, as nginx's `send_timeout`), on both delivery
    /// paths: a client that stops reading cannot hold a connection and its buffers.
    pub send_timeout: u64,
    /// Proxies whose `X-Forwarded-For` names the client (`PERMA_TRUSTED_PROXIES`, a comma-
    /// separated list of addresses or CIDR networks such as `10.0.0.0/24`; none by
    /// default, loopback included). Used for the failed-login limits and the connection
    /// cap per client address; a trusted proxy's own connections are not capped.
    pub trusted_proxies: Vec<String>,
    /// Management API requests per second allowed per credential (`PERMA_RATE_LIMIT`;
    /// 0, the default, means no limit). Bursts of up to one second's worth pass; past
    /// that, 429 with `Retry-After`. Delivery URLs are never limited.
    pub rate_limit: u64,
    /// Count requests for `GET /metrics` (`PERMA_METRICS`, `on` or `off`; default on).
    pub metrics: bool,
    /// Networks besides loopback that may read `GET /metrics` (`PERMA_METRICS_FROM`,
    /// comma-separated addresses or CIDR networks); others get 404.
    pub metrics_from: Vec<String>,
    /// The access log (`PERMA_ACCESS_LOG`): `off` (default), `stdout`, or a file path
    /// (appended to). One line per answer; format in docs/operations.md.
    pub access_log: String,
    /// Single sign-on through OpenID Connect (§14): the provider's issuer URL
    /// (`PERMA_OIDC_ISSUER`); with a client id and secret it turns sign-on on.
    pub oidc_issuer: Option<String>,
    /// perma's client id at the provider (`PERMA_OIDC_CLIENT_ID`).
    pub oidc_client_id: Option<String>,
    /// perma's client secret at the provider (`PERMA_OIDC_CLIENT_SECRET`).
    pub oidc_client_secret: Option<String>,
    /// The claim that gives stack roles (`PERMA_OIDC_ROLE_CLAIM`, default `perma_roles`):
    /// a list of `api_key:role` (role by name or uid), or an object `{api_key: role(s)}`.
    pub oidc_role_claim: String,
    /// Scopes asked for (`PERMA_OIDC_SCOPES`, default `openid email profile`).
    pub oidc_scopes: String,
}

/// An `on`/`off` setting.
fn switch(name: &str, v: &str) -> anyhow::Result<bool> {
    match v.trim() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        other => bail!("{name} must be on or off, got {other:?}"),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./perma-data"),
            public_url: None,
            database_url: None,
            storage: None,
            s3_endpoint: None,
            s3_region: "us-east-1".to_owned(),
            s3_public_endpoint: None,
            s3_copy_part_bytes: 5 << 30,
            direct_uploads: true,
            direct_url_seconds: 900,
            max_upload_bytes: 1 << 30,
            permanent_max_age: 60,
            permanent_stale_while_revalidate: 300,
            admin_email: None,
            admin_password: None,
            session_ttl: 30 * 24 * 3600,
            memory_bytes: 512 << 20,
            index_bytes: None,
            rendition_budget_bytes: 1 << 30,
            render_concurrency: std::thread::available_parallelism().map_or(2, usize::from),
            render_timeout: 30,
            render_memory_bytes: 512 << 20,
            renditions_per_source: 200,
            render_misses_per_minute: 120,
            head_timeout: 30,
            max_connections_per_client: 256,
            webhook_allow_nets: Vec::new(),
            purge: Vec::new(),
            event_retry_ms: 5000,
            trash_sweep_seconds: 3600,
            audit_retention_days: 365,
            max_resumable_bytes: 10 << 30,
            upload_expiry: 86_400,
            insights_flush_seconds: 10,
            insights_referrers: 20,
            max_open_uploads: 20,
            max_upload_bytes_in_flight: 50 << 30,
            restore_inline_max: 1000,
            restore_chunk: 500,
            event_timeout: 30,
            event_retention: std::time::Duration::from_secs(30 * 24 * 3600),
            send_timeout: 60,
            trusted_proxies: Vec::new(),
            rate_limit: 0,
            metrics: true,
            metrics_from: Vec::new(),
            access_log: "off".to_owned(),
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_role_claim: "perma_roles".to_owned(),
            oidc_scopes: "openid email profile".to_owned(),
        }
    }
}

impl Config {
    /// Loads `perma.toml` from `file` (or `./perma.toml` when it exists), then applies
    /// `PERMA_*` variables from the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None if Path::new("perma.toml").exists() => Self::from_file(Path::new("perma.toml"))?,
            None => Self::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(config)
    }

    fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }

    /// Applies `PERMA_*` overrides read through `var` (a function so tests need no globals).
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        fn list(v: &str) -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()
        }
        fn num(name: &str, v: String) -> anyhow::Result<u64> {
            v.trim()
                .parse()
                .with_context(|| format!("{name} must be a whole number, got {v:?}"))
        }
        if let Some(v) = var("PERMA_LISTEN") {
            self.listen = v
                .parse()
                .with_context(|| format!("PERMA_LISTEN must be host:port, got {v:?}"))?;
        }
        if let Some(v) = var("PERMA_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("PERMA_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = var("PERMA_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = var("PERMA_STORAGE") {
            self.storage = Some(v);
        }
        if let Some(v) = var("PERMA_S3_ENDPOINT") {
            self.s3_endpoint = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("PERMA_S3_REGION") {
            self.s3_region = v;
        }
        if let Some(v) = var("PERMA_S3_PUBLIC_ENDPOINT") {
            self.s3_public_endpoint = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("PERMA_S3_COPY_PART_BYTES") {
            // S3's smallest part (5 MiB) to its largest single copy (5 GiB).
            self.s3_copy_part_bytes = num("PERMA_S3_COPY_PART_BYTES", v)?.clamp(5 << 20, 5 << 30);
        }
        if let Some(v) = var("PERMA_DIRECT_URL_SECONDS") {
            // SigV4 presigned URLs live at most 7 days.
            self.direct_url_seconds = num("PERMA_DIRECT_URL_SECONDS", v)?.clamp(60, 604_800);
        }
        if let Some(v) = var("PERMA_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            for n in &self.trusted_proxies {
                crate::ids::Network::parse(n).with_context(|| {
                    format!("PERMA_TRUSTED_PROXIES: {n:?} is not an address or CIDR network")
                })?;
            }
        }
        if let Some(v) = var("PERMA_WEBHOOK_ALLOW_NETS") {
            self.webhook_allow_nets = list(&v);
            for n in &self.webhook_allow_nets {
                crate::ids::Network::parse(n).with_context(|| {
                    format!("PERMA_WEBHOOK_ALLOW_NETS: {n:?} is not an address or CIDR network")
                })?;
            }
        }
        if let Some(v) = var("PERMA_PURGE") {
            self.purge = list(&v);
            for p in &self.purge {
                if !(p.starts_with("http-purge:") || p.starts_with("surrogate-key:")) {
                    bail!("PERMA_PURGE: {p:?} is neither http-purge:URL nor surrogate-key:URL");
                }
            }
        }
        if let Some(v) = var("PERMA_TRASH_SWEEP_SECONDS") {
            self.trash_sweep_seconds = num("PERMA_TRASH_SWEEP_SECONDS", v)?.max(1);
        }
        if let Some(v) = var("PERMA_MAX_RESUMABLE_BYTES") {
            self.max_resumable_bytes = num("PERMA_MAX_RESUMABLE_BYTES", v)?;
        }
        if let Some(v) = var("PERMA_UPLOAD_EXPIRY") {
            self.upload_expiry = num("PERMA_UPLOAD_EXPIRY", v)?.max(1);
        }
        if let Some(v) = var("PERMA_INSIGHTS_FLUSH_SECONDS") {
            self.insights_flush_seconds = num("PERMA_INSIGHTS_FLUSH_SECONDS", v)?.max(1);
        }
        if let Some(v) = var("PERMA_INSIGHTS_REFERRERS") {
            self.insights_referrers = num("PERMA_INSIGHTS_REFERRERS", v)?.max(1);
        }
        if let Some(v) = var("PERMA_MAX_OPEN_UPLOADS") {
            self.max_open_uploads = num("PERMA_MAX_OPEN_UPLOADS", v)?;
        }
        if let Some(v) = var("PERMA_MAX_UPLOAD_BYTES_IN_FLIGHT") {
            self.max_upload_bytes_in_flight = num("PERMA_MAX_UPLOAD_BYTES_IN_FLIGHT", v)?;
        }
        if let Some(v) = var("PERMA_AUDIT_RETENTION_DAYS") {
            self.audit_retention_days = num("PERMA_AUDIT_RETENTION_DAYS", v)?.clamp(1, 36500);
        }
        if let Some(v) = var("PERMA_RESTORE_INLINE_MAX") {
            self.restore_inline_max = num("PERMA_RESTORE_INLINE_MAX", v)?;
        }
        if let Some(v) = var("PERMA_RESTORE_CHUNK") {
            self.restore_chunk = (num("PERMA_RESTORE_CHUNK", v)? as usize).clamp(1, 10_000);
        }
        if let Some(v) = var("PERMA_EVENT_RETRY_MS") {
            self.event_retry_ms = num("PERMA_EVENT_RETRY_MS", v)?.max(1);
        }
        if let Some(v) = var("PERMA_EVENT_TIMEOUT") {
            self.event_timeout = num("PERMA_EVENT_TIMEOUT", v)?.max(1);
        }
        if let Some(v) = var("PERMA_EVENT_RETENTION_DAYS") {
            let days = num("PERMA_EVENT_RETENTION_DAYS", v)?.clamp(1, 36_500);
            self.event_retention = std::time::Duration::from_secs(days * 24 * 3600);
        }
        if let Some(v) = var("PERMA_METRICS") {
            self.metrics = switch("PERMA_METRICS", &v)?;
        }
        if let Some(v) = var("PERMA_DIRECT_UPLOADS") {
            self.direct_uploads = switch("PERMA_DIRECT_UPLOADS", &v)?;
        }
        if let Some(v) = var("PERMA_METRICS_FROM") {
            self.metrics_from = v
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            for n in &self.metrics_from {
                crate::ids::Network::parse(n).with_context(|| {
                    format!("PERMA_METRICS_FROM: {n:?} is not an address or CIDR network")
                })?;
            }
        }
        if let Some(v) = var("PERMA_ACCESS_LOG") {
            self.access_log = v.trim().to_owned();
        }
        if let Some(v) = var("PERMA_RATE_LIMIT") {
            self.rate_limit = num("PERMA_RATE_LIMIT", v)?;
        }
        if let Some(v) = var("PERMA_SEND_TIMEOUT") {
            self.send_timeout = num("PERMA_SEND_TIMEOUT", v)?.max(1);
        }
        if let Some(v) = var("PERMA_MEMORY_BYTES") {
            self.memory_bytes = num("PERMA_MEMORY_BYTES", v)?;
        }
        if let Some(v) = var("PERMA_INDEX_BYTES") {
            self.index_bytes = Some(num("PERMA_INDEX_BYTES", v)?);
        }
        if let Some(v) = var("PERMA_RENDITION_BUDGET_BYTES") {
            self.rendition_budget_bytes = num("PERMA_RENDITION_BUDGET_BYTES", v)?;
        }
        if let Some(v) = var("PERMA_RENDER_CONCURRENCY") {
            self.render_concurrency = (num("PERMA_RENDER_CONCURRENCY", v)? as usize).max(1);
        }
        if let Some(v) = var("PERMA_RENDER_TIMEOUT") {
            self.render_timeout = num("PERMA_RENDER_TIMEOUT", v)?.max(1);
        }
        if let Some(v) = var("PERMA_RENDER_MEMORY_BYTES") {
            self.render_memory_bytes = num("PERMA_RENDER_MEMORY_BYTES", v)?.max(1 << 20);
        }
        if let Some(v) = var("PERMA_RENDITIONS_PER_SOURCE") {
            self.renditions_per_source = num("PERMA_RENDITIONS_PER_SOURCE", v)?.max(1);
        }
        if let Some(v) = var("PERMA_RENDER_MISSES_PER_MINUTE") {
            self.render_misses_per_minute = num("PERMA_RENDER_MISSES_PER_MINUTE", v)?;
        }
        if let Some(v) = var("PERMA_HEAD_TIMEOUT") {
            self.head_timeout = num("PERMA_HEAD_TIMEOUT", v)?.max(1);
        }
        if let Some(v) = var("PERMA_MAX_CONNECTIONS_PER_CLIENT") {
            self.max_connections_per_client = num("PERMA_MAX_CONNECTIONS_PER_CLIENT", v)?;
        }
        if let Some(v) = var("PERMA_MAX_UPLOAD_BYTES") {
            self.max_upload_bytes = num("PERMA_MAX_UPLOAD_BYTES", v)?;
        }
        if let Some(v) = var("PERMA_PERMANENT_MAX_AGE") {
            self.permanent_max_age = num("PERMA_PERMANENT_MAX_AGE", v)?;
        }
        if let Some(v) = var("PERMA_PERMANENT_SWR") {
            self.permanent_stale_while_revalidate = num("PERMA_PERMANENT_SWR", v)?;
        }
        if let Some(v) = var("PERMA_SESSION_TTL") {
            self.session_ttl = num("PERMA_SESSION_TTL", v)?;
        }
        if let Some(v) = var("PERMA_ADMIN_EMAIL") {
            self.admin_email = Some(v);
        }
        if let Some(v) = var("PERMA_ADMIN_PASSWORD") {
            self.admin_password = Some(v);
        }
        let set = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(v) = set(var("PERMA_OIDC_ISSUER")) {
            self.oidc_issuer = Some(v);
        }
        if let Some(v) = set(var("PERMA_OIDC_CLIENT_ID")) {
            self.oidc_client_id = Some(v);
        }
        if let Some(v) = set(var("PERMA_OIDC_CLIENT_SECRET")) {
            self.oidc_client_secret = Some(v);
        }
        if let Some(v) = set(var("PERMA_OIDC_ROLE_CLAIM")) {
            self.oidc_role_claim = v;
        }
        if let Some(v) = set(var("PERMA_OIDC_SCOPES")) {
            self.oidc_scopes = v;
        }
        match (
            &self.oidc_issuer,
            &self.oidc_client_id,
            &self.oidc_client_secret,
        ) {
            (None, None, None) | (Some(_), Some(_), Some(_)) => {}
            _ => bail!(
                "single sign-on needs PERMA_OIDC_ISSUER, PERMA_OIDC_CLIENT_ID and \
                 PERMA_OIDC_CLIENT_SECRET together"
            ),
        }
        if !self.oidc_scopes.split_whitespace().any(|s| s == "openid") {
            bail!(
                "PERMA_OIDC_SCOPES must include openid, got {:?}",
                self.oidc_scopes
            );
        }
        Ok(())
    }

    /// The public base URL without a trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    /// The database URL, defaulting to SQLite in the data dir.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("perma.db").display()))
    }

    /// Opens the configured blob store (§9): a local directory or an S3 bucket.
    pub fn open_blobs(&self) -> anyhow::Result<BlobStore> {
        match self.storage.as_deref() {
            None => BlobStore::open_local(self.data_dir.join("blobs")),
            Some(s) if s.starts_with("file://") && s.len() > "file://".len() => {
                BlobStore::open_local(PathBuf::from(&s["file://".len()..]))
            }
            Some(s) if s.starts_with("s3://") => BlobStore::open_s3(
                &S3Settings {
                    url: s.to_owned(),
                    endpoint: self.s3_endpoint.clone(),
                    region: self.s3_region.clone(),
                    public_endpoint: self.s3_public_endpoint.clone(),
                    copy_part_bytes: self.s3_copy_part_bytes,
                    direct_uploads: self.direct_uploads,
                },
                self.data_dir.join("tmp"),
            ),
            Some(s) => {
                bail!("PERMA_STORAGE {s:?}: use file:///absolute/path or s3://bucket[/prefix]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_defaults() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "PERMA_LISTEN" => Some("127.0.0.1:0".into()),
            "PERMA_MAX_UPLOAD_BYTES" => Some("10".into()),
            "PERMA_PUBLIC_URL" => Some("https://cdn.example/".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.max_upload_bytes, 10);
        assert_eq!(c.public_url(), "https://cdn.example");
        assert!(c.apply_env(|_| Some("x".into())).is_err());
        let proxies = |v: &str| {
            let mut c = Config::default();
            let v = v.to_owned();
            c.apply_env(move |k| (k == "PERMA_TRUSTED_PROXIES").then(|| v.clone()))
                .map(|()| c.trusted_proxies)
        };
        assert_eq!(
            proxies(" 10.0.0.0/24, 192.0.2.7 ,").unwrap(),
            ["10.0.0.0/24", "192.0.2.7"]
        );
        let err = proxies("10.0.0.0/24,nope").unwrap_err();
        assert!(format!("{err:#}").contains("nope"), "{err:#}");
    }
}
