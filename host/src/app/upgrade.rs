//! Record work a layout upgrade left pending, done once at start in one durable transaction
//! ([`crate::storage::records::layout_v3`]).

use super::App;
use crate::error::Result;
use crate::storage::migrate::PENDING_REINDEX;

impl App {
    /// Does the record work an upgrade of the file's layout left pending, if any.
    pub async fn finish_upgrades(&self) -> Result<()> {
        let pending = self
            .store
            .read(|view| Ok(view.meta(PENDING_REINDEX)?))?
            .is_some_and(|v| v != [0]);
        if !pending {
            return Ok(());
        }
        let orgs = self
            .store
            .write(|tx| {
                let orgs = tx.reindex_layout_v3()?;
                tx.put_meta(PENDING_REINDEX, &[0])?;
                Ok(orgs)
            })
            .await?;
        tracing::info!(orgs, "upgraded the records to layout 3");
        Ok(())
    }
}
