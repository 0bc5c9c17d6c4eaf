//! A typed map for values an `on_authenticate` hook attaches to a [`ClientContext`](crate::ClientContext).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A map from type to one value of that type, cheap to clone (values are shared).
///
/// ```
/// use identity_types::Extensions;
///
/// #[derive(Debug, PartialEq)]
/// struct Plan(&'static str);
///
/// let mut ext = Extensions::new();
/// ext.insert(Plan("enterprise"));
/// assert_eq!(ext.get::<Plan>(), Some(&Plan("enterprise")));
/// assert_eq!(ext.get::<u32>(), None);
/// ```
#[derive(Clone, Default)]
pub struct Extensions {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl Extensions {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value`, replacing any earlier value of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.map.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, if one was stored.
    #[must_use]
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map.get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref::<T>())
    }

    /// Removes the value of type `T`; true if there was one.
    pub fn remove<T: Send + Sync + 'static>(&mut self) -> bool {
        self.map.remove(&TypeId::of::<T>()).is_some()
    }

    /// Number of stored values.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may hold anything (profiles, secrets): show only how many there are.
        f.debug_struct("Extensions").field("len", &self.map.len()).finish()
    }
}
