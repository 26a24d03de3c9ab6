//! A list of things the server keeps in one catalog document of the store (`{"version": N,
//! "<items>": [...]}`), held in memory behind a lock and rewritten whole, atomically, on every
//! change ([`ListEdit::save`]) before the change is answered.

use std::sync::{Arc, Mutex, MutexGuard};

use cairn_store::{Store, Visibility};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::ApiError;

/// Where and how a list is kept.
#[derive(Debug, Clone, Copy)]
pub struct ListDocument {
    /// The catalog document's name.
    pub name: &'static str,
    /// Its format version: a document of another version is refused, not guessed at.
    pub version: u32,
    /// The member that holds the list.
    pub member: &'static str,
    /// Whether the document holds secrets (readable by the owner only).
    pub visibility: Visibility,
}

/// The items of one catalog document.
#[derive(Debug)]
pub struct CatalogList<T> {
    store: Arc<Store>,
    document: ListDocument,
    items: Mutex<Vec<T>>,
    /// How many times the list was saved: what was derived from it at one count holds until
    /// the next.
    saves: std::sync::atomic::AtomicU64,
}

impl<T: Serialize + DeserializeOwned> CatalogList<T> {
    /// The items the store's catalog holds (none on a new store).
    pub fn load(store: Arc<Store>, document: ListDocument) -> Result<CatalogList<T>, String> {
        let name = document.name;
        let items = match store.read_document(name).map_err(|e| e.to_string())? {
            None => Vec::new(),
            Some(bytes) => {
                let mut value: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("catalog document {name}: {e}"))?;
                let version = value.get("version").and_then(Value::as_u64);
                if version != Some(u64::from(document.version)) {
                    return Err(format!(
                        "catalog document {name} has version {}; this cairn reads {}",
                        version.map_or_else(|| "none".to_owned(), |v| v.to_string()),
                        document.version
                    ));
                }
                let list = value.get_mut(document.member).map(Value::take);
                serde_json::from_value(list.unwrap_or(Value::Null))
                    .map_err(|e| format!("catalog document {name}: {e}"))?
            }
        };
        Ok(CatalogList {
            store,
            document,
            items: Mutex::new(items),
            saves: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The store the list is kept in.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The items, locked: changes go through [`ListEdit::save`].
    pub fn edit(&self) -> Result<ListEdit<'_, T>, ApiError> {
        let items = self.items.lock().map_err(|_| {
            ApiError::internal(format!("the lock of {} is poisoned", self.document.name))
        })?;
        Ok(ListEdit { list: self, items })
    }
}

/// The locked items of a [`CatalogList`].
pub struct ListEdit<'a, T> {
    list: &'a CatalogList<T>,
    pub items: MutexGuard<'a, Vec<T>>,
}

impl<T> ListEdit<'_, T> {
    /// The store the list is kept in.
    pub fn store(&self) -> &Arc<Store> {
        &self.list.store
    }

    /// How many times the list has been saved (it cannot change while this edit holds it).
    pub fn saves(&self) -> u64 {
        self.list.saves.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl<T: Serialize> ListEdit<'_, T> {
    /// Makes the current list durable; call before answering a change.
    pub fn save(&self) -> Result<(), ApiError> {
        let document = self.list.document;
        let value = json!({ "version": document.version, document.member: &*self.items });
        let bytes = serde_json::to_vec_pretty(&value).map_err(ApiError::internal)?;
        self.list
            .store
            .write_document(document.name, &bytes, document.visibility)
            .map_err(ApiError::internal)?;
        self.list
            .saves
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(())
    }
}
