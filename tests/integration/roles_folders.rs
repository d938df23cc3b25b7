//! Roles with folder rules and read-only roles (§14): what a member may do where, asked
//! over HTTP; the helpers are those of `roles.rs`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::roles::{create_role, forbidden, job_items, member, title};
use crate::support::TestApp;

#[tokio::test]
async fn folder_rules_grant_what_they_say_where_they_say_it() {
    let t = TestApp::spawn().await;
    let admin = t.admin().await;
    admin.environment("staging").await;
    admin.environment("production").await;
    let press = admin.folder("Press", None).await;
    let sub = admin.folder("2026", Some(&press)).await;
    let other = admin.folder("Legal", None).await;
    let a = admin.upload_into("a.txt", b"in press", Some(&press)).await;
    let s = admin
        .upload_into("s.txt", b"in press/2026", Some(&sub))
        .await;
    let b = admin.upload_into("b.txt", b"in legal", Some(&other)).await;
    let r = admin.upload_into("r.txt", b"at the root", None).await;
    let rule = |propagate: bool| {
        json!([
            {"module": "folder", "folders": [press], "propagate_to_children": propagate,
             "acl": {"read": true, "sub_acl": {"read": true, "create": true, "update": true, "publish": true}}},
            {"module": "asset", "assets": [r], "acl": {"read": true}},
            {"module": "environment", "environments": ["staging"], "acl": {"read": true}},
        ])
    };
    let role = create_role(&admin, "Press editors", rule(false)).await;
    let m = member(
        &t,
        &admin,
        "editor@example.com",
        std::slice::from_ref(&role),
    )
    .await;

    // Read: what the rules reach, and nothing else.
    for uid in [&a, &r] {
        let (st, v) = m.get(&format!("/v3/assets/{uid}")).await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    for uid in [&b, &s] {
        forbidden(m.get(&format!("/v3/assets/{uid}")).await);
        forbidden(m.get(&format!("/v3/assets/{uid}/versions")).await);
    }
    forbidden(m.get(&format!("/v3/assets/folders/{other}")).await);
    // Listings show only that, and count only that.
    let (st, v) = m
        .get("/v3/assets?include_folders=true&include_count=true")
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let mut seen: Vec<&str> = v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["uid"].as_str().unwrap())
        .collect();
    seen.sort();
    let mut want = vec![press.as_str(), sub.as_str(), a.as_str(), r.as_str()];
    want.sort();
    assert_eq!(seen, want, "{v}");
    assert_eq!(v["count"], 4);
    let (_, v) = m
        .get(&format!(
            "/v3/assets?folder={press}&include_folders=true&include_count=true"
        ))
        .await;
    assert_eq!(v["count"], 2, "the folder's own contents: {v}");
    let (_, v) = m
        .get(&format!("/v3/assets?folder={other}&include_count=true"))
        .await;
    assert_eq!(v["count"], 0, "{v}");
    let (_, v) = m
        .get(&format!("/v3/assets?folder={sub}&include_count=true"))
        .await;
    assert_eq!(v["count"], 0, "no propagation: {v}");

    // Create: in the folder, not elsewhere.
    let (st, v) = m
        .upload_form(
            Method::POST,
            "/v3/assets",
            "new.txt",
            b"new".to_vec(),
            &[("asset[parent_uid]", &press)],
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    for parent in [Some(other.as_str()), None] {
        let extra: Vec<(&str, &str)> = parent
            .map(|p| ("asset[parent_uid]", p))
            .into_iter()
            .collect();
        forbidden(
            m.upload_form(Method::POST, "/v3/assets", "x.txt", b"x".to_vec(), &extra)
                .await,
        );
    }
    forbidden(
        m.call(
            Method::POST,
            "/v3/assets/folders",
            Some(json!({"asset": {"name": "mine", "parent_uid": other}})),
        )
        .await,
    );
    let (_, v) = admin
        .get(&format!(
            "/v3/assets?folder={other}&include_count=true&include_folders=true"
        ))
        .await;
    assert_eq!(v["count"], 1, "nothing added to Legal: {v}");

    // Update: in the folder; not in Legal, not the read-only asset, not moving out.
    let (st, _) = m
        .call(
            Method::PUT,
            &format!("/v3/assets/{a}"),
            Some(json!({"asset": {"title": "A2"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    for uid in [&b, &r] {
        let before = title(&admin, uid).await;
        forbidden(
            m.call(
                Method::PUT,
                &format!("/v3/assets/{uid}"),
                Some(json!({"asset": {"title": "hijacked"}})),
            )
            .await,
        );
        forbidden(
            m.upload_form(
                Method::PUT,
                &format!("/v3/assets/{uid}"),
                "evil.txt",
                b"evil".to_vec(),
                &[],
            )
            .await,
        );
        assert_eq!(title(&admin, uid).await, before);
    }
    forbidden(
        m.call(
            Method::PUT,
            &format!("/v3/assets/{a}"),
            Some(json!({"asset": {"parent_uid": other}})),
        )
        .await,
    );
    let (_, v) = admin.get(&format!("/v3/assets/{a}")).await;
    assert_eq!(v["asset"]["parent_uid"], json!(press));

    // Delete: not granted.
    forbidden(
        m.call(Method::DELETE, &format!("/v3/assets/{a}"), None)
            .await,
    );
    forbidden(
        m.call(Method::DELETE, &format!("/v3/assets/folders/{press}"), None)
            .await,
    );
    let (st, _) = admin.get(&format!("/v3/assets/{a}")).await;
    assert_eq!(st, StatusCode::OK, "still there");

    // Publish: in the folder, to staging only.
    let (st, v) = m
        .call(
            Method::POST,
            &format!("/v3/assets/{a}/publish"),
            Some(json!({"asset": {"environments": ["staging"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    forbidden(
        m.call(
            Method::POST,
            &format!("/v3/assets/{a}/publish"),
            Some(json!({"asset": {"environments": ["production"]}})),
        )
        .await,
    );
    forbidden(
        m.call(
            Method::POST,
            &format!("/v3/assets/{b}/publish"),
            Some(json!({"asset": {"environments": ["staging"]}})),
        )
        .await,
    );
    let (_, v) = admin
        .get(&format!("/v3/assets/{a}?include_publish_details=true"))
        .await;
    let envs: Vec<&str> = v["asset"]["publish_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["environment"].as_str().unwrap())
        .collect();
    assert_eq!(envs.len(), 1, "published to staging only: {v}");

    // A bulk job fails the items the member may not touch, and says so.
    let (st, v) = m
        .call(
            Method::POST,
            "/v3/bulk/publish",
            Some(json!({"assets": [{"uid": a}, {"uid": b}], "environments": ["staging"], "locales": ["en-us"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let items = job_items(&m, v["job_id"].as_str().unwrap()).await;
    let item = |uid: &str| {
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["uid"] == uid || i["asset_uid"] == uid)
            .cloned()
            .unwrap_or_else(|| panic!("{items}"))
    };
    assert_ne!(item(&a)["status"], "failed", "{items}");
    assert_eq!(item(&b)["status"], "failed", "{items}");
    assert!(item(&b).to_string().contains("permission"), "{items}");
    let (_, v) = admin
        .get(&format!("/v3/assets/{b}?include_publish_details=true"))
        .await;
    assert_eq!(
        v["asset"]["publish_details"],
        json!([]),
        "Legal stays unpublished"
    );

    // With propagation the rule reaches down the tree.
    let (st, _) = admin
        .call(
            Method::PUT,
            &format!("/v3/roles/{role}"),
            Some(json!({"role": {"rules": rule(true)}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = m.get(&format!("/v3/assets/{s}")).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = m
        .call(
            Method::PUT,
            &format!("/v3/assets/{s}"),
            Some(json!({"asset": {"title": "deep"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = m
        .get(&format!("/v3/assets?folder={sub}&include_count=true"))
        .await;
    assert_eq!(v["count"], 1, "{v}");
    let (_, v) = m.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], 4, "a, new, s and r: {v}");
    forbidden(m.get(&format!("/v3/assets/{b}")).await);
    // The trash is for those who read everything.
    forbidden(m.get("/v3/trash").await);
}

#[tokio::test]
async fn a_read_only_role_reads_and_changes_nothing() {
    let t = TestApp::spawn().await;
    let admin = t.admin().await;
    admin.environment("production").await;
    let a = admin.upload_into("a.txt", b"bytes", None).await;
    let role = create_role(
        &admin,
        "Viewers",
        json!([{"module": "asset", "assets": ["$all"], "acl": {"read": true}},
               {"module": "environment", "environments": ["$all"], "acl": {"read": true}}]),
    )
    .await;
    let m = member(
        &t,
        &admin,
        "viewer@example.com",
        std::slice::from_ref(&role),
    )
    .await;
    let (_, v) = m.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], 1);
    let (st, _) = m.get(&format!("/v3/assets/{a}/versions")).await;
    assert_eq!(st, StatusCode::OK);
    forbidden(
        m.upload_form(Method::POST, "/v3/assets", "x.txt", b"x".to_vec(), &[])
            .await,
    );
    forbidden(
        m.call(
            Method::PUT,
            &format!("/v3/assets/{a}"),
            Some(json!({"asset": {"permanent_url": "slug"}})),
        )
        .await,
    );
    forbidden(
        m.call(Method::DELETE, &format!("/v3/assets/{a}"), None)
            .await,
    );
    forbidden(
        m.call(
            Method::POST,
            &format!("/v3/assets/{a}/publish"),
            Some(json!({"asset": {"environments": ["production"]}})),
        )
        .await,
    );
    forbidden(
        m.call(
            Method::POST,
            &format!("/v3/assets/{a}/versions/1/name"),
            Some(json!({"upload": {"_version_name": "x"}})),
        )
        .await,
    );
    let (st, v) = m
        .call(
            Method::POST,
            "/v3/bulk/delete",
            Some(json!({"assets": [{"uid": a}]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let items = job_items(&m, v["job_id"].as_str().unwrap()).await;
    assert_eq!(items["items"][0]["status"], "failed", "{items}");
    let (_, v) = admin.get(&format!("/v3/assets/{a}")).await;
    assert_eq!(v["asset"]["_version"], 1, "nothing changed: {v}");
    assert!(v["asset"]["permanent_url"].is_null());
    let (_, v) = admin.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], 1);
}
