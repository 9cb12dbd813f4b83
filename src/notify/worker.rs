//! The delivery worker: a thread the server starts, which fans waiting events out to the webhooks subscribed
//! to them and works off the due deliveries, one at a time, recording each attempt in the outbox.
//!
//! It reads the clock it is given and nothing else of the process: everything it knows is in the database,
//! so it can stop at any point (a restart, a crash) and pick up where it was. A delivery interrupted before
//! its attempt was recorded is sent again: delivery is at least once, and receivers de-duplicate on the
//! event id. It must never run on an async executor (every step blocks) and never keep a request waiting.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::send::Post;
use super::{EVENT_HEADER, EVENT_ID_HEADER, EventKind, SIGNATURE_HEADER};
use crate::clock::{Clock, UnixTime};
use crate::config::Webhook;
use crate::store::outbox::{Attempt, Delivery};
use crate::store::{OutboxRead, OutboxStore, Store, StoreError};

/// Events fanned out, and deliveries attempted, per round at most.
const BATCH: usize = 32;
/// How long the worker sleeps when there is nothing due.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long delivered and dead rows are kept, for an admin to look at, before they are purged.
pub const RETENTION_SECONDS: i64 = 7 * 24 * 3600;
/// How often finished rows are purged.
const PURGE_EVERY_SECONDS: i64 = 3600;

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub fanned_out: usize,
    pub delivered: usize,
    /// Failed attempts that will be retried.
    pub retrying: usize,
    /// Failed attempts that were the last allowed.
    pub dead: usize,
}

impl Round {
    fn attempted(&self) -> usize {
        self.delivered + self.retrying + self.dead
    }
}

/// Delivers the outbox of one store to the configured webhooks.
pub struct Worker {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    webhooks: Vec<Webhook>,
    sender: Box<dyn Post>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("webhooks", &self.webhooks)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub fn new(
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        webhooks: Vec<Webhook>,
        sender: Box<dyn Post>,
    ) -> Self {
        Self {
            store,
            clock,
            webhooks,
            sender,
        }
    }

    /// Fans out the waiting events, then attempts the due deliveries while `keep_going` says so.
    pub fn round(&self, keep_going: &dyn Fn() -> bool) -> Result<Round, StoreError> {
        let mut round = Round::default();
        let now = self.clock.now();
        let waiting = self.store.read(|r| r.waiting_events(BATCH))?;
        if !waiting.is_empty() {
            self.store.write(|tx| {
                for event in &waiting {
                    let urls = self.subscribers(&event.kind);
                    tx.fan_out(&event.id, &urls, now)?;
                }
                Ok::<_, StoreError>(())
            })?;
            round.fanned_out = waiting.len();
        }
        let due = self.store.read(|r| r.due_deliveries(now, BATCH))?;
        for delivery in due {
            if !keep_going() {
                break;
            }
            let attempt = self.attempt(&delivery);
            let finished = self.clock.now();
            self.store.write(|tx| {
                tx.record_attempt(&delivery.event.id, &delivery.webhook, &attempt, finished)
            })?;
            let number = delivery.attempts.saturating_add(1);
            let what = format!(
                "event {} ({}) to `{}`",
                delivery.event.id, delivery.event.kind, delivery.webhook
            );
            match &attempt {
                Attempt::Delivered => {
                    round.delivered += 1;
                    log::info!("webhook: delivered {what} at attempt {number}");
                }
                Attempt::Failed {
                    error,
                    retry_at: Some(at),
                } => {
                    round.retrying += 1;
                    log::warn!(
                        "webhook: attempt {number} at {what} failed ({error}); retrying in {}s",
                        at - finished
                    );
                }
                Attempt::Failed {
                    error,
                    retry_at: None,
                } => {
                    round.dead += 1;
                    log::error!(
                        "webhook: gave up on {what} after {number} attempt(s); last error: {error}"
                    );
                }
            }
        }
        Ok(round)
    }

    /// Deletes delivered and dead rows older than [`RETENTION_SECONDS`].
    pub fn purge(&self) -> Result<usize, StoreError> {
        let before = self.clock.now().saturating_sub(RETENTION_SECONDS);
        self.store.write(|tx| tx.purge_outbox(before))
    }

    /// The URLs of the webhooks subscribed to events of type `kind`.
    fn subscribers(&self, kind: &str) -> Vec<String> {
        let Some(kind) = EventKind::parse(kind) else {
            log::error!("webhook: the outbox holds an event of unknown type `{kind}`; skipped");
            return Vec::new();
        };
        self.webhooks
            .iter()
            .filter(|hook| hook.events.contains(&kind))
            .map(|hook| hook.url.clone())
            .collect()
    }

    /// One attempt at `delivery`.
    fn attempt(&self, delivery: &Delivery) -> Attempt {
        let attempts = delivery.attempts.saturating_add(1);
        let failed = |error: String, now: UnixTime| Attempt::Failed {
            error,
            retry_at: super::retry_at(attempts, now),
        };
        let dead = |error: String| Attempt::Failed {
            error,
            retry_at: None,
        };
        let Some(hook) = self.webhooks.iter().find(|h| h.url == delivery.webhook) else {
            return dead("the webhook is no longer configured".to_owned());
        };
        let body = match super::payload_body(&delivery.event) {
            Ok(body) => body,
            Err(e) => return dead(format!("the stored event is not valid JSON: {e}")),
        };
        let now = self.clock.now();
        let signature = match super::signature_header(hook.secret.secret().as_bytes(), now, &body) {
            Ok(signature) => signature,
            Err(e) => return failed(format!("cannot sign: {e}"), now),
        };
        let headers = [
            (SIGNATURE_HEADER, signature),
            (EVENT_HEADER, delivery.event.kind.clone()),
            (EVENT_ID_HEADER, delivery.event.id.clone()),
        ];
        match self.sender.post(&hook.url, &headers, &body) {
            Ok(()) => Attempt::Delivered,
            Err(error) => failed(error, self.clock.now()),
        }
    }

    /// Runs the worker on its own thread until [`Running::stop`].
    pub fn spawn(self) -> std::io::Result<Running> {
        let signal = Arc::new(Signal::default());
        let theirs = signal.clone();
        let handle = std::thread::Builder::new()
            .name("webhooks".to_owned())
            .spawn(move || self.run(&theirs))?;
        Ok(Running {
            signal,
            handle: Some(handle),
        })
    }

    fn run(&self, signal: &Signal) {
        let mut last_purge: Option<UnixTime> = None;
        while !signal.stopped() {
            let busy = match self.round(&|| !signal.stopped()) {
                Ok(round) => round.attempted() == BATCH || round.fanned_out == BATCH,
                Err(e) => {
                    log::error!("webhook: cannot read or write the outbox: {e}");
                    false
                }
            };
            let now = self.clock.now();
            if last_purge.is_none_or(|at| now - at >= PURGE_EVERY_SECONDS) {
                last_purge = Some(now);
                match self.purge() {
                    Ok(0) => {}
                    Ok(n) => log::info!("webhook: purged {n} finished outbox row(s)"),
                    Err(e) => log::warn!("webhook: purging the outbox failed: {e}"),
                }
            }
            if !busy {
                signal.wait(POLL_INTERVAL);
            }
        }
    }
}

/// The stop flag the worker thread sleeps on.
#[derive(Debug, Default)]
struct Signal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Signal {
    fn stopped(&self) -> bool {
        self.stopped.lock().map(|s| *s).unwrap_or(true)
    }

    fn stop(&self) {
        if let Ok(mut stopped) = self.stopped.lock() {
            *stopped = true;
        }
        self.wake.notify_all();
    }

    /// Sleeps up to `timeout`, or until stopped.
    fn wait(&self, timeout: Duration) {
        if let Ok(stopped) = self.stopped.lock() {
            let _ = self
                .wake
                .wait_timeout_while(stopped, timeout, |stopped| !*stopped);
        }
    }
}

/// A running worker. [`Running::stop`] ends it after the delivery in progress, if any.
#[derive(Debug)]
pub struct Running {
    signal: Arc<Signal>,
    handle: Option<JoinHandle<()>>,
}

impl Running {
    /// Asks the worker to stop and waits for it (at most one delivery's timeout).
    pub fn stop(mut self) {
        self.signal.stop();
        if let Some(handle) = self.handle.take()
            && handle.join().is_err()
        {
            log::error!("webhook: the delivery thread ended abnormally");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.signal.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use super::*;
    use crate::clock::ManualClock;
    use crate::notify::event::{PolicyChange, PolicyChanged};
    use crate::notify::{Event, MAX_ATTEMPTS, RETRY_CAP_SECONDS, enqueue};
    use crate::secret::WebhookSecret;
    use crate::store::outbox::DeliveryState;

    /// A request as the fake sender saw it: URL, headers, body.
    type Sent = (String, Vec<(String, String)>, Vec<u8>);

    /// Records what it was asked to send; fails while `down` is set.
    #[derive(Default)]
    struct FakeSender {
        sent: Mutex<Vec<Sent>>,
        down: Mutex<bool>,
    }

    impl Post for Arc<FakeSender> {
        fn post(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<(), String> {
            if *self.down.lock().expect("lock") {
                return Err("connection refused".into());
            }
            let headers = headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect();
            self.sent
                .lock()
                .expect("lock")
                .push((url.to_owned(), headers, body.to_vec()));
            Ok(())
        }
    }

    fn hook(url: &str, events: &[EventKind]) -> Webhook {
        Webhook {
            url: url.into(),
            secret: WebhookSecret::new("0123456789abcdef"),
            events: events.iter().copied().collect::<BTreeSet<_>>(),
        }
    }

    fn changed() -> Event {
        Event::PolicyChanged(PolicyChanged {
            change: PolicyChange::Stored,
            names: vec!["p".into()],
        })
    }

    struct Setup {
        _dir: tempfile::TempDir,
        store: Arc<Store>,
        clock: Arc<ManualClock>,
        sender: Arc<FakeSender>,
        worker: Worker,
    }

    fn setup(webhooks: Vec<Webhook>) -> Setup {
        let (dir, store) = crate::store::testing::temp_store();
        let store = Arc::new(store);
        let clock = Arc::new(ManualClock::new(1_000));
        let sender = Arc::new(FakeSender::default());
        let worker = Worker::new(
            store.clone(),
            clock.clone(),
            webhooks,
            Box::new(sender.clone()),
        );
        Setup {
            _dir: dir,
            store,
            clock,
            sender,
            worker,
        }
    }

    fn go() -> bool {
        true
    }

    #[test]
    fn delivers_each_event_signed_to_each_subscribed_webhook() {
        let s = setup(vec![
            hook("http://all/", &EventKind::ALL),
            hook("http://requests/", &[EventKind::RequestSubmitted]),
        ]);
        let id = s
            .store
            .write(|tx| enqueue(tx, 990, "alice", &changed()))
            .expect("enqueue");
        let round = s.worker.round(&go).expect("round");
        assert_eq!(round.fanned_out, 1);
        assert_eq!(round.delivered, 1);
        let sent = s.sender.sent.lock().expect("lock").clone();
        let [(url, headers, body)] = sent.as_slice() else {
            panic!("one delivery: {sent:?}")
        };
        assert_eq!(url, "http://all/");
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .expect("header")
        };
        assert_eq!(
            header(SIGNATURE_HEADER),
            crate::notify::signature_header(b"0123456789abcdef", 1_000, body).expect("sign")
        );
        assert_eq!(header(EVENT_HEADER), "policy.changed");
        assert_eq!(header(EVENT_ID_HEADER), id);
        let payload: serde_json::Value = serde_json::from_slice(body).expect("json");
        assert_eq!(payload["id"], id.as_str());
        assert_eq!(payload["time"], 990);
        assert_eq!(payload["owner"], "alice");
        // Nothing is sent twice.
        assert_eq!(s.worker.round(&go).expect("round"), Round::default());
        assert_eq!(s.sender.sent.lock().expect("lock").len(), 1);
    }

    #[test]
    fn a_failed_delivery_waits_for_its_retry_and_dies_after_the_last_attempt() {
        let s = setup(vec![hook("http://down/", &EventKind::ALL)]);
        *s.sender.down.lock().expect("lock") = true;
        let id = s
            .store
            .write(|tx| enqueue(tx, 1_000, "alice", &changed()))
            .expect("enqueue");
        let first = s.worker.round(&go).expect("round");
        assert_eq!(first.retrying, 1);
        // Not due again before its retry time.
        s.clock.advance(1);
        assert_eq!(s.worker.round(&go).expect("round").retrying, 0);
        s.clock.advance(1);
        assert_eq!(s.worker.round(&go).expect("round").retrying, 1);
        for _ in 2..MAX_ATTEMPTS {
            s.clock.advance(RETRY_CAP_SECONDS);
            s.worker.round(&go).expect("round");
        }
        let deliveries = s.store.read(|r| r.deliveries_of(&id)).expect("read");
        let [delivery] = deliveries.as_slice() else {
            panic!("{deliveries:?}")
        };
        assert_eq!(delivery.state, DeliveryState::Dead);
        assert_eq!(delivery.attempts, MAX_ATTEMPTS);
        assert_eq!(delivery.last_error.as_deref(), Some("connection refused"));
        s.clock.advance(RETRY_CAP_SECONDS);
        *s.sender.down.lock().expect("lock") = false;
        assert_eq!(s.worker.round(&go).expect("round"), Round::default());
        assert!(s.sender.sent.lock().expect("lock").is_empty());
    }

    #[test]
    fn a_receiver_back_up_gets_what_waited_and_a_new_worker_resumes() {
        let s = setup(vec![hook("http://flaky/", &EventKind::ALL)]);
        *s.sender.down.lock().expect("lock") = true;
        s.store
            .write(|tx| enqueue(tx, 1_000, "alice", &changed()))
            .expect("enqueue");
        assert_eq!(s.worker.round(&go).expect("round").retrying, 1);
        // A restart: a new worker on the same store.
        let sender = Arc::new(FakeSender::default());
        let restarted = Worker::new(
            s.store.clone(),
            s.clock.clone(),
            vec![hook("http://flaky/", &EventKind::ALL)],
            Box::new(sender.clone()),
        );
        s.clock.advance(2);
        assert_eq!(restarted.round(&go).expect("round").delivered, 1);
        assert_eq!(sender.sent.lock().expect("lock").len(), 1);
    }

    #[test]
    fn a_webhook_no_longer_configured_gets_its_deliveries_marked_dead() {
        let s = setup(vec![hook("http://old/", &EventKind::ALL)]);
        *s.sender.down.lock().expect("lock") = true;
        let id = s
            .store
            .write(|tx| enqueue(tx, 1_000, "alice", &changed()))
            .expect("enqueue");
        s.worker.round(&go).expect("round");
        let reconfigured = Worker::new(
            s.store.clone(),
            s.clock.clone(),
            vec![hook("http://new/", &EventKind::ALL)],
            Box::new(s.sender.clone()),
        );
        s.clock.advance(2);
        assert_eq!(reconfigured.round(&go).expect("round").dead, 1);
        let deliveries = s.store.read(|r| r.deliveries_of(&id)).expect("read");
        assert_eq!(
            deliveries.len(),
            1,
            "the event was fanned out once, when it was raised"
        );
        assert_eq!(deliveries[0].state, DeliveryState::Dead);
    }

    #[test]
    fn purging_keeps_finished_rows_for_the_retention_time() {
        let s = setup(vec![hook("http://ok/", &EventKind::ALL)]);
        let id = s
            .store
            .write(|tx| enqueue(tx, 1_000, "alice", &changed()))
            .expect("enqueue");
        s.worker.round(&go).expect("round");
        s.clock.advance(RETENTION_SECONDS - 1);
        assert_eq!(s.worker.purge().expect("purge"), 0);
        s.clock.advance(2);
        assert_eq!(
            s.worker.purge().expect("purge"),
            2,
            "the delivery and its event"
        );
        assert_eq!(s.store.read(|r| r.outbox_event(&id)).expect("read"), None);
    }

    #[test]
    fn the_thread_stops_when_asked() {
        let s = setup(Vec::new());
        let running = s.worker.spawn().expect("spawn");
        let started = std::time::Instant::now();
        running.stop();
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
