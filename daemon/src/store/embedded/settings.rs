//! Settings an operator changed at run time, and the daemon's own (the key of the
//! sign-in pages' form tokens). Tree: `settings` (name → UTF-8 value); a stored value
//! wins over the config file.

use super::{SledStore, StoreError};

impl SledStore {
    /// A setting an operator changed, if any.
    pub fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.settings
            .get(name)?
            .map(|v| {
                String::from_utf8(v.to_vec()).map_err(|e| StoreError::Corrupt {
                    tree: "settings",
                    detail: e.to_string(),
                })
            })
            .transpose()
    }

    /// Stores a setting (it wins over the config file from then on).
    pub fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let _writing = self.writing();
        self.settings.insert(name, value.as_bytes())?;
        Ok(())
    }

    /// The value of setting `name`, storing `value` first if it has none.
    pub fn setting_or_init(&self, name: &str, value: &str) -> Result<String, StoreError> {
        let _writing = self.writing();
        // Err: it has a value already; keep that one.
        let _ = self
            .settings
            .compare_and_swap(name, None::<&[u8]>, Some(value.as_bytes()))?;
        self.setting(name)?.ok_or_else(|| StoreError::Corrupt {
            tree: "settings",
            detail: format!("{name} vanished"),
        })
    }
}
