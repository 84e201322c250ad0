//! The session table of a polling protocol: session id → session, so that every request of a
//! session (each on its own HTTP connection) finds it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Sessions by sid. The lock is held only to clone or change an entry, never across `.await`.
pub(crate) struct SidTable<T> {
    sessions: Mutex<HashMap<String, Arc<T>>>,
}

impl<T> SidTable<T> {
    pub(crate) fn new() -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<T>>> {
        self.sessions.lock().expect("session table poisoned")
    }

    pub(crate) fn insert(&self, sid: String, session: Arc<T>) {
        self.lock().insert(sid, session);
    }

    pub(crate) fn get(&self, sid: &str) -> Option<Arc<T>> {
        self.lock().get(sid).cloned()
    }

    pub(crate) fn remove(&self, sid: &str) {
        self.lock().remove(sid);
    }
}
