//! `actor_keys`: one RSA-2048 keypair per actor, made on first use and kept forever.

use std::collections::HashMap;

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

/// An actor's keypair, PEM encoded.
#[derive(Clone, Debug)]
pub struct KeyPair {
    /// PKCS#8 private key.
    pub private_pem: String,
    /// SPKI public key, as published in the actor document.
    pub public_pem: String,
    /// When the key (and so the actor) was created.
    pub created_at: DateTime<Utc>,
}

/// The key row of the instance actor; not a valid handle, so it never clashes with one.
pub const INSTANCE_KEY: &str = "~instance";

/// Every keypair a running site signs with: one per configured actor, and the instance actor's.
#[derive(Clone, Debug)]
pub struct ActorKeys {
    by_handle: HashMap<String, KeyPair>,
    instance: KeyPair,
}

impl ActorKeys {
    /// The keys of `handles` and of the instance actor, each made on first use, with the keys
    /// kept of every actor the site once had (so that an actor removed from site.toml can
    /// still sign its `Delete`, and its URL can answer 410).
    pub fn load<'a>(
        store: &Store,
        handles: impl IntoIterator<Item = &'a str>,
    ) -> Result<ActorKeys, StoreError> {
        let mut by_handle = HashMap::new();
        for handle in handles {
            by_handle.insert(handle.to_string(), store.actor_key(handle)?);
        }
        for handle in store.key_handles()? {
            if let std::collections::hash_map::Entry::Vacant(e) = by_handle.entry(handle) {
                let pair = store.actor_key(e.key())?;
                e.insert(pair);
            }
        }
        Ok(ActorKeys {
            by_handle,
            instance: store.actor_key(INSTANCE_KEY)?,
        })
    }

    /// The keypair of an actor, configured now or once.
    pub fn actor(&self, handle: &str) -> Option<&KeyPair> {
        self.by_handle.get(handle)
    }

    /// The instance actor's keypair.
    pub fn instance(&self) -> &KeyPair {
        &self.instance
    }
}

impl Store {
    /// Every actor handle that has a key (every actor this site ever had), the instance actor's
    /// row left out.
    pub fn key_handles(&self) -> Result<Vec<String>, StoreError> {
        self.query_all(
            "SELECT handle FROM actor_keys WHERE handle != ?1 ORDER BY handle",
            [INSTANCE_KEY],
            |r| r.get(0),
        )
    }

    /// The keypair of `handle`, generating and storing it on first call.
    pub fn actor_key(&self, handle: &str) -> Result<KeyPair, StoreError> {
        if let Some(k) = self.load_key(handle)? {
            return Ok(k);
        }
        // Generate outside the lock: RSA-2048 generation takes tens of milliseconds.
        let fresh = generate(handle)?;
        // INSERT OR IGNORE: if another caller won the race, theirs is kept and read back.
        self.execute(
            "INSERT OR IGNORE INTO actor_keys (handle, private_pem, public_pem, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            (
                handle,
                &fresh.private_pem,
                &fresh.public_pem,
                fresh.created_at.to_rfc3339(),
            ),
        )?;
        tracing::info!(actor = handle, "generated RSA-2048 keypair");
        self.load_key(handle)?.ok_or_else(|| StoreError::Key {
            handle: handle.to_string(),
            message: "key vanished after insert".into(),
        })
    }

    fn load_key(&self, handle: &str) -> Result<Option<KeyPair>, StoreError> {
        let row: Option<(String, String, String)> = self.query_opt(
            "SELECT private_pem, public_pem, created_at FROM actor_keys WHERE handle = ?1",
            [handle],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        row.map(|(private_pem, public_pem, created)| {
            let created_at = DateTime::parse_from_rfc3339(&created)
                .map_err(|e| self.corrupt(format!("actor_keys.created_at of {handle}: {e}")))?
                .with_timezone(&Utc);
            Ok(KeyPair {
                private_pem,
                public_pem,
                created_at,
            })
        })
        .transpose()
    }
}

fn generate(handle: &str) -> Result<KeyPair, StoreError> {
    let fail = |e: &dyn std::fmt::Display| StoreError::Key {
        handle: handle.to_string(),
        message: e.to_string(),
    };
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| fail(&e))?;
    let private_pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| fail(&e))?
        .to_string();
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| fail(&e))?;
    Ok(KeyPair {
        private_pem,
        public_pem,
        created_at: Utc::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_generate_a_key_once_and_keep_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path()).unwrap().actor_key("news").unwrap();
        assert!(first.private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(first.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let again = Store::open(dir.path()).unwrap().actor_key("news").unwrap();
        assert_eq!(first.private_pem, again.private_pem);
        assert_eq!(first.created_at, again.created_at);
    }
}
