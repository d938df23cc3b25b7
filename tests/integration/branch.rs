//! One branch, `main`: `include_branch` on CMA and CDA asset answers, and a `branch`
//! header naming another branch refused on both APIs with nothing done.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::cda::site_for;
use crate::support::{assert_error, TestApp};

#[tokio::test]
async fn include_branch_answers_main_and_other_branches_are_refused() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let folder = s.folder("Brand", None).await;
    let a = s.upload("logo.txt", b"logo").await;
    let uid = a["uid"].as_str().unwrap();
    s.publish(uid, "production", &[]).await;
    let site = site_for(&t, &s, &["production"]).await;

    // Management: single, list (files and folders), only when asked.
    let (_, v) = s
        .get(&format!("/v3/assets/{uid}?include_branch=true"))
        .await;
    assert_eq!(v["asset"]["_branch"], "main");
    let (_, v) = s.get(&format!("/v3/assets/{uid}")).await;
    assert!(v["asset"].get("_branch").is_none(), "{v}");
    let (_, v) = s
        .get("/v3/assets?include_branch=true&include_folders=true")
        .await;
    let all = v["assets"].as_array().unwrap();
    assert_eq!(all.len(), 2, "{v}");
    assert!(all.iter().all(|x| x["_branch"] == "main"), "{v}");
    let (_, v) = s
        .get(&format!("/v3/assets/folders/{folder}?include_branch=true"))
        .await;
    assert_eq!(v["asset"]["_branch"], "main", "{v}");
    // Delivery: single and list.
    let (_, v) = site
        .get(&format!(
            "/v3/assets/{uid}?environment=production&include_branch=true"
        ))
        .await;
    assert_eq!(v["asset"]["_branch"], "main", "{v}");
    let (_, v) = site
        .get("/v3/assets?environment=production&include_branch=true")
        .await;
    assert_eq!(v["assets"][0]["_branch"], "main", "{v}");

    // `branch: main` is this stack; any other branch is refused on both APIs.
    let (st, v) = s
        .send(
            s.request(Method::GET, &format!("/v3/assets/{uid}"))
                .header("branch", "main"),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v, _) = site
        .get_with("/v3/assets?environment=production", &[("branch", "main")])
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let refused = |got: (StatusCode, Value)| {
        let v = assert_error(got, 422, 905);
        assert!(
            v["error_message"].as_str().unwrap().contains("development"),
            "{v}"
        );
    };
    refused(
        s.send(
            s.request(Method::GET, &format!("/v3/assets/{uid}"))
                .header("branch", "development"),
        )
        .await,
    );
    let (st, v, _) = site
        .get_with(
            "/v3/assets?environment=production",
            &[("branch", "development")],
        )
        .await;
    refused((st, v));
    refused(
        s.send(
            s.request(Method::PUT, &format!("/v3/assets/{uid}"))
                .header("branch", "development")
                .json(&json!({"asset": {"title": "on another branch"}})),
        )
        .await,
    );
    let (_, v) = s.get(&format!("/v3/assets/{uid}")).await;
    assert_eq!(v["asset"]["title"], a["title"], "nothing was changed");
}
