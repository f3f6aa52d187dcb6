//! What a [`Transport`](super::Transport) hands the room: its events, the peer's decrypted
//! packets when it receives media, and its counters.

use super::rtcp::Feedback;

/// What a transport reports to the room.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportEvent {
    /// ICE chose a path and DTLS finished: media can flow.
    Connected,
    /// The path stopped answering consent checks (the room ends the connection then, as it
    /// does a str0m one's).
    Disconnected,
    /// DTLS failed, or the peer's certificate is not the one its SDP named. Terminal.
    Failed(&'static str),
    /// Feedback about a stream this transport sends.
    Feedback(Feedback),
}

/// Counters of what was dropped, so garbage is counted and never fatal.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TransportStats {
    /// Packets sent with SRTP.
    pub rtp_sent: u64,
    /// Resends on RTX answering NACKs.
    pub rtx_sent: u64,
    /// SRTP and SRTCP packets that failed authentication or replay checks.
    pub srtp_rejected: u64,
    /// SRTP packets taken from a publisher.
    pub rtp_received: u64,
    /// Datagrams that were neither STUN, DTLS nor RTCP, or came before the keys.
    pub unknown_dropped: u64,
    /// RTCP compounds that decrypted but did not parse.
    pub rtcp_malformed: u64,
}

/// What a receiving transport decrypted, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A plain RTP packet (authenticated, not a replay), in a buffer of
    /// [`buffers`](super::buffers) to give back once read.
    Rtp(Vec<u8>),
    /// A plain compound RTCP packet.
    Rtcp(Vec<u8>),
}
