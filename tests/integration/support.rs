//! `TestApp::spawn()`: a real perma (started with `Application`, like `perma serve`) on
//! `127.0.0.1:0` with its own temp dir, and a small HTTP helper around it.

use std::sync::Arc;

use perma::app::{App, Migrations};
use perma::config::Config;
use perma::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub app: Arc<App>,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// When set (e.g. `postgres://postgres@127.0.0.1:5433`), every test gets its own database
/// on that PostgreSQL server instead of SQLite (the suite's second backend, §9).
pub fn postgres_base() -> Option<String> {
    std::env::var("PERMA_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The database of the perma whose data dir is `dir`: derived from the path, so that every
/// command run on that dir (serve, fsck, gc, …) finds the same one.
pub fn database_url_for(dir: &std::path::Path) -> Option<String> {
    use sha2::Digest;
    let name = hex::encode(sha2::Sha256::digest(dir.to_string_lossy().as_bytes()));
    postgres_base().map(|b| format!("{b}/perma_{}", &name[..16]))
}

/// When set (e.g. `http://127.0.0.1:9000`), blobs go to that S3-compatible server, in
/// bucket `PERMA_TEST_S3_BUCKET` (default `perma-test`) under a prefix per data dir;
/// credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
pub fn s3_endpoint() -> Option<String> {
    std::env::var("PERMA_TEST_S3_ENDPOINT")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The blob storage of the perma whose data dir is `dir` (`None`: local files).
pub fn storage_for(dir: &std::path::Path) -> Option<String> {
    use sha2::Digest;
    s3_endpoint()?;
    let bucket = std::env::var("PERMA_TEST_S3_BUCKET").unwrap_or_else(|_| "perma-test".into());
    let name = hex::encode(sha2::Sha256::digest(dir.to_string_lossy().as_bytes()));
    Some(format!("s3://{bucket}/t{}", &name[..16]))
}

/// The configuration a `perma` started on `dir` by the tests uses.
pub fn config_for(dir: &std::path::Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        database_url: database_url_for(dir),
        storage: storage_for(dir),
        s3_endpoint: s3_endpoint(),
        ..Config::default()
    }
}

/// Creates the database of `dir` on the test PostgreSQL server (no-op on SQLite).
pub async fn prepare_database(dir: &std::path::Path) {
    use sqlx::Connection;
    let (Some(base), Some(url)) = (postgres_base(), database_url_for(dir)) else {
        return;
    };
    let name = url.rsplit('/').next().unwrap().to_owned();
    let mut conn = sqlx::postgres::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("PERMA_TEST_POSTGRES is set but the server cannot be reached");
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut conn)
        .await
        .unwrap();
    if exists.is_none() {
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        prepare_database(dir.path()).await;
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_email: Some(ADMIN_EMAIL.into()),
            admin_password: Some(ADMIN_PASSWORD.into()),
            ..config_for(dir.path())
        };
        tweak(&mut config);
        // The same start-up as `perma serve` (bind, build, background preload, serve).
        let application = Application::build(config, Migrations::Apply).await.unwrap();
        let addr = application.local_addr();
        let app = application.app().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(application.run(async {
            let _ = rx.await;
        }));
        TestApp {
            base: format!("http://{addr}"),
            app,
            http: reqwest::Client::new(),
            dir,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Shuts the server down gracefully and waits until it has stopped.
    pub async fn stop(&mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(h) => h.await.expect("server task"),
            None => Ok(()),
        }
    }

    /// Stops the server gracefully and starts it again on the same data (a new port).
    pub async fn restart(&mut self) {
        self.stop().await.unwrap();
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_email: Some(ADMIN_EMAIL.into()),
            admin_password: Some(ADMIN_PASSWORD.into()),
            ..config_for(self.dir.path())
        };
        let application = Application::build(config, Migrations::Apply).await.unwrap();
        let addr = application.local_addr();
        self.app = application.app().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.server = Some(tokio::spawn(application.run(async {
            let _ = rx.await;
        })));
        self.shutdown = Some(tx);
        self.base = format!("http://{addr}");
    }

    /// Logs in as the admin and creates a fresh stack.
    pub async fn admin(&self) -> Session {
        let s = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        s.with_new_stack("Test stack").await
    }

    pub async fn login(&self, email: &str, password: &str) -> Session {
        let (st, v) = self
            .anon()
            .call(
                Method::POST,
                "/v3/user-session",
                Some(json!({"user": {"email": email, "password": password}})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        Session {
            base: self.base.clone(),
            http: self.http.clone(),
            authtoken: v["user"]["authtoken"].as_str().map(str::to_owned),
            mgmt_token: None,
            api_key: None,
        }
    }

    /// A session with no credentials.
    pub fn anon(&self) -> Session {
        Session {
            base: self.base.clone(),
            http: self.http.clone(),
            authtoken: None,
            mgmt_token: None,
            api_key: None,
        }
    }

    /// Creates a user directly (as the CLI does) and logs them in.
    pub async fn new_user(&self, email: &str) -> Session {
        perma::identity::create_user(&self.app.db, email, "password-123")
            .await
            .unwrap();
        self.login(email, "password-123").await
    }

    pub async fn blob_count(&self) -> usize {
        self.app.blobs.list().await.unwrap().len()
    }

    pub fn temp_count(&self) -> usize {
        self.app.blobs.temp_files().unwrap().len()
    }
}

#[derive(Clone)]
pub struct Session {
    pub base: String,
    pub http: reqwest::Client,
    pub authtoken: Option<String>,
    pub mgmt_token: Option<String>,
    pub api_key: Option<String>,
}

impl Session {
    pub async fn with_new_stack(mut self, name: &str) -> Session {
        let (st, v) = self
            .call(
                Method::POST,
                "/v3/stacks",
                Some(json!({"stack": {"name": name}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        self.api_key = Some(v["stack"]["api_key"].as_str().unwrap().to_owned());
        self
    }

    pub fn api_key(&self) -> &str {
        self.api_key.as_deref().unwrap()
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut r = self.http.request(method, url);
        if let Some(t) = &self.authtoken {
            r = r.header("authtoken", t);
        }
        if let Some(t) = &self.mgmt_token {
            r = r.header("authorization", t);
        }
        if let Some(k) = &self.api_key {
            r = r.header("api_key", k);
        }
        r
    }

    pub async fn send(&self, r: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = r.send().await.unwrap();
        let st = resp.status();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (st, v)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.request(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        self.send(r).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn upload_form(
        &self,
        method: Method,
        path: &str,
        name: &str,
        bytes: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut form = reqwest::multipart::Form::new().part(
            "asset[upload]",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
        for (k, v) in extra {
            form = form.text(k.to_string(), v.to_string());
        }
        self.send(self.request(method, path).multipart(form)).await
    }

    /// Uploads and returns the asset JSON (asserting 201).
    pub async fn upload(&self, name: &str, bytes: &[u8]) -> Value {
        let (st, v) = self
            .upload_form(Method::POST, "/v3/assets", name, bytes.to_vec(), &[])
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["asset"].clone()
    }

    /// Creates a folder (in `parent`, or at the top) and returns its uid (asserting 201).
    pub async fn folder(&self, name: &str, parent: Option<&str>) -> String {
        let (st, v) = self
            .call(
                Method::POST,
                "/v3/assets/folders",
                Some(json!({"asset": {"name": name, "parent_uid": parent}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["asset"]["uid"].as_str().unwrap().to_owned()
    }

    /// Uploads into a folder (or at the top) and returns the asset's uid (asserting 201).
    pub async fn upload_into(&self, name: &str, bytes: &[u8], parent: Option<&str>) -> String {
        let extra: Vec<(&str, &str)> = parent
            .map(|p| ("asset[parent_uid]", p))
            .into_iter()
            .collect();
        let (st, v) = self
            .upload_form(Method::POST, "/v3/assets", name, bytes.to_vec(), &extra)
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["asset"]["uid"].as_str().unwrap().to_owned()
    }

    pub async fn replace(&self, uid: &str, name: &str, bytes: &[u8]) -> Value {
        let (st, v) = self
            .upload_form(
                Method::PUT,
                &format!("/v3/assets/{uid}"),
                name,
                bytes.to_vec(),
                &[],
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        v["asset"].clone()
    }

    /// Creates an environment (asserting 201).
    pub async fn environment(&self, name: &str) {
        let (st, v) = self
            .call(
                Method::POST,
                "/v3/environments",
                Some(json!({"environment": {"name": name}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }

    /// Creates a delivery token that reads these environments and returns it.
    pub async fn delivery_token(&self, envs: &[&str]) -> String {
        let (st, v) = self
            .call(
                Method::POST,
                "/v3/stacks/delivery_tokens",
                Some(json!({"token": {"name": "site", "scope": [
                    {"module": "environment", "environments": envs, "acl": {"read": true}}
                ]}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["token"]["token"].as_str().unwrap().to_owned()
    }

    /// Publishes an asset's current version to one environment (asserting 200).
    pub async fn publish(&self, uid: &str, env: &str, locales: &[&str]) {
        let (st, v) = self
            .call(
                Method::POST,
                &format!("/v3/assets/{uid}/publish"),
                Some(json!({"asset": {"environments": [env], "locales": locales}})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }

    /// Unpublishes an asset from one environment (asserting 200).
    pub async fn unpublish(&self, uid: &str, env: &str) {
        let (st, v) = self
            .call(
                Method::POST,
                &format!("/v3/assets/{uid}/unpublish"),
                Some(json!({"asset": {"environments": [env]}})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }

    /// This session's stack through a new management token that may only read assets.
    pub async fn read_only(&self) -> Session {
        let (st, v) = self
            .call(
                Method::POST,
                "/v3/stacks/management_tokens",
                Some(json!({"token": {"name": "ro", "scope": [{"module": "asset", "acl": {"read": true}}]}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        Session {
            authtoken: None,
            mgmt_token: v["token"]["token"].as_str().map(str::to_owned),
            ..self.clone()
        }
    }

    pub async fn set_permanent(&self, uid: &str, value: &str) -> (StatusCode, Value) {
        self.call(
            Method::PUT,
            &format!("/v3/assets/{uid}"),
            Some(json!({"asset": {"permanent_url": value}})),
        )
        .await
    }
}

/// Asserts a CMA error body with this status and error code.
#[track_caller]
pub fn assert_error(got: (StatusCode, Value), status: u16, code: i64) -> Value {
    let (st, v) = got;
    assert_eq!(st.as_u16(), status, "unexpected status; body {v}");
    assert_eq!(
        v["error_code"],
        json!(code),
        "unexpected error_code; body {v}"
    );
    assert!(
        v["error_message"].as_str().is_some_and(|m| !m.is_empty()),
        "no error_message: {v}"
    );
    assert!(v["errors"].is_object(), "errors must be an object: {v}");
    v
}

/// The real `perma` binary, run as a child process (for crash and CLI tests).
pub struct Server {
    pub child: std::process::Child,
    pub base: String,
}

pub fn perma_cmd(data_dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_perma"));
    c.env("PERMA_DATA_DIR", data_dir)
        .env("PERMA_LISTEN", "127.0.0.1:0")
        .env("PERMA_LOG", "warn")
        .env_remove("PERMA_PUBLIC_URL");
    match (storage_for(data_dir), s3_endpoint()) {
        (Some(storage), Some(endpoint)) => c
            .env("PERMA_STORAGE", storage)
            .env("PERMA_S3_ENDPOINT", endpoint),
        _ => c
            .env_remove("PERMA_STORAGE")
            .env_remove("PERMA_S3_ENDPOINT"),
    };
    match database_url_for(data_dir) {
        Some(url) => c.env("PERMA_DATABASE_URL", url),
        None => c.env_remove("PERMA_DATABASE_URL"),
    };
    c
}

impl Server {
    pub fn start(data_dir: &std::path::Path) -> Server {
        Self::start_with(data_dir, &[])
    }

    /// Starts with extra environment variables (overriding the test defaults).
    pub fn start_with(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
        use std::io::BufRead;
        let mut cmd = perma_cmd(data_dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .arg("serve")
            .env("PERMA_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("PERMA_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting perma serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("perma listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server { child, base }
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn session(&self) -> Session {
        Session {
            base: self.base.clone(),
            http: reqwest::Client::new(),
            authtoken: None,
            mgmt_token: None,
            api_key: None,
        }
    }

    pub async fn login(&self) -> Session {
        let s = self.session();
        let (st, v) = s
            .call(
                Method::POST,
                "/v3/user-session",
                Some(json!({"user": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        Session {
            authtoken: v["user"]["authtoken"].as_str().map(str::to_owned),
            ..s
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's `GET /metrics` at `base`, as text.
pub async fn metrics_text(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// One figure of the server's `GET /metrics` at `base` (0 when absent).
pub async fn metric(http: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = metrics_text(http, base).await;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Creates the admin user of a data directory with the CLI (`perma user create`).
pub fn create_admin(data: &std::path::Path) {
    let user = perma_cmd(data)
        .args([
            "user",
            "create",
            "--email",
            ADMIN_EMAIL,
            "--password",
            ADMIN_PASSWORD,
        ])
        .output()
        .unwrap();
    assert!(user.status.success(), "{user:?}");
}
