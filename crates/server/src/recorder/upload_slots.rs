//! Where partial client uploads are kept, and which ones a request is writing right now: one
//! writer at a time per upload. The upload workflow is `recording::uploads`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// Where partial uploads are kept and which ones a request is writing right now.
#[derive(Clone)]
pub struct Uploads {
    pub(crate) dir: PathBuf,
    /// Upload ids with a request in progress: one writer at a time per upload.
    busy: Arc<Mutex<HashSet<String>>>,
}

/// Holds an upload for one request; released on drop.
pub(crate) struct Claim {
    busy: Arc<Mutex<HashSet<String>>>,
    id: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

impl Uploads {
    pub fn new(data_dir: &Path) -> Uploads {
        Uploads { dir: data_dir.join("recording-uploads"), busy: Arc::default() }
    }

    /// The file holding an upload's bytes so far.
    pub fn part_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    pub(crate) fn claim(&self, id: &str) -> Result<Claim> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        if !busy.insert(id.to_owned()) {
            return Err(Error::conflict("upload_busy", "another request is writing this upload; try again shortly"));
        }
        Ok(Claim { busy: self.busy.clone(), id: id.to_owned() })
    }
}
