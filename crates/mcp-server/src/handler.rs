//! The [`Handler`] trait: async functions of extractors, called with a [`RequestContext`].

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::error::ToolError;
use crate::extract::FromContext;
use crate::response::{IntoToolResponse, ToolResponse};

/// A boxed future returned by handlers and tool services.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An async function whose arguments are all [`FromContext`] extractors, returning
/// anything [`IntoToolResponse`]. Implemented for functions of up to six arguments; the
/// type parameter `T` is the tuple of argument types (it only disambiguates impls).
pub trait Handler<T>: Clone + Send + Sync + 'static {
    /// Runs the handler.
    fn call(&self, ctx: RequestContext) -> BoxFuture<Result<ToolResponse, ToolError>>;

    /// The tool's input schema: from its [`Args`](crate::Args) argument, or an empty
    /// object schema for tools without arguments.
    fn input_schema() -> Map<String, Value>;
}

fn empty_object_schema() -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("type".into(), Value::String("object".into()));
    map.insert("properties".into(), Value::Object(Map::new()));
    map
}

macro_rules! impl_handler {
    ($($ty:ident),*) => {
        impl<F, Fut, R, $($ty,)*> Handler<($($ty,)*)> for F
        where
            F: Fn($($ty),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoToolResponse,
            $($ty: FromContext,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, ctx: RequestContext) -> BoxFuture<Result<ToolResponse, ToolError>> {
                $(
                    let $ty = match $ty::from_context(&ctx) {
                        Ok(value) => value,
                        Err(error) => return Box::pin(async move { Err(error) }),
                    };
                )*
                let future = (self)($($ty),*);
                Box::pin(async move { future.await.into_tool_response() })
            }

            fn input_schema() -> Map<String, Value> {
                None$(.or_else($ty::input_schema))*.unwrap_or_else(empty_object_schema)
            }
        }
    };
}

impl_handler!();
impl_handler!(T1);
impl_handler!(T1, T2);
impl_handler!(T1, T2, T3);
impl_handler!(T1, T2, T3, T4);
impl_handler!(T1, T2, T3, T4, T5);
impl_handler!(T1, T2, T3, T4, T5, T6);
