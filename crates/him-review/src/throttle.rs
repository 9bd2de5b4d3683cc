//! Login throttling. Each attempt reserves a failure row *before* its password is checked, in one immediate
//! transaction with the count it is checked against, so that parallel attempts cannot all slip under the
//! limit; a success deletes the row again. Two keys are limited within `login_window_minutes`: one user name
//! from one address (`login_max_failures`) and one address across all names (`login_max_failures_per_address`).
//!
//! Failures are audited in aggregate: the first failure from an address within a window, and each key
//! reaching its limit, once per window ([`Alert`]); throttled attempts are not audited. Across all addresses
//! at most [`MAX_ALERTS_PER_WINDOW`] such records are written per window (an attacker may own many
//! addresses); one `login_audit_suppressed` record marks the rest.

use serde::Serialize;

use crate::accounts::minutes_to_secs;
use crate::config::ReviewConfig;
use crate::db::{args, now_secs, Db, Dialect, Sql};
use crate::error::{Error, Result};

/// Failed-login audit records written per window at most, whatever the addresses.
pub(crate) const MAX_ALERTS_PER_WINDOW: u32 = 100;

/// A login attempt counted as a failure until it succeeds.
#[derive(Debug)]
pub(crate) struct Reservation {
    row: i64,
    name: String,
    address: String,
}

/// Whether a login attempt may check its password.
#[derive(Debug)]
pub(crate) enum Attempt {
    Reserved(Reservation),
    Throttled,
}

/// An audit record a failed login calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Alert {
    /// `login_failed`, `login_locked` or `login_audit_suppressed`.
    pub action: &'static str,
    /// Which key and how many failures; never a password.
    pub detail: String,
}

/// A throttling key over its limit: logins for it answer 429 until failures leave the window or it is
/// unlocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lockout {
    /// The user name for a (user, address) key; `None` when the address itself is locked out.
    pub name: Option<String>,
    /// The client address.
    pub address: String,
    /// Failures within the window.
    pub failures: u32,
    /// RFC 3339 UTC time of the latest failure.
    pub last_failure_at: String,
}

fn window_start(config: &ReviewConfig) -> i64 {
    now_secs().saturating_sub(minutes_to_secs(config.login_window_minutes))
}

fn failures(sql: &mut dyn Sql, name: Option<&str>, address: &str, since: i64) -> Result<u32> {
    sql.query_one(
        "SELECT COUNT(*) FROM login_failures WHERE (CAST(?1 AS TEXT) IS NULL OR name = ?1) AND ip = ?2 AND at >= ?3",
        args![name, address, since],
    )?
    .get(0)
}

/// Serialises the throttling transactions of every server sharing the database. SQLite's transactions
/// here take its write lock at once; on PostgreSQL the failure table is locked against other throttling
/// transactions (logins elsewhere read on).
fn lock_throttling(sql: &mut dyn Sql) -> Result<()> {
    if sql.dialect() == Dialect::Postgres {
        sql.execute(
            "LOCK TABLE login_failures IN SHARE ROW EXCLUSIVE MODE",
            Vec::new(),
        )?;
    }
    Ok(())
}

/// Counts the failures of both keys and, under both limits, reserves a failure row for this attempt.
pub(crate) fn reserve(
    db: &Db,
    config: &ReviewConfig,
    name: &str,
    address: &str,
) -> Result<Attempt> {
    let since = window_start(config);
    let (max_user, max_address) = (
        config.login_max_failures,
        config.login_max_failures_per_address,
    );
    let (name, address) = (name.to_string(), address.to_string());
    db.transaction(move |sql| {
        lock_throttling(sql)?;
        sql.execute("DELETE FROM login_failures WHERE at < ?1", args![since])?;
        sql.execute("DELETE FROM login_alerts WHERE at < ?1", args![since])?;
        let by_user = failures(sql, Some(&name), &address, since)?;
        let by_address = failures(sql, None, &address, since)?;
        if by_user >= max_user || by_address >= max_address {
            return Ok(Attempt::Throttled);
        }
        let row = sql
            .query_one(
                "INSERT INTO login_failures (name, ip, at) VALUES (?1, ?2, ?3) RETURNING id",
                args![&name, &address, now_secs()],
            )?
            .get(0)?;
        Ok(Attempt::Reserved(Reservation { row, name, address }))
    })
}

/// Gives a reservation back unused: the password was never checked.
pub(crate) fn release(db: &Db, reservation: &Reservation) -> Result<()> {
    db.execute(
        "DELETE FROM login_failures WHERE id = ?1",
        args![reservation.row],
    )?;
    Ok(())
}

/// A successful login: its reservation and the earlier failures of its user from its address are cleared.
pub(crate) fn succeeded(db: &Db, reservation: Reservation) -> Result<()> {
    db.execute(
        "DELETE FROM login_failures WHERE id = ?1 OR (name = ?2 AND ip = ?3)",
        args![reservation.row, reservation.name, reservation.address],
    )?;
    Ok(())
}

/// Records an alert of `kind` for the key unless one was recorded within the window; whether it was.
fn first_alert(
    sql: &mut dyn Sql,
    kind: &str,
    name: Option<&str>,
    address: &str,
    since: i64,
) -> Result<bool> {
    let seen: bool = sql
        .query_one(
            "SELECT COUNT(*) > 0 FROM login_alerts
             WHERE ip = ?1 AND kind = ?2 AND (CAST(?3 AS TEXT) IS NULL OR name = ?3) AND at >= ?4",
            args![address, kind, name, since],
        )?
        .get(0)?;
    if !seen {
        sql.execute(
            "INSERT INTO login_alerts (kind, name, ip, at) VALUES (?1, ?2, ?3, ?4)",
            args![kind, name, address, now_secs()],
        )?;
    }
    Ok(!seen)
}

/// A failed login: its reservation stays a failure. Returns the audit records it calls for: the first
/// failure from its address within the window, and each key it brought to its limit.
pub(crate) fn failed(
    db: &Db,
    config: &ReviewConfig,
    reservation: Reservation,
) -> Result<Vec<Alert>> {
    let since = window_start(config);
    let window = config.login_window_minutes;
    let (max_user, max_address) = (
        config.login_max_failures,
        config.login_max_failures_per_address,
    );
    db.transaction(move |sql| {
    lock_throttling(sql)?;
    let (name, address) = (reservation.name.as_str(), reservation.address.as_str());
    let mut alerts = Vec::new();
    let written: u32 = sql
        .query_one(
            "SELECT COUNT(*) FROM login_alerts WHERE kind != 'suppressed' AND at >= ?1",
            args![since],
        )?
        .get(0)?;
    if written >= MAX_ALERTS_PER_WINDOW {
        if first_alert(sql, "suppressed", None, "*", since)? {
            alerts.push(Alert {
                action: "login_audit_suppressed",
                detail: format!(
                    "{written} failed-login records in {window} minutes: further failures are counted \
                     and throttled but not audited until the window has passed"
                ),
            });
        }
        return Ok(alerts);
    }
    if first_alert(sql, "failed", None, address, since)? {
        alerts.push(Alert {
            action: "login_failed",
            detail: "first failed login from this address in the window".to_string(),
        });
    }
    let by_user = failures(sql, Some(name), address, since)?;
    if by_user >= max_user && first_alert(sql, "locked_user", Some(name), address, since)?
    {
        alerts.push(Alert {
            action: "login_locked",
            detail: format!("user and address locked: {by_user} failures in {window} minutes"),
        });
    }
    let by_address = failures(sql, None, address, since)?;
    if by_address >= max_address && first_alert(sql, "locked_address", None, address, since)?
    {
        alerts.push(Alert {
            action: "login_locked",
            detail: format!(
                "address locked for all users: {by_address} failures in {window} minutes"
            ),
        });
    }
    Ok(alerts)
    })
}

/// The keys currently over their limit, latest failure first.
pub fn locked_out(db: &Db, config: &ReviewConfig) -> Result<Vec<Lockout>> {
    let since = window_start(config);
    let rows = db.query(
        "SELECT name, ip, COUNT(*), MAX(at) FROM login_failures WHERE at >= ?1
         GROUP BY name, ip HAVING COUNT(*) >= ?2
         UNION ALL
         SELECT NULL, ip, COUNT(*), MAX(at) FROM login_failures WHERE at >= ?1
         GROUP BY ip HAVING COUNT(*) >= ?3
         ORDER BY 4 DESC, 2, 1",
        args![
            since,
            config.login_max_failures,
            config.login_max_failures_per_address
        ],
    )?;
    rows.iter()
        .map(|row| {
            Ok(Lockout {
                name: row.get(0)?,
                address: row.get(1)?,
                failures: row.get(2)?,
                last_failure_at: chrono::DateTime::from_timestamp(row.get(3)?, 0)
                    .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Lifts lock-outs: deletes the recorded failures of a user name (from every address), of an address (for
/// every name) or of both together. Returns how many failures were removed.
pub fn unlock(db: &Db, name: Option<&str>, address: Option<&str>) -> Result<usize> {
    let name = name.map(str::trim).filter(|name| !name.is_empty());
    let address = address.map(str::trim).filter(|address| !address.is_empty());
    if name.is_none() && address.is_none() {
        return Err(Error::InvalidInput {
            detail: "name a user, an address or both to unlock".to_string(),
        });
    }
    let (name, address) = (name.map(str::to_string), address.map(str::to_string));
    let removed = db.transaction(move |sql| {
        lock_throttling(sql)?;
        let removed = sql.execute(
            "DELETE FROM login_failures WHERE (CAST(?1 AS TEXT) IS NULL OR name = ?1) AND (CAST(?2 AS TEXT) IS NULL OR ip = ?2)",
            args![name.as_deref(), address.as_deref()],
        )?;
        // A key locked again within the window is audited again.
        sql.execute(
            "DELETE FROM login_alerts WHERE kind != 'failed' AND (CAST(?1 AS TEXT) IS NULL OR name = ?1)
             AND (CAST(?2 AS TEXT) IS NULL OR ip = ?2)",
            args![name, address],
        )?;
        Ok(removed)
    })?;
    Ok(usize::try_from(removed).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(db: &Db, config: &ReviewConfig, name: &str, address: &str) -> Vec<&'static str> {
        match reserve(db, config, name, address).unwrap() {
            Attempt::Reserved(reservation) => failed(db, config, reservation)
                .unwrap()
                .into_iter()
                .map(|alert| alert.action)
                .collect(),
            Attempt::Throttled => vec!["throttled"],
        }
    }

    #[test]
    fn each_key_is_limited_and_audited_once_per_window() {
        let (db, config) = (Db::in_memory().unwrap(), ReviewConfig::default());
        assert_eq!(fail(&db, &config, "bob", "10.0.0.1"), vec!["login_failed"]);
        for _ in 0..3 {
            assert!(fail(&db, &config, "bob", "10.0.0.1").is_empty());
        }
        assert_eq!(fail(&db, &config, "bob", "10.0.0.1"), vec!["login_locked"]);
        assert_eq!(fail(&db, &config, "bob", "10.0.0.1"), vec!["throttled"]);
        // Another address is its own key.
        assert_eq!(fail(&db, &config, "bob", "10.0.0.2"), vec!["login_failed"]);
        let locked = locked_out(&db, &config).unwrap();
        assert_eq!(locked.len(), 1);
        assert_eq!(
            (
                locked[0].name.as_deref(),
                locked[0].address.as_str(),
                locked[0].failures
            ),
            (Some("bob"), "10.0.0.1", 5)
        );
        // Spraying: 20 failures from one address, whatever the names, lock the address.
        let mut actions = Vec::new();
        for i in 0..16 {
            actions.extend(fail(&db, &config, &format!("user{i}"), "10.0.0.1"));
        }
        assert_eq!(actions, vec!["login_locked", "throttled"]);
        assert_eq!(fail(&db, &config, "someone", "10.0.0.1"), vec!["throttled"]);
        let locked = locked_out(&db, &config).unwrap();
        assert!(locked.iter().any(|l| l.name.is_none() && l.failures == 20));
    }

    #[test]
    fn failures_from_many_addresses_write_a_bounded_number_of_records() {
        let (db, config) = (Db::in_memory().unwrap(), ReviewConfig::default());
        let mut actions = Vec::new();
        for i in 0..150 {
            actions.extend(fail(
                &db,
                &config,
                "bob",
                &format!("10.0.{}.{}", i / 100, i % 100),
            ));
        }
        let count = |action: &str| actions.iter().filter(|a| **a == action).count();
        assert_eq!(count("login_failed"), MAX_ALERTS_PER_WINDOW as usize);
        assert_eq!(count("login_audit_suppressed"), 1);
        assert_eq!(actions.len(), MAX_ALERTS_PER_WINDOW as usize + 1);
    }

    #[test]
    fn success_clears_and_release_returns_the_reservation() {
        let (db, config) = (Db::in_memory().unwrap(), ReviewConfig::default());
        for _ in 0..4 {
            fail(&db, &config, "bob", "a");
        }
        let Attempt::Reserved(reservation) = reserve(&db, &config, "bob", "a").unwrap() else {
            panic!("four failures are under the limit");
        };
        succeeded(&db, reservation).unwrap();
        let Attempt::Reserved(reservation) = reserve(&db, &config, "bob", "a").unwrap() else {
            panic!("a success clears the failures");
        };
        release(&db, &reservation).unwrap();
        let count: i64 = db
            .query_one("SELECT COUNT(*) FROM login_failures", Vec::new())
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(count, 0);
    }

    #[test]
    fn unlock_removes_failures_by_name_address_or_both() {
        let (db, config) = (Db::in_memory().unwrap(), ReviewConfig::default());
        for _ in 0..5 {
            fail(&db, &config, "bob", "a");
            fail(&db, &config, "bob", "b");
            fail(&db, &config, "eve", "a");
        }
        assert_eq!(locked_out(&db, &config).unwrap().len(), 3);
        assert!(unlock(&db, None, Some(" ")).is_err());
        assert_eq!(unlock(&db, Some("bob"), Some("b")).unwrap(), 5);
        assert_eq!(unlock(&db, None, Some("a")).unwrap(), 10);
        assert!(locked_out(&db, &config).unwrap().is_empty());
        for _ in 0..5 {
            fail(&db, &config, "bob", "c");
        }
        assert_eq!(unlock(&db, Some("bob"), None).unwrap(), 5);
        // The lock-out is audited again when it recurs.
        let mut actions = Vec::new();
        for _ in 0..5 {
            actions.extend(fail(&db, &config, "bob", "c"));
        }
        assert_eq!(actions, vec!["login_locked"]);
    }
}
