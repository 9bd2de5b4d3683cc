//! Journals: streams of create-only records named by the time they were written, so that a reader follows
//! what is new from a cursor instead of listing everything ever written.
//!
//! ```text
//! <area>/journal/<yyyy>/<mm>/<dd>/<HHMMSSmmm>-<id>.json
//! ```
//!
//! One folder per UTC day: a reader lists only the days since its cursor (on S3 from the cursor itself,
//! `list_with_offset`), so a poll costs what arrived since the last one, on day 365 as on day 1. Entries
//! are named by the writer's clock before the write lands, so a reader re-lists a short window behind its
//! cursor ([`Follower`]'s `lag`) and drops what it has seen: an entry that became visible late is still
//! read, once. Writers keep their own create-only marker for idempotency (an outbox event's id, an ADT
//! message's id) and name the entry from the record's own time, so a retried write lands on the same entry.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};

use crate::layout::is_safe_name;

/// The stream a journal entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// `outbox/journal/`: review state changes to announce to the EHR (the events of `outbox/events/`).
    Outbox,
    /// `mpi/journal/`: patient index changes received over ADT (the records of `mpi/changes/`).
    Mpi,
    /// `filed/journal/`: documents the pipeline finished (the entries of `index/`), for the review.
    Filed,
}

impl Stream {
    fn area(self) -> &'static str {
        match self {
            Stream::Outbox => "outbox",
            Stream::Mpi => "mpi",
            Stream::Filed => "filed",
        }
    }

    /// `<area>/journal`.
    pub(crate) fn root(self) -> String {
        format!("{}/journal", self.area())
    }

    /// `<area>/journal-migrated.json`: every record of the stream's kind has its entry.
    pub(crate) fn migrated_path(self) -> String {
        format!("{}/journal-migrated.json", self.area())
    }

    pub(crate) fn parse_migrated(path: &str) -> Option<Stream> {
        Stream::ALL
            .into_iter()
            .find(|stream| stream.migrated_path() == path)
    }

    const ALL: [Stream; 3] = [Stream::Outbox, Stream::Mpi, Stream::Filed];

    fn parse_root(path: &str) -> Option<(Stream, &str)> {
        Stream::ALL.into_iter().find_map(|stream| {
            let rest = path.strip_prefix(&stream.root())?.strip_prefix('/')?;
            Some((stream, rest))
        })
    }
}

/// A UTC time to the millisecond: where an entry sits in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stamp(DateTime<Utc>);

impl Stamp {
    pub fn now() -> Self {
        Stamp::from(Utc::now())
    }

    /// Reads an RFC 3339 time (`2026-12-07T14:21:28.123Z`, any offset); `None` when it is not one.
    pub fn parse(rfc3339: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(rfc3339.trim())
            .ok()
            .map(|time| Stamp::from(time.with_timezone(&Utc)))
    }

    /// The UTC day.
    pub fn day(self) -> NaiveDate {
        self.0.date_naive()
    }

    fn day_path(day: NaiveDate) -> String {
        format!("{:04}/{:02}/{:02}", day.year(), day.month(), day.day())
    }

    /// `HHMMSSmmm`.
    fn time_name(self) -> String {
        format!(
            "{:02}{:02}{:02}{:03}",
            self.0.hour(),
            self.0.minute(),
            self.0.second(),
            self.0.timestamp_subsec_millis()
        )
    }

    fn from_parts(day: &str, time: &str) -> Option<Self> {
        let mut parts = day.split('/');
        let (year, month, date) = (parts.next()?, parts.next()?, parts.next()?);
        let digits = |text: &str, len: usize| -> Option<u32> {
            (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse().ok())
                .flatten()
        };
        let day =
            NaiveDate::from_ymd_opt(digits(year, 4)? as i32, digits(month, 2)?, digits(date, 2)?)?;
        // Checked before slicing: a listed name may hold anything, multi-byte characters included.
        if parts.next().is_some() || time.len() != 9 || !time.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let time = day.and_hms_milli_opt(
            digits(&time[0..2], 2)?,
            digits(&time[2..4], 2)?,
            digits(&time[4..6], 2)?,
            digits(&time[6..9], 3)?,
        )?;
        Some(Stamp(Utc.from_utc_datetime(&time)))
    }

    /// `lag` earlier.
    pub fn before(self, lag: std::time::Duration) -> Self {
        Stamp(self.0 - Duration::from_std(lag).unwrap_or(Duration::MAX))
    }

    /// `lag` later.
    pub fn after(self, lag: std::time::Duration) -> Self {
        Stamp(self.0 + Duration::from_std(lag).unwrap_or(Duration::zero()))
    }
}

impl From<DateTime<Utc>> for Stamp {
    fn from(time: DateTime<Utc>) -> Self {
        // Millisecond precision, as the entry's name holds it.
        let millis = time.timestamp_millis();
        Stamp(Utc.timestamp_millis_opt(millis).single().unwrap_or(time))
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }
}

/// One journal entry: `<area>/journal/<yyyy>/<mm>/<dd>/<HHMMSSmmm>-<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entry {
    stream: Stream,
    stamp: Stamp,
    id: String,
}

impl Entry {
    /// The entry of the record `id` written at `stamp`; `None` when `id` is not a plain name (letters,
    /// digits, `.`, `_`, `-`; no `/`).
    pub fn new(stream: Stream, stamp: Stamp, id: &str) -> Option<Entry> {
        (is_safe_name(id) && !id.contains('/')).then(|| Entry {
            stream,
            stamp,
            id: id.to_string(),
        })
    }

    pub fn stream(&self) -> Stream {
        self.stream
    }

    pub fn stamp(&self) -> Stamp {
        self.stamp
    }

    /// The record's own id (an event id, an ADT change id).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn path(&self) -> String {
        format!(
            "{}/{}/{}-{}.json",
            self.stream.root(),
            Stamp::day_path(self.stamp.day()),
            self.stamp.time_name(),
            self.id
        )
    }

    pub(crate) fn parse(path: &str) -> Option<Entry> {
        let (stream, rest) = Stream::parse_root(path)?;
        let (day, file) = rest.rsplit_once('/')?;
        let (time, id) = file.strip_suffix(".json")?.split_once('-')?;
        Entry::new(stream, Stamp::from_parts(day, time)?, id)
    }

    /// The key a listing from `stamp` on starts after: everything of that day written at `stamp` or
    /// later sorts after it.
    pub(crate) fn offset(stream: Stream, stamp: Stamp) -> String {
        format!(
            "{}/{}/{}",
            stream.root(),
            Stamp::day_path(stamp.day()),
            stamp.time_name()
        )
    }

    /// `<area>/journal/<yyyy>/<mm>/<dd>`.
    pub(crate) fn day_folder(stream: Stream, day: NaiveDate) -> String {
        format!("{}/{}", stream.root(), Stamp::day_path(day))
    }
}

/// A kind of record kept twice: one create-only object per record under `records` (its identity: writing
/// the same record again is a no-op) and an entry in the journal `stream` (its order, for followers). A
/// store written before the journal existed is marked `migrated` once its records have their entries.
#[derive(Debug, Clone)]
pub struct Journaled {
    pub stream: Stream,
    pub records: crate::Prefix,
}

impl Journaled {
    /// Writes a record create-only at `key`, then its journal entry, named by `entry_of` from the record as
    /// kept: on `AlreadyExisted` (the same record written before) from the bytes already there, so that a
    /// write that stopped between the two objects is completed by its retry, on the same entry.
    pub async fn record(
        &self,
        store: &crate::Store,
        key: &crate::Key,
        bytes: bytes::Bytes,
        entry_of: impl Fn(&[u8]) -> Option<Entry>,
    ) -> crate::Result<crate::Written> {
        if !self.ready(store).await? {
            // Records from before the journal, not migrated: a new one journaled now would let followers
            // start while the old ones are missing.
            return Err(crate::Error::NotMigrated {
                records: self.records.to_string(),
            });
        }
        self.announce(store, key, bytes, entry_of).await
    }

    /// [`Journaled::record`] without the migration check: for a stream whose readers rebuild what came
    /// before the journal from the records themselves (the review reindexes `index/` when it has no cursor).
    pub async fn announce(
        &self,
        store: &crate::Store,
        key: &crate::Key,
        bytes: bytes::Bytes,
        entry_of: impl Fn(&[u8]) -> Option<Entry>,
    ) -> crate::Result<crate::Written> {
        let written = store.put_new(key, bytes.clone()).await?;
        let kept = match written {
            crate::Written::Created => bytes,
            crate::Written::AlreadyExisted => store.get(key).await?,
        };
        let entry = entry_of(&kept).ok_or_else(|| crate::Error::InvalidKey {
            key: key.to_string(),
        })?;
        if store.append(&entry, kept.clone()).await? == crate::Written::Created
            && written == crate::Written::AlreadyExisted
        {
            // A repair: the first write stopped before its entry, which is now late — older, maybe, than
            // any follower's window. Announced again at the present time; followers take an id once.
            if let Some(now) = Entry::new(self.stream, Stamp::now(), entry.id()) {
                store.append(&now, kept).await?;
            }
        }
        Ok(written)
    }

    /// Whether followers may trust the journal alone: the store is marked migrated, or has no records of
    /// this kind at all (then it is marked on the way). `false`: records from before the journal are there
    /// and `him migrate` must run.
    pub async fn ready(&self, store: &crate::Store) -> crate::Result<bool> {
        let migrated = crate::Key::Migrated(self.stream);
        if store.exists(&migrated).await? {
            return Ok(true);
        }
        if store.any(&self.records).await? {
            return Ok(false);
        }
        store
            .put_new(&migrated, bytes::Bytes::from_static(b"{}\n"))
            .await?;
        Ok(true)
    }

    /// Gives every record its journal entry (`entry_of` names it; `None`: unreadable, left out and
    /// logged), then marks the store migrated. Safe to run again; the number of entries written.
    pub async fn migrate(
        &self,
        store: &crate::Store,
        entry_of: impl Fn(&[u8]) -> Option<Entry>,
    ) -> crate::Result<usize> {
        let mut written = 0;
        for key in store.list(&self.records).await? {
            let bytes = store.get(&key).await?;
            let Some(entry) = entry_of(&bytes) else {
                tracing::warn!(key = %key, "unreadable record not journaled");
                continue;
            };
            if store.append(&entry, bytes).await? == crate::Written::Created {
                written += 1;
            }
        }
        store
            .put_new(
                &crate::Key::Migrated(self.stream),
                bytes::Bytes::from_static(b"{}\n"),
            )
            .await?;
        Ok(written)
    }
}

/// Follows a journal: each [`Follower::poll`] answers the entries not answered before, oldest first.
///
/// The first poll lists the whole stream (a reader's start-up); later ones list only the days from the
/// window behind the last poll to now, and from the window's start on. A poll costs what was written since
/// the previous one (plus the window), never the stream's history.
#[derive(Debug, Clone)]
pub struct Follower {
    stream: Stream,
    lag: std::time::Duration,
    /// Everything stamped before this was listed; `None` before the first poll.
    low_water: Option<Stamp>,
    /// Entries answered that are stamped at or after `low_water` (listed again by the next poll).
    seen: BTreeSet<Entry>,
}

impl Follower {
    /// A follower that has read nothing yet. `lag` is how long after its stamp an entry may still become
    /// visible (a slow write, writers' clocks apart); entries later than that are not read.
    pub fn new(stream: Stream, lag: std::time::Duration) -> Self {
        Follower {
            stream,
            lag,
            low_water: None,
            seen: BTreeSet::new(),
        }
    }

    /// A follower resuming at `position` (a [`Follower::position`] saved earlier): entries stamped before it
    /// are taken as read, those from it on are answered (some again, perhaps: readers make that a no-op).
    pub fn resume(stream: Stream, lag: std::time::Duration, position: Stamp) -> Self {
        Follower {
            low_water: Some(position),
            ..Follower::new(stream, lag)
        }
    }

    /// Where the follower stands: everything stamped before this has been answered.
    pub fn position(&self) -> Option<Stamp> {
        self.low_water
    }

    /// The entries written since the last poll, oldest first.
    pub async fn poll(&mut self, store: &crate::Store) -> crate::Result<Vec<Entry>> {
        let started = Stamp::now();
        let listed = match self.low_water {
            None => store.list_journal(self.stream, None).await?,
            Some(from) => {
                let mut listed = Vec::new();
                let mut day = from.day();
                let last = started.after(self.lag).day();
                while day <= last {
                    let after = (day == from.day()).then_some(from);
                    listed.extend(store.list_journal(self.stream, Some((day, after))).await?);
                    match day.succ_opt() {
                        Some(next) => day = next,
                        None => break,
                    }
                }
                listed
            }
        };
        let mut fresh: Vec<Entry> = listed
            .into_iter()
            .filter(|entry| !self.seen.iter().any(|seen| seen.id == entry.id))
            .collect();
        fresh.sort();
        // An id journaled twice (a repaired write, see [`Journaled::record`]) is answered once.
        let mut ids = std::collections::HashSet::new();
        fresh.retain(|entry| ids.insert(entry.id.clone()));
        let low_water = started.before(self.lag);
        let low_water = self.low_water.map_or(low_water, |old| old.max(low_water));
        self.seen.extend(fresh.iter().cloned());
        self.seen.retain(|entry| entry.stamp >= low_water);
        self.low_water = Some(low_water);
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_named_by_day_and_time_and_read_back() {
        let stamp = Stamp::parse("2026-12-07T14:21:28.123Z").unwrap();
        let entry = Entry::new(Stream::Outbox, stamp, "abc-0001").unwrap();
        assert_eq!(
            entry.path(),
            "outbox/journal/2026/12/07/142128123-abc-0001.json"
        );
        assert_eq!(Entry::parse(&entry.path()), Some(entry.clone()));
        assert_eq!(stamp.to_string(), "2026-12-07T14:21:28.123Z");
        for stream in Stream::ALL {
            let entry = Entry::new(stream, stamp, "x").unwrap();
            assert_eq!(Entry::parse(&entry.path()), Some(entry));
            let migrated = crate::Key::Migrated(stream);
            assert_eq!(crate::Key::parse(&migrated.path()), Some(migrated));
        }
        assert!(Entry::new(Stream::Mpi, stamp, "a/b").is_none());
        assert!(Entry::new(Stream::Mpi, stamp, "..").is_none());
        assert!(Entry::parse("outbox/journal/2026/13/07/142128123-x.json").is_none());
        assert!(Entry::parse("outbox/journal/2026/12/07/14212812-x.json").is_none());
        assert!(Entry::parse("outbox/events/x.json").is_none());
        assert!(Entry::parse("mpi/journal/2026/12/07/1é212812-x.json").is_none());
        assert!(Entry::parse("mpi/journal/2026/12/é/142128123-x.json").is_none());
    }

    #[test]
    fn names_sort_as_times_and_offsets_sit_before_their_entries() {
        let at = |text| Stamp::parse(text).unwrap();
        let early = Entry::new(Stream::Mpi, at("2026-12-07T09:59:59.999Z"), "zz").unwrap();
        let late = Entry::new(Stream::Mpi, at("2026-12-07T10:00:00.000Z"), "aa").unwrap();
        assert!(early.path() < late.path());
        assert!(early < late);
        let offset = Entry::offset(Stream::Mpi, at("2026-12-07T10:00:00.000Z"));
        assert!(offset < late.path() && offset > early.path());
        // Another offset reads as the same instant.
        assert_eq!(
            at("2026-12-07T11:00:00.000+01:00"),
            at("2026-12-07T10:00:00Z")
        );
    }
}
