//! Prometheus metrics and health endpoints of the worker: `GET /metrics`, `GET /healthz`, `GET /readyz`.
//!
//! The series live in a `prometheus-client` registry and are written in the Prometheus text format 0.0.4.
//! Labels carry only the fixed work kinds and outcomes below, never document ids or stations, so cardinality
//! stays constant; every label combination is created up front so that a zero is reported, not a gap.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
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
const EXPOSITION_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// `kind` label; values only from [`KINDS`].
type KindLabels = [(&'static str, &'static str); 1];

/// `kind` and `outcome` labels; values only from [`KINDS`] and [`OUTCOMES`].
type JobLabels = [(&'static str, &'static str); 2];

/// The worker's metrics. Cheap to update from any thread; share it as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    /// Holds clones of the series below (they share their values); only read when rendering.
    registry: Registry,
    jobs: Family<JobLabels, Counter>,
    engine_seconds: Family<KindLabels, Counter<f64>>,
    job_duration: Family<KindLabels, Histogram, fn() -> Histogram>,
    queue_lag: Histogram,
    in_flight: Gauge,
    ready: Gauge,
}

fn job_duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
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
        let jobs = Family::<JobLabels, Counter>::default();
        let engine_seconds = Family::<KindLabels, Counter<f64>>::default();
        let job_duration = Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            job_duration_histogram,
        );
        for kind in KINDS {
            for outcome in OUTCOMES {
                jobs.get_or_create_owned(&[("kind", kind), ("outcome", outcome)]);
            }
            engine_seconds.get_or_create_owned(&[("kind", kind)]);
            job_duration.get_or_create_owned(&[("kind", kind)]);
        }
        let queue_lag = Histogram::new(LAG_BUCKETS);
        let in_flight = Gauge::default();
        let ready = Gauge::default();

        // Help texts are given without the final period: the registry appends one. Counter names are given
        // without `_total` and seconds as a unit: the encoder appends both.
        let mut registry = Registry::default();
        registry.register(
            "him_jobs",
            "Jobs settled, by work kind and outcome",
            jobs.clone(),
        );
        registry.register_with_unit(
            "him_engine",
            "Seconds spent in the OCR or speech engine",
            Unit::Seconds,
            engine_seconds.clone(),
        );
        registry.register_with_unit(
            "him_job_duration",
            "Time from the start of processing to settling a job",
            Unit::Seconds,
            job_duration.clone(),
        );
        registry.register_with_unit(
            "him_queue_lag",
            "Time a job waited between submission and the start of processing",
            Unit::Seconds,
            queue_lag.clone(),
        );
        registry.register(
            "him_jobs_in_flight",
            "Jobs being processed now",
            in_flight.clone(),
        );
        registry.register(
            "him_worker_ready",
            "Whether the worker is consuming jobs (1) or not (0)",
            ready.clone(),
        );

        Metrics {
            registry,
            jobs,
            engine_seconds,
            job_duration,
            queue_lag,
            in_flight,
            ready,
        }
    }

    /// Counts a settled job. `kind` is one of [`KINDS`], `outcome` one of [`OUTCOMES`]; anything else is
    /// dropped with a warning so that no free-form value can become a label.
    pub fn job_finished(&self, kind: &str, outcome: &str, engine_seconds: f64, total_seconds: f64) {
        let kind = KINDS.into_iter().find(|known| *known == kind);
        let outcome = OUTCOMES.into_iter().find(|known| *known == outcome);
        let (Some(kind), Some(outcome)) = (kind, outcome) else {
            warn!("job metrics dropped: unknown kind or outcome label");
            return;
        };
        self.jobs
            .get_or_create(&[("kind", kind), ("outcome", outcome)])
            .inc();
        self.engine_seconds
            .get_or_create(&[("kind", kind)])
            .inc_by(non_negative(engine_seconds));
        self.job_duration
            .get_or_create(&[("kind", kind)])
            .observe(non_negative(total_seconds));
    }

    /// Records the time a job waited in the queue: from `submitted_at` to the start of processing.
    pub fn queue_lag(&self, seconds: f64) {
        // Clock skew between the submitting host and the worker can make the lag negative.
        self.queue_lag.observe(non_negative(seconds));
    }

    /// Marks the worker ready (consuming) or not (starting, draining, broker lost).
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// Whether the worker is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.get() == 1
    }

    /// One more job in progress.
    pub fn in_flight_inc(&self) {
        self.in_flight.inc();
    }

    /// One job less in progress.
    pub fn in_flight_dec(&self) {
        self.in_flight.dec();
    }

    /// Increments the in-flight gauge and decrements it when the returned guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight_inc();
        InFlight { metrics: self }
    }

    /// The metrics in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail; an error would come from a series that cannot be encoded.
        if prometheus_text::encode(&mut out, &self.registry).is_err() {
            warn!("metrics exposition incomplete: a series could not be encoded");
        }
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

    /// The names, types and help texts are the ones the hand-written exposition had, in the same order, so
    /// dashboards and alerts keep working after the move to `prometheus-client`.
    #[test]
    fn series_names_types_and_help_are_unchanged() {
        let text = Metrics::new().render();
        let descriptors: Vec<&str> = text.lines().filter(|line| line.starts_with('#')).collect();
        assert_eq!(
            descriptors,
            [
                "# HELP him_jobs_total Jobs settled, by work kind and outcome.",
                "# TYPE him_jobs_total counter",
                "# HELP him_engine_seconds_total Seconds spent in the OCR or speech engine.",
                "# TYPE him_engine_seconds_total counter",
                "# HELP him_job_duration_seconds Time from the start of processing to settling a job.",
                "# TYPE him_job_duration_seconds histogram",
                "# HELP him_queue_lag_seconds Time a job waited between submission and the start of processing.",
                "# TYPE him_queue_lag_seconds histogram",
                "# HELP him_jobs_in_flight Jobs being processed now.",
                "# TYPE him_jobs_in_flight gauge",
                "# HELP him_worker_ready Whether the worker is consuming jobs (1) or not (0).",
                "# TYPE him_worker_ready gauge",
            ]
        );
        let mut series: Vec<String> = samples(&text)
            .into_iter()
            .map(|(name, labels, _)| {
                let keys: Vec<String> = labels.into_iter().map(|(key, _)| key).collect();
                format!("{name}{{{}}}", keys.join(","))
            })
            .collect();
        series.dedup();
        assert_eq!(
            series,
            [
                "him_jobs_total{kind,outcome}",
                "him_engine_seconds_total{kind}",
                "him_job_duration_seconds_bucket{kind,le}",
                "him_job_duration_seconds_sum{kind}",
                "him_job_duration_seconds_count{kind}",
                "him_job_duration_seconds_bucket{kind,le}",
                "him_job_duration_seconds_sum{kind}",
                "him_job_duration_seconds_count{kind}",
                "him_queue_lag_seconds_bucket{le}",
                "him_queue_lag_seconds_sum{}",
                "him_queue_lag_seconds_count{}",
                "him_jobs_in_flight{}",
                "him_worker_ready{}",
            ]
        );
        // Every kind × outcome is reported from the start, as zero.
        let jobs = samples(&text)
            .into_iter()
            .filter(|(name, _, _)| name == "him_jobs_total")
            .count();
        assert_eq!(jobs, KINDS.len() * OUTCOMES.len());
        // Bucket bounds print as before: "1" and "300", not "1.0".
        for le in ["0.1", "0.25", "1", "300", "+Inf"] {
            assert_eq!(
                value_of(
                    &text,
                    "him_job_duration_seconds_bucket",
                    &[("kind", "charts"), ("le", le)]
                ),
                0.0
            );
        }
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
