//! A value the running server swaps whole while readers keep using the one they took.
//!
//! [`Live`] is how a site.toml edit reaches handlers and workers without dropping a connection:
//! each request or job takes the current value once ([`Live::current`]) and works with that
//! snapshot to the end, so it never sees half of an old config and half of a new one; the
//! reloader puts a new value in ([`Live::replace`]). It depends on nothing.

use std::sync::{Arc, RwLock};

/// A shared, swappable `Arc<T>`; cheap to clone (clones see the same value).
#[derive(Debug)]
pub struct Live<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Live<T> {
    fn clone(&self) -> Self {
        Live(self.0.clone())
    }
}

impl<T> Live<T> {
    /// Shares `value` as the current one.
    pub fn new(value: T) -> Live<T> {
        Live::from_arc(Arc::new(value))
    }

    /// Shares `value` as the current one.
    pub fn from_arc(value: Arc<T>) -> Live<T> {
        Live(Arc::new(RwLock::new(value)))
    }

    /// The current value.
    pub fn current(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes `value` the current value; holders of the previous one keep it until they drop it.
    pub fn replace(&self, value: Arc<T>) -> Arc<T> {
        std::mem::replace(
            &mut *self.0.write().unwrap_or_else(|p| p.into_inner()),
            value,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_swap_the_value_while_a_reader_keeps_its_own() {
        let live = Live::new(1);
        let other = live.clone();
        let held = live.current();
        let old = other.replace(Arc::new(2));
        assert_eq!((*held, *old, *live.current()), (1, 1, 2));
    }
}
