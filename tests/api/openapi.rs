//! The OpenAPI document stays in sync with the routing: every route `configure` registers that answers JSON
//! is described, every described operation is routed, and discovery names the document.
//!
//! The routes are read from the running app's resource map (what actix-web really registered), not from a
//! list kept beside the document, so a new JSON endpoint without a description fails here.

use std::collections::BTreeSet;

use actix_web::test::TestRequest;
use actix_web::{App, HttpRequest, HttpResponse, test, web};
use serde_json::Value;
use uma_cedar::http::configure;

use crate::helpers::{TestApp, send};

const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

/// A path to request for a pattern: each `{param}` becomes a plain segment.
fn concrete(pattern: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("probe");
            }
            '}' => in_param = false,
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// The patterns in the `Debug` text of actix-web's resource map: `patterns: Single("/x")` and
/// `patterns: List(["/x", "/x/"])`.
fn patterns_in(debug: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for piece in debug.split("patterns: ").skip(1) {
        let end = piece.find(')').unwrap_or(piece.len());
        for quoted in piece[..end].split('"').skip(1).step_by(2) {
            found.insert(quoted.to_owned());
        }
    }
    found
}

async fn resource_map(req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().body(format!("{:?}", req.resource_map()))
}

/// Every (method, pattern) the app routes, with the media type it answers a request without credentials.
async fn routed(t: &TestApp) -> Vec<(String, String, String)> {
    let app = test::init_service(
        App::new()
            .configure(configure(t.state.clone()))
            .route("/__resource_map", web::get().to(resource_map)),
    )
    .await;
    let map = send(&app, TestRequest::get().uri("/__resource_map")).await;
    let patterns = patterns_in(&map.text());
    assert!(
        patterns.contains("/token") && patterns.contains("/uma/resources/{id}"),
        "the resource map lists the routes: {patterns:?}"
    );
    let mut routes = Vec::new();
    // The map's root is the empty pattern; only real paths are requested.
    for pattern in patterns
        .iter()
        .filter(|p| p.starts_with('/') && *p != "/__resource_map")
    {
        let path = concrete(pattern);
        for method in METHODS {
            let req = TestRequest::default()
                .method(method.parse().expect("method"))
                .uri(&path);
            let resp = send(&app, req).await;
            if resp.status == 405 {
                continue;
            }
            let media = resp
                .header("Content-Type")
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .to_owned();
            routes.push((method.to_owned(), pattern.clone(), media));
        }
    }
    routes
}

fn described(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            ops.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    ops
}

async fn document(t: &TestApp) -> Value {
    let app = t.service().await;
    let resp = send(&app, TestRequest::get().uri("/openapi.json")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()
}

#[actix_web::test]
async fn every_route_that_answers_json_is_in_the_document() {
    let t = TestApp::with_settings(|s| {
        s.initial_access_token = Some("initial-access-token-0123".into())
    });
    let doc = document(&t).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = described(&doc);
    let routes = routed(&t).await;
    let mut json_routes = 0;
    for (method, pattern, media) in &routes {
        if !media.ends_with("json") {
            continue;
        }
        json_routes += 1;
        // `/uma/resources/` and `/uma/policies/` are the collection's other spelling (F §3.2's `rreg/`).
        let path = match pattern.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed,
            _ => pattern,
        };
        assert!(
            ops.contains(&(method.clone(), path.to_owned())),
            "{method} {pattern} answers {media} but is not in the OpenAPI document"
        );
    }
    assert!(
        json_routes >= ops.len(),
        "{json_routes} JSON routes, {} operations",
        ops.len()
    );
    // And the other way: every described operation is routed.
    for (method, path) in &ops {
        assert!(
            routes.iter().any(|(m, p, _)| m == method && p == path),
            "{method} {path} is in the document but not routed"
        );
    }
    // Browser endpoints stay out of it.
    assert!(!ops.iter().any(|(_, p)| p.starts_with("/authorize")));
    assert!(!ops.iter().any(|(_, p)| p.starts_with("/console")));
}

#[actix_web::test]
async fn registration_is_described_only_when_it_is_routed() {
    let t = TestApp::new();
    let ops = described(&document(&t).await);
    assert!(!ops.contains(&("POST".into(), "/register".into())));
    assert!(ops.contains(&("POST".into(), "/token".into())));
}

#[actix_web::test]
async fn the_document_names_its_security_schemes_and_error_bodies() {
    let t = TestApp::new();
    let doc = document(&t).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["client_secret_basic"]["scheme"], "basic");
    for bearer in ["pat", "owner_token", "openid_token", "initial_access_token"] {
        assert_eq!(schemes[bearer]["scheme"], "bearer", "{bearer}");
    }
    let token = &doc["paths"]["/token"]["post"];
    assert!(
        token["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object(),
        "{token}"
    );
    assert_eq!(
        token["responses"]["403"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/UmaGrantError"
    );
    assert_eq!(
        token["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let uma = &doc["components"]["schemas"]["UmaGrantError"]["properties"];
    for member in ["error", "error_description", "ticket", "required_claims"] {
        assert!(uma[member].is_object(), "{member}: {uma}");
    }
    assert_eq!(doc["servers"][0]["url"], "http://as.test");
}

#[actix_web::test]
async fn discovery_publishes_the_document() {
    let t = TestApp::new();
    let app = t.service().await;
    let resp = send(
        &app,
        TestRequest::get().uri("/.well-known/uma2-configuration"),
    )
    .await;
    assert_eq!(
        resp.json()["uma_cedar_openapi_uri"],
        "http://as.test/openapi.json"
    );
}
