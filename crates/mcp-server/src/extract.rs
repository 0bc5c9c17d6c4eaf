//! Extractors: what a tool handler asks for by its argument types.
//!
//! A handler is a plain async function; each argument implements [`FromContext`] and is
//! resolved from the call in progress, *after* authentication, guards and rate limiting
//! have passed, so a refused call never opens a database connection or reads state.
//!
//! ```
//! use mcp_server::{Args, Authenticated, Json, State, ToolError};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Greet { name: String }
//!
//! struct Greeting(&'static str);
//!
//! async fn greet(Args(args): Args<Greet>, caller: Authenticated, greeting: State<Greeting>) -> Result<Json<String>, ToolError> {
//!     Ok(Json(format!("{}, {} (from {})", greeting.0.0, args.name, caller.client_id())))
//! }
//! ```

use std::ops::Deref;
use std::sync::Arc;

use identity_types::ClientContext;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::error::ToolError;

/// Something a handler can take as an argument.
pub trait FromContext: Sized + Send + 'static {
    /// Builds the value from the call, or refuses it.
    ///
    /// # Errors
    /// The [`ToolError`] the call fails with.
    fn from_context(ctx: &RequestContext) -> Result<Self, ToolError>;

    /// The JSON Schema of the tool's input, for the one extractor that defines it
    /// ([`Args`]).
    fn input_schema() -> Option<Map<String, Value>> {
        None
    }
}

/// The tool's arguments, deserialised into `T`; `T`'s JSON Schema (via `schemars`)
/// becomes the tool's `inputSchema`.
#[derive(Debug, Clone)]
pub struct Args<T>(pub T);

impl<T: DeserializeOwned + schemars::JsonSchema + Send + 'static> FromContext for Args<T> {
    fn from_context(ctx: &RequestContext) -> Result<Self, ToolError> {
        // The error names the argument (`items[2].sku: invalid type…`), so a model can
        // correct its call; it is a tool error, not a protocol error, as MCP asks for
        // input validation, and it is bounded (it may quote what the caller sent).
        serde_path_to_error::deserialize(ctx.arguments()).map(Args).map_err(|error| {
            let path = error.path().to_string();
            let message =
                if path == "." { error.inner().to_string() } else { format!("{path}: {}", error.inner()) };
            ToolError::InvalidArguments(message.chars().take(300).collect())
        })
    }

    fn input_schema() -> Option<Map<String, Value>> {
        let schema =
            schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>();
        match serde_json::to_value(schema) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        }
    }
}

/// The authenticated caller. Refuses anonymous callers with
/// [`ToolError::Unauthenticated`], so a public tool can still demand identity for part
/// of its work by asking for `Option<Authenticated>` instead.
#[derive(Debug, Clone)]
pub struct Authenticated(pub ClientContext);

impl Deref for Authenticated {
    type Target = ClientContext;
    fn deref(&self) -> &ClientContext {
        &self.0
    }
}

impl FromContext for Authenticated {
    fn from_context(ctx: &RequestContext) -> Result<Self, ToolError> {
        ctx.client().cloned().map(Authenticated).ok_or(ToolError::Unauthenticated)
    }
}

impl FromContext for Option<Authenticated> {
    fn from_context(ctx: &RequestContext) -> Result<Self, ToolError> {
        Ok(ctx.client().cloned().map(Authenticated))
    }
}

/// Shared state registered with `McpServer::builder(..).state(value)`.
#[derive(Debug)]
pub struct State<T>(pub Arc<T>);

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> FromContext for State<T> {
    fn from_context(ctx: &RequestContext) -> Result<Self, ToolError> {
        ctx.state::<Arc<T>>().cloned().map(State).ok_or_else(|| {
            tracing::error!(
                state = std::any::type_name::<T>(),
                "a handler asked for state that was never registered"
            );
            ToolError::Internal { request_id: ctx.request_id().to_string() }
        })
    }
}

impl FromContext for RequestContext {
    fn from_context(ctx: &RequestContext) -> Result<Self, ToolError> {
        Ok(ctx.clone())
    }
}

/// Work to run after the response is sent: e-mails, cache warming, webhooks. Tasks start
/// once the call's result (and its audit event) is final, run on the server's runtime, and
/// are awaited by graceful shutdown for up to its grace
/// ([`McpServerBuilder::shutdown_grace`](crate::McpServerBuilder::shutdown_grace)), so a
/// deploy cuts off only work that runs longer than that.
///
/// ```
/// use mcp_server::{BackgroundTasks, Json};
///
/// async fn close_ticket(tasks: BackgroundTasks) -> Json<&'static str> {
///     tasks.spawn(async { /* notify the customer */ });
///     Json("closed")
/// }
/// ```
#[derive(Clone, Default)]
pub struct BackgroundTasks {
    queued: Arc<std::sync::Mutex<Vec<crate::handler::BoxFuture<()>>>>,
}

impl BackgroundTasks {
    /// Queues `task` to run after the response.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.queued.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Box::pin(task));
    }

    /// Starts every queued task on `tracker`.
    pub(crate) fn start(&self, tracker: &tokio_util::task::TaskTracker) {
        let queued =
            std::mem::take(&mut *self.queued.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for task in queued {
            tracker.spawn(task);
        }
    }
}

impl std::fmt::Debug for BackgroundTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queued = self.queued.lock().map_or(0, |q| q.len());
        f.debug_struct("BackgroundTasks").field("queued", &queued).finish()
    }
}

impl FromContext for BackgroundTasks {
    fn from_context(ctx: &RequestContext) -> Result<Self, ToolError> {
        Ok(ctx.background.clone())
    }
}

/// The caller's own state: values stored under server-minted handles and the caller's
/// [`IsolationKey`](identity_types::IsolationKey). A handle is a name, not a credential:
/// one presented by another principal reads as absent. Backed by the server's
/// `state_store` (in memory unless configured, e.g. Redis for several replicas).
///
/// ```
/// use mcp_server::{Json, PrincipalState, ToolError};
///
/// async fn remember(state: PrincipalState) -> Result<Json<String>, ToolError> {
///     let handle = state.mint(b"draft".to_vec(), None).await?;
///     Ok(Json(handle.to_string()))
/// }
/// ```
#[derive(Clone)]
pub struct PrincipalState {
    store: Arc<dyn state_store::StateStore>,
    owner: identity_types::IsolationKey,
    request_id: String,
}

impl std::fmt::Debug for PrincipalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrincipalState").finish_non_exhaustive()
    }
}

impl PrincipalState {
    fn failed(&self, error: state_store::StateError) -> ToolError {
        match error {
            state_store::StateError::MalformedHandle => {
                ToolError::InvalidArguments("malformed state handle".into())
            }
            state_store::StateError::TooLarge { .. }
            | state_store::StateError::InvalidTtl { .. }
            | state_store::StateError::QuotaExceeded { .. } => ToolError::InvalidArguments(error.to_string()),
            other => {
                tracing::error!(request_id = %self.request_id, error = %other, "state store failed");
                ToolError::Internal { request_id: self.request_id.clone() }
            }
        }
    }

    /// Stores `value` under a fresh handle for the caller.
    ///
    /// # Errors
    /// [`ToolError::InvalidArguments`] for an oversized value or TTL, or past the caller's quota of
    /// entries, else
    /// [`ToolError::Internal`] when the backend fails.
    pub async fn mint(
        &self,
        value: Vec<u8>,
        ttl: Option<std::time::Duration>,
    ) -> Result<state_store::StateHandle, ToolError> {
        self.store.mint(&self.owner, value, ttl).await.map_err(|e| self.failed(e))
    }

    /// The value of one of the caller's handles (a handle as the client sent it).
    ///
    /// # Errors
    /// [`ToolError::NotFound`] for a handle that is unknown, expired or someone else's;
    /// [`ToolError::InvalidArguments`] for a malformed one.
    pub async fn get(&self, handle: &str) -> Result<Vec<u8>, ToolError> {
        let handle = state_store::StateHandle::parse(handle).map_err(|e| self.failed(e))?;
        self.store
            .get(&self.owner, &handle)
            .await
            .map_err(|e| self.failed(e))?
            .ok_or_else(|| ToolError::NotFound("state handle".into()))
    }

    /// Deletes one of the caller's handles; false if there was none.
    ///
    /// # Errors
    /// As [`PrincipalState::get`].
    pub async fn delete(&self, handle: &str) -> Result<bool, ToolError> {
        let handle = state_store::StateHandle::parse(handle).map_err(|e| self.failed(e))?;
        self.store.delete(&self.owner, &handle).await.map_err(|e| self.failed(e))
    }
}

impl FromContext for PrincipalState {
    fn from_context(ctx: &RequestContext) -> Result<Self, ToolError> {
        let owner = ctx.caller().isolation_key().ok_or(ToolError::Unauthenticated)?;
        Ok(Self { store: Arc::clone(&ctx.state_store), owner, request_id: ctx.request_id().to_string() })
    }
}

/// State of the caller's current 2025-11-25 session, in named slots (`cart`, `draft`),
/// stored under the caller's [`IsolationKey`](identity_types::IsolationKey) with the
/// session appended. Another session of the same principal, or another principal, sees
/// nothing. Calls outside a session (stdio, the stateless 2026-07-28 era) get
/// [`ToolError::Conflict`] naming the need.
#[derive(Clone)]
pub struct SessionState {
    inner: PrincipalState,
}

impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionState").finish_non_exhaustive()
    }
}

impl SessionState {
    fn slot(&self, name: &str) -> Result<state_store::SlotName, ToolError> {
        state_store::SlotName::new(name).map_err(|e| self.inner.failed(e))
    }

    /// Sets slot `name`.
    ///
    /// # Errors
    /// As [`PrincipalState::mint`], and [`ToolError::InvalidArguments`] for a bad name.
    pub async fn put(&self, name: &str, value: Vec<u8>) -> Result<(), ToolError> {
        let slot = self.slot(name)?;
        self.inner
            .store
            .put_slot(&self.inner.owner, &slot, value, None)
            .await
            .map_err(|e| self.inner.failed(e))
    }

    /// Reads slot `name`.
    ///
    /// # Errors
    /// As [`SessionState::put`].
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, ToolError> {
        let slot = self.slot(name)?;
        self.inner.store.get_slot(&self.inner.owner, &slot).await.map_err(|e| self.inner.failed(e))
    }
}

impl FromContext for SessionState {
    fn from_context(ctx: &RequestContext) -> Result<Self, ToolError> {
        let session = ctx.session.as_ref().ok_or_else(|| {
            ToolError::Conflict(
                "this tool keeps per-session state and needs an MCP session (2025-11-25)".into(),
            )
        })?;
        let mut inner = PrincipalState::from_context(ctx)?;
        inner.owner = inner.owner.with_session(session);
        Ok(Self { inner })
    }
}
