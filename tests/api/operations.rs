//! Operations endpoints through the real routing and middleware: `/healthz`, `/readyz` (503 with a reason
//! when the database refuses writes), `/metrics` (text format, bounded route labels, the optional token),
//! and request ids (`X-Request-Id` taken when well formed, else generated, always echoed).

use actix_web::test::TestRequest;

use crate::helpers::*;

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(path)
}

/// The value of the sample `name{labels}` in a metrics text, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[actix_web::test]
async fn healthz_answers_while_the_process_runs() {
    let t = TestApp::new();
    let app = t.service().await;
    let resp = send(&app, get("/healthz")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["status"], "ok");
    assert_eq!(
        send(&app, TestRequest::post().uri("/healthz")).await.status,
        405
    );
}

#[actix_web::test]
async fn readyz_is_503_with_a_reason_while_the_database_refuses_writes() {
    let t = TestApp::new();
    let app = t.service().await;
    assert_eq!(send(&app, get("/readyz")).await.status, 200);

    // Another connection makes every write of the readiness row fail, as a full or read-only disk would.
    let db = rusqlite::Connection::open(t.state.store.path()).expect("open");
    db.execute_batch(
        "CREATE TRIGGER refuse BEFORE UPDATE ON readiness BEGIN SELECT RAISE(ABORT, 'disk full'); END;
         CREATE TRIGGER refuse_new BEFORE INSERT ON readiness BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    )
    .expect("trigger");
    let resp = send(&app, get("/readyz")).await;
    assert_eq!(resp.status, 503, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["reason"], "the database does not accept writes");
    assert!(
        !resp.text().contains("disk full"),
        "no internals in the body"
    );
    assert_eq!(
        send(&app, get("/healthz")).await.status,
        200,
        "the process is still up"
    );

    db.execute_batch("DROP TRIGGER refuse; DROP TRIGGER refuse_new;")
        .expect("drop");
    assert_eq!(send(&app, get("/readyz")).await.status, 200, "ready again");
}

#[actix_web::test]
async fn request_ids_are_taken_when_well_formed_else_generated_and_always_echoed() {
    let t = TestApp::new();
    let app = t.service().await;
    let resp = send(
        &app,
        get("/healthz").insert_header(("X-Request-Id", "abc-123.x")),
    )
    .await;
    assert_eq!(resp.header("x-request-id").as_deref(), Some("abc-123.x"));

    for bad in ["has space", "quote\"", &"a".repeat(129)] {
        let resp = send(&app, get("/healthz").insert_header(("X-Request-Id", bad))).await;
        let id = resp.header("x-request-id").expect("generated id");
        assert_ne!(id, bad);
        assert!(!id.is_empty() && id.len() <= 128, "{id}");
    }

    let a = send(&app, get("/nowhere")).await;
    let b = send(&app, get("/nowhere")).await;
    assert_eq!(a.status, 404, "errors carry an id too");
    let (a, b) = (a.header("x-request-id"), b.header("x-request-id"));
    assert!(a.is_some() && a != b, "{a:?} {b:?}");
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern_not_raw_path() {
    let t = TestApp::new();
    let app = t.service().await;
    let series = r#"uma_cedar_http_requests_total{method="GET",route="/healthz",status="200"}"#;
    let before = sample(&send(&app, get("/metrics")).await.text(), series).unwrap_or(0.0);
    send(&app, get("/healthz")).await;
    send(&app, get("/healthz")).await;
    send(&app, get("/no/such/path/12345")).await;
    let resp = send(&app, get("/metrics")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = resp.text();
    // Other tests in this binary count too: the counter moved by at least our two.
    assert!(
        sample(&text, series).unwrap_or(0.0) >= before + 2.0,
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",status="404"}"#),
        "{text}"
    );
    assert!(!text.contains("12345"), "a raw path never becomes a label");
    assert!(text.contains("# TYPE uma_cedar_http_request_duration_seconds histogram"));
    assert_eq!(sample(&text, "uma_cedar_store_readable"), Some(1.0));
    assert_eq!(
        sample(&text, r#"uma_cedar_webhook_deliveries{state="pending"}"#),
        Some(0.0)
    );
}

#[actix_web::test]
async fn metrics_need_the_token_when_one_is_set() {
    let t = TestApp::with_settings(|s| {
        s.metrics_token = Some(uma_cedar::secret::MetricsToken::new(
            "a-long-enough-metrics-token",
        ));
    });
    let app = t.service().await;
    let resp = send(&app, get("/metrics")).await;
    assert_eq!(resp.status, 401);
    assert!(resp.header("www-authenticate").is_some());
    let wrong = send(
        &app,
        get("/metrics").insert_header(bearer("a-long-enough-metrics-tokeX")),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let right = send(
        &app,
        get("/metrics").insert_header(bearer("a-long-enough-metrics-token")),
    )
    .await;
    assert_eq!(right.status, 200);
    assert!(right.text().contains("uma_cedar_build_info"));
}
