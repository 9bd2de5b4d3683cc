//! Turnaround counters kept as documents change, so that `/metrics` and the dashboard read a summary whose
//! size is bounded by the groups and the histogram buckets, never the documents of the window.
//!
//! Every write of a document row (a filing, a decision, a signature) diffs the document's turnaround
//! contributions before and after and applies the difference, in the same transaction, to two tables:
//! - `tat_days`: per day of submission (else filing, UTC), stage, dimension, value and bucket, a count;
//! - `tat_window`: the same summed over the days of the turnaround window (`window_days`), which is what a
//!   request reads. When the window's first day moves (once a day, or when `window_days` changes), the
//!   window is summed again from `tat_days` (the window's days, once, not per request).
//!
//! A duration is counted in the histogram bucket whose upper bound it does not exceed ([`BOUNDS`]); a
//! percentile is the upper bound of the bucket holding its nearest rank — the figures are bounds, within
//! one bucket (from five minutes on ≤ 25 %, mostly 15–20 %) of the exact nearest-rank value. The window starts at the day of
//! `now − window_days` (UTC), so it holds up to a day more than `window_days`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::clocks::{parse_time, type_display, Dimension, Percentiles, Stage, TatRow, Timeline};
use crate::db::{args, Db, Row, Sql};
use crate::error::Result;

/// Upper bounds of the duration buckets, in seconds: "nice" values a few percent to a quarter apart, from a
/// second to a year. A longer duration is counted in whole days.
const BOUNDS: &[i64] = &{
    const M: i64 = 60;
    const H: i64 = 3_600;
    const D: i64 = 86_400;
    [
        0,
        1,
        2,
        3,
        5,
        10,
        15,
        20,
        30,
        45,
        M,
        2 * M,
        3 * M,
        4 * M,
        5 * M,
        6 * M,
        7 * M,
        8 * M,
        10 * M,
        12 * M,
        15 * M,
        18 * M,
        20 * M,
        25 * M,
        30 * M,
        35 * M,
        40 * M,
        45 * M,
        50 * M,
        H,
        H + 15 * M,
        H + 30 * M,
        H + 45 * M,
        2 * H,
        2 * H + 30 * M,
        3 * H,
        3 * H + 30 * M,
        4 * H,
        5 * H,
        6 * H,
        7 * H,
        8 * H,
        9 * H,
        10 * H,
        12 * H,
        14 * H,
        16 * H,
        18 * H,
        20 * H,
        22 * H,
        D,
        D + 6 * H,
        D + 12 * H,
        D + 18 * H,
        2 * D,
        2 * D + 12 * H,
        3 * D,
        3 * D + 12 * H,
        4 * D,
        5 * D,
        6 * D,
        7 * D,
        8 * D,
        9 * D,
        10 * D,
        12 * D,
        14 * D,
        17 * D,
        21 * D,
        25 * D,
        30 * D,
        35 * D,
        40 * D,
        45 * D,
        50 * D,
        60 * D,
        75 * D,
        90 * D,
        105 * D,
        120 * D,
        150 * D,
        180 * D,
        210 * D,
        240 * D,
        300 * D,
        365 * D,
    ]
};

/// The bucket of a duration: the smallest bound it does not exceed; past a year, the duration in whole
/// days, rounded up.
pub(crate) fn bucket(seconds: i64) -> i64 {
    let seconds = seconds.max(0);
    match BOUNDS.iter().find(|&&bound| seconds <= bound) {
        Some(&bound) => bound,
        None => (seconds / 86_400 + i64::from(seconds % 86_400 != 0)).saturating_mul(86_400),
    }
}

/// One counter: a document's duration in one stage, for one value of one dimension, on its day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Cell {
    day: NaiveDate,
    stage: Stage,
    dimension: Dimension,
    value: String,
    bucket: i64,
}

/// What a document adds to the counters: one cell per measured stage and dimension. A document with neither
/// a submission nor a filing time adds nothing.
fn cells(t: &Timeline) -> Vec<Cell> {
    let Some(since) = t.submitted_at.or(t.filed_at) else {
        return Vec::new();
    };
    let day = since.date_naive();
    let mut out = Vec::new();
    for stage in Stage::ALL {
        let Some(seconds) = stage.seconds(t) else {
            continue;
        };
        for dimension in Dimension::ALL {
            out.push(Cell {
                day,
                stage,
                dimension,
                value: dimension.value(t),
                bucket: bucket(seconds),
            });
        }
    }
    out
}

/// The change of the counters when a document's timeline goes from `before` to `after` (`None`: no row).
fn difference(before: Option<&Timeline>, after: Option<&Timeline>) -> BTreeMap<Cell, i64> {
    let mut delta: BTreeMap<Cell, i64> = BTreeMap::new();
    for cell in before.map(cells).unwrap_or_default() {
        *delta.entry(cell).or_default() -= 1;
    }
    for cell in after.map(cells).unwrap_or_default() {
        *delta.entry(cell).or_default() += 1;
    }
    delta.retain(|_, n| *n != 0);
    delta
}

/// The name of the window's first day in the `cursors` table.
const WINDOW_CURSOR: &str = "tat_window_start";

fn window_start(sql: &mut dyn Sql) -> Result<Option<String>> {
    match sql.query_opt(
        "SELECT position FROM cursors WHERE name = ?1",
        args![WINDOW_CURSOR],
    )? {
        Some(row) => Ok(Some(row.get(0)?)),
        None => Ok(None),
    }
}

/// The columns of a document row its turnaround depends on.
const COLUMNS: &str =
    "document_id, received_at, filed_at, approved_at, signed_at, document_type, station, stat, approved_by";

/// The part of a timeline the counters read, from a row of [`COLUMNS`] (the rest left empty: a row this
/// cannot read in full, such as an unknown location, still counts).
fn timeline(row: &Row) -> Result<Timeline> {
    let time = |i: usize| -> Result<Option<DateTime<Utc>>> {
        Ok(parse_time(row.get::<Option<String>>(i)?.as_deref()))
    };
    Ok(Timeline {
        document_id: row.get(0)?,
        submitted_at: time(1)?,
        filed_at: time(2)?,
        approved_at: time(3)?,
        signed_at: time(4)?,
        document_type: type_display(row.get::<Option<String>>(5)?.as_deref()),
        station: row.get(6)?,
        stat: row.get(7)?,
        reviewer: row.get(8)?,
        ..Timeline::default()
    })
}

/// A document's timeline as its row stands, `None` when it has no row.
pub(crate) fn timeline_of(sql: &mut dyn Sql, document_id: &str) -> Result<Option<Timeline>> {
    sql.query_opt(
        &format!("SELECT {COLUMNS} FROM documents WHERE document_id = ?1"),
        args![document_id],
    )?
    .as_ref()
    .map(timeline)
    .transpose()
}

/// Applies the change of one document's contributions, `before` its row was written, to the counters;
/// call it in the transaction that wrote the row, after the write.
pub(crate) fn track(sql: &mut dyn Sql, document_id: &str, before: Option<&Timeline>) -> Result<()> {
    let after = timeline_of(sql, document_id)?;
    let delta = difference(before, after.as_ref());
    if delta.is_empty() {
        return Ok(());
    }
    let start = window_start(sql)?;
    for (cell, n) in delta {
        let day = cell.day.to_string();
        sql.execute(
            "INSERT INTO tat_days (day, stage, dimension, value, bucket, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (day, stage, dimension, value, bucket) DO UPDATE SET n = tat_days.n + excluded.n",
            args![
                day.as_str(),
                cell.stage.as_str(),
                cell.dimension.as_str(),
                cell.value.as_str(),
                cell.bucket,
                n
            ],
        )?;
        if start.as_deref().is_some_and(|start| day.as_str() >= start) {
            sql.execute(
                "INSERT INTO tat_window (stage, dimension, value, bucket, n) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (stage, dimension, value, bucket) DO UPDATE SET n = tat_window.n + excluded.n",
                args![
                    cell.stage.as_str(),
                    cell.dimension.as_str(),
                    cell.value.as_str(),
                    cell.bucket,
                    n
                ],
            )?;
        }
    }
    Ok(())
}

/// Sums the window again from the days when its first day is not `start` (a new day, a new
/// `window_days`); otherwise changes nothing. On PostgreSQL the window table is locked meanwhile, so that a
/// document written at the same moment is counted once.
fn move_window(sql: &mut dyn Sql, start: &str) -> Result<()> {
    if window_start(sql)?.as_deref() == Some(start) {
        return Ok(());
    }
    if sql.dialect() == crate::db::Dialect::Postgres {
        sql.execute("LOCK TABLE tat_window IN EXCLUSIVE MODE", Vec::new())?;
        // A server that moved it while this one waited for the lock.
        if window_start(sql)?.as_deref() == Some(start) {
            return Ok(());
        }
    }
    sql.execute("DELETE FROM tat_window", Vec::new())?;
    sql.execute(
        "INSERT INTO tat_window (stage, dimension, value, bucket, n)
         SELECT stage, dimension, value, bucket, SUM(n) FROM tat_days WHERE day >= ?1
          GROUP BY stage, dimension, value, bucket HAVING SUM(n) <> 0",
        args![start],
    )?;
    sql.execute(
        "INSERT INTO cursors (name, position) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        args![WINDOW_CURSOR, start],
    )?;
    Ok(())
}

/// Turnaround percentiles of the window that starts `window_days` before `now`, by every stage and
/// dimension, sorted by stage, dimension and value: what [`crate::clocks::turnaround`] computes from the
/// documents, read from the counters (bucket bounds, see the module's note).
pub(crate) fn turnaround(
    db: &Db,
    now: DateTime<Utc>,
    window_days: u32,
    only_all_and_priority: bool,
) -> Result<Vec<TatRow>> {
    let start = now
        .checked_sub_signed(chrono::Duration::days(i64::from(window_days)))
        .map_or(NaiveDate::MIN, |at| at.date_naive())
        .to_string();
    let filter = if only_all_and_priority {
        " WHERE dimension IN ('all', 'priority')"
    } else {
        ""
    };
    let query = format!(
        "SELECT stage, dimension, value, bucket, n FROM tat_window{filter}
          ORDER BY stage, dimension, value, bucket"
    );
    let rows = db.transaction(move |sql| {
        move_window(sql, &start)?;
        sql.query(&query, Vec::new())
    })?;
    let mut groups: BTreeMap<(Stage, Dimension, String), Vec<(i64, i64)>> = BTreeMap::new();
    for row in rows {
        let (Some(stage), Some(dimension)) = (
            Stage::parse(&row.get::<String>(0)?),
            Dimension::parse(&row.get::<String>(1)?),
        ) else {
            continue;
        };
        let n: i64 = row.get(4)?;
        if n > 0 {
            groups
                .entry((stage, dimension, row.get(2)?))
                .or_default()
                .push((row.get(3)?, n));
        }
    }
    Ok(groups
        .into_iter()
        .filter_map(|((stage, dimension, value), mut histogram)| {
            percentiles(&mut histogram).map(|seconds| TatRow {
                stage,
                dimension,
                value,
                seconds,
            })
        })
        .collect())
}

/// Nearest-rank percentiles of a histogram of (bucket bound, count), as bucket bounds.
fn percentiles(histogram: &mut [(i64, i64)]) -> Option<Percentiles> {
    histogram.sort_unstable();
    let total: i64 = histogram.iter().map(|&(_, n)| n).sum();
    let max = histogram.last()?.0;
    if total <= 0 {
        return None;
    }
    let count = usize::try_from(total).ok()?;
    let rank = |p: i64| -> i64 {
        let rank = (p.saturating_mul(total).saturating_add(99) / 100).clamp(1, total);
        let mut seen = 0;
        for &(bound, n) in histogram.iter() {
            seen += n;
            if seen >= rank {
                return bound;
            }
        }
        max
    };
    Some(Percentiles {
        count,
        p50: rank(50),
        p90: rank(90),
        p95: rank(95),
        max,
    })
}

/// Fills the counters from every document row: once, for a database that has documents but no counters
/// (an upgrade), and for tests and benches that write rows directly. The number of documents read.
pub(crate) fn rebuild(sql: &mut dyn Sql) -> Result<usize> {
    sql.execute("DELETE FROM tat_days", Vec::new())?;
    sql.execute("DELETE FROM tat_window", Vec::new())?;
    sql.execute("DELETE FROM cursors WHERE name = ?1", args![WINDOW_CURSOR])?;
    let mut totals: BTreeMap<Cell, i64> = BTreeMap::new();
    let rows = sql.query(&format!("SELECT {COLUMNS} FROM documents"), Vec::new())?;
    for row in &rows {
        for cell in cells(&timeline(row)?) {
            *totals.entry(cell).or_default() += 1;
        }
    }
    let totals: Vec<(Cell, i64)> = totals.into_iter().collect();
    for chunk in totals.chunks(400) {
        let mut values = Vec::with_capacity(chunk.len());
        let mut args = Vec::with_capacity(chunk.len() * 6);
        for (i, (cell, n)) in chunk.iter().enumerate() {
            let base = i * 6;
            values.push(format!(
                "(?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
                base + 1,
                base + 2,
                base + 3,
                base + 4,
                base + 5,
                base + 6
            ));
            args.extend(args![
                cell.day.to_string(),
                cell.stage.as_str(),
                cell.dimension.as_str(),
                cell.value.as_str(),
                cell.bucket,
                *n
            ]);
        }
        sql.execute(
            &format!(
                "INSERT INTO tat_days (day, stage, dimension, value, bucket, n) VALUES {}",
                values.join(", ")
            ),
            args,
        )?;
    }
    Ok(rows.len())
}

/// [`rebuild`] on a database: for benches and tests that write document rows directly.
#[doc(hidden)]
pub fn rebuild_turnaround_counters(db: &Db) -> Result<usize> {
    db.transaction(rebuild)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_rise_and_a_duration_falls_in_the_first_bound_it_does_not_exceed() {
        assert!(BOUNDS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(bucket(-5), 0);
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(7_200), 7_200);
        assert_eq!(bucket(7_201), 9_000);
        assert_eq!(bucket(21_600), 21_600);
        assert_eq!(bucket(400 * 86_400 + 1), 401 * 86_400);
        // Neighbouring bounds from five minutes on are at most a quarter apart.
        for w in BOUNDS.windows(2).filter(|w| w[0] >= 300) {
            assert!(w[1] * 4 <= w[0] * 5, "{w:?}");
        }
    }

    fn counters(db: &Db) -> Vec<(String, String, String, String, i64, i64)> {
        db.query(
            "SELECT day, stage, dimension, value, bucket, n FROM tat_days WHERE n <> 0
              ORDER BY day, stage, dimension, value, bucket",
            Vec::new(),
        )
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get(0).unwrap(),
                r.get(1).unwrap(),
                r.get(2).unwrap(),
                r.get(3).unwrap(),
                r.get(4).unwrap(),
                r.get(5).unwrap(),
            )
        })
        .collect()
    }

    /// The counters kept write by write equal the counters summed from the rows, and the percentiles read
    /// from them are the exact nearest-rank percentiles of the window's documents, each taken to its
    /// bucket's bound (bucketing keeps the order, so it commutes with ranks).
    #[test]
    fn counters_kept_write_by_write_give_the_window_percentiles_as_bucket_bounds() {
        use crate::queue::pending_chart;
        let db = Db::in_memory().unwrap();
        let now: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().unwrap();
        let at = |minutes_ago: i64| {
            (now - chrono::Duration::minutes(minutes_ago))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let mut rows = Vec::new();
        for i in 0..40_i64 {
            let mut row = pending_chart(&format!("d{i:02}"), "1", &at(i * 97 + 600), i % 4 == 0);
            row.station = Some(["ED", "ICU", " "][usize::try_from(i % 3).unwrap()].to_string());
            row.filed_at = Some(at(i * 97 + 590 - i % 9));
            if i % 3 != 0 {
                row.review_status = "approved".to_string();
                row.approved_at = Some(at(i * 97 + 590 - i * i));
                row.approved_by = Some(format!("r{}", i % 2));
            }
            rows.push(row);
        }
        // One submitted before the window, and one written twice (its second filing time counts).
        let mut old = pending_chart("old", "1", &at(40 * 24 * 60), false);
        old.filed_at = Some(at(40 * 24 * 60 - 5));
        rows.push(old);
        for row in &rows {
            crate::queue::upsert_for_test(&db, row).unwrap();
        }
        let mut again = rows[5].clone();
        again.filed_at = Some(at(5 * 97 + 300));
        crate::queue::upsert_for_test(&db, &again).unwrap();
        rows[5] = again;

        let kept = counters(&db);
        rebuild_turnaround_counters(&db).unwrap();
        assert_eq!(
            counters(&db),
            kept,
            "kept write by write = summed from the rows"
        );

        let read = turnaround(&db, now, 30, false).unwrap();
        let window: Vec<Timeline> = rows
            .iter()
            .filter(|r| r.document_id != "old")
            .map(Timeline::of)
            .collect();
        let expected: Vec<TatRow> = crate::clocks::turnaround(&window)
            .into_iter()
            .map(|mut row| {
                let p = &mut row.seconds;
                (p.p50, p.p90, p.p95, p.max) =
                    (bucket(p.p50), bucket(p.p90), bucket(p.p95), bucket(p.max));
                row
            })
            .collect();
        assert_eq!(read, expected);
        assert!(read.iter().any(|r| r.stage == Stage::Review));

        // Sixty days on the window is empty; back, it is whole again; `/metrics`' rows only.
        assert!(turnaround(&db, now + chrono::Duration::days(60), 30, false)
            .unwrap()
            .is_empty());
        let metrics = turnaround(&db, now, 30, true).unwrap();
        assert_eq!(
            metrics,
            expected
                .into_iter()
                .filter(|r| matches!(r.dimension, Dimension::All | Dimension::Priority))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn percentiles_are_the_bounds_of_the_nearest_ranks() {
        // Ten samples: bounds 60 (×5), 120 (×4), 3600 (×1).
        let mut histogram = vec![(3_600, 1), (60, 5), (120, 4)];
        let p = percentiles(&mut histogram).unwrap();
        assert_eq!(
            (p.count, p.p50, p.p90, p.p95, p.max),
            (10, 60, 120, 3_600, 3_600)
        );
        assert!(percentiles(&mut []).is_none());
        assert!(percentiles(&mut [(60, 0)]).is_none());
    }
}
