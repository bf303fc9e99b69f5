//! Settings an operator changed at run time. Tree: `settings` (name → UTF-8 value);
//! a stored value wins over the config file.

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
}
