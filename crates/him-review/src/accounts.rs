//! Accounts: argon2id password hashes ([`crate::password`]), roles, clinicians' author names, disabling.
//! Sessions are in [`crate::sessions`] (re-exported here), login throttling in [`crate::throttle`].

use std::fmt;
use std::str::FromStr;

use rand::rngs::OsRng;
use rand::TryRngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::{args, now_rfc3339, Db, Row};
use crate::error::{Error, Result};
use crate::password::{hash_password, verify_password, Memory, DUMMY_HASH};
pub(crate) use crate::sessions::{create_session, delete_session, find_session, Session};

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
    /// A disabled account cannot log in and has no sessions.
    pub disabled: bool,
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

/// `minutes` as seconds, saturating instead of overflowing on absurd settings.
pub(crate) fn minutes_to_secs(minutes: u64) -> i64 {
    i64::try_from(minutes.saturating_mul(60)).unwrap_or(i64::MAX)
}

/// Whether `name` can be an account name (no account has any other).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// The columns [`read_user`] reads, in its order.
pub(crate) const USER_COLUMNS: &str =
    "users.id, users.name, users.role, users.author, users.disabled";

/// A user row as stored, before its role is parsed.
pub(crate) type UserRow = (i64, String, String, Option<String>, bool);

pub(crate) fn read_user(row: &Row) -> Result<UserRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

pub(crate) fn into_user((id, name, role, author, disabled): UserRow) -> Result<User> {
    Ok(User {
        id,
        name,
        role: role.parse()?,
        author,
        disabled,
    })
}

/// Creates an account with an argon2id-hashed password (at least 8 characters). A clinician needs the
/// author name their notes carry; other roles take none. Blocking (argon2, 19 MiB).
pub fn add_user(
    db: &Db,
    name: &str,
    role: Role,
    password: &str,
    author: Option<&str>,
) -> Result<User> {
    add_user_with(&mut Memory::default(), db, name, role, password, author)
}

/// [`add_user`], hashing in `memory`.
pub(crate) fn add_user_with(
    memory: &mut Memory,
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
    if author.is_some_and(|a| a.chars().count() > 200 || a.chars().any(char::is_control)) {
        return Err(Error::InvalidInput {
            detail: "an author name has at most 200 characters and no control characters"
                .to_string(),
        });
    }
    let hash = hash_password(password, memory)?;
    let inserted = db.query_opt(
        "INSERT INTO users (name, role, password_hash, created_at, author) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(name) DO NOTHING RETURNING id",
        args![name, role.as_str(), hash, now_rfc3339(), author],
    )?;
    let Some(inserted) = inserted else {
        return Err(Error::UserExists {
            name: name.to_string(),
        });
    };
    Ok(User {
        id: inserted.get(0)?,
        name: name.to_string(),
        role,
        author: author.map(str::to_string),
        disabled: false,
    })
}

/// Replaces a user's password and ends all their sessions. Blocking (argon2, 19 MiB).
pub fn set_password(db: &Db, name: &str, password: &str) -> Result<()> {
    set_password_with(&mut Memory::default(), db, name, password)
}

/// [`set_password`], hashing in `memory`.
pub(crate) fn set_password_with(
    memory: &mut Memory,
    db: &Db,
    name: &str,
    password: &str,
) -> Result<()> {
    let hash = hash_password(password, memory)?;
    let name = name.to_string();
    db.transaction(move |sql| {
        let updated = sql.execute(
            "UPDATE users SET password_hash = ?2 WHERE name = ?1",
            args![&name, hash],
        )?;
        if updated == 0 {
            return Err(Error::UserNotFound { name });
        }
        sql.execute(
            "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
            args![name],
        )?;
        Ok(())
    })
}

/// Disables (ending all their sessions) or re-enables an account. A disabled account's logins fail like
/// wrong passwords.
pub fn set_disabled(db: &Db, name: &str, disabled: bool) -> Result<()> {
    let name = name.to_string();
    db.transaction(move |sql| {
        let updated = sql.execute(
            "UPDATE users SET disabled = ?2 WHERE name = ?1",
            args![&name, disabled],
        )?;
        if updated == 0 {
            return Err(Error::UserNotFound { name });
        }
        if disabled {
            sql.execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
                args![name],
            )?;
        }
        Ok(())
    })
}

/// Every account, by name.
pub fn list_users(db: &Db) -> Result<Vec<User>> {
    db.query(
        &format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"),
        Vec::new(),
    )?
    .iter()
    .map(|row| into_user(read_user(row)?))
    .collect()
}

/// The account a name and password open, if any: `None` for an unknown name, a wrong password or a
/// disabled account alike. Runs argon2 even for unknown names so that timing does not reveal which names
/// exist. Blocking (argon2 in `memory`): call on a blocking thread holding a hashing permit.
pub(crate) fn verify_login(
    memory: &mut Memory,
    db: &Db,
    name: &str,
    password: &str,
) -> Result<Option<User>> {
    let stored = match db.query_opt(
        &format!("SELECT {USER_COLUMNS}, users.password_hash FROM users WHERE name = ?1"),
        args![name],
    )? {
        Some(row) => Some((read_user(&row)?, row.get::<String>(5)?)),
        None => None,
    };
    let hash = match &stored {
        Some((_, hash)) => hash.as_str(),
        None => DUMMY_HASH,
    };
    let verified = verify_password(password, hash, memory);
    match stored {
        Some((user, _)) if verified && !user.4 => Ok(Some(into_user(user)?)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_with_argon2id_and_verified() {
        let db = Db::in_memory().unwrap();
        add_user(&db, "ana", Role::Reviewer, "correct horse", None).unwrap();
        let stored: String = db
            .query_one("SELECT password_hash FROM users", Vec::new())
            .unwrap()
            .get(0)
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        let ana = verify_login(&mut Memory::default(), &db, "ana", "correct horse")
            .unwrap()
            .unwrap();
        assert_eq!((ana.name.as_str(), ana.role), ("ana", Role::Reviewer));
        assert_eq!(
            verify_login(&mut Memory::default(), &db, "ana", "wrong").unwrap(),
            None
        );
        assert_eq!(
            verify_login(&mut Memory::default(), &db, "nobody", "correct horse").unwrap(),
            None
        );
        set_password(&db, "ana", "battery staple").unwrap();
        assert!(
            verify_login(&mut Memory::default(), &db, "ana", "battery staple")
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            add_user(&db, "ana", Role::Admin, "another one", None),
            Err(Error::UserExists { .. })
        ));
        assert!(add_user(&db, "bob", Role::Admin, "short", None).is_err());
    }

    #[test]
    fn a_clinician_is_not_a_reviewer_and_needs_an_author() {
        assert!(!Role::Clinician.can_review() && !Role::Clinician.is_supervisor());
        assert!(Role::Reviewer.can_review() && !Role::Reviewer.is_supervisor());
        assert!(Role::Supervisor.is_supervisor() && !Role::Supervisor.is_admin());
        assert!(Role::Admin.can_review() && Role::Admin.is_supervisor() && Role::Admin.is_admin());
        for role in [
            Role::Clinician,
            Role::Reviewer,
            Role::Supervisor,
            Role::Admin,
        ] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        let db = Db::in_memory().unwrap();
        let no_author = add_user(&db, "cleo", Role::Clinician, "password-123", Some("  "));
        assert!(matches!(no_author, Err(Error::InvalidInput { .. })));
        let reviewer_with_author = add_user(
            &db,
            "ana",
            Role::Reviewer,
            "password-123",
            Some("Jane Smith"),
        );
        assert!(matches!(
            reviewer_with_author,
            Err(Error::InvalidInput { .. })
        ));
        let cleo = add_user(
            &db,
            "cleo",
            Role::Clinician,
            "password-123",
            Some(" Jane Smith "),
        )
        .unwrap();
        assert_eq!(cleo.author.as_deref(), Some("Jane Smith"));
        assert_eq!(list_users(&db).unwrap(), vec![cleo]);
    }

    #[test]
    fn disabled_users_cannot_log_in_and_lose_their_sessions() {
        let db = Db::in_memory().unwrap();
        let ana = add_user(&db, "ana", Role::Reviewer, "correct horse", None).unwrap();
        let (token, _) = create_session(&db, ana.id, 60).unwrap();
        set_disabled(&db, "ana", true).unwrap();
        assert!(find_session(&db, &token, 15).unwrap().is_none());
        let sessions: i64 = db
            .query_one("SELECT COUNT(*) FROM sessions", Vec::new())
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(sessions, 0);
        assert_eq!(
            verify_login(&mut Memory::default(), &db, "ana", "correct horse").unwrap(),
            None
        );
        assert!(list_users(&db).unwrap()[0].disabled);
        set_disabled(&db, "ana", false).unwrap();
        assert!(
            verify_login(&mut Memory::default(), &db, "ana", "correct horse")
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            set_disabled(&db, "nobody", true),
            Err(Error::UserNotFound { .. })
        ));
    }
}
