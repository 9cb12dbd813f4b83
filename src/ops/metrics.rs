//! The server's Prometheus metrics: counters, gauges and histograms kept in process-wide atomics, and their
//! rendering in the text exposition format 0.0.4 for `GET /metrics`.
//!
//! The hot path only ever touches atomics: a request finds its (method, route) series in a fixed table with a
//! lock-free scan; only the first request of a new route takes a lock, to add the series. Labels are bounded:
//! routes are the router's patterns (`/uma/resources/{id}`, never the raw path), methods are the standard ones
//! or `other`, status codes are 100 to 599.
//!
//! What this module must never do: label a series with anything a client chose freely (a raw path, a header),
//! or block a request on a lock once its route has been seen.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub const fn new() -> Self {
        Self(AtomicI64::new(0))
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the latency histograms' buckets; `+Inf` is implied.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram over [`LATENCY_BUCKETS`]. Each observation increments one bucket (the smallest that
/// holds it); rendering accumulates them, as the exposition format wants cumulative counts.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; LATENCY_BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some((bucket, _)) = self
            .buckets
            .iter()
            .zip(LATENCY_BUCKETS)
            .find(|(_, bound)| secs <= *bound)
        {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Times `work` and records how long it took.
    pub fn time<T>(&self, work: impl FnOnce() -> T) -> T {
        let start = std::time::Instant::now();
        let out = work();
        self.observe(start.elapsed());
        out
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (bucket, bound) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        // Read after the buckets, so `+Inf` (the count) is never below the last finite bucket.
        let count = self.count().max(cumulative);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64();
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// The HTTP methods that get their own label; anything else is counted as `other`.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// The label of a request method.
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

/// The route label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// (method, route) series kept at most: the router has fewer routes than this; should it grow past, the rest
/// share one `overflow` series.
const MAX_SERIES: usize = 128;

/// Status codes 100 to 599 have a counter each.
const CODES: usize = 500;

/// The requests and latencies of one (method, route).
#[derive(Debug)]
struct Series {
    method: &'static str,
    route: String,
    by_code: [Counter; CODES],
    latency: Histogram,
}

impl Series {
    fn new(method: &'static str, route: &str) -> Self {
        Self {
            method,
            route: route.to_owned(),
            by_code: [const { Counter::new() }; CODES],
            latency: Histogram::new(),
        }
    }

    fn is(&self, method: &str, route: &str) -> bool {
        self.method == method && self.route == route
    }
}

struct HttpTable {
    /// Filled in order, only while `adding` is held, so a scan may stop at the first empty slot.
    slots: [OnceLock<Series>; MAX_SERIES],
    adding: Mutex<()>,
    overflow: OnceLock<Series>,
}

static HTTP: HttpTable = HttpTable {
    slots: [const { OnceLock::new() }; MAX_SERIES],
    adding: Mutex::new(()),
    overflow: OnceLock::new(),
};

fn scan(method: &str, route: &str) -> Result<&'static Series, Option<&'static OnceLock<Series>>> {
    for slot in &HTTP.slots {
        match slot.get() {
            Some(series) if series.is(method, route) => return Ok(series),
            Some(_) => {}
            None => return Err(Some(slot)),
        }
    }
    Err(None)
}

fn series(method: &'static str, route: &str) -> &'static Series {
    if let Ok(series) = scan(method, route) {
        return series;
    }
    let _adding = HTTP.adding.lock().unwrap_or_else(PoisonError::into_inner);
    match scan(method, route) {
        Ok(series) => series,
        Err(Some(empty)) => empty.get_or_init(|| Series::new(method, route)),
        Err(None) => HTTP
            .overflow
            .get_or_init(|| Series::new("other", "overflow")),
    }
}

/// Counts one answered request: its method label, the route pattern that matched it (or
/// [`UNMATCHED_ROUTE`]), its status code and how long it took.
pub fn http_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    let series = series(method, route);
    if let Some(counter) = usize::from(status)
        .checked_sub(100)
        .and_then(|i| series.by_code.get(i))
    {
        counter.inc();
    }
    series.latency.observe(elapsed);
}

/// The answers of the UMA grant (G §3.3), by kind.
pub const GRANT_ANSWERS: [&str; 10] = [
    "rpt",
    "need_info",
    "request_submitted",
    "request_denied",
    "slow_down",
    "invalid_grant",
    "invalid_scope",
    "invalid_request",
    "server_error",
    "other",
];

static GRANT: [Counter; GRANT_ANSWERS.len()] = [const { Counter::new() }; GRANT_ANSWERS.len()];

/// Counts one answer of the UMA grant: `rpt`, or the error code it answered with (kinds not in
/// [`GRANT_ANSWERS`] count as `other`).
pub fn uma_grant_answer(kind: &str) {
    let index = GRANT_ANSWERS
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(GRANT_ANSWERS.len() - 1);
    if let Some(counter) = GRANT.get(index) {
        counter.inc();
    }
}

/// Policy cache lookups that found the owner's compiled set at the version asked for.
pub static POLICY_CACHE_HITS: Counter = Counter::new();
/// Policy cache lookups that had to compile the owner's set.
pub static POLICY_CACHE_MISSES: Counter = Counter::new();
/// Requests waiting for the store's single write connection.
pub static WRITE_QUEUE_DEPTH: Gauge = Gauge::new();
/// How long each `COMMIT` of a write batch took.
pub static COMMIT_SECONDS: Histogram = Histogram::new();

/// What is read from the store when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Events not yet fanned out into deliveries.
    pub events_waiting: u64,
    /// Deliveries still to be attempted.
    pub deliveries_pending: u64,
    /// Deliveries given up on.
    pub deliveries_dead: u64,
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, double quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Every metric in the text exposition format 0.0.4. `backlog` is `None` when the store could not be read;
/// the backlog gauges are left out then, and `uma_cedar_store_readable` says so.
pub fn render(backlog: Option<Backlog>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    help(
        &mut out,
        "uma_cedar_build_info",
        "gauge",
        "Always 1; the version label says which uma-cedar is running.",
    );
    let _ = writeln!(
        out,
        "uma_cedar_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );

    let series: Vec<&Series> = HTTP
        .slots
        .iter()
        .map_while(OnceLock::get)
        .chain(HTTP.overflow.get())
        .collect();
    help(
        &mut out,
        "uma_cedar_http_requests_total",
        "counter",
        "HTTP requests answered, by method, route pattern and status code.",
    );
    for s in &series {
        for (code, counter) in (100u16..).zip(&s.by_code) {
            let n = counter.get();
            if n > 0 {
                let _ = writeln!(
                    out,
                    "uma_cedar_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{code}\"}} {n}",
                    s.method,
                    label(&s.route)
                );
            }
        }
    }
    help(
        &mut out,
        "uma_cedar_http_request_duration_seconds",
        "histogram",
        "Time from receiving a request to its response, by method and route pattern.",
    );
    for s in &series {
        let labels = format!("method=\"{}\",route=\"{}\"", s.method, label(&s.route));
        s.latency
            .render(&mut out, "uma_cedar_http_request_duration_seconds", &labels);
    }

    help(
        &mut out,
        "uma_cedar_uma_grant_answers_total",
        "counter",
        "Answers of the UMA grant at the token endpoint, by kind (rpt or the error code).",
    );
    for (kind, counter) in GRANT_ANSWERS.iter().zip(&GRANT) {
        let _ = writeln!(
            out,
            "uma_cedar_uma_grant_answers_total{{answer=\"{kind}\"}} {}",
            counter.get()
        );
    }

    help(
        &mut out,
        "uma_cedar_policy_cache_lookups_total",
        "counter",
        "Lookups of an owner's compiled policy set, by result (hit, or miss: compiled from the store).",
    );
    let _ = writeln!(
        out,
        "uma_cedar_policy_cache_lookups_total{{result=\"hit\"}} {}",
        POLICY_CACHE_HITS.get()
    );
    let _ = writeln!(
        out,
        "uma_cedar_policy_cache_lookups_total{{result=\"miss\"}} {}",
        POLICY_CACHE_MISSES.get()
    );

    help(
        &mut out,
        "uma_cedar_store_write_queue_depth",
        "gauge",
        "Requests waiting for the database's single write connection.",
    );
    let _ = writeln!(
        out,
        "uma_cedar_store_write_queue_depth {}",
        WRITE_QUEUE_DEPTH.get().max(0)
    );
    help(
        &mut out,
        "uma_cedar_store_commit_duration_seconds",
        "histogram",
        "Time each COMMIT of a write batch took (the durable write).",
    );
    COMMIT_SECONDS.render(&mut out, "uma_cedar_store_commit_duration_seconds", "");

    help(
        &mut out,
        "uma_cedar_store_readable",
        "gauge",
        "1 when this scrape could read the database (the backlog gauges below), else 0.",
    );
    let _ = writeln!(
        out,
        "uma_cedar_store_readable {}",
        u8::from(backlog.is_some())
    );
    if let Some(b) = backlog {
        help(
            &mut out,
            "uma_cedar_webhook_events_waiting",
            "gauge",
            "Owner notifications not yet fanned out to the configured webhooks.",
        );
        let _ = writeln!(out, "uma_cedar_webhook_events_waiting {}", b.events_waiting);
        help(
            &mut out,
            "uma_cedar_webhook_deliveries",
            "gauge",
            "Webhook deliveries in the outbox, by state (pending: still to be attempted; dead: given up).",
        );
        let _ = writeln!(
            out,
            "uma_cedar_webhook_deliveries{{state=\"pending\"}} {}",
            b.deliveries_pending
        );
        let _ = writeln!(
            out,
            "uma_cedar_webhook_deliveries{{state=\"dead\"}} {}",
            b.deliveries_dead
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_renders_cumulative_buckets() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(60));
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.025\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.05\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 3\n"), "{out}");
    }

    #[test]
    fn routes_get_one_series_each_and_unknown_methods_are_other() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("BREW"), "other");
        http_request("GET", "/test/{id}", 200, Duration::from_millis(1));
        http_request("GET", "/test/{id}", 200, Duration::from_millis(1));
        http_request("GET", "/test/{id}", 404, Duration::from_millis(1));
        http_request("GET", "/test/{id}", 999, Duration::from_millis(1));
        let out = render(None);
        assert!(
            out.contains(
                "uma_cedar_http_requests_total{method=\"GET\",route=\"/test/{id}\",status=\"200\"} 2\n"
            ),
            "{out}"
        );
        assert!(out.contains("route=\"/test/{id}\",status=\"404\"} 1\n"));
        assert!(
            !out.contains("status=\"999\""),
            "codes past 599 are not kept"
        );
        assert!(out.contains("uma_cedar_store_readable 0\n"));
        assert!(!out.contains("uma_cedar_webhook_deliveries{"));
    }

    #[test]
    fn grant_answers_outside_the_list_count_as_other() {
        let before = GRANT.last().map_or(0, Counter::get);
        uma_grant_answer("no_such_kind");
        assert_eq!(GRANT.last().map_or(0, Counter::get), before + 1);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
