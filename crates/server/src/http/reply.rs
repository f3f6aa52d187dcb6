//! Plain answers handlers share.

use serde::Serialize;
use utoipa::ToSchema;

/// A confirmation in words.
#[derive(Serialize, ToSchema)]
pub(crate) struct Message {
    message: String,
}

impl Message {
    pub(crate) fn new(message: impl Into<String>) -> Message {
        Message { message: message.into() }
    }
}
