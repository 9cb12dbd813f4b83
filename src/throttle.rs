//! Throttling of failed authentications: passwords at the login form and client secrets at `/token`,
//! `/introspect` and `/revoke`. Plain Rust with time passed in; the HTTP layer supplies the peer address and
//! turns [`Blocked`] into a 429 with `Retry-After`.
//!
//! Attempts are counted per pair: (what is being authenticated, the username or client id as sent, the
//! caller's network). Once a pair has used up its failures within its window, every further attempt for that
//! pair is refused without looking at the password or secret until the window, which opens at the pair's first
//! failure, has passed. Other pairs are never affected: another username from the same address, or the same
//! username from another address.
//!
//! Decisions, and why:
//! - **An attempt in flight counts against the limit** ([`Throttle::attempt`]) until it ends: a pair may have at
//!   most `max_failures` failures and attempts in flight together, so parallel requests cannot all pass a check
//!   that has not yet seen each other's failures: at most `max_failures` guesses per window, however many arrive
//!   at once. An attempt dropped without [`Attempt::succeeded`] or [`Attempt::not_checked`] (a wrong secret, or
//!   a store error) becomes a failure. A pair that is full only of attempts in flight is refused for a second,
//!   not for the window.
//! - **A success forgets the pair's failures and proves it** for a window: whoever succeeds knows the secret, so
//!   counting their typos on helps no one, and a proven client may have up to [`MAX_PROVEN_IN_FLIGHT`] attempts
//!   in flight at once (a resource server introspecting on many connections is not a guesser; logins get no
//!   such allowance). The first failure
//!   ends the proof, so a guesser sharing a proven client's network gets at most that many guesses at once, once.
//!   A success forgets nothing of any other pair.
//! - **Addresses are networks**: an IPv6 caller is keyed by its /64 (one host usually owns a whole /64), an
//!   IPv4-mapped IPv6 address by its IPv4 address, and a caller with no known address shares one bucket.
//! - **Memory is bounded**: at most [`MAX_TRACKED_PAIRS`] pairs are tracked. When a shard is full, expired
//!   entries go first, then the entry with the fewest failures (the oldest among equals), so an attacker cycling
//!   usernames or addresses evicts their own fresh entries, not a pair that is blocked.
//! - **Cheap on the hot path**: no allocation per attempt (a pair is stored as a 64-bit keyed hash of its
//!   parts, so looking one up builds no owned key; the maps keep their capacity), and the state is split over
//!   [`SHARDS`] independently locked shards, each lock held for one hash-map operation, so well-behaved clients
//!   succeeding in parallel almost never wait on each other. The hash keys are random per process, so nobody can
//!   choose names that collide.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::clock::UnixTime;

/// How many pairs are tracked at most, over all shards.
pub const MAX_TRACKED_PAIRS: usize = 65_536;

/// How many independently locked parts the table is split into.
pub const SHARDS: usize = 16;

/// How many attempts a proven pair (one whose secret succeeded this window, with no failure since) may have in
/// flight at once.
pub const MAX_PROVEN_IN_FLIGHT: u32 = 256;

/// What is being authenticated; each has its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A username and password at the login form.
    Login,
    /// A client id and secret at the token, introspection or revocation endpoint.
    ClientAuth,
}

/// How many failures a pair may have within a window of `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_failures: u32,
    pub window: i64,
}

/// The limits of each [`Kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub login: Limit,
    pub client_auth: Limit,
}

impl Limits {
    fn of(&self, kind: Kind) -> Limit {
        match kind {
            Kind::Login => self.login,
            Kind::ClientAuth => self.client_auth,
        }
    }
}

/// A pair has used up its failures: no attempt is accepted before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    pub until: UnixTime,
}

impl Blocked {
    /// Whole seconds to wait from `now` (at least 1), for `Retry-After`.
    pub fn retry_after(&self, now: UnixTime) -> i64 {
        (self.until - now).max(1)
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    kind: Kind,
    /// Attempts that ended wrong within the window.
    failures: u32,
    /// Attempts started and not yet ended.
    in_flight: u32,
    /// When the window opened by the first attempt closes.
    window_end: UnixTime,
    /// Until when a success proves the pair (see the module documentation); 0 when never.
    proven_until: UnixTime,
}

impl Entry {
    fn new(kind: Kind, window_end: UnixTime) -> Self {
        Self {
            kind,
            failures: 0,
            in_flight: 0,
            window_end,
            proven_until: 0,
        }
    }

    /// Something worth remembering at `now`: an attempt in flight, a failure of this window, or a proof.
    fn matters(&self, now: UnixTime) -> bool {
        self.in_flight > 0
            || (self.failures > 0 && now < self.window_end)
            || now < self.proven_until
    }
}

type Shard = HashMap<u64, Entry>;

/// Failed-attempt counters for every pair. Thread-safe; share it behind an `Arc`.
#[derive(Debug)]
pub struct Throttle {
    limits: Limits,
    shards: [Mutex<Shard>; SHARDS],
    per_shard: usize,
    keys: RandomState,
}

/// An attempt in progress. It ends with [`succeeded`](Self::succeeded), [`not_checked`](Self::not_checked), or
/// by being dropped, which counts it as a failure.
#[derive(Debug)]
#[must_use = "call `succeeded` when the credentials check out, or drop it to count a failure"]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    key: u64,
    started: UnixTime,
    /// The window of the pair's kind: how long a success proves it.
    window: i64,
    /// Already ended by `succeeded` or `not_checked`.
    ended: bool,
}

impl Attempt<'_> {
    /// The credentials were right: the pair's failures are forgotten and the pair is proven for a window.
    pub fn succeeded(mut self) {
        self.ended = true;
        let mut shard = self.throttle.shard(self.key);
        if let Some(entry) = shard.get_mut(&self.key) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
            entry.failures = 0;
            entry.proven_until = self.started.saturating_add(self.window);
        }
    }

    /// The credentials were never checked (the server was too busy): the attempt does not count.
    pub fn not_checked(mut self) {
        self.ended = true;
        let mut shard = self.throttle.shard(self.key);
        if let Some(entry) = shard.get_mut(&self.key) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
        }
    }
}

impl Drop for Attempt<'_> {
    /// An attempt that ended in neither success nor `not_checked` is a failure, and ends the pair's proof.
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let mut shard = self.throttle.shard(self.key);
        if let Some(entry) = shard.get_mut(&self.key) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
            entry.failures = entry.failures.saturating_add(1);
            entry.proven_until = 0;
        }
    }
}

/// The network an address belongs to for throttling (see the module documentation).
fn network(addr: Option<IpAddr>) -> IpAddr {
    match addr.map(|a| a.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        Some(v4) => v4,
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Self::with_capacity(limits, MAX_TRACKED_PAIRS)
    }

    /// A throttle tracking at most `capacity` pairs (rounded up to a multiple of [`SHARDS`]).
    pub fn with_capacity(limits: Limits, capacity: usize) -> Self {
        Self {
            limits,
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            keys: RandomState::new(),
        }
    }

    fn key(&self, kind: Kind, name: &str, addr: Option<IpAddr>) -> u64 {
        let mut hasher = self.keys.build_hasher();
        kind.hash(&mut hasher);
        name.hash(&mut hasher);
        network(addr).hash(&mut hasher);
        hasher.finish()
    }

    fn shard(&self, key: u64) -> MutexGuard<'_, Shard> {
        let index = usize::try_from(key % SHARDS as u64).unwrap_or(0);
        // The index is always in range; the first shard stands in only to avoid a panic path.
        let mutex = match self.shards.get(index) {
            Some(mutex) => mutex,
            None => &self.shards[0],
        };
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts an attempt for `name` from `addr` at `now`: refused when the pair has used up its failures, or
    /// has as many attempts in flight as it may; counted in flight otherwise (see [`Attempt`]).
    pub fn attempt(
        &self,
        kind: Kind,
        name: &str,
        addr: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<Attempt<'_>, Blocked> {
        let limit = self.limits.of(kind);
        let key = self.key(kind, name, addr);
        let mut shard = self.shard(key);
        if !shard.contains_key(&key) && shard.len() >= self.per_shard {
            self.make_room(&mut shard, now);
        }
        let entry = shard
            .entry(key)
            .or_insert_with(|| Entry::new(kind, now + limit.window));
        if now >= entry.window_end {
            // A new window: earlier failures no longer count (attempts still in flight do).
            entry.failures = 0;
            entry.window_end = now + limit.window;
        }
        if entry.failures >= limit.max_failures {
            return Err(Blocked {
                until: entry.window_end,
            });
        }
        // Only clients are proven: a person does not sign in many times at once, and a password is easier to
        // guess than a client secret.
        let proven = kind == Kind::ClientAuth && entry.failures == 0 && now < entry.proven_until;
        let room = if proven {
            MAX_PROVEN_IN_FLIGHT
        } else {
            limit.max_failures - entry.failures
        };
        if entry.in_flight >= room {
            // Full of attempts that have not ended yet: one of them ends soon.
            return Err(Blocked { until: now + 1 });
        }
        entry.in_flight += 1;
        Ok(Attempt {
            throttle: self,
            key,
            started: now,
            window: limit.window,
            ended: false,
        })
    }

    /// Frees at least one slot in a full shard: expired entries first, else the least worth keeping.
    fn make_room(&self, shard: &mut Shard, now: UnixTime) {
        shard.retain(|_, entry| entry.matters(now));
        if shard.len() < self.per_shard {
            return;
        }
        let victim = shard
            .iter()
            .min_by_key(|(_, entry)| {
                let blocked = entry.failures >= self.limits.of(entry.kind).max_failures;
                (blocked, entry.failures, entry.in_flight, entry.window_end)
            })
            .map(|(key, _)| *key);
        if let Some(key) = victim {
            shard.remove(&key);
        }
    }

    /// How many pairs are tracked now (for tests and diagnostics).
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use std::net::Ipv4Addr;

    const WINDOW: i64 = 900;

    fn limits(max_failures: u32) -> Limits {
        let limit = Limit {
            max_failures,
            window: WINDOW,
        };
        Limits {
            login: limit,
            client_auth: limit,
        }
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    /// Fails `n` attempts for the pair, asserting each was allowed.
    fn fail(t: &Throttle, kind: Kind, name: &str, addr: Option<IpAddr>, now: UnixTime, n: u32) {
        for i in 0..n {
            let attempt = t.attempt(kind, name, addr, now);
            assert!(attempt.is_ok(), "attempt {i} of {name} refused");
        }
    }

    #[test]
    fn the_attempt_after_the_limit_is_blocked_until_the_window_ends() {
        let clock = ManualClock::new(10_000);
        let t = Throttle::new(limits(10));
        fail(&t, Kind::Login, "alice", ip(1), clock.now(), 10);
        clock.advance(60);
        let blocked = t
            .attempt(Kind::Login, "alice", ip(1), clock.now())
            .expect_err("11th attempt");
        assert_eq!(blocked.until, 10_000 + WINDOW);
        assert_eq!(blocked.retry_after(clock.now()), WINDOW - 60);
        // A refused attempt does not extend the block.
        clock.set(10_000 + WINDOW - 1);
        assert!(t.attempt(Kind::Login, "alice", ip(1), clock.now()).is_err());
        clock.set(10_000 + WINDOW);
        assert!(t.attempt(Kind::Login, "alice", ip(1), clock.now()).is_ok());
    }

    #[test]
    fn failures_spread_over_more_than_a_window_never_block() {
        let clock = ManualClock::new(0);
        let t = Throttle::new(limits(3));
        for _ in 0..10 {
            fail(&t, Kind::Login, "alice", ip(1), clock.now(), 3);
            clock.advance(WINDOW);
        }
    }

    #[test]
    fn success_forgets_only_its_own_pair() {
        let t = Throttle::new(limits(3));
        fail(&t, Kind::Login, "alice", ip(1), 0, 2);
        fail(&t, Kind::Login, "bob", ip(1), 0, 2);
        t.attempt(Kind::Login, "alice", ip(1), 0)
            .expect("third")
            .succeeded();
        // Alice starts again from zero; Bob's two failures still count.
        fail(&t, Kind::Login, "alice", ip(1), 0, 3);
        fail(&t, Kind::Login, "bob", ip(1), 0, 1);
        assert!(t.attempt(Kind::Login, "bob", ip(1), 0).is_err());
        assert!(t.attempt(Kind::Login, "alice", ip(1), 0).is_err());
    }

    #[test]
    fn pairs_that_only_succeed_stay_within_the_bound_and_their_proofs_expire() {
        let capacity = 4 * SHARDS;
        let t = Throttle::with_capacity(limits(2), capacity);
        for i in 0..1_000u32 {
            let addr = Some(IpAddr::V4(Ipv4Addr::from(i)));
            t.attempt(Kind::ClientAuth, "rs", addr, 0)
                .expect("allowed")
                .succeeded();
            assert!(t.tracked() <= capacity);
        }
        // After the window no proof is left to keep: new pairs push every old one out.
        for i in 0..1_000u32 {
            let addr = Some(IpAddr::V4(Ipv4Addr::from(i + 1_000_000)));
            let _ = t.attempt(Kind::ClientAuth, "other", addr, WINDOW);
        }
        assert!(t.tracked() <= capacity);
    }

    #[test]
    fn an_unproven_pair_has_at_most_the_limit_in_flight_and_waits_a_second_not_a_window() {
        let t = Throttle::new(limits(3));
        let held: Vec<_> = (0..3)
            .map(|_| {
                t.attempt(Kind::ClientAuth, "rs", ip(1), 100)
                    .expect("allowed")
            })
            .collect();
        let busy = t
            .attempt(Kind::ClientAuth, "rs", ip(1), 100)
            .expect_err("fourth in flight");
        assert_eq!(busy.until, 101);
        // One succeeds: the pair is proven and takes more at once.
        let mut held = held.into_iter();
        held.next().expect("one").succeeded();
        let more: Vec<_> = (0..10)
            .map(|_| {
                t.attempt(Kind::ClientAuth, "rs", ip(1), 100)
                    .expect("proven")
            })
            .collect();
        for attempt in held.chain(more) {
            attempt.succeeded();
        }
    }

    #[test]
    fn a_proven_pair_may_have_many_attempts_in_flight_but_not_unboundedly() {
        let t = Throttle::new(limits(10));
        t.attempt(Kind::ClientAuth, "rs", ip(1), 0)
            .expect("first")
            .succeeded();
        let held: Vec<_> = (0..MAX_PROVEN_IN_FLIGHT)
            .map(|i| {
                t.attempt(Kind::ClientAuth, "rs", ip(1), 1)
                    .unwrap_or_else(|_| panic!("attempt {i} refused"))
            })
            .collect();
        assert!(t.attempt(Kind::ClientAuth, "rs", ip(1), 1).is_err());
        for attempt in held {
            attempt.succeeded();
        }
        assert!(t.attempt(Kind::ClientAuth, "rs", ip(1), 1).is_ok());
    }

    #[test]
    fn a_failure_ends_the_proof_and_failures_still_block() {
        let t = Throttle::new(limits(3));
        t.attempt(Kind::ClientAuth, "rs", ip(1), 0)
            .expect("first")
            .succeeded();
        // A wrong secret from the same network: the proof is gone, the ordinary limit applies again.
        drop(
            t.attempt(Kind::ClientAuth, "rs", ip(1), 1)
                .expect("allowed"),
        );
        let held: Vec<_> = (0..2)
            .map(|_| {
                t.attempt(Kind::ClientAuth, "rs", ip(1), 1)
                    .expect("allowed")
            })
            .collect();
        assert!(t.attempt(Kind::ClientAuth, "rs", ip(1), 1).is_err());
        drop(held);
        let blocked = t
            .attempt(Kind::ClientAuth, "rs", ip(1), 2)
            .expect_err("three failures");
        assert_eq!(blocked.until, WINDOW);
    }

    #[test]
    fn a_login_is_never_proven() {
        let t = Throttle::new(limits(3));
        t.attempt(Kind::Login, "alice", ip(1), 0)
            .expect("first")
            .succeeded();
        let held: Vec<_> = (0..3)
            .map(|_| t.attempt(Kind::Login, "alice", ip(1), 1).expect("allowed"))
            .collect();
        assert!(t.attempt(Kind::Login, "alice", ip(1), 1).is_err());
        for attempt in held {
            attempt.succeeded();
        }
    }

    #[test]
    fn a_proof_lasts_one_window() {
        let t = Throttle::new(limits(2));
        t.attempt(Kind::ClientAuth, "rs", ip(1), 0)
            .expect("first")
            .succeeded();
        let held: Vec<_> = (0..5)
            .map(|_| {
                t.attempt(Kind::ClientAuth, "rs", ip(1), WINDOW - 1)
                    .expect("proven")
            })
            .collect();
        for attempt in held {
            attempt.succeeded();
        }
        // The last successes started at WINDOW - 1 and prove the pair until 2 * WINDOW - 1.
        let later = 2 * WINDOW;
        let held: Vec<_> = (0..2)
            .map(|_| {
                t.attempt(Kind::ClientAuth, "rs", ip(1), later)
                    .expect("allowed")
            })
            .collect();
        assert!(t.attempt(Kind::ClientAuth, "rs", ip(1), later).is_err());
        drop(held);
    }

    #[test]
    fn an_attempt_not_checked_does_not_count() {
        let t = Throttle::new(limits(2));
        for _ in 0..5 {
            t.attempt(Kind::Login, "alice", ip(1), 0)
                .expect("allowed")
                .not_checked();
        }
        fail(&t, Kind::Login, "alice", ip(1), 0, 2);
        assert!(t.attempt(Kind::Login, "alice", ip(1), 0).is_err());
    }

    #[test]
    fn pairs_are_isolated_by_name_address_and_kind() {
        let t = Throttle::new(limits(2));
        fail(&t, Kind::Login, "alice", ip(1), 0, 2);
        assert!(t.attempt(Kind::Login, "alice", ip(1), 0).is_err());
        fail(&t, Kind::Login, "alice", ip(2), 0, 2);
        fail(&t, Kind::Login, "alicf", ip(1), 0, 2);
        fail(&t, Kind::ClientAuth, "alice", ip(1), 0, 2);
        fail(&t, Kind::Login, "alice", None, 0, 2);
    }

    #[test]
    fn each_kind_has_its_own_limit() {
        let t = Throttle::new(Limits {
            login: Limit {
                max_failures: 1,
                window: 10,
            },
            client_auth: Limit {
                max_failures: 3,
                window: 100,
            },
        });
        fail(&t, Kind::Login, "x", ip(1), 0, 1);
        assert_eq!(
            t.attempt(Kind::Login, "x", ip(1), 0).expect_err("blocked"),
            Blocked { until: 10 }
        );
        fail(&t, Kind::ClientAuth, "x", ip(1), 0, 3);
        assert_eq!(
            t.attempt(Kind::ClientAuth, "x", ip(1), 0)
                .expect_err("blocked"),
            Blocked { until: 100 }
        );
    }

    #[test]
    fn an_ipv6_host_cannot_escape_by_changing_its_interface_id() {
        let t = Throttle::new(limits(2));
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        fail(&t, Kind::Login, "alice", Some(a), 0, 2);
        assert!(t.attempt(Kind::Login, "alice", Some(b), 0).is_err());
        assert!(t.attempt(Kind::Login, "alice", Some(other), 0).is_ok());
        // An IPv4-mapped address is the IPv4 address.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        fail(&t, Kind::Login, "bob", ip(1), 0, 2);
        assert!(t.attempt(Kind::Login, "bob", Some(mapped), 0).is_err());
    }

    #[test]
    fn memory_stays_bounded_when_names_and_addresses_cycle() {
        let capacity = 4 * SHARDS;
        let t = Throttle::with_capacity(limits(3), capacity);
        for i in 0..10_000u32 {
            let addr = Some(IpAddr::V4(Ipv4Addr::from(i)));
            let _ = t.attempt(Kind::Login, &format!("user{i}"), addr, 0);
            assert!(t.tracked() <= capacity, "{} pairs after {i}", t.tracked());
        }
    }

    #[test]
    fn cycling_names_does_not_evict_a_blocked_pair() {
        let t = Throttle::with_capacity(limits(3), 2 * SHARDS);
        fail(&t, Kind::Login, "alice", ip(1), 0, 3);
        for i in 0..5_000 {
            let _ = t.attempt(Kind::Login, &format!("junk{i}"), ip(1), 0);
        }
        assert!(t.attempt(Kind::Login, "alice", ip(1), 0).is_err());
    }

    #[test]
    fn expired_entries_make_room_first() {
        let t = Throttle::with_capacity(limits(3), 2 * SHARDS);
        for i in 0..200 {
            let _ = t.attempt(Kind::Login, &format!("old{i}"), ip(1), 0);
        }
        assert!(t.tracked() <= 2 * SHARDS);
        fail(&t, Kind::Login, "alice", ip(1), WINDOW, 3);
        for i in 0..200 {
            let _ = t.attempt(Kind::Login, &format!("new{i}"), ip(1), WINDOW);
        }
        assert!(t.attempt(Kind::Login, "alice", ip(1), WINDOW).is_err());
    }

    #[test]
    fn parallel_attempts_get_no_more_than_the_limit() {
        let t = Throttle::new(limits(10));
        let allowed = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..20 {
                        if t.attempt(Kind::ClientAuth, "rs", ip(9), 0).is_ok() {
                            allowed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.into_inner(), 10);
    }
}
