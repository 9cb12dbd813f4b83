//! Owners' sharing policies as the server and the CLI handle them: stored per owner, every write validated
//! against the schema first (all of a push in one transaction, or nothing), and decisions made with a parsed
//! set cached per owner and checked against the owner's policy version (one indexed read) before each use,
//! so a change made by any process takes effect on the next decision.
//!
//! Start-up reads no policy: a set is parsed on its first use. A write records the fingerprint of the schema
//! it validated the owner's whole set against; a set whose record is not the running schema's (the schema or
//! this build changed since, or the set was written by an older version) is validated again on its first use
//! and, if valid, recorded as checked right after (a use reads through a snapshot), so once per set rather
//! than once per start; if it no longer validates, every decision with it is a deny, with an error in the log,
//! until its owner pushes policies that do.
//!
//! Each change has two forms: one inside a write transaction the caller holds (`push_in`, `remove_in`), for a
//! change that must commit with others (an approval, an outbox entry), and one that opens its own (`push`,
//! `remove`). The policy module does the Cedar work; this one never stores a policy that failed validation,
//! and never decides on a resource with policies of anyone but the resource's owner.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::clock::UnixTime;
use crate::notify::{
    self, Event,
    event::{PolicyChange, PolicyChanged},
};
use crate::policy::impact::Limits;
use crate::policy::{
    self, Claims, Compiled, ContextFacts, Decision, Diagnostic, PolicyCache, PolicySchema,
    ResourceFacts, ScopeCheck, Source, Validation,
};
use crate::protocol::uma::Resource;
use crate::store::policies::{PolicyInfo, StoredPolicy};
use crate::store::{OutboxStore, PolicyRead, PolicyStore, ResourceRead, Store, StoreError};

/// The longest policy name.
pub const MAX_NAME_LEN: usize = 64;

/// Sets validated on first use whose check waits to be written back, at most; past that, a check is not kept
/// (the set is only validated once more after a restart).
const MAX_UNRECORDED: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("there is no user or client `{0}` to own policies")]
    UnknownOwner(String),
    #[error("`{name}` cannot name a policy: {reason}")]
    BadName { name: String, reason: String },
    #[error("two sources are named `{0}`")]
    DuplicateName(String),
    #[error("{} error(s): nothing was stored", .0.errors().count())]
    Invalid(Validation),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a push stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub name: String,
    /// A policy of that name was there before and has been replaced.
    pub replaced: bool,
    /// How many Cedar policies the source holds.
    pub policies: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    pub pushed: Vec<Pushed>,
    /// Warnings from validation, such as a scope none of the owner's resources is registered with.
    pub warnings: Vec<Diagnostic>,
}

/// Checks a policy name: 1 to 64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit, so it is safe in a
/// URL path segment and as a file name.
pub fn check_name(name: &str) -> Result<(), PolicyError> {
    let bad = |reason: &str| {
        Err(PolicyError::BadName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return bad("a name has 1 to 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("a name starts with a letter or a digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("a name holds only letters, digits, `.`, `_` and `-`");
    }
    Ok(())
}

/// The `policy.changed` event, raised in the transaction that writes the policies.
fn policy_changed(change: PolicyChange, names: Vec<String>) -> Event {
    Event::PolicyChanged(PolicyChanged { change, names })
}

/// The facts a policy sees about a registered resource.
pub fn resource_facts(resource: &Resource) -> ResourceFacts {
    ResourceFacts {
        id: resource.id.clone(),
        owner: resource.owner.clone(),
        scopes: resource.description.resource_scopes.clone(),
        name: resource.description.name.clone(),
        kind: resource.description.kind.clone(),
    }
}

/// The owner's policy service: the schema and the per-owner cache of compiled sets. One per server (in
/// `AppState`) or CLI command.
#[derive(Debug)]
pub struct Policies {
    schema: Arc<PolicySchema>,
    /// Names the schema and this build's validator: a set validated under the same fingerprint needs no
    /// validation again.
    fingerprint: String,
    cache: PolicyCache,
    /// How an owner's change is analysed before it is made ([`super::impact`]).
    impact_limits: Limits,
    /// Sets found valid on their first use under this schema, (owner, version), whose check is not stored
    /// yet: a use reads through a snapshot, so [`Policies::record_checks`] writes them afterwards.
    unrecorded: Mutex<Vec<(String, i64)>>,
    /// `unrecorded` is not empty: what every request looks at, without the lock.
    has_unrecorded: AtomicBool,
}

impl Policies {
    pub fn new(schema: PolicySchema) -> Self {
        let fingerprint = schema_fingerprint(&schema);
        Self {
            schema: Arc::new(schema),
            fingerprint,
            cache: PolicyCache::default(),
            impact_limits: Limits {
                timeout: super::impact::TIMEOUT,
                ..Limits::default()
            },
            unrecorded: Mutex::new(Vec::new()),
            has_unrecorded: AtomicBool::new(false),
        }
    }

    /// The same service analysing owners' changes with `limits` (the solver to run, the time limit).
    pub fn with_impact_limits(mut self, limits: Limits) -> Self {
        self.impact_limits = limits;
        self
    }

    pub fn impact_limits(&self) -> &Limits {
        &self.impact_limits
    }

    pub fn schema(&self) -> &Arc<PolicySchema> {
        &self.schema
    }

    /// Validates `sources` against the schema (a scope none of the owner's resources has is a warning) and, if
    /// none has an error, stores them all under their names in one transaction, replacing those of the same
    /// name. On any error nothing is stored.
    pub fn push(
        &self,
        store: &Store,
        owner: &str,
        sources: &[Source],
        now: UnixTime,
    ) -> Result<PushOutcome, PolicyError> {
        // The names are checked before the write lock is taken.
        check_names(sources)?;
        store.write(|tx| self.push_in(tx, owner, sources, now))
    }

    /// As [`Policies::push`], inside the write transaction `tx`: nothing is stored unless `tx` commits, and
    /// on an error the caller must roll it back (return the error from [`Store::write`]).
    pub fn push_in(
        &self,
        tx: &(impl PolicyStore + ResourceRead + OutboxStore),
        owner: &str,
        sources: &[Source],
        now: UnixTime,
    ) -> Result<PushOutcome, PolicyError> {
        let Checked {
            names,
            stored,
            validation,
        } = self.check_push(tx, owner, sources)?;
        // The whole set is known to validate when what it keeps was checked against this schema too.
        let keeps_unchecked = stored
            .iter()
            .any(|(name, _)| !names.contains(name.as_str()))
            && !self.checked_now(tx, owner)?;
        let mut pushed = Vec::with_capacity(sources.len());
        for (source, count) in sources.iter().zip(&validation.policy_counts) {
            let replaced = tx.put_policy(owner, &source.name, &source.text, now)?;
            pushed.push(Pushed {
                name: source.name.clone(),
                replaced,
                policies: *count,
            });
        }
        if !keeps_unchecked {
            tx.mark_policies_checked(owner, &self.fingerprint)?;
        }
        let names = pushed.iter().map(|p| p.name.clone()).collect();
        notify::enqueue(tx, now, owner, &policy_changed(PolicyChange::Stored, names))?;
        // Only memory: a cached set is used only while the stored version matches, and the write bumps it.
        self.cache.forget(owner);
        Ok(PushOutcome {
            pushed,
            warnings: validation.warnings().cloned().collect(),
        })
    }

    /// Everything a push checks before it writes: the names, the owner, the size of the set after it, and
    /// validation against the schema (a scope none of the owner's resources has is a warning). Reads only.
    fn check_push<'s>(
        &self,
        reader: &(impl PolicyRead + ResourceRead),
        owner: &str,
        sources: &'s [Source],
    ) -> Result<Checked<'s>, PolicyError> {
        let names = check_names(sources)?;
        if !reader.owner_exists(owner)? {
            return Err(PolicyError::UnknownOwner(owner.to_owned()));
        }
        let known = reader.scopes_of_owner(owner)?;
        let stored = reader.policy_texts(owner)?;
        // The set after the push (the stored sources not replaced, then the pushed ones) must stay within the
        // size a set may have, or every decision with it would deny.
        let kept = stored
            .iter()
            .filter(|(name, _)| !names.contains(name.as_str()))
            .map(|(name, text)| (name.as_str(), text.as_str()));
        let pushed = sources.iter().map(|s| (s.name.as_str(), s.text.as_str()));
        if let Err(d) = policy::check_set_size(kept.chain(pushed)) {
            return Err(PolicyError::Invalid(Validation {
                diagnostics: vec![d],
                policy_counts: vec![0; sources.len()],
            }));
        }
        let validation = policy::validate(&self.schema, sources, ScopeCheck::Warn(&known));
        if !validation.is_valid() {
            return Err(PolicyError::Invalid(validation));
        }
        Ok(Checked {
            names,
            stored,
            validation,
        })
    }

    /// The owner's set as stored now and as it would be after pushing `sources`, checked exactly as
    /// [`Policies::push`] checks them (the same errors), with nothing written: what a dry run compares.
    pub fn planned_push(
        &self,
        reader: &(impl PolicyRead + ResourceRead),
        owner: &str,
        sources: &[Source],
    ) -> Result<Planned, PolicyError> {
        let Checked {
            names,
            stored,
            validation,
        } = self.check_push(reader, owner, sources)?;
        let after = stored
            .iter()
            .filter(|(name, _)| !names.contains(name.as_str()))
            .map(|(name, text)| Source::new(name.clone(), text.clone()))
            .chain(sources.iter().cloned())
            .collect();
        Ok(Planned {
            before: as_sources(stored),
            after,
            warnings: validation.warnings().cloned().collect(),
        })
    }

    /// The owner's set as stored now and as it would be without her policy `name`, nothing written; None when
    /// she has no policy of that name.
    pub fn planned_remove(
        &self,
        reader: &impl PolicyRead,
        owner: &str,
        name: &str,
    ) -> Result<Option<Planned>, PolicyError> {
        if !reader.owner_exists(owner)? {
            return Err(PolicyError::UnknownOwner(owner.to_owned()));
        }
        let stored = reader.policy_texts(owner)?;
        if !stored.iter().any(|(n, _)| n == name) {
            return Ok(None);
        }
        let after = stored
            .iter()
            .filter(|(n, _)| n != name)
            .map(|(n, text)| Source::new(n.clone(), text.clone()))
            .collect();
        Ok(Some(Planned {
            before: as_sources(stored),
            after,
            warnings: Vec::new(),
        }))
    }

    /// Removes `owner`'s policy `name` at `now`. False when there is none.
    pub fn remove(
        &self,
        store: &Store,
        owner: &str,
        name: &str,
        now: UnixTime,
    ) -> Result<bool, PolicyError> {
        store.write(|tx| self.remove_in(tx, owner, name, now))
    }

    /// As [`Policies::remove`], inside the write transaction `tx`.
    pub fn remove_in(
        &self,
        tx: &(impl PolicyStore + OutboxStore),
        owner: &str,
        name: &str,
        now: UnixTime,
    ) -> Result<bool, PolicyError> {
        if !tx.owner_exists(owner)? {
            return Err(PolicyError::UnknownOwner(owner.to_owned()));
        }
        let was_checked = self.checked_now(tx, owner)?;
        let removed = tx.remove_policy(owner, name)?;
        // Removing a policy cannot make the rest invalid.
        if was_checked {
            tx.mark_policies_checked(owner, &self.fingerprint)?;
        }
        if removed {
            let names = vec![name.to_owned()];
            notify::enqueue(
                tx,
                now,
                owner,
                &policy_changed(PolicyChange::Removed, names),
            )?;
        }
        self.cache.forget(owner);
        Ok(removed)
    }

    /// `owner`'s policy set as it is stored now: from the cache when the stored version has not moved, else
    /// parsed again.
    pub fn compiled_for(&self, store: &Store, owner: &str) -> Result<Arc<Compiled>, StoreError> {
        let compiled = store.read(|c| self.compiled_in(c, owner))?;
        self.record_checks(store);
        Ok(compiled)
    }

    /// Writes back that the sets validated on their first use (by [`Policies::compiled_in`], on a snapshot) are
    /// valid under the running schema, each only if it has not changed since, so they are not validated again
    /// after a restart. Costs one atomic read when there is nothing to write; call it outside any transaction
    /// (it opens a write). A failure is logged: those sets are only validated again on their next first use.
    pub fn record_checks(&self, store: &Store) {
        if !self.has_unrecorded.load(Ordering::Acquire) {
            return;
        }
        let pending = {
            let mut unrecorded = self
                .unrecorded
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.has_unrecorded.store(false, Ordering::Release);
            std::mem::take(&mut *unrecorded)
        };
        if pending.is_empty() {
            return;
        }
        let written = store.write(|tx| {
            let mut recorded = 0;
            for (owner, version) in &pending {
                if tx.mark_policies_checked_at(owner, *version, &self.fingerprint)? {
                    recorded += 1;
                }
            }
            Ok::<_, StoreError>(recorded)
        });
        match written {
            Ok(recorded) => log::debug!(
                "recorded {recorded} policy set(s) as valid under the running schema ({} checked)",
                pending.len()
            ),
            Err(err) => log::warn!("cannot record validated policy sets: {err}"),
        }
    }

    /// As [`Policies::compiled_for`], reading through a transaction already open (a write transaction
    /// must not open a second one).
    pub fn compiled_in(
        &self,
        reader: &impl PolicyRead,
        owner: &str,
    ) -> Result<Arc<Compiled>, StoreError> {
        // The version is read before the texts: a write in between leaves a newer set under an older version,
        // which only costs one more parse on the next decision, never a stale answer.
        let (version, checked) = reader.policy_state(owner)?;
        if let Some(compiled) = self.cache.get(owner, version) {
            crate::ops::metrics::POLICY_CACHE_HITS.inc();
            return Ok(compiled);
        }
        crate::ops::metrics::POLICY_CACHE_MISSES.inc();
        let sources: Vec<Source> = reader
            .policy_texts(owner)?
            .into_iter()
            .map(|(name, text)| Source::new(name, text))
            .collect();
        let compiled =
            if sources.is_empty() || checked.as_deref() == Some(self.fingerprint.as_str()) {
                policy::compile(&self.schema, Some(owner), &sources)
            } else {
                self.compile_unchecked(owner, version, &sources)
            };
        let compiled = Arc::new(compiled);
        self.cache.insert(owner, version, compiled.clone());
        Ok(compiled)
    }

    /// Compiles a set not known to validate against the running schema: validated first, and refused as a
    /// whole (every decision a deny) when it does not.
    fn compile_unchecked(&self, owner: &str, version: i64, sources: &[Source]) -> Compiled {
        let validation = policy::validate(&self.schema, sources, ScopeCheck::Unchecked);
        if validation.is_valid() {
            self.unrecorded_check(owner, version);
            return policy::compile(&self.schema, Some(owner), sources);
        }
        let problems: Vec<String> = validation
            .errors()
            .map(|d| {
                format!(
                    "policy {d} (it does not validate against the schema `{}`)",
                    self.schema.origin()
                )
            })
            .collect();
        log::error!(
            "the stored policies of `{owner}` do not validate against the schema `{}`; every decision with them \
             is a deny until the owner pushes policies that do: {}",
            self.schema.origin(),
            problems.join("; ")
        );
        policy::refused(&self.schema, Some(owner), problems)
    }

    /// Keeps `owner`'s set at `version`, just found valid, for [`Policies::record_checks`].
    fn unrecorded_check(&self, owner: &str, version: i64) {
        let mut unrecorded = self
            .unrecorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if unrecorded.len() < MAX_UNRECORDED {
            unrecorded.push((owner.to_owned(), version));
            self.has_unrecorded.store(true, Ordering::Release);
        }
    }

    /// True when `owner`'s set as stored now was validated against the running schema.
    fn checked_now(&self, reader: &impl PolicyRead, owner: &str) -> Result<bool, StoreError> {
        let (_, checked) = reader.policy_state(owner)?;
        Ok(checked.as_deref() == Some(self.fingerprint.as_str()))
    }

    /// Decides `scope` on `resource` for the requesting party `claims` describes, with the policies of the
    /// resource's owner only. `client_id` is the client asking; `now` the time policies see.
    pub fn decide(
        &self,
        store: &Store,
        resource: &Resource,
        claims: Option<&Claims>,
        scope: &str,
        client_id: &str,
        now: UnixTime,
    ) -> Result<Decision, StoreError> {
        let compiled = self.compiled_for(store, &resource.owner)?;
        Ok(Self::decide_with(
            &compiled, resource, claims, scope, client_id, now,
        ))
    }

    /// As [`Policies::decide`], with the owner's set already in hand: a request deciding several
    /// (resource, scope) pairs of one owner looks the set up once.
    pub fn decide_with(
        compiled: &Compiled,
        resource: &Resource,
        claims: Option<&Claims>,
        scope: &str,
        client_id: &str,
        now: UnixTime,
    ) -> Decision {
        Self::decide_among(compiled, resource, claims, scope, client_id, now, &[])
    }

    /// As [`Policies::decide_with`], naming the issuers whose claims the server accepts, so that a
    /// `need_info` can say which of them could supply the claims (see [`policy::decide_among`]).
    pub fn decide_among(
        compiled: &Compiled,
        resource: &Resource,
        claims: Option<&Claims>,
        scope: &str,
        client_id: &str,
        now: UnixTime,
        issuers: &[String],
    ) -> Decision {
        let context = ContextFacts {
            client_id: client_id.to_owned(),
            resource_server: resource.client_id.clone(),
            time: now,
        };
        policy::decide_among(
            compiled,
            claims,
            &resource_facts(resource),
            scope,
            &context,
            issuers,
        )
    }

    /// Validates `owner`'s stored set against the schema: the admin's check after a schema change
    /// (`uma-cedar policy check`), since start-up reads no stored set and each is checked on its first use.
    /// `None` when it validates; else the stored sources and their diagnostics.
    pub fn check_stored(
        &self,
        reader: &impl PolicyRead,
        owner: &str,
    ) -> Result<Option<(Vec<Source>, Validation)>, StoreError> {
        let sources: Vec<Source> = reader
            .policy_texts(owner)?
            .into_iter()
            .map(|(name, text)| Source::new(name, text))
            .collect();
        let validation = policy::validate(&self.schema, &sources, ScopeCheck::Unchecked);
        Ok((!validation.is_valid()).then_some((sources, validation)))
    }
}

/// What [`Policies::check_push`] found: the pushed names, the stored sources, the validation of the pushed.
struct Checked<'s> {
    names: BTreeSet<&'s str>,
    stored: Vec<(String, String)>,
    validation: Validation,
}

/// An owner's set before and after a change that has not been made.
#[derive(Debug, Clone)]
pub struct Planned {
    pub before: Vec<Source>,
    pub after: Vec<Source>,
    /// The warnings the change would be stored with.
    pub warnings: Vec<Diagnostic>,
}

fn as_sources(texts: Vec<(String, String)>) -> Vec<Source> {
    texts
        .into_iter()
        .map(|(name, text)| Source::new(name, text))
        .collect()
}

/// Names `schema` and this build (whose validator may accept or refuse differently from another's).
fn schema_fingerprint(schema: &PolicySchema) -> String {
    let text = format!("{}\n{}", env!("CARGO_PKG_VERSION"), schema.canonical());
    crate::crypto::sha256_base64url(text.as_bytes())
}

/// True when `owner` names a user or a client, who may own policies.
pub fn owner_exists(reader: &impl PolicyRead, owner: &str) -> Result<bool, StoreError> {
    reader.owner_exists(owner)
}

/// `owner`'s policies: name, last change and size, by name.
pub fn list(reader: &impl PolicyRead, owner: &str) -> Result<Vec<PolicyInfo>, StoreError> {
    reader.list_policies(owner)
}

/// `owner`'s policy `name`, if there is one.
pub fn get(
    reader: &impl PolicyRead,
    owner: &str,
    name: &str,
) -> Result<Option<StoredPolicy>, StoreError> {
    reader.policy(owner, name)
}

/// Checks every name of a push and that no two are the same; the set of names.
fn check_names(sources: &[Source]) -> Result<BTreeSet<&str>, PolicyError> {
    let mut names = BTreeSet::new();
    for source in sources {
        check_name(&source.name)?;
        if !names.insert(source.name.as_str()) {
            return Err(PolicyError::DuplicateName(source.name.clone()));
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::uma::Description;
    use crate::store::testing::temp_store;
    use crate::store::users;
    use crate::store::{ResourceStore, clients};
    use serde_json::{Value, json};

    fn policies() -> Policies {
        Policies::new(PolicySchema::base().expect("schema"))
    }

    fn setup() -> (tempfile::TempDir, Store) {
        let (dir, store) = temp_store();
        store
            .write(|tx| {
                for name in ["alice", "kate"] {
                    users::insert(tx, &crate::store::testing::test_user(name))?;
                }
                clients::insert(tx, &crate::store::testing::public_client("bank"))?;
                for (id, owner) in [("checking", "alice"), ("kates", "kate")] {
                    tx.insert_resource(&resource(id, owner))?;
                }
                Ok::<_, StoreError>(())
            })
            .expect("setup");
        (dir, store)
    }

    fn resource(id: &str, owner: &str) -> Resource {
        Resource {
            id: id.into(),
            owner: owner.into(),
            client_id: "bank".into(),
            description: Description {
                resource_scopes: vec!["view".into(), "edit".into()],
                name: Some("Checking".into()),
                ..Description::default()
            },
            created_at: 0,
            updated_at: 0,
        }
    }

    fn bob() -> Claims {
        let Value::Object(map) =
            json!({"iss": "https://as.example", "sub": "bob", "email": "bob@example.com"})
        else {
            panic!("object")
        };
        Claims::from_json(map).expect("claims")
    }

    const BOB_VIEWS: &str = "permit (principal, action == Uma::Action::\"view\", resource) when { principal has email && principal.email == \"bob@example.com\" };";

    fn decide(p: &Policies, store: &Store, id: &str, owner: &str) -> Decision {
        p.decide(
            store,
            &resource(id, owner),
            Some(&bob()),
            "view",
            "app",
            1_800_000_000,
        )
        .expect("decide")
    }

    #[test]
    fn a_push_takes_effect_on_the_next_decision_and_a_replacement_too() {
        let (_dir, store) = setup();
        let p = policies();
        assert!(!decide(&p, &store, "checking", "alice").is_permit());
        let out = p
            .push(&store, "alice", &[Source::new("bob", BOB_VIEWS)], 1)
            .expect("push");
        assert_eq!(
            out.pushed,
            vec![Pushed {
                name: "bob".into(),
                replaced: false,
                policies: 1
            }]
        );
        assert!(decide(&p, &store, "checking", "alice").is_permit());
        let out = p
            .push(
                &store,
                "alice",
                &[Source::new("bob", "// nobody for now\n")],
                2,
            )
            .expect("push");
        assert!(out.pushed.first().is_some_and(|x| x.replaced));
        assert!(!decide(&p, &store, "checking", "alice").is_permit());
    }

    #[test]
    fn a_change_made_by_another_process_is_seen_through_the_version() {
        let (_dir, store) = setup();
        let server = policies();
        let cli = policies();
        assert!(!decide(&server, &store, "checking", "alice").is_permit());
        let before = server.compiled_for(&store, "alice").expect("compiled");
        cli.push(&store, "alice", &[Source::new("bob", BOB_VIEWS)], 1)
            .expect("push");
        assert!(decide(&server, &store, "checking", "alice").is_permit());
        let after = server.compiled_for(&store, "alice").expect("compiled");
        assert!(!Arc::ptr_eq(&before, &after));
        let again = server.compiled_for(&store, "alice").expect("compiled");
        assert!(
            Arc::ptr_eq(&after, &again),
            "unchanged version: served from the cache"
        );
        assert!(cli.remove(&store, "alice", "bob", 2).expect("remove"));
        assert!(!decide(&server, &store, "checking", "alice").is_permit());
    }

    #[test]
    fn a_push_inside_a_transaction_that_rolls_back_leaves_nothing() {
        let (_dir, store) = setup();
        let p = policies();
        assert!(!decide(&p, &store, "checking", "alice").is_permit());
        let result = store.write(|tx| {
            let out = p.push_in(tx, "alice", &[Source::new("bob", BOB_VIEWS)], 1)?;
            assert_eq!(out.pushed.len(), 1);
            // What the caller did next failed: the whole transaction goes.
            Err::<(), _>(PolicyError::UnknownOwner("a later step".into()))
        });
        assert!(result.is_err());
        assert!(
            store
                .read(|c| c.policy_texts("alice"))
                .expect("texts")
                .is_empty()
        );
        assert!(!decide(&p, &store, "checking", "alice").is_permit());
        store
            .write(|tx| p.push_in(tx, "alice", &[Source::new("bob", BOB_VIEWS)], 2))
            .expect("committed push");
        assert!(decide(&p, &store, "checking", "alice").is_permit());
    }

    #[test]
    fn planned_changes_are_checked_like_writes_and_write_nothing() {
        let (_dir, store) = setup();
        let p = policies();
        p.push(&store, "alice", &[Source::new("bob", BOB_VIEWS)], 1)
            .expect("push");
        let state = |store: &Store| {
            store
                .read(|c| Ok((c.policy_texts("alice")?, c.policy_state("alice")?)))
                .expect("state")
        };
        let before = state(&store);
        let everyone = Source::new("all", "permit (principal, action, resource);");
        let planned = store
            .read(|c| Ok(p.planned_push(c, "alice", std::slice::from_ref(&everyone))))
            .expect("read")
            .expect("planned");
        assert_eq!(planned.before, vec![Source::new("bob", BOB_VIEWS)]);
        assert_eq!(
            planned.after,
            vec![Source::new("bob", BOB_VIEWS), everyone.clone()]
        );
        // A replacement takes the place of the stored source of its name.
        let replaced = store
            .read(|c| Ok(p.planned_push(c, "alice", &[Source::new("bob", "// none\n")])))
            .expect("read")
            .expect("planned");
        assert_eq!(replaced.after, vec![Source::new("bob", "// none\n")]);
        // The push's own refusals.
        let invalid = store
            .read(|c| {
                Ok(p.planned_push(
                    c,
                    "alice",
                    &[Source::new(
                        "x",
                        "permit (principal, action, resource) when { principal.nope };",
                    )],
                ))
            })
            .expect("read");
        assert!(
            matches!(invalid, Err(PolicyError::Invalid(_))),
            "{invalid:?}"
        );
        let unknown = store
            .read(|c| Ok(p.planned_push(c, "nobody", std::slice::from_ref(&everyone))))
            .expect("read");
        assert!(matches!(unknown, Err(PolicyError::UnknownOwner(_))));
        let removal = store
            .read(|c| Ok(p.planned_remove(c, "alice", "bob")))
            .expect("read")
            .expect("planned")
            .expect("she has it");
        assert!(removal.after.is_empty());
        assert!(
            store
                .read(|c| Ok(p.planned_remove(c, "alice", "nope")))
                .expect("read")
                .expect("planned")
                .is_none()
        );
        assert_eq!(state(&store), before, "nothing was written");
        assert!(decide(&p, &store, "checking", "alice").is_permit());
    }

    #[test]
    fn an_invalid_push_stores_nothing() {
        let (_dir, store) = setup();
        let p = policies();
        p.push(&store, "alice", &[Source::new("bob", BOB_VIEWS)], 1)
            .expect("push");
        let version = store.read(|c| c.policy_version("alice")).expect("version");
        let err = p
            .push(
                &store,
                "alice",
                &[
                    Source::new("bob", "permit (principal, action, resource);"),
                    Source::new(
                        "typo",
                        "permit (principal, action, resource) when { principal.emial == \"x\" };",
                    ),
                ],
                2,
            )
            .expect_err("invalid");
        let PolicyError::Invalid(validation) = err else {
            panic!("expected Invalid, got {err:?}")
        };
        assert_eq!(
            validation
                .errors()
                .map(|d| d.source.as_str())
                .collect::<Vec<_>>(),
            vec!["typo"]
        );
        assert_eq!(
            store.read(|c| c.policy_texts("alice")).expect("texts"),
            vec![("bob".to_owned(), BOB_VIEWS.to_owned())],
            "the valid file of the push was not stored either"
        );
        assert_eq!(
            store.read(|c| c.policy_version("alice")).expect("version"),
            version
        );
    }

    #[test]
    fn a_push_that_would_make_the_set_too_large_stores_nothing() {
        let (_dir, store) = setup();
        let p = policies();
        // Sources just under the size of one: a set holds 16 of them, not 17.
        let filler = format!(
            "permit (principal, action, resource) when {{ principal.sub == \"x\" }};\n{}",
            format!("// {}\n", "-".repeat(1_000)).repeat(60)
        );
        assert!(filler.len() < policy::MAX_SOURCE_BYTES);
        let fit = policy::MAX_SET_BYTES / filler.len();
        for i in 0..fit {
            p.push(
                &store,
                "alice",
                &[Source::new(format!("p{i}"), filler.clone())],
                1,
            )
            .expect("fits");
        }
        let err = p
            .push(
                &store,
                "alice",
                &[Source::new("one-more", filler.clone())],
                2,
            )
            .expect_err("too large");
        let PolicyError::Invalid(validation) = err else {
            panic!("expected Invalid, got {err:?}")
        };
        let first = validation.errors().next().expect("an error");
        assert_eq!(
            (first.kind, first.source.as_str()),
            (policy::Kind::Limit, "one-more")
        );
        let stored = store.read(|c| c.policy_texts("alice")).expect("texts");
        assert_eq!(stored.len(), fit, "nothing more was stored");
        // Replacing a stored source is measured without the text it replaces.
        p.push(&store, "alice", &[Source::new("p0", BOB_VIEWS)], 3)
            .expect("a replacement fits");
        let decision = decide(&p, &store, "checking", "alice");
        assert!(decision.is_permit(), "the set still compiles: {decision:?}");
    }

    #[test]
    fn another_owners_permit_all_never_grants() {
        let (_dir, store) = setup();
        let p = policies();
        p.push(
            &store,
            "kate",
            &[Source::new(
                "everyone",
                "permit (principal, action, resource);",
            )],
            1,
        )
        .expect("push");
        assert!(decide(&p, &store, "kates", "kate").is_permit());
        assert_eq!(
            decide(&p, &store, "checking", "alice"),
            Decision::Deny {
                policies: vec![],
                errors: vec![]
            },
            "alice has no policy: kate's permit-all does not reach her resource"
        );
    }

    #[test]
    fn scopes_outside_the_owners_resources_are_warnings() {
        let (_dir, store) = setup();
        let out = policies()
            .push(
                &store,
                "alice",
                &[Source::new(
                    "p",
                    "permit (principal, action == Uma::Action::\"veiw\", resource);",
                )],
                1,
            )
            .expect("accepted with a warning");
        let warning = out.warnings.first().expect("a warning");
        assert!(warning.message.contains("`veiw`"), "{warning:?}");
        assert!(
            warning
                .help
                .as_deref()
                .is_some_and(|h| h.contains("did you mean `view`?"))
        );
    }

    #[test]
    fn bad_names_duplicates_and_unknown_owners_are_refused() {
        let (_dir, store) = setup();
        let p = policies();
        for bad in ["", ".hidden", "a/b", "sp ace", &"x".repeat(65)] {
            assert!(
                matches!(
                    p.push(&store, "alice", &[Source::new(bad, "")], 1),
                    Err(PolicyError::BadName { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(check_name("spouse-read_only.v2").is_ok());
        assert!(matches!(
            p.push(
                &store,
                "alice",
                &[Source::new("a", ""), Source::new("a", "")],
                1
            ),
            Err(PolicyError::DuplicateName(_))
        ));
        assert!(matches!(
            p.push(&store, "nobody", &[Source::new("a", "")], 1),
            Err(PolicyError::UnknownOwner(_))
        ));
        assert!(matches!(
            p.remove(&store, "nobody", "a", 1),
            Err(PolicyError::UnknownOwner(_))
        ));
    }

    #[test]
    fn check_stored_reports_policies_that_no_longer_validate() {
        let (_dir, store) = setup();
        store
            .write(|tx| {
                tx.put_policy(
                    "alice",
                    "old",
                    "permit (principal, action, resource) when { principal.nope };",
                    1,
                )
            })
            .expect("raw put");
        let failing = store
            .read(|c| policies().check_stored(c, "alice"))
            .expect("check");
        let (sources, validation) = failing.expect("alice's set fails");
        assert_eq!(sources.first().map(|s| s.name.as_str()), Some("old"));
        assert!(validation.errors().next().is_some());
    }

    /// The base schema with one more claim: another schema, under which every base policy still validates.
    fn wider_schema() -> PolicySchema {
        let text = crate::policy::BASE_SCHEMA.replace(
            "groups?: Set<String>,",
            "groups?: Set<String>,\n        department?: String,",
        );
        assert_ne!(text, crate::policy::BASE_SCHEMA);
        PolicySchema::parse("wider", &text, false).expect("wider schema")
    }

    fn checked(store: &Store, owner: &str) -> Option<String> {
        store.read(|c| c.policy_state(owner)).expect("state").1
    }

    #[test]
    fn a_stored_set_not_checked_against_this_schema_is_validated_on_first_use() {
        let (_dir, store) = setup();
        store
            .write(|tx| {
                // Written around the service (an older version, or by hand): never validated here.
                tx.put_policy(
                    "alice",
                    "old",
                    "permit (principal, action, resource) when { principal.nope == 1 };",
                    1,
                )?;
                tx.put_policy("kate", "bob", BOB_VIEWS, 1)
            })
            .expect("raw put");
        let p = policies();
        let refused = p.compiled_for(&store, "alice").expect("compiled");
        assert_eq!(
            refused.len(),
            0,
            "a set that does not validate is not used at all"
        );
        assert!(
            refused
                .problems()
                .iter()
                .any(|m| m.contains("does not validate against the schema")),
            "{:?}",
            refused.problems()
        );
        let denied = decide(&p, &store, "checking", "alice");
        assert!(!denied.is_permit());
        assert!(
            decide(&p, &store, "kates", "kate").is_permit(),
            "a valid one is used"
        );
        // The valid set was recorded as checked after its first use, so it is not validated again after a
        // restart; the refused one was not.
        assert_eq!(
            checked(&store, "kate").as_deref(),
            Some(p.fingerprint.as_str())
        );
        assert_eq!(checked(&store, "alice"), None);
    }

    #[test]
    fn a_check_on_first_use_is_recorded_only_for_the_version_it_validated() {
        let (_dir, store) = setup();
        store
            .write(|tx| tx.put_policy("kate", "bob", BOB_VIEWS, 1))
            .expect("raw put");
        let p = policies();
        // A use through a snapshot (as the grant and introspection make) validates the set, but cannot write.
        store.read(|c| p.compiled_in(c, "kate")).expect("compiled");
        assert_eq!(checked(&store, "kate"), None);
        // The set changes (around the service) before the check is written back: it is not recorded.
        store
            .write(|tx| tx.put_policy("kate", "other", "// none\n", 2))
            .expect("raw put");
        p.record_checks(&store);
        assert_eq!(checked(&store, "kate"), None);
        // Its next use validates the new version, and that is recorded.
        assert!(decide(&p, &store, "kates", "kate").is_permit());
        assert_eq!(
            checked(&store, "kate").as_deref(),
            Some(p.fingerprint.as_str())
        );
    }

    #[test]
    fn a_push_records_the_schema_and_another_schema_checks_again() {
        let (_dir, store) = setup();
        let p = policies();
        p.push(&store, "alice", &[Source::new("bob", BOB_VIEWS)], 1)
            .expect("push");
        assert_eq!(
            checked(&store, "alice").as_deref(),
            Some(p.fingerprint.as_str())
        );
        let wider = Policies::new(wider_schema());
        assert_ne!(wider.fingerprint, p.fingerprint);
        // Under the wider schema, before any use of the set there, a policy using its claim is pushed.
        wider
            .push(
                &store,
                "alice",
                &[Source::new(
                    "dept",
                    "permit (principal, action, resource) when { principal has department && principal.department == \"x\" };",
                )],
                2,
            )
            .expect("push under the wider schema");
        assert_eq!(
            checked(&store, "alice"),
            None,
            "what the push kept was checked against another schema"
        );
        // Its first use under the wider schema validates the whole set, and records that.
        assert!(decide(&wider, &store, "checking", "alice").is_permit());
        assert_eq!(
            checked(&store, "alice").as_deref(),
            Some(wider.fingerprint.as_str())
        );
        // Back under the base schema, the set is validated on first use (a guarded use of a claim the schema
        // lacks validates) and used.
        let back = policies();
        assert!(decide(&back, &store, "checking", "alice").is_permit());
        assert!(
            back.compiled_for(&store, "alice")
                .expect("compiled")
                .problems()
                .is_empty()
        );
    }

    #[test]
    fn removing_from_a_checked_set_keeps_it_checked() {
        let (_dir, store) = setup();
        let p = policies();
        p.push(
            &store,
            "alice",
            &[
                Source::new("bob", BOB_VIEWS),
                Source::new("other", "// none\n"),
            ],
            1,
        )
        .expect("push");
        assert!(p.remove(&store, "alice", "other", 2).expect("remove"));
        assert_eq!(
            checked(&store, "alice").as_deref(),
            Some(p.fingerprint.as_str())
        );
        assert!(decide(&p, &store, "checking", "alice").is_permit());
    }
}
