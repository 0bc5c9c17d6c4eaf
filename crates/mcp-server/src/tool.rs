//! [`Tool`]: one tool's definition (name, schema, annotations, guards, limits, handler)
//! and [`McpRouter`], a named group of tools.

use std::sync::Arc;
use std::time::Duration;

use governor::Quota;
use mcp_guards::{Guard, GuardConfigError, HasAllRoles, HasRole, HasScope};
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::error::ToolError;
use crate::handler::{BoxFuture, Handler};
use crate::response::ToolResponse;

/// Adds a guard built from names, or remembers why it could not be built (the server's
/// `build()` reports it): the shorthands stay infallible and chainable.
fn push_guard<G: Guard + 'static>(
    guards: &mut Vec<Arc<dyn Guard>>,
    errors: &mut Vec<GuardConfigError>,
    built: Result<G, GuardConfigError>,
) {
    match built {
        Ok(guard) => guards.push(Arc::new(guard)),
        Err(error) => errors.push(error),
    }
}

/// A handler with its argument types erased.
pub(crate) type ErasedHandler =
    Arc<dyn Fn(RequestContext) -> BoxFuture<Result<ToolResponse, ToolError>> + Send + Sync>;

/// A tool: what it is called, what it takes, who may call it, and what runs.
///
/// ```
/// use std::time::Duration;
/// use mcp_server::{Args, Json, Tool, ToolError};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Lookup { customer_id: String }
///
/// async fn get_customer(Args(args): Args<Lookup>) -> Result<Json<String>, ToolError> {
///     Err(ToolError::NotFound(format!("customer {}", args.customer_id)))
/// }
///
/// let tool = Tool::new("get_customer", get_customer)
///     .description("Look up one customer of your tenant by id.")
///     .read_only()
///     .roles(["support", "admin"])
///     .timeout(Duration::from_secs(5));
/// ```
pub struct Tool {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) input_schema: Map<String, Value>,
    pub(crate) read_only: bool,
    pub(crate) destructive: bool,
    pub(crate) idempotent: bool,
    pub(crate) public: bool,
    pub(crate) requires_approval: bool,
    pub(crate) guards: Vec<Arc<dyn Guard>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) rate_limit: Option<Quota>,
    pub(crate) max_concurrency: Option<(usize, usize)>,
    pub(crate) circuit_breaker: Option<(u32, Duration)>,
    pub(crate) handler: ErasedHandler,
    pub(crate) config_errors: Vec<GuardConfigError>,
    /// Layers of the user's, innermost first (each `.layer()` wraps the ones before).
    pub(crate) layers: Vec<crate::middleware::WrapFn>,
}

impl Tool {
    /// A tool named `name` run by `handler` (an async function of extractors). Its input
    /// schema comes from the handler's [`Args`](crate::Args) type.
    pub fn new<H: Handler<T>, T>(name: impl Into<String>, handler: H) -> Self {
        Self {
            name: name.into(),
            description: None,
            input_schema: H::input_schema(),
            read_only: false,
            destructive: false,
            idempotent: false,
            public: false,
            requires_approval: false,
            guards: Vec::new(),
            timeout: None,
            rate_limit: None,
            max_concurrency: None,
            circuit_breaker: None,
            handler: Arc::new(move |ctx| handler.call(ctx)),
            config_errors: Vec::new(),
            layers: Vec::new(),
        }
    }

    /// Wraps the tool's handler in a tower [`Layer`](tower::Layer) of your own (logging,
    /// caching, a metadata stamp…). It runs inside the built-in middleware (after
    /// authentication, guards, rate and concurrency limits, within the timeout), so it
    /// sees only admitted calls and cannot lift a requirement. Each call wraps the layers
    /// added before it; a router's and the server's layers wrap the tool's.
    #[must_use]
    pub fn layer(mut self, layer: impl crate::middleware::ToolLayer) -> Self {
        self.layers.push(std::sync::Arc::new(layer));
        self
    }

    /// The description shown to clients and models.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The description from a doc comment as [`tool_fn!`](crate::tool_fn) keeps it
    /// (`handler::DOC`): the space after each `///` is dropped and the text trimmed.
    #[must_use]
    pub fn doc(self, doc: &str) -> Self {
        let lines: Vec<&str> =
            doc.lines().map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end()).collect();
        self.description(lines.join("\n").trim().to_owned())
    }
    /// Annotates the tool as read-only (`readOnlyHint`).
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
    /// Annotates the tool as destructive (`destructiveHint`).
    #[must_use]
    pub fn destructive(mut self) -> Self {
        self.destructive = true;
        self
    }
    /// Annotates the tool as idempotent (`idempotentHint`).
    #[must_use]
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
    /// Lets callers without identity call the tool (only when the server admits
    /// anonymous callers at all).
    #[must_use]
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }
    /// Requires an approval grant for every call.
    #[must_use]
    pub fn requires_approval(mut self) -> Self {
        self.requires_approval = true;
        self
    }
    /// Adds a guard; all of a tool's guards must allow a call.
    #[must_use]
    pub fn guard(mut self, guard: impl Guard + 'static) -> Self {
        self.guards.push(Arc::new(guard));
        self
    }
    /// Shorthand for `.guard(HasRole::new(roles)?)`: callers need at least one of `roles`.
    /// An invalid role name fails `McpServer` building.
    #[must_use]
    pub fn roles(mut self, roles: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        push_guard(&mut self.guards, &mut self.config_errors, HasRole::new(roles));
        self
    }
    /// Shorthand for `.guard(HasScope::new(scopes)?)`: callers need at least one of
    /// `scopes`. An invalid scope fails `McpServer` building.
    #[must_use]
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        push_guard(&mut self.guards, &mut self.config_errors, HasScope::new(scopes));
        self
    }
    /// Shorthand for `.guard(HasAllRoles::new(roles)?)`: callers need every one of
    /// `roles`.
    #[must_use]
    pub fn all_roles(mut self, roles: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        push_guard(&mut self.guards, &mut self.config_errors, HasAllRoles::new(roles));
        self
    }
    /// Fails calls that run longer than `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Limits calls per principal.
    #[must_use]
    pub fn rate_limit(mut self, quota: Quota) -> Self {
        self.rate_limit = Some(quota);
        self
    }
    /// Limits calls in flight, in total and per principal.
    #[must_use]
    pub fn max_concurrency(mut self, global: usize, per_principal: usize) -> Self {
        self.max_concurrency = Some((global, per_principal));
        self
    }
    /// Stops calling the tool for `cooldown` after `failures` consecutive internal errors
    /// or timeouts ([`CircuitBreakerLayer`](crate::middleware::CircuitBreakerLayer)).
    #[must_use]
    pub fn circuit_breaker(mut self, failures: u32, cooldown: Duration) -> Self {
        self.circuit_breaker = Some((failures, cooldown));
        self
    }
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("read_only", &self.read_only)
            .field("public", &self.public)
            .field("guards", &self.guards.iter().map(|g| g.name()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A group of tools under a prefix (`customers` → `customers.get_customer`), with guards
/// and a timeout of its own.
///
/// A router can only add requirements: its guards run in addition to each tool's, its
/// timeout applies only where it is shorter than the tool's, and it has no way to make
/// a tool public or drop a tool's guards.
pub struct McpRouter {
    pub(crate) prefix: String,
    pub(crate) tools: Vec<Tool>,
    pub(crate) guards: Vec<Arc<dyn Guard>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) config_errors: Vec<GuardConfigError>,
    pub(crate) layers: Vec<crate::middleware::WrapFn>,
}

impl McpRouter {
    /// A router whose tools are named `<prefix>.<tool>`.
    #[must_use]
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            tools: Vec::new(),
            guards: Vec::new(),
            timeout: None,
            config_errors: Vec::new(),
            layers: Vec::new(),
        }
    }
    /// Wraps every tool of the router in a tower layer of your own, around the tools'
    /// own layers; see [`Tool::layer`]. Like guards, it adds to a tool and can never
    /// weaken what the tool requires.
    #[must_use]
    pub fn layer(mut self, layer: impl crate::middleware::ToolLayer) -> Self {
        self.layers.push(std::sync::Arc::new(layer));
        self
    }
    /// Adds a tool.
    #[must_use]
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }
    /// Adds a guard to every tool of the router.
    #[must_use]
    pub fn guard(mut self, guard: impl Guard + 'static) -> Self {
        self.guards.push(Arc::new(guard));
        self
    }
    /// Requires one of `roles` for every tool of the router.
    #[must_use]
    pub fn roles(mut self, roles: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        push_guard(&mut self.guards, &mut self.config_errors, HasRole::new(roles));
        self
    }
    /// Caps every tool's timeout at `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The router's tools with the prefix applied and the router's requirements added.
    pub(crate) fn into_tools(self) -> (Vec<Tool>, Vec<GuardConfigError>) {
        let Self { prefix, tools, guards, timeout, mut config_errors, layers } = self;
        let tools = tools
            .into_iter()
            .map(|mut tool| {
                tool.name = format!("{prefix}.{}", tool.name);
                // Router guards run first, then the tool's own: both must pass.
                let own = std::mem::take(&mut tool.guards);
                tool.guards = guards.iter().cloned().chain(own).collect();
                tool.timeout = match (tool.timeout, timeout) {
                    (Some(own), Some(cap)) => Some(own.min(cap)),
                    (own, cap) => own.or(cap),
                };
                config_errors.append(&mut tool.config_errors);
                // The router's layers wrap the tool's own.
                tool.layers.extend(layers.iter().cloned());
                tool
            })
            .collect();
        (tools, config_errors)
    }
}

impl std::fmt::Debug for McpRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpRouter")
            .field("prefix", &self.prefix)
            .field("tools", &self.tools)
            .field("guards", &self.guards.iter().map(|g| g.name()).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Defines a tool handler and keeps its doc comment for the tool's description: next to
/// `async fn name` it defines a module `name` holding `DOC`, the comment's text, for
/// [`Tool::doc`]. (A function and a module of the same name live side by side in Rust.)
/// The function may carry doc comments only, no other attributes.
///
/// ```
/// use mcp_server::{Json, Tool, tool_fn};
///
/// tool_fn! {
///     /// The server's time, in seconds since the Unix epoch.
///     ///
///     /// Public: no identity needed.
///     async fn server_time() -> Json<serde_json::Value> {
///         Json(serde_json::json!({ "now": 0 }))
///     }
/// }
///
/// let tool = Tool::new("server_time", server_time).doc(server_time::DOC).public();
/// assert_eq!(server_time::DOC, " The server's time, in seconds since the Unix epoch.\n\n Public: no identity needed.\n");
/// # let _ = tool;
/// ```
#[macro_export]
macro_rules! tool_fn {
    ($(#[doc = $doc:expr])+ $vis:vis async fn $name:ident $($rest:tt)*) => {
        $(#[doc = $doc])+
        $vis async fn $name $($rest)*

        #[doc = ::core::concat!("The doc comment of the tool handler `", ::core::stringify!($name), "`, kept as its description.")]
        #[allow(unreachable_pub)]
        $vis mod $name {
            /// The doc comment's text, one line per `///` line.
            pub const DOC: &str = ::core::concat!($($doc, "\n"),+);
        }
    };
    ($($other:tt)*) => {
        ::core::compile_error!("tool_fn! takes doc comments, then `async fn` (no other attributes)");
    };
}
