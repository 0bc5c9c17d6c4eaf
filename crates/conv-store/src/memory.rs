//! [`MemoryStore`]: one process, bounded, for tests and demos.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use identity_types::{IsolationKey, SessionId, unix_now_ms};

use crate::message::prepare_batch;
use crate::{
    AppendReceipt, BoxFuture, ConvError, ConversationStore, Limits, ListQuery, Message, PurgeReport,
    SessionInfo, StoredMessage, Window, check_capacity, check_list, check_owner, check_title, check_window,
    record,
};

/// How much an in-memory store may hold in total, across all principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryCapacity {
    /// Most sessions.
    pub max_sessions: usize,
    /// Most messages.
    pub max_messages: usize,
}

impl Default for MemoryCapacity {
    fn default() -> Self {
        Self { max_sessions: 10_000, max_messages: 1_000_000 }
    }
}

#[derive(Debug)]
struct Session {
    owner: IsolationKey,
    title: Option<String>,
    created_at_ms: u64,
    updated_at_ms: u64,
    /// Records in their stored form, so this backend decodes exactly what the others do.
    records: Vec<String>,
}

impl Session {
    fn info(&self, id: &SessionId) -> SessionInfo {
        SessionInfo {
            id: id.clone(),
            title: self.title.clone(),
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
            message_count: self.records.len() as u64,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<SessionId, Session>,
    /// Sessions held per owner, for [`Limits::max_sessions_per_owner`].
    per_owner: HashMap<IsolationKey, u64>,
    messages: usize,
}

impl Inner {
    /// Refuses a new session for `owner` if the store or the owner is at capacity.
    fn check_room(
        &self,
        owner: &IsolationKey,
        capacity: &MemoryCapacity,
        limits: &Limits,
    ) -> Result<(), ConvError> {
        if self.sessions.len() >= capacity.max_sessions {
            return Err(ConvError::StoreFull("sessions"));
        }
        if self.per_owner.get(owner).copied().unwrap_or(0) >= limits.max_sessions_per_owner {
            return Err(ConvError::TooManySessions { max: limits.max_sessions_per_owner });
        }
        Ok(())
    }

    fn insert(&mut self, id: SessionId, session: Session) {
        *self.per_owner.entry(session.owner.clone()).or_insert(0) += 1;
        self.sessions.insert(id, session);
    }

    /// Removes a session, keeping the counters right; returns its message count.
    fn remove(&mut self, id: &SessionId) -> usize {
        let Some(session) = self.sessions.remove(id) else { return 0 };
        if let Some(count) = self.per_owner.get_mut(&session.owner) {
            *count -= 1;
            if *count == 0 {
                self.per_owner.remove(&session.owner);
            }
        }
        self.messages -= session.records.len();
        session.records.len()
    }

    /// The caller's session, or the one error for "absent or not yours".
    fn owned_mut(&mut self, owner: &IsolationKey, id: &SessionId) -> Result<&mut Session, ConvError> {
        self.sessions.get_mut(id).filter(|s| s.owner == *owner).ok_or(ConvError::SessionAccessDenied)
    }

    fn owned(&self, owner: &IsolationKey, id: &SessionId) -> Result<&Session, ConvError> {
        self.sessions.get(id).filter(|s| s.owner == *owner).ok_or(ConvError::SessionAccessDenied)
    }
}

/// Conversations in this process's memory, bounded by [`MemoryCapacity`]. One mutex
/// guards everything: every operation is a few map lookups and never awaits while
/// holding it.
#[derive(Debug)]
pub struct MemoryStore {
    limits: Limits,
    capacity: MemoryCapacity,
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store with the default [`MemoryCapacity`].
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self::with_capacity(limits, MemoryCapacity::default())
    }

    /// An empty store holding at most `capacity`.
    #[must_use]
    pub fn with_capacity(limits: Limits, capacity: MemoryCapacity) -> Self {
        Self { limits, capacity, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated (every
        // mutation is a single insert, push or remove), so a poisoned lock is still sound.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn do_create(
        &self,
        owner: &IsolationKey,
        id: &SessionId,
        title: Option<&str>,
    ) -> Result<SessionInfo, ConvError> {
        check_owner(owner)?;
        check_title(title, &self.limits)?;
        let mut inner = self.lock();
        if let Some(existing) = inner.sessions.get(id) {
            return Err(if existing.owner == *owner {
                ConvError::SessionExists
            } else {
                ConvError::SessionAccessDenied
            });
        }
        inner.check_room(owner, &self.capacity, &self.limits)?;
        let now = unix_now_ms();
        let session = Session {
            owner: owner.clone(),
            title: title.map(str::to_owned),
            created_at_ms: now,
            updated_at_ms: now,
            records: Vec::new(),
        };
        let info = session.info(id);
        inner.insert(id.clone(), session);
        Ok(info)
    }

    fn do_append(
        &self,
        owner: &IsolationKey,
        id: &SessionId,
        messages: &[Message],
    ) -> Result<AppendReceipt, ConvError> {
        check_owner(owner)?;
        let now = unix_now_ms();
        let records = prepare_batch(messages, now, &self.limits)?;
        let mut inner = self.lock();
        let claimed = match inner.sessions.get(id) {
            Some(existing) if existing.owner != *owner => return Err(ConvError::SessionAccessDenied),
            Some(_) => false,
            None => {
                inner.check_room(owner, &self.capacity, &self.limits)?;
                true
            }
        };
        if inner.messages.saturating_add(records.len()) > self.capacity.max_messages {
            return Err(ConvError::StoreFull("messages"));
        }
        let current = inner.sessions.get(id).map_or(0, |s| s.records.len() as u64);
        check_capacity(current, records.len(), &self.limits)?;
        // Every check passed: from here the append cannot fail, so it is all or nothing.
        let count = records.len();
        inner.messages += count;
        if claimed {
            let session = Session {
                owner: owner.clone(),
                title: None,
                created_at_ms: now,
                updated_at_ms: now,
                records: Vec::new(),
            };
            inner.insert(id.clone(), session);
        }
        let session = inner.owned_mut(owner, id)?;
        session.records.extend(records);
        session.updated_at_ms = session.updated_at_ms.max(now);
        Ok(AppendReceipt { first_seq: current, count, claimed })
    }

    fn do_load(
        &self,
        owner: &IsolationKey,
        id: &SessionId,
        window: Window,
    ) -> Result<Vec<StoredMessage>, ConvError> {
        check_owner(owner)?;
        check_window(window, &self.limits)?;
        let inner = self.lock();
        let session = inner.owned(owner, id)?;
        let (start, end) = window.range(session.records.len() as u64);
        // Both bounds are at most records.len(), which is a usize.
        let (start_index, end_index) = (start as usize, end as usize);
        session.records[start_index..end_index]
            .iter()
            .zip(start..)
            .map(|(text, seq)| record::decode(seq, text.as_bytes()))
            .collect()
    }

    fn do_list(&self, owner: &IsolationKey, query: ListQuery) -> Result<Vec<SessionInfo>, ConvError> {
        check_owner(owner)?;
        check_list(query, &self.limits)?;
        let inner = self.lock();
        let mut mine: Vec<SessionInfo> =
            inner.sessions.iter().filter(|(_, s)| s.owner == *owner).map(|(id, s)| s.info(id)).collect();
        mine.sort_by(|a, b| b.updated_at_ms.cmp(&a.updated_at_ms).then_with(|| b.id.cmp(&a.id)));
        Ok(mine.into_iter().skip(query.offset).take(query.limit).collect())
    }

    fn do_rename(&self, owner: &IsolationKey, id: &SessionId, title: Option<&str>) -> Result<(), ConvError> {
        check_owner(owner)?;
        check_title(title, &self.limits)?;
        let mut inner = self.lock();
        let session = inner.owned_mut(owner, id)?;
        session.title = title.map(str::to_owned);
        session.updated_at_ms = session.updated_at_ms.max(unix_now_ms());
        Ok(())
    }

    fn do_delete(&self, owner: &IsolationKey, id: &SessionId) -> Result<u64, ConvError> {
        check_owner(owner)?;
        let mut inner = self.lock();
        inner.owned(owner, id)?;
        Ok(inner.remove(id) as u64)
    }

    fn do_purge(&self, owner: &IsolationKey) -> Result<PurgeReport, ConvError> {
        check_owner(owner)?;
        let mut inner = self.lock();
        let mine: Vec<SessionId> =
            inner.sessions.iter().filter(|(_, s)| s.owner == *owner).map(|(id, _)| id.clone()).collect();
        let mut report = PurgeReport::default();
        for id in mine {
            report.sessions += 1;
            report.messages += inner.remove(&id) as u64;
        }
        Ok(report)
    }
}

impl ConversationStore for MemoryStore {
    fn create<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
        title: Option<&'a str>,
    ) -> BoxFuture<'a, Result<SessionInfo, ConvError>> {
        Box::pin(async move { self.do_create(owner, session, title) })
    }

    fn append<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<AppendReceipt, ConvError>> {
        Box::pin(async move { self.do_append(owner, session, messages) })
    }

    fn load<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
        window: Window,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, ConvError>> {
        Box::pin(async move { self.do_load(owner, session, window) })
    }

    fn list<'a>(
        &'a self,
        owner: &'a IsolationKey,
        query: ListQuery,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, ConvError>> {
        Box::pin(async move { self.do_list(owner, query) })
    }

    fn info<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
    ) -> BoxFuture<'a, Result<SessionInfo, ConvError>> {
        Box::pin(async move {
            check_owner(owner)?;
            Ok(self.lock().owned(owner, session)?.info(session))
        })
    }

    fn rename<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
        title: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ConvError>> {
        Box::pin(async move { self.do_rename(owner, session, title) })
    }

    fn delete<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
    ) -> BoxFuture<'a, Result<u64, ConvError>> {
        Box::pin(async move { self.do_delete(owner, session) })
    }

    fn purge_user<'a>(&'a self, owner: &'a IsolationKey) -> BoxFuture<'a, Result<PurgeReport, ConvError>> {
        Box::pin(async move { self.do_purge(owner) })
    }
}
