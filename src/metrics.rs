//! Prometheus metrics and health endpoints of the worker: `GET /metrics`, `GET /healthz`, `GET /readyz`.
//!
//! The text exposition format is written by hand: six series do not need a metrics crate. Labels carry only
//! the fixed work kinds and outcomes below, never document ids or stations, so cardinality stays constant.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tracing::{info, warn};

/// Work kinds, the values of the `kind` label.
pub const KINDS: [&str; 2] = ["charts", "dictations"];

/// Job outcomes, the values of the `outcome` label.
pub const OUTCOMES: [&str; 6] = [
    "filed",
    "unmatched",
    "duplicate",
    "rejected",
    "requeued",
    "dead_lettered",
];

/// Upper bounds of the job duration buckets, in seconds.
const DURATION_BUCKETS: [f64; 11] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Upper bounds of the queue lag buckets, in seconds (a backlog can be hours long).
const LAG_BUCKETS: [f64; 11] = [
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0,
];

/// Content type of the Prometheus text format.
const EXPOSITION_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The worker's metrics. Cheap to update from any thread; share it as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    counters: Mutex<Counters>,
    in_flight: AtomicI64,
    ready: AtomicBool,
}

#[derive(Debug, Clone)]
struct Counters {
    /// Indexed `[kind][outcome]`.
    jobs: [[u64; OUTCOMES.len()]; KINDS.len()],
    engine_seconds: [f64; KINDS.len()],
    job_duration: [Histogram; KINDS.len()],
    queue_lag: Histogram,
}

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        let slot = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(self.bounds.len());
        self.counts[slot] += 1;
        self.sum += value;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let separator = if labels.is_empty() { "" } else { "," };
        for (index, count) in self.counts.iter().enumerate() {
            cumulative += count;
            let le = self
                .bounds
                .get(index)
                .map_or_else(|| "+Inf".to_string(), |bound| format_value(*bound));
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}le=\"{le}\"}} {cumulative}"
            );
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", format_value(self.sum));
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Holds one job in the `him_jobs_in_flight` gauge until dropped, also when the job panics.
#[derive(Debug)]
pub struct InFlight<'a> {
    metrics: &'a Metrics,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight_dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All counters at zero, not ready.
    pub fn new() -> Self {
        Metrics {
            counters: Mutex::new(Counters {
                jobs: [[0; OUTCOMES.len()]; KINDS.len()],
                engine_seconds: [0.0; KINDS.len()],
                job_duration: [
                    Histogram::new(&DURATION_BUCKETS),
                    Histogram::new(&DURATION_BUCKETS),
                ],
                queue_lag: Histogram::new(&LAG_BUCKETS),
            }),
            in_flight: AtomicI64::new(0),
            ready: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a settled job. `kind` is one of [`KINDS`], `outcome` one of [`OUTCOMES`]; anything else is
    /// dropped with a warning so that no free-form value can become a label.
    pub fn job_finished(&self, kind: &str, outcome: &str, engine_seconds: f64, total_seconds: f64) {
        let kind_index = KINDS.iter().position(|known| *known == kind);
        let outcome_index = OUTCOMES.iter().position(|known| *known == outcome);
        let (Some(kind_index), Some(outcome_index)) = (kind_index, outcome_index) else {
            warn!("job metrics dropped: unknown kind or outcome label");
            return;
        };
        let mut counters = self.lock();
        counters.jobs[kind_index][outcome_index] += 1;
        counters.engine_seconds[kind_index] += non_negative(engine_seconds);
        counters.job_duration[kind_index].observe(non_negative(total_seconds));
    }

    /// Records the time a job waited in the queue: from `submitted_at` to the start of processing.
    pub fn queue_lag(&self, seconds: f64) {
        // Clock skew between the submitting host and the worker can make the lag negative.
        self.lock().queue_lag.observe(non_negative(seconds));
    }

    /// Marks the worker ready (consuming) or not (starting, draining, broker lost).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether the worker is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// One more job in progress.
    pub fn in_flight_inc(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// One job less in progress.
    pub fn in_flight_dec(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Increments the in-flight gauge and decrements it when the returned guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight_inc();
        InFlight { metrics: self }
    }

    /// The metrics in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        // A copy, so the lock is not held while formatting.
        let counters = self.lock().clone();
        let mut out = String::with_capacity(4096);

        out.push_str("# HELP him_jobs_total Jobs settled, by work kind and outcome.\n");
        out.push_str("# TYPE him_jobs_total counter\n");
        for (kind_index, kind) in KINDS.iter().enumerate() {
            for (outcome_index, outcome) in OUTCOMES.iter().enumerate() {
                let value = counters.jobs[kind_index][outcome_index];
                let _ = writeln!(
                    out,
                    "him_jobs_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {value}"
                );
            }
        }

        out.push_str(
            "# HELP him_engine_seconds_total Seconds spent in the OCR or speech engine.\n",
        );
        out.push_str("# TYPE him_engine_seconds_total counter\n");
        for (kind_index, kind) in KINDS.iter().enumerate() {
            let value = format_value(counters.engine_seconds[kind_index]);
            let _ = writeln!(out, "him_engine_seconds_total{{kind=\"{kind}\"}} {value}");
        }

        out.push_str("# HELP him_job_duration_seconds Time from the start of processing to settling a job.\n");
        out.push_str("# TYPE him_job_duration_seconds histogram\n");
        for (kind_index, kind) in KINDS.iter().enumerate() {
            let labels = format!("kind=\"{kind}\"");
            counters.job_duration[kind_index].write(&mut out, "him_job_duration_seconds", &labels);
        }

        out.push_str("# HELP him_queue_lag_seconds Time a job waited between submission and the start of processing.\n");
        out.push_str("# TYPE him_queue_lag_seconds histogram\n");
        counters
            .queue_lag
            .write(&mut out, "him_queue_lag_seconds", "");

        out.push_str("# HELP him_jobs_in_flight Jobs being processed now.\n");
        out.push_str("# TYPE him_jobs_in_flight gauge\n");
        let _ = writeln!(
            out,
            "him_jobs_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );

        out.push_str(
            "# HELP him_worker_ready Whether the worker is consuming jobs (1) or not (0).\n",
        );
        out.push_str("# TYPE him_worker_ready gauge\n");
        let _ = writeln!(out, "him_worker_ready {}", u8::from(self.is_ready()));
        out
    }
}

/// Seconds since an RFC 3339 `submitted_at`, for [`Metrics::queue_lag`]; `None` when it does not parse.
pub fn seconds_since(submitted_at: &str) -> Option<f64> {
    let submitted = chrono::DateTime::parse_from_rfc3339(submitted_at).ok()?;
    let elapsed = chrono::Utc::now().signed_duration_since(submitted);
    Some(elapsed.num_milliseconds() as f64 / 1000.0)
}

fn non_negative(seconds: f64) -> f64 {
    if seconds.is_finite() && seconds > 0.0 {
        seconds
    } else {
        0.0
    }
}

/// Prometheus accepts Rust's shortest round-trip float text ("0.1", "300", "1.5").
fn format_value(value: f64) -> String {
    format!("{value}")
}

/// `GET /metrics`, `GET /healthz` (200 while the process runs) and `GET /readyz` (200 when ready, else 503).
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(get_metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(get_readyz))
        .with_state(metrics)
}

async fn get_metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, EXPOSITION_CONTENT_TYPE)],
        metrics.render(),
    )
}

async fn get_readyz(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    if metrics.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Serves [`metrics_router`] on `listen` until `shutdown` completes.
pub async fn serve_metrics(
    metrics: Arc<Metrics>,
    listen: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("failed to listen for metrics on {listen}"))?;
    info!(listen = %listener.local_addr().map_or_else(|_| listen.to_string(), |a| a.to_string()), "serving metrics");
    axum::serve(listener, metrics_router(metrics))
        .with_graceful_shutdown(shutdown)
        .await
        .context("metrics server failed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// One parsed sample line: name, labels, value.
    type Sample = (String, Vec<(String, String)>, f64);

    fn parse_sample(line: &str) -> Sample {
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = if value == "+Inf" {
            f64::INFINITY
        } else {
            value.parse().expect("numeric value")
        };
        let Some((name, rest)) = series.split_once('{') else {
            return (series.to_string(), Vec::new(), value);
        };
        let labels = rest
            .strip_suffix('}')
            .expect("closing brace")
            .split(',')
            .map(|pair| {
                let (key, quoted) = pair.split_once('=').expect("label has =");
                let inner = quoted
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .expect("quoted");
                (key.to_string(), inner.to_string())
            })
            .collect();
        (name.to_string(), labels, value)
    }

    fn samples(text: &str) -> Vec<Sample> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(parse_sample)
            .collect()
    }

    fn value_of(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
        samples(text)
            .into_iter()
            .find(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, value)| value)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
    }

    /// After a few updates every line parses and the values are the ones recorded.
    #[test]
    fn exposition_reports_what_was_recorded() {
        let metrics = Metrics::new();
        metrics.job_finished("charts", "filed", 2.5, 3.0);
        metrics.job_finished("charts", "filed", 1.5, 0.05);
        metrics.job_finished("dictations", "dead_lettered", 0.0, 400.0);
        metrics.queue_lag(12.0);
        metrics.queue_lag(-3.0);
        metrics.in_flight_inc();
        metrics.in_flight_inc();
        metrics.in_flight_dec();
        let text = metrics.render();

        for line in text.lines() {
            if let Some(comment) = line.strip_prefix("# ") {
                assert!(
                    comment.starts_with("HELP him_") || comment.starts_with("TYPE him_"),
                    "{line}"
                );
            }
        }
        let all = samples(&text);
        assert!(all.iter().all(|(name, _, _)| name.starts_with("him_")));
        assert_eq!(
            value_of(
                &text,
                "him_jobs_total",
                &[("kind", "charts"), ("outcome", "filed")]
            ),
            2.0
        );
        assert_eq!(
            value_of(
                &text,
                "him_jobs_total",
                &[("kind", "charts"), ("outcome", "rejected")]
            ),
            0.0
        );
        assert_eq!(
            value_of(
                &text,
                "him_jobs_total",
                &[("kind", "dictations"), ("outcome", "dead_lettered")]
            ),
            1.0
        );
        assert_eq!(
            value_of(&text, "him_engine_seconds_total", &[("kind", "charts")]),
            4.0
        );
        let charts = [("kind", "charts")];
        assert_eq!(
            value_of(&text, "him_job_duration_seconds_count", &charts),
            2.0
        );
        assert!((value_of(&text, "him_job_duration_seconds_sum", &charts) - 3.05).abs() < 1e-9);
        assert_eq!(
            value_of(
                &text,
                "him_job_duration_seconds_bucket",
                &[("kind", "charts"), ("le", "0.1")]
            ),
            1.0
        );
        assert_eq!(
            value_of(
                &text,
                "him_job_duration_seconds_bucket",
                &[("kind", "charts"), ("le", "+Inf")]
            ),
            2.0
        );
        let slow = [("kind", "dictations"), ("le", "300")];
        assert_eq!(
            value_of(&text, "him_job_duration_seconds_bucket", &slow),
            0.0
        );
        assert_eq!(value_of(&text, "him_queue_lag_seconds_count", &[]), 2.0);
        assert_eq!(value_of(&text, "him_queue_lag_seconds_sum", &[]), 12.0);
        assert_eq!(
            value_of(&text, "him_queue_lag_seconds_bucket", &[("le", "0.1")]),
            1.0
        );
        assert_eq!(value_of(&text, "him_jobs_in_flight", &[]), 1.0);
        assert_eq!(value_of(&text, "him_worker_ready", &[]), 0.0);
    }

    /// Buckets are cumulative: each is at least the one before it.
    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::new();
        for seconds in [0.01, 0.3, 7.0, 7.0, 299.0, 1000.0] {
            metrics.job_finished("charts", "unmatched", 0.0, seconds);
        }
        let text = metrics.render();
        let buckets: Vec<f64> = samples(&text)
            .into_iter()
            .filter(|(name, labels, _)| {
                name == "him_job_duration_seconds_bucket"
                    && labels[0] == ("kind".into(), "charts".into())
            })
            .map(|(_, _, value)| value)
            .collect();
        assert_eq!(buckets.len(), DURATION_BUCKETS.len() + 1);
        assert!(buckets.windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(buckets.last(), Some(&6.0));
    }

    /// Unknown kinds or outcomes never become label values.
    #[test]
    fn labels_carry_only_fixed_kinds_and_outcomes() {
        let metrics = Metrics::new();
        metrics.job_finished("0123456789abcdef0123456789abcdef", "filed", 1.0, 1.0);
        metrics.job_finished("charts", "Jane Doe", 1.0, 1.0);
        metrics.job_finished("dictations", "requeued", 1.0, 1.0);
        let text = metrics.render();
        for (name, labels, _) in samples(&text) {
            for (key, value) in labels {
                match key.as_str() {
                    "kind" => assert!(KINDS.contains(&value.as_str()), "{name} kind={value}"),
                    "outcome" => {
                        assert!(OUTCOMES.contains(&value.as_str()), "{name} outcome={value}")
                    }
                    "le" => assert!(value == "+Inf" || value.parse::<f64>().is_ok()),
                    other => panic!("unexpected label {other} on {name}"),
                }
            }
        }
        let total: f64 = samples(&text)
            .into_iter()
            .filter(|(name, _, _)| name == "him_jobs_total")
            .map(|(_, _, value)| value)
            .sum();
        assert_eq!(total, 1.0);
    }

    async fn get_status(router: Router, path: &str) -> (StatusCode, String, Option<String>) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_string());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            String::from_utf8(body.to_vec()).unwrap(),
            content_type,
        )
    }

    /// `/readyz` follows `set_ready`; `/healthz` is 200 throughout.
    #[tokio::test]
    async fn readiness_flips() {
        let metrics = Arc::new(Metrics::new());
        let router = metrics_router(metrics.clone());
        assert_eq!(
            get_status(router.clone(), "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            get_status(router.clone(), "/healthz").await.0,
            StatusCode::OK
        );
        metrics.set_ready(true);
        assert_eq!(
            get_status(router.clone(), "/readyz").await.0,
            StatusCode::OK
        );
        let (status, body, content_type) = get_status(router.clone(), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some(EXPOSITION_CONTENT_TYPE));
        assert_eq!(value_of(&body, "him_worker_ready", &[]), 1.0);
        metrics.set_ready(false);
        assert_eq!(
            get_status(router.clone(), "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(get_status(router, "/healthz").await.0, StatusCode::OK);
    }

    /// The in-flight guard gives its job back when dropped.
    #[test]
    fn in_flight_guard_decrements_on_drop() {
        let metrics = Metrics::new();
        {
            let _first = metrics.in_flight();
            let _second = metrics.in_flight();
            assert_eq!(value_of(&metrics.render(), "him_jobs_in_flight", &[]), 2.0);
        }
        assert_eq!(value_of(&metrics.render(), "him_jobs_in_flight", &[]), 0.0);
    }
}
