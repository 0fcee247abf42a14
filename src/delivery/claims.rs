//! Durable claims: a webhook's key claimed in the app's own Table storage before its rows leave,
//! so that a copy arriving at another instance, or after a restart, is recognised.
//!
//! Claim → deliver → settle: the claim is an entity inserted (atomic create-if-absent) with
//! `InFlight`, this instance as owner and a lease; once the destination took the rows it becomes
//! `Committed` (or `Spilled`) under `If-Match`, before the sender hears 2xx. Another instance that
//! finds the claim answers a duplicate, waits for a live lease, or takes over an expired or
//! released one (`If-Match` again: one taker wins). A lease is judged by the service's clock.
//!
//! Expiry: one table per UTC day (`webhookclaims20261129`); a key is looked up in today's and
//! yesterday's tables, so it is remembered for 24 to 48 hours, and the table of the day before
//! yesterday is dropped whole (Table storage has no time-to-live, and deleting entities one by
//! one would cost a transaction each).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{NaiveDate, TimeDelta, Utc};
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::storage_table::{Entity, TableClient, TableError};

/// The tables' name before the date, unless `CLAIMS_TABLE` says otherwise.
pub const DEFAULT_TABLE_PREFIX: &str = "webhookclaims";
/// How long a copy waits between looks at another instance's live claim.
const POLL: Duration = Duration::from_millis(250);

/// What `DURABLE_CLAIMS` asks for when the app has Storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimsMode {
    /// Claims on; when Storage cannot be reached, fall back to this instance's memory (at least
    /// once across instances until it is back) with a WARN line.
    Auto,
    /// Claims on; when Storage cannot be reached, answer 503 so the sender retries later.
    Required,
    /// No durable claims: exactly once on one instance only.
    Off,
}

/// How a claim came out.
pub enum Durable {
    /// Ours to deliver; rows at `delivered` positions were written by an earlier holder.
    Ours(Lease),
    /// Another holder committed or spilled every row.
    Duplicate,
    /// Another instance's claim is live (or its outcome unknown) at the deadline.
    Busy,
}

/// A claim this instance holds.
#[derive(Debug)]
pub struct Lease {
    table: String,
    partition: String,
    row: String,
    etag: String,
    attempt: i64,
    claim_id: String,
    pub delivered: Vec<u32>,
    /// Taken over from a holder that stopped mid-delivery (its lease ran out with the outcome
    /// unrecorded): rows it sent but never recorded may be written again.
    pub unrecorded: bool,
}

/// The claims of every webhook this instance handles.
#[derive(Debug)]
pub struct Claims {
    tables: TableClient,
    /// This process: a claim written by it with a lost answer is recognised as its own.
    owner: String,
    mode: ClaimsMode,
    /// The tables' name before the date.
    prefix: String,
    /// Tables this process created (or found), so each day costs one create.
    known: Mutex<HashSet<String>>,
}

/// A claim's state as stored.
#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    InFlight,
    Committed,
    Spilled,
    Released,
    Unknown,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::InFlight => "InFlight",
            State::Committed => "Committed",
            State::Spilled => "Spilled",
            State::Released => "Released",
            State::Unknown => "Unknown",
        }
    }

    fn of(entity: &Entity) -> Option<State> {
        let state = entity.properties.get("State")?.as_str()?;
        [
            State::InFlight,
            State::Committed,
            State::Spilled,
            State::Released,
            State::Unknown,
        ]
        .into_iter()
        .find(|s| s.as_str() == state)
    }
}

impl Claims {
    pub fn new(tables: TableClient, mode: ClaimsMode, prefix: &str) -> Self {
        Claims {
            tables,
            owner: random_id(),
            mode,
            prefix: prefix.to_owned(),
            known: Mutex::default(),
        }
    }

    pub fn mode(&self) -> ClaimsMode {
        self.mode
    }

    /// Claims `digest` (32 hex digits) for `lease`, waiting for another instance's live claim
    /// until `deadline`.
    pub async fn claim(
        &self,
        digest: &str,
        deadline: Instant,
        lease: Duration,
    ) -> Result<Durable, TableError> {
        let today = Utc::now().date_naive();
        let yesterday = today - TimeDelta::days(1);
        let (current, previous) = (self.table(today), self.table(yesterday));
        self.ensure_table(&current, today).await?;
        let key = (&digest[..2], digest);
        let claim_id = random_id();
        // The table a live claim was found in: while waiting for it, only it is read again.
        let mut waiting_on: Option<&str> = None;
        loop {
            if Instant::now() >= deadline {
                return Ok(Durable::Busy);
            }
            let found = match waiting_on {
                Some(table) => match self.tables.get(table, key).await? {
                    Some(entity) => Found::Claim(table, entity),
                    None => Found::Gone,
                },
                None => {
                    self.find_or_insert(&current, &previous, key, &claim_id, lease)
                        .await?
                }
            };
            let (table, entity) = match found {
                Found::Inserted(etag) => {
                    let lease = self.lease(&current, key, etag, 1, &claim_id, vec![]);
                    return Ok(Durable::Ours(lease));
                }
                Found::Claim(table, entity) => (table, entity),
                Found::Gone => {
                    waiting_on = None;
                    continue;
                }
            };
            match self.decide(table, key, entity, &claim_id, lease).await? {
                Some(outcome) => return Ok(outcome),
                None if Instant::now() + POLL < deadline => {
                    waiting_on = Some(table);
                    tokio::time::sleep(POLL).await;
                }
                None => return Ok(Durable::Busy),
            }
        }
    }

    /// Yesterday's claim if there is one, else a new claim in today's table, else (it exists,
    /// or the insert's answer was lost) today's claim as it stands. Yesterday's table takes no
    /// new claims, so it is read while today's insert is under way: one round trip, not two.
    async fn find_or_insert<'a>(
        &self,
        current: &'a str,
        previous: &'a str,
        key: (&str, &str),
        claim_id: &str,
        lease: Duration,
    ) -> Result<Found<'a>, TableError> {
        let fresh = self.fresh(claim_id, 1, lease, &[]);
        let (earlier, inserted) = tokio::join!(
            self.tables.get(previous, key),
            self.tables.insert(current, key, &fresh)
        );
        if let Some(entity) = earlier? {
            if let Ok(written) = inserted {
                // A copy of a webhook claimed yesterday: today's claim would be a stray.
                self.tables.delete(current, key, &written.etag).await?;
            }
            return Ok(Found::Claim(previous, entity));
        }
        let lost = match inserted {
            Ok(written) => return Ok(Found::Inserted(written.etag)),
            Err(TableError::Conflict) => None,
            // The insert may have landed with its answer lost: the read tells.
            Err(TableError::Unreachable(error)) => Some(error),
            Err(other) => return Err(other),
        };
        match (self.tables.get(current, key).await?, lost) {
            (Some(entity), _) => Ok(Found::Claim(current, entity)),
            (None, Some(error)) => Err(TableError::Unreachable(error)),
            (None, None) => Ok(Found::Gone),
        }
    }

    /// Acts on a claim found in `table`: ours, a duplicate, taken over, or (`None`) live.
    async fn decide(
        &self,
        table: &str,
        key: (&str, &str),
        entity: Entity,
        claim_id: &str,
        lease: Duration,
    ) -> Result<Option<Durable>, TableError> {
        let attempt = entity.properties.get("Attempt").and_then(Value::as_i64);
        let attempt = attempt.unwrap_or(1);
        let delivered = positions(&entity);
        let ours = entity.properties.get("ClaimId").and_then(Value::as_str) == Some(claim_id);
        let take = match State::of(&entity) {
            Some(State::Committed | State::Spilled) => return Ok(Some(Durable::Duplicate)),
            Some(State::Unknown) if !expired(&entity) => return Ok(None),
            Some(State::InFlight) if ours => {
                let lease = self.lease(table, key, entity.etag, attempt, claim_id, delivered);
                return Ok(Some(Durable::Ours(lease)));
            }
            Some(State::InFlight) => expired(&entity),
            // Released, unreadable, or an unknown outcome whose lease has long run out.
            _ => true,
        };
        if !take {
            return Ok(None);
        }
        let next = attempt + 1;
        let properties = self.fresh(claim_id, next, lease, &delivered);
        match self
            .tables
            .replace(table, key, &properties, &entity.etag)
            .await
        {
            Ok(written) => {
                let mut lease = self.lease(table, key, written.etag, next, claim_id, delivered);
                lease.unrecorded =
                    matches!(State::of(&entity), Some(State::InFlight | State::Unknown));
                Ok(Some(Durable::Ours(lease)))
            }
            // Someone else took it: look again.
            Err(TableError::Changed) => Ok(None),
            Err(other) => Err(other),
        }
    }

    fn lease(
        &self,
        table: &str,
        key: (&str, &str),
        etag: String,
        attempt: i64,
        claim_id: &str,
        delivered: Vec<u32>,
    ) -> Lease {
        Lease {
            table: table.to_owned(),
            partition: key.0.to_owned(),
            row: key.1.to_owned(),
            etag,
            attempt,
            claim_id: claim_id.to_owned(),
            delivered,
            unrecorded: false,
        }
    }

    /// Records how a held claim ended: committed or spilled (every row written), released with
    /// the rows written so far, or unknown. A claim someone took over meanwhile is left to them.
    pub async fn finish(&self, lease: Lease, end: End) -> Result<(), TableError> {
        let (state, delivered) = match &end {
            End::Committed => (State::Committed, &[][..]),
            End::Spilled => (State::Spilled, &[][..]),
            End::Released(rows) => (State::Released, &rows[..]),
            End::Unknown => (State::Unknown, &[][..]),
        };
        // An unknown outcome keeps copies away for a day; a final state needs no lease.
        let hold = match end {
            End::Unknown => Duration::from_secs(24 * 3600),
            _ => Duration::ZERO,
        };
        let mut properties = self.fresh(&lease.claim_id, lease.attempt, hold, delivered);
        properties.insert("State".into(), state.as_str().into());
        let key = (lease.partition.as_str(), lease.row.as_str());
        match self
            .tables
            .replace(&lease.table, key, &properties, &lease.etag)
            .await
        {
            Err(TableError::Changed) => {
                tracing::warn!(
                    state = state.as_str(),
                    "A claim was taken over before its outcome was recorded: its lease ran out, so its rows may be written twice."
                );
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// The table of claims made on `day`.
    fn table(&self, day: NaiveDate) -> String {
        format!("{}{}", self.prefix, day.format("%Y%m%d"))
    }

    fn fresh(
        &self,
        claim_id: &str,
        attempt: i64,
        lease: Duration,
        delivered: &[u32],
    ) -> Map<String, Value> {
        let delivered: Vec<String> = delivered.iter().map(u32::to_string).collect();
        let value = json!({
            "State": State::InFlight.as_str(),
            "Owner": self.owner,
            "ClaimId": claim_id,
            "Attempt": attempt,
            "LeaseSeconds": lease.as_secs(),
            "Delivered": delivered.join(","),
        });
        match value {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object"),
        }
    }

    /// Creates today's table once per process, and drops the one from two days ago.
    async fn ensure_table(&self, table: &str, today: NaiveDate) -> Result<(), TableError> {
        if self.known.lock().expect("not poisoned").contains(table) {
            return Ok(());
        }
        self.tables.create_table(table).await?;
        self.known
            .lock()
            .expect("not poisoned")
            .insert(table.to_owned());
        let stale = self.table(today - TimeDelta::days(2));
        if let Err(error) = self.tables.delete_table(&stale).await {
            tracing::warn!(table = stale, error = %error, "Could not drop an expired claims table.");
        }
        Ok(())
    }
}

/// What a look for a key's claim found.
enum Found<'a> {
    /// A claim in this table.
    Claim(&'a str, Entity),
    /// None: today's insert made one, with this ETag.
    Inserted(String),
    /// None, though one existed a moment ago: look again.
    Gone,
}

/// How a held claim ended.
#[derive(Debug)]
pub enum End {
    Committed,
    Spilled,
    Released(Vec<u32>),
    Unknown,
}

/// True when the claim's lease ran out by the service's clock: its last write (`Timestamp`)
/// plus `LeaseSeconds`, and a second for the `Date` header's resolution, is before `Date`.
fn expired(entity: &Entity) -> bool {
    let lease = entity
        .properties
        .get("LeaseSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .clamp(0, 24 * 3600);
    match (entity.timestamp, entity.date) {
        (Some(written), Some(now)) => written + TimeDelta::seconds(lease + 1) < now,
        // Without the service's clock the lease cannot be judged: treat it as live.
        _ => false,
    }
}

/// The rows (by position) earlier holders recorded as written.
fn positions(entity: &Entity) -> Vec<u32> {
    entity
        .properties
        .get("Delivered")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split(',')
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// 128 random bits in hex, from the standard library's randomly keyed hasher.
fn random_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let now = std::time::SystemTime::now();
    let (a, b) = (RandomState::new(), RandomState::new());
    format!("{:016x}{:016x}", a.hash_one(now), b.hash_one(now))
}

/// A claim's lease: the longest its holder may still write after claiming it, until `deadline`
/// plus what may run past it (a spill, an attempt with its connect).
pub fn lease_for(
    deadline: Instant,
    spill: Duration,
    attempt: Duration,
    connect: Duration,
) -> Duration {
    deadline.saturating_duration_since(Instant::now()) + spill + attempt + connect
}
