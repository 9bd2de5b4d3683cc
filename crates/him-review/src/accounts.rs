//! Accounts (argon2id password hashes, roles), sessions and login throttling.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::rngs::OsRng;
use rand::TryRngCore;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::ReviewConfig;
use crate::db::{now_rfc3339, now_secs, Db};
use crate::error::{Error, Result};

/// What a user may do. Reviewer, supervisor and admin each include the rights of the one before; a clinician
/// only reads and signs the notes they authored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Signs transcribed notes they authored (linked to an author name); not an HIM reviewer.
    Clinician,
    /// Works the queue: views, edits, assigns, approves, returns.
    Reviewer,
    /// A reviewer who may also search the audit log.
    Supervisor,
    /// A supervisor who may also manage accounts.
    Admin,
}

impl Role {
    /// The lowercase name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clinician => "clinician",
            Role::Reviewer => "reviewer",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

impl Role {
    /// Works the HIM queue: reviewer, supervisor, admin.
    pub fn can_review(self) -> bool {
        matches!(self, Role::Reviewer | Role::Supervisor | Role::Admin)
    }

    /// Supervisor or admin.
    pub fn is_supervisor(self) -> bool {
        matches!(self, Role::Supervisor | Role::Admin)
    }

    /// Admin.
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "clinician" => Ok(Role::Clinician),
            "reviewer" => Ok(Role::Reviewer),
            "supervisor" => Ok(Role::Supervisor),
            "admin" => Ok(Role::Admin),
            other => Err(Error::InvalidInput {
                detail: format!(
                    "unknown role {other:?} (use clinician, reviewer, supervisor or admin)"
                ),
            }),
        }
    }
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// For clinicians: the author name their notes carry.
    pub author: Option<String>,
}

/// A logged-in user and the CSRF token of their session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub user: User,
    pub csrf: String,
}

/// The result of a login attempt.
#[derive(Debug)]
pub(crate) enum LoginOutcome {
    Success(User),
    Invalid,
    Throttled,
}

/// `n` random bytes from the operating system, in hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system random number generator failed");
    hex(&bytes)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < 8 {
        return Err(Error::InvalidInput {
            detail: "password must have at least 8 characters".to_string(),
        });
    }
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|_| Error::PasswordHash)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| Error::PasswordHash)?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|_| Error::PasswordHash)?;
    Ok(hash.to_string())
}

fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Creates an account with an argon2id-hashed password (at least 8 characters).
pub fn add_user(
    db: &Db,
    name: &str,
    role: Role,
    password: &str,
    author: Option<&str>,
) -> Result<User> {
    if !valid_name(name) {
        return Err(Error::InvalidInput {
            detail: "user names are 1 to 64 letters, digits, '.', '_', '-' or '@'".to_string(),
        });
    }
    let author = author.map(str::trim).filter(|a| !a.is_empty());
    if (role == Role::Clinician) != author.is_some() {
        return Err(Error::InvalidInput {
            detail: "a clinician needs the author name their notes carry; other roles none"
                .to_string(),
        });
    }
    let hash = hash_password(password)?;
    let connection = db.lock();
    let inserted = connection.execute(
        "INSERT INTO users (name, role, password_hash, created_at, author) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(name) DO NOTHING",
        params![name, role.as_str(), hash, now_rfc3339(), author],
    )?;
    if inserted == 0 {
        return Err(Error::UserExists {
            name: name.to_string(),
        });
    }
    Ok(User {
        id: connection.last_insert_rowid(),
        name: name.to_string(),
        role,
        author: author.map(str::to_string),
    })
}

/// Replaces a user's password and ends all their sessions.
pub fn set_password(db: &Db, name: &str, password: &str) -> Result<()> {
    let hash = hash_password(password)?;
    let connection = db.lock();
    let updated = connection.execute(
        "UPDATE users SET password_hash = ?2 WHERE name = ?1",
        params![name, hash],
    )?;
    if updated == 0 {
        return Err(Error::UserNotFound {
            name: name.to_string(),
        });
    }
    connection.execute(
        "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
        params![name],
    )?;
    Ok(())
}

/// Every account, by name.
pub fn list_users(db: &Db) -> Result<Vec<User>> {
    let connection = db.lock();
    let mut statement =
        connection.prepare("SELECT id, name, role, author FROM users ORDER BY name")?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, Option<String>>(3)?,
        ))
    })?;
    let mut users = Vec::new();
    for row in rows {
        let (id, name, role, author) = row?;
        users.push(User {
            id,
            name,
            role: role.parse()?,
            author,
        });
    }
    Ok(users)
}

/// Checks a login, counting failures per user name and address; runs argon2 even for unknown names so that
/// timing does not reveal which names exist. Blocking (argon2): call from a blocking thread.
pub(crate) fn check_login(
    db: &Db,
    config: &ReviewConfig,
    name: &str,
    password: &str,
    ip: &str,
) -> Result<LoginOutcome> {
    let window_start = now_secs() - (config.login_window_minutes as i64) * 60;
    let stored = {
        let connection = db.lock();
        let failures: u32 = connection.query_row(
            "SELECT COUNT(*) FROM login_failures WHERE name = ?1 AND ip = ?2 AND at >= ?3",
            params![name, ip, window_start],
            |row| row.get(0),
        )?;
        if failures >= config.login_max_failures {
            return Ok(LoginOutcome::Throttled);
        }
        connection
            .query_row(
                "SELECT id, role, password_hash, author FROM users WHERE name = ?1",
                params![name],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()?
    };
    static DUMMY: OnceLock<String> = OnceLock::new();
    let (user, hash) = match stored {
        Some((id, role, hash, author)) => (Some((id, role, author)), hash),
        None => (
            None,
            DUMMY
                .get_or_init(|| hash_password("not a real password").unwrap_or_default())
                .clone(),
        ),
    };
    let verified = verify_password(password, &hash);
    let connection = db.lock();
    match user {
        Some((id, role, author)) if verified => {
            connection.execute(
                "DELETE FROM login_failures WHERE name = ?1 AND ip = ?2",
                params![name, ip],
            )?;
            Ok(LoginOutcome::Success(User {
                id,
                name: name.to_string(),
                role: role.parse()?,
                author,
            }))
        }
        _ => {
            connection.execute(
                "INSERT INTO login_failures (name, ip, at) VALUES (?1, ?2, ?3)",
                params![name, ip, now_secs()],
            )?;
            Ok(LoginOutcome::Invalid)
        }
    }
}

/// Starts a session; returns the cookie token (only its hash is stored) and the session's CSRF token.
pub(crate) fn create_session(db: &Db, user_id: i64, ttl_minutes: u64) -> Result<(String, String)> {
    let token = random_hex(32);
    let csrf = random_hex(32);
    let expires_at = now_secs() + (ttl_minutes as i64) * 60;
    let connection = db.lock();
    connection.execute(
        "DELETE FROM sessions WHERE expires_at < ?1",
        params![now_secs()],
    )?;
    connection.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![sha256_hex(token.as_bytes()), user_id, csrf, expires_at],
    )?;
    Ok((token, csrf))
}

/// The live session a cookie token names.
pub(crate) fn find_session(db: &Db, token: &str) -> Result<Option<Session>> {
    let connection = db.lock();
    let row = connection
        .query_row(
            "SELECT users.id, users.name, users.role, sessions.csrf, users.author FROM sessions
             JOIN users ON users.id = sessions.user_id
             WHERE sessions.token_hash = ?1 AND sessions.expires_at >= ?2",
            params![sha256_hex(token.as_bytes()), now_secs()],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((id, name, role, csrf, author)) = row else {
        return Ok(None);
    };
    Ok(Some(Session {
        user: User {
            id,
            name,
            role: role.parse()?,
            author,
        },
        csrf,
    }))
}

/// Ends a session.
pub(crate) fn delete_session(db: &Db, token: &str) -> Result<()> {
    db.lock().execute(
        "DELETE FROM sessions WHERE token_hash = ?1",
        params![sha256_hex(token.as_bytes())],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_with_argon2id_and_verified() {
        let db = Db::in_memory().unwrap();
        add_user(&db, "ana", Role::Reviewer, "correct horse", None).unwrap();
        let stored: String = db
            .lock()
            .query_row("SELECT password_hash FROM users", [], |row| row.get(0))
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        let config = ReviewConfig::default();
        assert!(matches!(
            check_login(&db, &config, "ana", "correct horse", "ip").unwrap(),
            LoginOutcome::Success(_)
        ));
        assert!(matches!(
            check_login(&db, &config, "ana", "wrong", "ip").unwrap(),
            LoginOutcome::Invalid
        ));
        set_password(&db, "ana", "battery staple").unwrap();
        assert!(matches!(
            check_login(&db, &config, "ana", "battery staple", "ip").unwrap(),
            LoginOutcome::Success(_)
        ));
        assert!(matches!(
            add_user(&db, "ana", Role::Admin, "another one", None),
            Err(Error::UserExists { .. })
        ));
        assert!(add_user(&db, "bob", Role::Admin, "short", None).is_err());
    }

    #[test]
    fn sessions_are_stored_hashed() {
        let db = Db::in_memory().unwrap();
        let user = add_user(&db, "ana", Role::Reviewer, "correct horse", None).unwrap();
        let (token, csrf) = create_session(&db, user.id, 10).unwrap();
        let stored: String = db
            .lock()
            .query_row("SELECT token_hash FROM sessions", [], |row| row.get(0))
            .unwrap();
        assert_ne!(stored, token);
        let session = find_session(&db, &token).unwrap().unwrap();
        assert_eq!(session.csrf, csrf);
        assert_eq!(session.user.name, "ana");
        delete_session(&db, &token).unwrap();
        assert!(find_session(&db, &token).unwrap().is_none());
    }
}
