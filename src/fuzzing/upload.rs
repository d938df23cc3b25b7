//! The `upload` target: multipart bodies through the router of a running perma.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;

use super::agreement::{world, ADMIN, PASSWORD};

pub(super) fn check(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let w = world();
    static TOKEN: OnceLock<String> = OnceLock::new();
    let token = TOKEN.get_or_init(|| {
        w.rt.block_on(crate::identity::login(
            &w.app.db,
            ADMIN,
            PASSWORD,
            3600,
            &crate::identity::Origin::default(),
            None,
        ))
        .expect("the admin logs in")
        .1
    });
    let path = if which % 2 == 0 {
        "/v3/assets".to_owned()
    } else {
        format!("/v3/assets/{}", w.name("{A}"))
    };
    let method = if which % 2 == 0 { "POST" } else { "PUT" };
    w.rt.block_on(async {
        let before = w.app.blobs.list().await.expect("blobs").len();
        let request = Request::builder()
            .method(method)
            .uri(&path)
            .header("host", "perma.test")
            .header("authtoken", token)
            .header("api_key", w.name("{K}"))
            .header("content-type", "multipart/form-data; boundary=B")
            .body(Body::from(body.to_vec()))
            .expect("a request");
        let mut router = crate::http::router(w.app.clone());
        let response = tower_service::Service::call(&mut router, request)
            .await
            .expect("infallible");
        let status = response.status().as_u16();
        let text = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        assert!(
            status < 500,
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&text)
        );
        let after = w.app.blobs.list().await.expect("blobs").len();
        let staged = w.app.blobs.temp_files().expect("staging directory");
        assert!(
            staged.is_empty(),
            "{status}, but staged files stay: {staged:?}"
        );
        if (200..300).contains(&status) {
            assert!(after <= before + 1, "{before} blobs, then {after}");
        } else {
            assert_eq!(after, before, "refused ({status}), but a blob was kept");
        }
    });
}
