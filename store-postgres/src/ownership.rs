//! Owning a run in the shared store: a lease renewed by a heartbeat, and an epoch that fences
//! off every write of an owner that lost it.
//!
//! ```text
//! take       UPDATE ... SET epoch = epoch + 1, lease_until = now() + ttl
//!            WHERE the run has no owner or its lease expired          -> this owner's epoch
//! heartbeat  every ttl/4: lease_until = now() + ttl WHERE epoch = ours (and the run's keys)
//!            no success for 3/4 of the ttl: this owner stops (ownership `lost`) before the
//!            lease can expire under it, so two owners never act at once
//! append     INSERT one event row only WHERE epoch = ours AND the lease is current, under
//!            a share lock on the run's row, so a takeover waits for it or fences it off
//! ```

use runbook_engine::journal::{JournalSink, Operator, Ownership, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::{Shared, call, call_within, client, db, interval, runtime};

/// How long giving a run or key up may take: it expires with the lease anyway.
const RELEASE: Duration = Duration::from_secs(3);

pub(crate) fn take(
    shared: Arc<Shared>,
    id: &str,
    owner: &Operator,
) -> Result<Box<dyn Ownership>, StoreError> {
    let asked = Instant::now();
    let mut taken = claim(&shared, id, owner, None)?;
    // An owner of this host whose process is gone is dead for certain: no need to wait for
    // its lease (a crashed run resumed on the same host at once, as with the file store).
    if let Err(Some(holder)) = &taken
        && Operator::is_gone_here(&holder.host, holder.pid)
    {
        taken = claim(&shared, id, owner, Some(holder.epoch))?;
    }
    let epoch = match taken {
        Ok(epoch) => epoch,
        Err(Some(holder)) => {
            return Err(StoreError::Refused(format!(
                "run {id} is being worked on by {} (its lease runs until {} UTC, renewed while it lives); once it lapses, `runbook resume {id}` takes the run over",
                holder.owner, holder.until
            )));
        }
        Err(None) => return Err(StoreError::Refused(format!("no run {id} in the store"))),
    };
    let id_owned = id.to_string();
    let lost = CancellationToken::new();
    let stop = CancellationToken::new();
    runtime()?.spawn(heartbeat(
        shared.clone(),
        id_owned.clone(),
        epoch,
        asked,
        lost.clone(),
        stop.clone(),
    ));
    Ok(Box::new(PgOwnership {
        shared,
        id: id_owned,
        epoch,
        lost,
        stop,
    }))
}

/// Who owns a run, as the store says.
struct Holder {
    owner: String,
    host: String,
    pid: u32,
    epoch: i64,
    until: String,
}

/// Takes the run if nobody owns it or its lease lapsed (or, with `dead_epoch`, from a dead
/// owner still at that epoch): this owner's epoch, or who holds it (`None`: no such run).
fn claim(
    shared: &Arc<Shared>,
    id: &str,
    owner: &Operator,
    dead_epoch: Option<i64>,
) -> Result<Result<i64, Option<Holder>>, StoreError> {
    let ttl = interval(shared.settings.lease_ttl);
    let (shared, id, owner) = (shared.clone(), id.to_string(), owner.clone());
    call(async move {
        let client = client(&shared, Duration::from_secs(10)).await?;
        let row = client
            .query_opt(
                "UPDATE runbook_runs
                    SET owner = $2, owner_host = $3, owner_pid = $4, epoch = epoch + 1,
                        lease_until = now() + $5::text::interval
                  WHERE id = $1
                    AND (owner IS NULL OR lease_until IS NULL OR lease_until < now()
                         OR epoch = $6)
                  RETURNING epoch",
                &[
                    &id,
                    &owner.describe(),
                    &owner.host,
                    &i64::from(owner.pid),
                    &ttl,
                    &dead_epoch.unwrap_or(-1),
                ],
            )
            .await
            .map_err(db("taking the run"))?;
        if let Some(row) = row {
            return Ok(Ok(row.get::<_, i64>(0)));
        }
        let holder = client
            .query_opt(
                "SELECT coalesce(owner, ''), coalesce(owner_host, ''), coalesce(owner_pid, 0), epoch,
                        coalesce(to_char(lease_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '')
                   FROM runbook_runs WHERE id = $1",
                &[&id],
            )
            .await
            .map_err(db("reading the run's owner"))?;
        Ok(Err(holder.map(|r| Holder {
            owner: r.get(0),
            host: r.get(1),
            pid: r.get::<_, i64>(2) as u32,
            epoch: r.get(3),
            until: r.get(4),
        })))
    })
}

struct PgOwnership {
    shared: Arc<Shared>,
    id: String,
    epoch: i64,
    lost: CancellationToken,
    stop: CancellationToken,
}

impl Ownership for PgOwnership {
    fn journal(&self) -> Result<Box<dyn JournalSink>, StoreError> {
        let (shared, id) = (self.shared.clone(), self.id.clone());
        let last = call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            let row = client
                .query_one(
                    "SELECT COALESCE(MAX(seq), 0) FROM runbook_events WHERE run_id = $1",
                    &[&id],
                )
                .await
                .map_err(db("opening the journal"))?;
            Ok(row.get::<_, i64>(0))
        })?;
        Ok(Box::new(PgJournal {
            shared: self.shared.clone(),
            id: self.id.clone(),
            epoch: self.epoch,
            seq: last,
        }))
    }

    fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }
}

impl Drop for PgOwnership {
    /// Gives the run up at once (the next `resume` need not wait for the lease to lapse),
    /// unless it is already lost: then it is not ours to give.
    fn drop(&mut self) {
        self.stop.cancel();
        if self.lost.is_cancelled() {
            return;
        }
        let (shared, id, epoch) = (self.shared.clone(), self.id.clone(), self.epoch);
        let _ = call_within(RELEASE, async move {
            let client = client(&shared, Duration::from_secs(5)).await?;
            client
                .execute(
                    "UPDATE runbook_runs SET owner = NULL, lease_until = NULL WHERE id = $1 AND epoch = $2",
                    &[&id, &epoch],
                )
                .await
                .map_err(db("giving the run up"))?;
            Ok(())
        });
    }
}

/// Renews the lease (and the run's `lock:` keys) until stopped; cancels `lost` when it can
/// no longer be sure the run is ours.
async fn heartbeat(
    shared: Arc<Shared>,
    id: String,
    epoch: i64,
    asked: Instant,
    lost: CancellationToken,
    stop: CancellationToken,
) {
    let ttl = shared.settings.lease_ttl;
    let every = ttl / 4;
    // Measured from when each renewal was sent: the server's lease runs from a moment after.
    let mut renewed_from = asked;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let sent = Instant::now();
        match tokio::time::timeout(every, renew(&shared, &id, epoch, ttl)).await {
            Ok(Ok(true)) => renewed_from = sent,
            // Another owner has the run: fenced off for good.
            Ok(Ok(false)) => {
                lost.cancel();
                return;
            }
            // The store is unreachable or slow: try again, until the margin is gone.
            Ok(Err(_)) | Err(_) => {}
        }
        if renewed_from.elapsed() >= ttl * 3 / 4 {
            lost.cancel();
            return;
        }
    }
}

async fn renew(shared: &Shared, id: &str, epoch: i64, ttl: Duration) -> Result<bool, StoreError> {
    let client = client(shared, ttl / 4).await?;
    let ttl = interval(ttl);
    let renewed = client
        .execute(
            "UPDATE runbook_runs SET lease_until = now() + $3::text::interval WHERE id = $1 AND epoch = $2",
            &[&id, &epoch, &ttl],
        )
        .await
        .map_err(db("renewing the lease"))?;
    if renewed == 1 {
        client
            .execute(
                "UPDATE runbook_locks SET expires_at = now() + $2::text::interval WHERE run_id = $1",
                &[&id, &ttl],
            )
            .await
            .map_err(db("renewing the run's locks"))?;
    }
    Ok(renewed == 1)
}

/// The journal of one owner: each line one committed row, or refused.
struct PgJournal {
    shared: Arc<Shared>,
    id: String,
    epoch: i64,
    seq: i64,
}

impl JournalSink for PgJournal {
    /// Each line is its own committed transaction (the server's fsync), so it is as durable
    /// as it gets when this returns. Lines are not held back to share a commit: a line this
    /// process dies holding (a program's process group) would be lost with it.
    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn write(&mut self, line: &str) -> Result<(), StoreError> {
        let seq = self.seq + 1;
        let (shared, id, epoch, line) = (
            self.shared.clone(),
            self.id.clone(),
            self.epoch,
            line.to_string(),
        );
        // A write that cannot finish within half a lease is a lost store: a runner that
        // cannot journal must not act.
        let wait = shared.settings.lease_ttl / 2;
        let written = call_within(wait, async move {
            let client = client(&shared, wait).await?;
            // Prepared once per connection: a write is one round trip, not two.
            let insert = client
                .prepare_cached(
                    "INSERT INTO runbook_events (run_id, seq, epoch, line)
                     SELECT $1, $2, $3, $4 FROM runbook_runs
                      WHERE id = $1 AND epoch = $3 AND lease_until > now()
                      FOR SHARE",
                )
                .await
                .map_err(db("writing the journal"))?;
            client
                .execute(&insert, &[&id, &seq, &epoch, &line])
                .await
                .map_err(db("writing the journal"))
        });
        match written {
            Ok(1) => {
                self.seq = seq;
                Ok(())
            }
            Ok(_) => Err(StoreError::Fenced(format!(
                "the store refused this runner's write: run {} has another owner now, or this runner's lease lapsed",
                self.id
            ))),
            // Not knowing whether the write landed, the runner cannot go on as the owner.
            Err(e) => Err(StoreError::Fenced(format!(
                "the journal cannot be written to the store ({e}); this runner stops and leaves the run to be resumed"
            ))),
        }
    }
}

/// A `lock:` key held in the store, released when dropped (and expiring with the lease of
/// its run otherwise).
pub(crate) struct HeldKey {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: String,
    pub(crate) run: String,
}

impl Drop for HeldKey {
    fn drop(&mut self) {
        let (shared, key, run) = (self.shared.clone(), self.key.clone(), self.run.clone());
        let _ = call_within(RELEASE, async move {
            let client = client(&shared, Duration::from_secs(5)).await?;
            client
                .execute(
                    "DELETE FROM runbook_locks WHERE key = $1 AND run_id = $2",
                    &[&key, &run],
                )
                .await
                .map_err(db("releasing the lock"))?;
            Ok(())
        });
    }
}
