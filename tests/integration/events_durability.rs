//! Webhooks that survive perma being killed (no event lost, a killed sender's job sent
//! once its lease runs out), and the retention of finished executions.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::events::{create_webhook, executions, settle, Receiver};
use crate::support::{Server, TestApp};

/// A perma process of its own, so that a test can SIGKILL it and start it again on the
/// same data: events to loopback receivers, retries every 200 ms, this attempt timeout.
struct Killable {
    dir: tempfile::TempDir,
    timeout: &'static str,
}

#[tokio::test]
async fn no_event_is_lost_when_perma_is_killed_between_change_and_delivery() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    // The kill may land while the first attempt holds its lease (2 × 1 s + 5 s): the
    // restarted process sends the job once that lease has run out.
    let perma = Killable::new("1").await;
    let (server, a) = perma
        .start_with_event_for(&format!("http://{port}/hook"))
        .await;
    // SIGKILL right after the change committed: the receiver is not even up.
    server.kill();
    let receiver = Receiver::start_on(port, 200, Duration::ZERO).await;
    let server = perma.start();
    let got = receiver.wait_for_within(1, Duration::from_secs(20)).await;
    assert!(!got.is_empty(), "the event was lost");
    for g in &got {
        assert_eq!(g.json()["data"]["asset"]["uid"], a["uid"]);
    }
    // Delivered at least once, always under one id.
    let ids: std::collections::HashSet<&str> =
        got.iter().map(|g| g.header("x-perma-event-id")).collect();
    assert_eq!(ids.len(), 1);
    drop(server);
}

#[tokio::test]
async fn a_job_whose_sender_was_killed_mid_attempt_is_sent_once_its_lease_runs_out() {
    // A receiver that takes the request and never answers in time.
    let hanging = Receiver::start(200, Duration::from_secs(60)).await;
    let port = hanging.addr;
    let perma = Killable::new("2").await;
    let (server, a) = perma.start_with_event_for(&hanging.url()).await;
    let first = hanging.wait_for(1).await;
    assert_eq!(first.len(), 1, "the first attempt reached the receiver");
    // SIGKILL while the attempt is in flight: its lease (2 × 2 s + 5 s) is still held.
    let killed_at = Instant::now();
    server.kill();
    hanging.stop().await;
    let receiver = Receiver::start_on(port, 200, Duration::ZERO).await;
    let server = perma.start();
    let got = receiver.wait_for_within(1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "the leased job was never sent again");
    assert!(
        killed_at.elapsed() >= Duration::from_secs(3),
        "sent again while the lease was held: {:?}",
        killed_at.elapsed()
    );
    assert_eq!(got[0].json()["data"]["asset"]["uid"], a["uid"]);
    assert_eq!(
        got[0].header("x-perma-event-id"),
        first[0].header("x-perma-event-id"),
        "one event, one id"
    );
    drop(server);
}

#[tokio::test]
async fn finished_executions_are_deleted_after_the_retention_and_unfinished_ones_kept() {
    let t = TestApp::spawn_with(|c| {
        c.webhook_allow_nets = vec!["127.0.0.0/8".into()];
        // Retries of the dead receiver's job fall well after the test.
        c.event_retry_ms = 60_000;
        c.event_timeout = 5;
        c.event_retention = Duration::from_secs(2);
    })
    .await;
    let s = t.admin().await;
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let ok = create_webhook(&s, &receiver.url(), &["assets.create"], "automatic").await;
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = create_webhook(
        &s,
        &format!("http://127.0.0.1:{dead_port}/hook"),
        &["assets.create"],
        "automatic",
    )
    .await;
    s.upload("r.txt", b"r").await;
    let (ok_uid, dead_uid) = (ok["uid"].as_str().unwrap(), dead["uid"].as_str().unwrap());
    assert_eq!(settle(&s, ok_uid, 1, "success").await.len(), 1);
    let ex = settle(&s, dead_uid, 1, "retrying").await;
    assert_eq!(ex[0]["status"], "retrying", "{ex:?}");
    // Past the retention (2 s, looked at every second), the delivered execution goes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !executions(&s, ok_uid).await.is_empty() {
        assert!(Instant::now() < deadline, "the finished execution was kept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ex = executions(&s, dead_uid).await;
    assert_eq!(ex.len(), 1, "a job still to be retried is never deleted");
    assert_eq!(ex[0]["status"], "retrying");
}

impl Killable {
    async fn new(timeout: &'static str) -> Killable {
        let dir = tempfile::tempdir().unwrap();
        crate::support::prepare_database(dir.path()).await;
        Killable { dir, timeout }
    }

    fn start(&self) -> Server {
        let env = [
            ("PERMA_WEBHOOK_ALLOW_NETS", "127.0.0.0/8"),
            ("PERMA_EVENT_RETRY_MS", "200"),
            ("PERMA_EVENT_TIMEOUT", self.timeout),
        ];
        Server::start_with(self.dir.path(), &env)
    }

    /// Starts perma, subscribes `url` to `assets.create` and uploads an asset: returns the
    /// server and the asset, whose event is then queued.
    async fn start_with_event_for(&self, url: &str) -> (Server, Value) {
        let server = self.start();
        let s = server.login().await.with_new_stack("kill").await;
        create_webhook(&s, url, &["assets.create"], "automatic").await;
        let a = s.upload("k.txt", b"k").await;
        (server, a)
    }
}
