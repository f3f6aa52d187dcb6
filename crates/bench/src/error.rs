//! The one error type of the bench crate.

/// Why a benchmark could not run (not why a server did badly: that is in the report).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Setup(String),
    #[error("signaling: {0}")]
    Signaling(String),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// Boxed: the tungstenite error is large and would make every `Result` large.
    #[error("websocket: {0}")]
    WebSocket(Box<tokio_tungstenite::tungstenite::Error>),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("webrtc: {0}")]
    Rtc(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Error {
        Error::WebSocket(Box::new(e))
    }
}

impl Error {
    pub(crate) fn setup(m: impl Into<String>) -> Error {
        Error::Setup(m.into())
    }
    pub(crate) fn signaling(m: impl Into<String>) -> Error {
        Error::Signaling(m.into())
    }
}
