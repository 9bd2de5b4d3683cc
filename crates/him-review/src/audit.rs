//! The audit log: one create-only object per event under `audit/<yyyy>/<mm>/<dd>/`, indexed in SQLite for
//! the supervisor's search. Records hold ids, names of changed fields and reasons codes, never field values.

use serde::{Deserialize, Serialize};

use him_store::{Key, Prefix, Store};

use crate::accounts::random_hex;
use crate::db::{args, Db};
use crate::error::{Error, Result};

/// One audited event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339 UTC time.
    pub at: String,
    /// User name, or the name tried for a failed login.
    pub user: String,
    /// `login`, `login_failed` (the first failure from an address within the throttling window),
    /// `login_locked` (a user name and address, or an address, reached its limit), `login_audit_suppressed`
    /// (the window's budget of failed-login records is spent), `logout`, `view`, `claim`,
    /// `edit`, `assign`, `approve`, `return`, `reject`, `addendum`, `user_add`, `user_disable`,
    /// `user_enable`, `user_password`, `unlock`.
    pub action: String,
    pub document_id: Option<String>,
    /// Address the request came from.
    pub ip: String,
    /// Extra context without PHI (changed field names, review sequence number).
    pub detail: String,
}

/// What the audit search matches; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    pub user: Option<String>,
    pub action: Option<String>,
    pub document_id: Option<String>,
    /// Earliest day or time, RFC 3339 prefix (`2024-05-01`).
    pub from: Option<String>,
    /// Latest day or time, RFC 3339 prefix.
    pub to: Option<String>,
}

impl AuditEvent {
    /// An event happening now.
    pub fn now(
        user: &str,
        action: &str,
        document_id: Option<&str>,
        ip: &str,
        detail: &str,
    ) -> Self {
        AuditEvent {
            // Microseconds so that events of one request sequence sort in order.
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            user: user.to_string(),
            action: action.to_string(),
            document_id: document_id.map(str::to_string),
            ip: ip.to_string(),
            detail: detail.to_string(),
        }
    }
}

fn audit_key(event: &AuditEvent) -> Result<Key> {
    let day = event.at.get(..10).unwrap_or("0000-00-00");
    let stamp: String = event.at.chars().filter(char::is_ascii_digit).collect();
    let name = format!("{stamp}-{}.json", random_hex(8));
    Key::audit(day, &name)
        .or_else(|| Key::audit("0000-00-00", &name))
        .ok_or_else(|| Error::InvalidInput {
            detail: "audit time is not a timestamp".to_string(),
        })
}

fn index(db: &Db, key: &str, event: &AuditEvent) -> Result<()> {
    db.execute(
        "INSERT INTO audit (key, at, \"user\", action, document_id, ip, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
        args![
            key,
            &event.at,
            &event.user,
            &event.action,
            &event.document_id,
            &event.ip,
            &event.detail
        ],
    )?;
    Ok(())
}

/// Writes an event to the store (create-only, under a fresh random key) and indexes it.
pub async fn record_audit(store: &Store, db: &Db, event: &AuditEvent) -> Result<()> {
    let bytes = serde_json::to_vec(event).map_err(|_| Error::Unreadable {
        key: "audit event".to_string(),
    })?;
    loop {
        let key = audit_key(event)?;
        if store.put_new(&key, bytes.clone().into()).await? == him_store::Written::Created {
            return index(db, &key.path(), event);
        }
    }
}

/// Re-indexes every audit object of the store.
pub(crate) async fn reindex_audit(store: &Store, db: &Db) -> Result<()> {
    for key in store.list(&Prefix::Audit).await? {
        let bytes = store.get(&key).await?;
        let event: AuditEvent = serde_json::from_slice(&bytes).map_err(|_| Error::Unreadable {
            key: key.to_string(),
        })?;
        index(db, &key.path(), &event)?;
    }
    Ok(())
}

/// The newest matching events first, at most `limit`.
pub fn search_audit(db: &Db, query: &AuditQuery, limit: usize) -> Result<Vec<AuditEvent>> {
    let some = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    // `to` is inclusive of the whole day or minute given: times are compared on its length.
    let rows = db.query(
        "SELECT at, \"user\", action, document_id, ip, detail FROM audit
         WHERE (CAST(?1 AS TEXT) IS NULL OR \"user\" = ?1) AND (CAST(?2 AS TEXT) IS NULL OR action = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR document_id = ?3) AND (CAST(?4 AS TEXT) IS NULL OR at >= ?4)
           AND (CAST(?5 AS TEXT) IS NULL OR substr(at, 1, length(CAST(?5 AS TEXT))) <= ?5)
         ORDER BY at DESC, key DESC LIMIT ?6",
        args![
            some(&query.user),
            some(&query.action),
            some(&query.document_id),
            some(&query.from),
            some(&query.to),
            limit
        ],
    )?;
    rows.iter()
        .map(|row| {
            Ok(AuditEvent {
                at: row.get(0)?,
                user: row.get(1)?,
                action: row.get(2)?,
                document_id: row.get(3)?,
                ip: row.get(4)?,
                detail: row.get(5)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_are_stored_by_day_and_searchable_after_reindex() {
        let store = Store::in_memory();
        let db = Db::in_memory().unwrap();
        let event = AuditEvent::now("ana", "view", Some("abc"), "127.0.0.1", "");
        record_audit(&store, &db, &event).await.unwrap();
        record_audit(&store, &db, &event).await.unwrap();
        let keys = store.list(&Prefix::Audit).await.unwrap();
        assert_eq!(keys.len(), 2);
        let day = event.at[..10].replace('-', "/");
        assert!(
            matches!(&keys[0], Key::Audit { day: d, .. } if d.format("%Y/%m/%d").to_string() == day),
            "{}",
            keys[0]
        );
        let fresh = Db::in_memory().unwrap();
        reindex_audit(&store, &fresh).await.unwrap();
        let query = AuditQuery {
            user: Some("ana".to_string()),
            to: Some(event.at[..10].to_string()),
            ..AuditQuery::default()
        };
        assert_eq!(search_audit(&fresh, &query, 10).unwrap().len(), 2);
        let nobody = AuditQuery {
            user: Some("bob".to_string()),
            ..AuditQuery::default()
        };
        assert!(search_audit(&fresh, &nobody, 10).unwrap().is_empty());
    }
}
