//! Sessions: a random cookie token (only its SHA-256 stored) with the session's CSRF token, ending at an
//! absolute expiry (`session_ttl_minutes`), after `idle_timeout_minutes` without use, or when the user is
//! disabled.

use crate::accounts::{
    into_user, minutes_to_secs, random_hex, read_user, sha256_hex, User, USER_COLUMNS,
};
use crate::db::{args, now_secs, Db};
use crate::error::Result;

/// A logged-in user and the CSRF token of their session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub user: User,
    pub csrf: String,
}

/// Sessions are written back at most this often (seconds) to record activity for the idle timeout.
const LAST_SEEN_RESOLUTION_SECS: i64 = 30;

/// Starts a session; returns the cookie token (only its hash is stored) and the session's CSRF token.
pub(crate) fn create_session(db: &Db, user_id: i64, ttl_minutes: u64) -> Result<(String, String)> {
    let token = random_hex(32);
    let csrf = random_hex(32);
    let now = now_secs();
    let expires_at = now.saturating_add(minutes_to_secs(ttl_minutes));
    let (token_hash, stored_csrf) = (sha256_hex(token.as_bytes()), csrf.clone());
    db.transaction(move |sql| {
        sql.execute("DELETE FROM sessions WHERE expires_at < ?1", args![now])?;
        sql.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            args![token_hash, user_id, stored_csrf, expires_at, now],
        )
    })?;
    Ok((token, csrf))
}

/// The live session a cookie token names, recording this use of it. A session ends at its absolute
/// expiry, after `idle_timeout_minutes` without use (0: never idle), or when its user is disabled.
pub(crate) fn find_session(
    db: &Db,
    token: &str,
    idle_timeout_minutes: u64,
) -> Result<Option<Session>> {
    let token_hash = sha256_hex(token.as_bytes());
    let now = now_secs();
    let row = db.query_opt(
        &format!(
            "SELECT {USER_COLUMNS}, sessions.csrf, sessions.last_seen FROM sessions
             JOIN users ON users.id = sessions.user_id
             WHERE sessions.token_hash = ?1 AND sessions.expires_at >= ?2 AND users.disabled = 0"
        ),
        args![&token_hash, now],
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (user, csrf, last_seen): (_, String, Option<i64>) =
        (read_user(&row)?, row.get(5)?, row.get(6)?);
    // Sessions of an older release have no last use: they count as idle.
    let last_seen = last_seen.unwrap_or(0);
    let idle = now.saturating_sub(last_seen);
    if idle_timeout_minutes > 0 && idle > minutes_to_secs(idle_timeout_minutes) {
        db.execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            args![token_hash],
        )?;
        return Ok(None);
    }
    if idle >= LAST_SEEN_RESOLUTION_SECS {
        db.execute(
            "UPDATE sessions SET last_seen = ?2 WHERE token_hash = ?1",
            args![token_hash, now],
        )?;
    }
    Ok(Some(Session {
        user: into_user(user)?,
        csrf,
    }))
}

/// Ends a session.
pub(crate) fn delete_session(db: &Db, token: &str) -> Result<()> {
    db.execute(
        "DELETE FROM sessions WHERE token_hash = ?1",
        args![sha256_hex(token.as_bytes())],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{add_user, Role};

    #[test]
    fn sessions_are_stored_hashed() {
        let db = Db::in_memory().unwrap();
        let user = add_user(&db, "ana", Role::Reviewer, "correct horse", None).unwrap();
        let (token, csrf) = create_session(&db, user.id, 10).unwrap();
        let stored: String = db
            .query_one("SELECT token_hash FROM sessions", Vec::new())
            .unwrap()
            .get(0)
            .unwrap();
        assert_ne!(stored, token);
        let session = find_session(&db, &token, 15).unwrap().unwrap();
        assert_eq!(session.csrf, csrf);
        assert_eq!(session.user.name, "ana");
        delete_session(&db, &token).unwrap();
        assert!(find_session(&db, &token, 15).unwrap().is_none());
    }

    #[test]
    fn idle_sessions_end_and_used_ones_are_refreshed() {
        let db = Db::in_memory().unwrap();
        let user = add_user(&db, "ana", Role::Reviewer, "correct horse", None).unwrap();
        let (token, _) = create_session(&db, user.id, 480).unwrap();
        let set_last_seen = |secs_ago: i64| {
            db.execute(
                "UPDATE sessions SET last_seen = ?1",
                crate::db::args![now_secs() - secs_ago],
            )
            .unwrap();
        };
        let last_seen = || -> i64 {
            db.query_one("SELECT last_seen FROM sessions", Vec::new())
                .unwrap()
                .get(0)
                .unwrap()
        };
        // Used 14 minutes ago: still live, and this use is recorded.
        set_last_seen(14 * 60);
        assert!(find_session(&db, &token, 15).unwrap().is_some());
        assert!(now_secs() - last_seen() < 5);
        // Used 10 seconds ago: live, not written again.
        set_last_seen(10);
        let before = last_seen();
        assert!(find_session(&db, &token, 15).unwrap().is_some());
        assert_eq!(last_seen(), before);
        // Unused for 16 minutes: gone, even though its absolute lifetime is 8 hours.
        set_last_seen(16 * 60);
        assert!(
            find_session(&db, &token, 0).unwrap().is_some(),
            "0 = no idle timeout"
        );
        set_last_seen(16 * 60);
        assert!(find_session(&db, &token, 15).unwrap().is_none());
        assert!(find_session(&db, &token, 0).unwrap().is_none(), "deleted");
    }
}
