//! [`RequestContext`]: everything a tool handler may know about the call in progress.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use identity_types::{ClientContext, IsolationKey, RequestId};
use mcp_guards::ToolInfo;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Who is calling, as established by the authentication layer for this one HTTP request
/// (or for the stdio session). The layer puts it in the request's extensions; the MCP
/// handler reads it back from the `http::request::Parts` rmcp attaches to each message.
#[derive(Debug, Clone)]
pub enum Caller {
    /// An authenticated principal.
    Authenticated(ClientContext),
    /// An anonymous caller of a server configured to admit them (public tools only).
    Anonymous {
        /// The peer's address: anonymous callers are partitioned by it.
        peer_ip: Option<IpAddr>,
    },
}

impl Caller {
    /// The authenticated context, if any.
    #[must_use]
    pub fn client(&self) -> Option<&ClientContext> {
        match self {
            Self::Authenticated(ctx) => Some(ctx),
            Self::Anonymous { .. } => None,
        }
    }

    /// The partition key: the principal's, or the anonymous peer's. `None` for an
    /// anonymous caller whose address is unknown (such callers share no bucket with
    /// anyone: they are refused where a key is needed).
    #[must_use]
    pub fn isolation_key(&self) -> Option<IsolationKey> {
        match self {
            Self::Authenticated(ctx) => Some(ctx.isolation_key().clone()),
            Self::Anonymous { peer_ip } => peer_ip.map(IsolationKey::anonymous),
        }
    }

    /// The peer's address.
    #[must_use]
    pub fn peer_ip(&self) -> Option<IpAddr> {
        match self {
            Self::Authenticated(ctx) => ctx.peer_ip(),
            Self::Anonymous { peer_ip } => *peer_ip,
        }
    }
}

/// Typed shared state registered on the server with `McpServer::builder(..).state(..)`.
#[derive(Clone, Default)]
pub(crate) struct StateMap(Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl StateMap {
    pub(crate) fn with<T: Send + Sync + 'static>(&self, value: T) -> Self {
        let mut map: HashMap<TypeId, Arc<dyn Any + Send + Sync>> = (*self.0).clone();
        map.insert(TypeId::of::<T>(), Arc::new(value));
        Self(Arc::new(map))
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref())
    }
}

impl std::fmt::Debug for StateMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMap").field("entries", &self.0.len()).finish()
    }
}

/// One tool call in progress: the caller, the request id, the tool, the arguments and
/// a cancellation token. Handlers usually take the pieces they need through extractors
/// ([`FromContext`](crate::FromContext)) rather than this whole value.
#[derive(Clone)]
pub struct RequestContext {
    pub(crate) caller: Caller,
    pub(crate) request_id: RequestId,
    pub(crate) user_agent: Option<Arc<str>>,
    pub(crate) tool: Arc<ToolInfo>,
    pub(crate) arguments: Arc<Value>,
    pub(crate) cancellation: CancellationToken,
    pub(crate) state: StateMap,
    pub(crate) background: crate::extract::BackgroundTasks,
    pub(crate) state_store: Arc<dyn state_store::StateStore>,
    /// The 2025-11-25 session this call came in, if any (`Mcp-Session-Id`, already bound
    /// to this principal by the door).
    pub(crate) session: Option<identity_types::SessionId>,
    /// When the call entered the tool's middleware: the queues of the concurrency
    /// layers share one deadline from here, so waiting in two of them is not twice
    /// the wait.
    pub(crate) entered: std::time::Instant,
}

impl RequestContext {
    /// A call of a tool named `tool` by an anonymous caller, for middleware unit tests.
    #[cfg(test)]
    pub(crate) fn for_test(tool: &str) -> Self {
        Self {
            caller: Caller::Anonymous { peer_ip: None },
            request_id: RequestId::new("test").expect("a valid request id"),
            user_agent: None,
            tool: Arc::new(ToolInfo {
                name: tool.to_owned(),
                read_only: false,
                destructive: false,
                idempotent: false,
                public: true,
                requires_approval: false,
            }),
            arguments: Arc::new(Value::Null),
            cancellation: CancellationToken::new(),
            state: StateMap::default(),
            background: crate::extract::BackgroundTasks::default(),
            state_store: Arc::new(state_store::MemoryStateStore::new(state_store::Limits::default())),
            session: None,
            entered: std::time::Instant::now(),
        }
    }

    /// Who is calling.
    #[must_use]
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
    /// The authenticated caller, if any.
    #[must_use]
    pub fn client(&self) -> Option<&ClientContext> {
        self.caller.client()
    }
    /// The request id (from a valid `X-Request-ID`, else generated).
    #[must_use]
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }
    /// The peer's address.
    #[must_use]
    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.caller.peer_ip()
    }
    /// The caller's `User-Agent`.
    #[must_use]
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
    /// The tool being called.
    #[must_use]
    pub fn tool(&self) -> &ToolInfo {
        &self.tool
    }
    /// The raw arguments.
    #[must_use]
    pub fn arguments(&self) -> &Value {
        &self.arguments
    }
    /// Cancelled when the client cancels the request or the server shuts down.
    #[must_use]
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancellation
    }
    /// Shared state of type `T`, if registered.
    #[must_use]
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.state.get::<T>()
    }
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("caller", &self.caller)
            .field("request_id", &self.request_id)
            .field("tool", &self.tool.name)
            .finish_non_exhaustive()
    }
}
