//! Warm-invocation cache of active introspection answers, keyed by the
//! SHA-256 of the token (never the token itself) and bounded in size.

use std::collections::HashMap;
use std::sync::Arc;

use crate::token::TokenInfo;

/// At most this many tokens are remembered.
pub const CAPACITY: usize = 10_000;

/// Active answers with the time (epoch seconds) until which each may be reused.
#[derive(Default)]
pub struct TokenCache {
    entries: HashMap<[u8; 32], (Arc<TokenInfo>, u64)>,
}

impl TokenCache {
    /// The cached answer for `key`, if still fresh at `now`.
    pub fn get(&mut self, key: &[u8; 32], now: u64) -> Option<Arc<TokenInfo>> {
        match self.entries.get(key) {
            Some((info, until)) if *until > now => Some(info.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers `info` until `until`. When full, drops stale entries first,
    /// then the ones closest to expiry.
    pub fn insert(&mut self, key: [u8; 32], info: Arc<TokenInfo>, until: u64, now: u64) {
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, u)| *u > now);
            while self.entries.len() >= CAPACITY {
                let soonest = self.entries.iter().min_by_key(|(_, (_, u))| *u).map(|(k, _)| *k);
                match soonest {
                    Some(k) => self.entries.remove(&k),
                    None => break,
                };
            }
        }
        self.entries.insert(key, (info, until));
    }

    /// How many answers are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Arc<TokenInfo> {
        Arc::new(TokenInfo::default())
    }

    #[test]
    fn entries_expire_and_the_size_is_bounded() {
        let mut cache = TokenCache::default();
        cache.insert([1; 32], info(), 100, 0);
        assert!(cache.get(&[1; 32], 99).is_some());
        assert!(cache.get(&[1; 32], 100).is_none());
        assert!(cache.is_empty());

        for i in 0..CAPACITY as u32 + 10 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            cache.insert(key, info(), 1000 + u64::from(i), 0);
        }
        assert_eq!(cache.len(), CAPACITY);
        // The entries closest to expiry made room for the newest.
        assert!(cache.get(&[0; 32], 0).is_none());
    }
}
