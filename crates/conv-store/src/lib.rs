//! # conv-store
//!
//! Conversations whose ownership lives **in the store API**, so no caller can forget it.
//! Every call takes the caller's [`IsolationKey`] (and, for one conversation, a
//! [`SessionId`]); there is no call that reads or writes a session without naming who is
//! asking. A peer we studied checked ownership only in its agent: a call without a user id
//! skipped the check, unowned sessions were open to all, two users could race to own a new
//! session, and the denial named the owner. Here:
//!
//! - **The first write claims the session atomically.** [`ConversationStore::append`] on a
//!   session id nobody holds creates it for the caller in the same transaction (or Lua
//!   script) as the first message. Two principals racing for one new id: exactly one wins.
//! - **Someone else's session looks like no session.** Reading, listing, renaming or
//!   deleting a session that does not exist, or that another principal owns, gives the same
//!   [`ConvError::SessionAccessDenied`], which carries nothing about the owner. (A *write* to
//!   an id someone else holds is refused while one to a free id succeeds; ids are meant to
//!   be [`SessionId::generate`]d, 192 random bits, so that difference tells a prober nothing.)
//! - **Append-only.** Messages are appended and never rewritten; sequence numbers run from 0
//!   without gaps.
//! - **Bounded.** Message size, batch size, messages per session, load windows and list
//!   pages all have [`Limits`]; a batch is validated whole before anything is written, so a
//!   refused batch stores nothing.
//! - **GDPR.** [`ConversationStore::purge_user`] deletes every session and message of one
//!   principal and reports the counts.
//!
//! ## Backends
//!
//! | backend | feature | for | isolation beyond the API check |
//! |---|---|---|---|
//! | [`MemoryStore`] | always | tests, demos | — |
//! | `SqliteStore` | `sqlite` | the embedded default (WAL) | — |
//! | `PostgresStore` | `postgres` | several replicas | row-level security on tenant and owner |
//! | `RedisStore` | `redis` | several replicas, optional TTL | data keys derived from the owner's key |
//!
//! Every backend passes one conformance suite (`tests/conformance.rs`) against the real
//! server.
//!
//! ```
//! use conv_store::{ConversationStore, ConvError, Limits, MemoryStore, Message, Window};
//! use identity_types::{ClientId, IsolationKey, SessionId, TenantId};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let store = MemoryStore::new(Limits::default());
//! let acme = TenantId::new("acme")?;
//! let alice = IsolationKey::for_principal(Some(&acme), &ClientId::new("alice")?);
//! let bob = IsolationKey::for_principal(Some(&acme), &ClientId::new("bob")?);
//!
//! let session = SessionId::generate()?;
//! let receipt = store.append(&alice, &session, &[Message::user("hi"), Message::assistant("hello")]).await?;
//! assert!(receipt.claimed);
//! let history = store.load(&alice, &session, Window::Last(50)).await?;
//! assert_eq!(history.len(), 2);
//!
//! // Bob cannot read, append to, rename or delete it, and learns nothing about its owner.
//! assert!(matches!(store.load(&bob, &session, Window::Last(50)).await, Err(ConvError::SessionAccessDenied)));
//! assert!(matches!(store.append(&bob, &session, &[Message::user("x")]).await, Err(ConvError::SessionAccessDenied)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// Implements [`ConversationStore`] for a backend whose inherent async methods
/// `do_create`, `do_append`, `do_load`, `do_list`, `do_info`, `do_rename`, `do_delete` and
/// `do_purge` carry the logic: one forwarding impl instead of a copy per backend.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
macro_rules! forward_conversation_store {
    ($store:ty) => {
        impl $crate::ConversationStore for $store {
            fn create<'a>(
                &'a self,
                owner: &'a identity_types::IsolationKey,
                session: &'a identity_types::SessionId,
                title: Option<&'a str>,
            ) -> $crate::BoxFuture<'a, Result<$crate::SessionInfo, $crate::ConvError>> {
                Box::pin(self.do_create(owner, session, title))
            }

            fn append<'a>(
                &'a self,
                owner: &'a identity_types::IsolationKey,
                session: &'a identity_types::SessionId,
                messages: &'a [$crate::Message],
            ) -> $crate::BoxFuture<'a, Result<$crate::AppendReceipt, $crate::ConvError>> {
                Box::pin(self.do_append(owner, session, messages))
            }

            fn load<'a>(
                &'a self,
                owner: &'a identity_types::IsolationKey,
                session: &'a identity_types::SessionId,
                window: $crate::Window,
            ) -> $crate::BoxFuture<'a, Result<Vec<$crate::StoredMessage>, $crate::ConvError>> {
                Box::pin(self.do_load(owner, session, window))
            }

            fn list<'a>(
                &'a self,
                owner: &'a identity_types::IsolationKey,
                query: $crate::ListQuery,
            ) -> $crate::BoxFuture<'a, Result<Vec<$crate::SessionInfo>, $crate::ConvError>> {
                Box::pin(self.do_list(owner, query))
            }

            fn info<'a>(
                &'a self,
                owner: &'a identity_types::IsolationKey,
                session: &'a identity_types::SessionId,
            ) -> $crate::BoxFuture<'a, Result<$crate::SessionInfo, $crate::ConvError>> {
                Box::pin(self.do_info(owner, session))
            }

            fn rename<'a>(
                &'a self,
                owner: &'a identity_types::IsolationKey,
                session: &'a identity_types::SessionId,
                title: Option<&'a str>,
            ) -> $crate::BoxFuture<'a, Result<(), $crate::ConvError>> {
                Box::pin(self.do_rename(owner, session, title))
            }

            fn delete<'a>(
                &'a self,
                owner: &'a identity_types::IsolationKey,
                session: &'a identity_types::SessionId,
            ) -> $crate::BoxFuture<'a, Result<u64, $crate::ConvError>> {
                Box::pin(self.do_delete(owner, session))
            }

            fn purge_user<'a>(
                &'a self,
                owner: &'a identity_types::IsolationKey,
            ) -> $crate::BoxFuture<'a, Result<$crate::PurgeReport, $crate::ConvError>> {
                Box::pin(self.do_purge(owner))
            }
        }
    };
}

mod memory;
mod message;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use identity_types::{IsolationKey, SessionId};

pub use memory::{MemoryCapacity, MemoryStore};
pub use message::{Message, MessageRole, StoredMessage, ToolCall, record};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, migrate as migrate_postgres};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteDurability, SqliteStore};

/// A boxed, sendable future: the stores are used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a conversation store refuses, and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvError {
    /// The session does not exist, or belongs to someone else: deliberately the same error,
    /// and it says nothing about the owner.
    #[error("no such session for this caller")]
    SessionAccessDenied,
    /// [`ConversationStore::create`] for a session id the caller already holds.
    #[error("the session already exists")]
    SessionExists,
    /// The owner key is anonymous or names a session: conversations belong to principals.
    #[error("conversations are owned by authenticated principals; {0}")]
    InvalidOwner(&'static str),
    /// An append with no messages.
    #[error("an append needs at least one message")]
    EmptyAppend,
    /// More messages in one append than [`Limits::max_append_batch`].
    #[error("{count} messages in one append, at most {max} allowed")]
    BatchTooLarge {
        /// Messages offered.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A message's stored form exceeds [`Limits::max_message_bytes`].
    #[error("message {index} of the batch is {bytes} bytes stored, at most {max} allowed")]
    MessageTooLarge {
        /// Position in the batch.
        index: usize,
        /// Its stored size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A message breaks a role rule or a field bound.
    #[error("message {index} of the batch is invalid: {reason}")]
    InvalidMessage {
        /// Position in the batch.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The session would exceed [`Limits::max_messages_per_session`].
    #[error("the session holds {current} messages; {adding} more would exceed the limit of {max}")]
    SessionFull {
        /// Messages already stored.
        current: u64,
        /// Messages offered.
        adding: usize,
        /// The limit.
        max: u64,
    },
    /// A title that is too long or contains control characters.
    #[error("invalid title: {0}")]
    InvalidTitle(String),
    /// A load window or list page larger than the configured maximum.
    #[error("{requested} requested, at most {max} per call")]
    WindowTooLarge {
        /// What was asked for.
        requested: usize,
        /// The limit ([`Limits::max_load`] or [`Limits::max_list`]).
        max: usize,
    },
    /// The owner already holds [`Limits::max_sessions_per_owner`] sessions; claiming
    /// another is refused (so one principal cannot fill a shared store).
    #[error("the caller already holds the maximum of {max} sessions")]
    TooManySessions {
        /// The limit.
        max: u64,
    },
    /// The in-memory store is at its [`MemoryCapacity`].
    #[error("the in-memory store is full ({0})")]
    StoreFull(&'static str),
    /// A stored record could not be decoded (e.g. invalid UTF-8 written into Redis by
    /// something else).
    #[error("stored message {seq} is corrupt: {reason}")]
    Corrupt {
        /// The record's position.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Stored session metadata could not be decoded (e.g. a session id of the wrong shape
    /// or a timestamp that is not a number, written by something other than this store).
    #[error("stored session metadata is corrupt: {0}")]
    CorruptMetadata(String),
    /// A stored record of a schema version this build does not read.
    #[error(
        "stored message {seq} has schema version {found}; this build reads version {}",
        record::SCHEMA_VERSION
    )]
    UnsupportedSchema {
        /// The record's position.
        seq: u64,
        /// The version found.
        found: u32,
    },
    /// The store is configured in a way that would weaken isolation (e.g. a Postgres
    /// connection that bypasses row-level security). Refused at open, never at first use.
    #[error("refusing an insecure store configuration: {0}")]
    InsecureConfiguration(String),
    /// A store setting out of range (e.g. a batch limit the backend cannot carry out
    /// atomically). Refused when the store is built.
    #[error("invalid store configuration: {0}")]
    InvalidConfiguration(String),
    /// The backing service failed or is unreachable. If it failed before the write
    /// committed, nothing was written; if only the reply was lost, the write may have
    /// taken effect, so check with [`ConversationStore::load`] before retrying an append.
    #[error("conversation store unavailable: {0}")]
    Unavailable(String),
}

/// Bounds every backend enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest stored record of one message (JSON bytes).
    pub max_message_bytes: usize,
    /// Most messages in one append.
    pub max_append_batch: usize,
    /// Most messages one session may hold.
    pub max_messages_per_session: u64,
    /// Most sessions one principal may hold.
    pub max_sessions_per_owner: u64,
    /// Most messages one load may return.
    pub max_load: usize,
    /// Most sessions one list call may return.
    pub max_list: usize,
    /// Longest title, in bytes.
    pub max_title_bytes: usize,
    /// Most tool calls in one assistant message.
    pub max_tool_calls: usize,
    /// Most metadata entries on one message.
    pub max_metadata_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 256 * 1024,
            max_append_batch: 100,
            max_messages_per_session: 10_000,
            max_sessions_per_owner: 1_000,
            max_load: 1_000,
            max_list: 200,
            max_title_bytes: 256,
            max_tool_calls: 128,
            max_metadata_entries: 32,
        }
    }
}

/// Which messages a load returns, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last `n` messages.
    Last(usize),
    /// Up to `limit` messages starting at sequence number `start`.
    From {
        /// First sequence number.
        start: u64,
        /// Most messages.
        limit: usize,
    },
}

impl Window {
    fn size(self) -> usize {
        match self {
            Self::Last(n) | Self::From { limit: n, .. } => n,
        }
    }

    /// The half-open sequence range `[start, end)` this window selects in a session of
    /// `count` messages.
    fn range(self, count: u64) -> (u64, u64) {
        match self {
            Self::Last(n) => (count.saturating_sub(n as u64), count),
            Self::From { start, limit } => {
                let start = start.min(count);
                (start, start.saturating_add(limit as u64).min(count))
            }
        }
    }
}

/// One page of a principal's sessions, most recently updated first (ties: by session id,
/// descending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    /// Most sessions to return (at most [`Limits::max_list`]).
    pub limit: usize,
    /// Sessions to skip.
    pub offset: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self { limit: 50, offset: 0 }
    }
}

/// A session's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session.
    pub id: SessionId,
    /// Its title, if one was set.
    pub title: Option<String>,
    /// When it was claimed (Unix milliseconds).
    pub created_at_ms: u64,
    /// When it last changed (Unix milliseconds).
    pub updated_at_ms: u64,
    /// Messages stored.
    pub message_count: u64,
}

impl SessionInfo {
    /// A session just created at `now_ms`, without messages.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    fn empty(id: &SessionId, title: Option<&str>, now_ms: u64) -> Self {
        Self {
            id: id.clone(),
            title: title.map(str::to_owned),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            message_count: 0,
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    /// Sequence number of the first appended message.
    pub first_seq: u64,
    /// Messages appended.
    pub count: usize,
    /// True if this append created (claimed) the session.
    pub claimed: bool,
}

/// What [`ConversationStore::purge_user`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Sessions deleted.
    pub sessions: u64,
    /// Messages deleted.
    pub messages: u64,
}

/// A conversation store. Every method takes the caller's principal [`IsolationKey`]; see
/// the [crate docs](crate) for the guarantees every implementation gives.
pub trait ConversationStore: Send + Sync + fmt::Debug {
    /// Creates an empty session owned by `owner`.
    ///
    /// # Errors
    /// [`ConvError::SessionExists`] if the caller already holds it,
    /// [`ConvError::SessionAccessDenied`] if someone else does, plus the common errors.
    fn create<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
        title: Option<&'a str>,
    ) -> BoxFuture<'a, Result<SessionInfo, ConvError>>;

    /// Appends messages, claiming the session if nobody holds it. All or nothing.
    ///
    /// # Errors
    /// [`ConvError::SessionAccessDenied`] if another principal holds the session; limit and
    /// validation errors (nothing stored); [`ConvError::Unavailable`].
    fn append<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<AppendReceipt, ConvError>>;

    /// Loads a window of the caller's session, oldest first.
    ///
    /// # Errors
    /// [`ConvError::SessionAccessDenied`], [`ConvError::WindowTooLarge`], decoding errors.
    fn load<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
        window: Window,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, ConvError>>;

    /// Lists the caller's sessions, most recently updated first.
    ///
    /// # Errors
    /// [`ConvError::WindowTooLarge`], [`ConvError::Unavailable`].
    fn list<'a>(
        &'a self,
        owner: &'a IsolationKey,
        query: ListQuery,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, ConvError>>;

    /// One session's metadata.
    ///
    /// # Errors
    /// [`ConvError::SessionAccessDenied`], [`ConvError::Unavailable`].
    fn info<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
    ) -> BoxFuture<'a, Result<SessionInfo, ConvError>>;

    /// Sets or clears the title.
    ///
    /// # Errors
    /// [`ConvError::SessionAccessDenied`], [`ConvError::InvalidTitle`].
    fn rename<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
        title: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ConvError>>;

    /// Deletes the session and its messages; returns how many messages went.
    ///
    /// # Errors
    /// [`ConvError::SessionAccessDenied`], [`ConvError::Unavailable`].
    fn delete<'a>(
        &'a self,
        owner: &'a IsolationKey,
        session: &'a SessionId,
    ) -> BoxFuture<'a, Result<u64, ConvError>>;

    /// Deletes every session and message of `owner` (the GDPR erasure request).
    ///
    /// # Errors
    /// [`ConvError::Unavailable`]; on error some sessions may already be gone, and a retry
    /// finishes the job.
    fn purge_user<'a>(&'a self, owner: &'a IsolationKey) -> BoxFuture<'a, Result<PurgeReport, ConvError>>;
}

/// Conversations belong to authenticated principals: not to anonymous callers (one
/// address is shared by many people) and not to a key that already names a session.
fn check_owner(owner: &IsolationKey) -> Result<(), ConvError> {
    if owner.is_anonymous() {
        Err(ConvError::InvalidOwner("anonymous callers cannot own conversations"))
    } else if owner.has_session() {
        Err(ConvError::InvalidOwner("pass the principal's key, not a session key"))
    } else {
        Ok(())
    }
}

fn check_title(title: Option<&str>, limits: &Limits) -> Result<(), ConvError> {
    let Some(title) = title else { return Ok(()) };
    if title.len() > limits.max_title_bytes {
        return Err(ConvError::InvalidTitle(format!(
            "{} bytes, at most {}",
            title.len(),
            limits.max_title_bytes
        )));
    }
    if title.chars().any(char::is_control) {
        return Err(ConvError::InvalidTitle("control characters are not allowed".into()));
    }
    Ok(())
}

fn check_window(window: Window, limits: &Limits) -> Result<(), ConvError> {
    if window.size() > limits.max_load {
        return Err(ConvError::WindowTooLarge { requested: window.size(), max: limits.max_load });
    }
    Ok(())
}

fn check_list(query: ListQuery, limits: &Limits) -> Result<(), ConvError> {
    if query.limit > limits.max_list {
        return Err(ConvError::WindowTooLarge { requested: query.limit, max: limits.max_list });
    }
    Ok(())
}

fn check_capacity(current: u64, adding: usize, limits: &Limits) -> Result<(), ConvError> {
    if current.saturating_add(adding as u64) > limits.max_messages_per_session {
        return Err(ConvError::SessionFull { current, adding, max: limits.max_messages_per_session });
    }
    Ok(())
}

/// A sequence number or count as SQL `BIGINT` (saturating: every stored value is small).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A SQL `BIGINT` read back as a count (negative values, which the schema's checks
/// forbid, read as zero).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A stored id that does not parse as a [`SessionId`] is corruption, not a panic.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
fn stored_session_id(text: &str) -> Result<SessionId, ConvError> {
    SessionId::new(text).map_err(|e| ConvError::CorruptMetadata(format!("stored session id: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ranges() {
        // (window, count, expected [start, end))
        let cases = [
            (Window::Last(50), 0, (0, 0)),
            (Window::Last(50), 10, (0, 10)),
            (Window::Last(3), 10, (7, 10)),
            (Window::Last(0), 10, (10, 10)),
            (Window::From { start: 2, limit: 3 }, 10, (2, 5)),
            (Window::From { start: 8, limit: 5 }, 10, (8, 10)),
            (Window::From { start: 20, limit: 5 }, 10, (10, 10)),
            (Window::From { start: u64::MAX, limit: usize::MAX }, 10, (10, 10)),
        ];
        for (window, count, expected) in cases {
            assert_eq!(window.range(count), expected, "{window:?} over {count}");
        }
    }
}
