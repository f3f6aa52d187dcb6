//! A publisher connection whose packets arrive through Convene's own [`Transport`] and
//! [`UplinkSession`], while the str0m `Rtc` beside it only reads the offers and writes the
//! answers (the publisher side of [`crate::downlink::link`]).

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use str0m::media::{Mid, Rid};
use str0m::Rtc;

use super::negotiated::{extension_ids, media_line};
use super::session::{Received, UplinkEvent, UplinkSession};
use super::streams::Tag;
use crate::downlink::link::{drain_transport, set_remote_once};
use crate::downlink::{Certificate, IceCreds, Inbound, Transport};
use crate::io::{Datagram, Proto, Transmit};

/// A layer that stopped or came back: (mid, rid, paused).
pub(crate) type LayerChange = (Mid, Option<Rid>, bool);

/// A stream's layer in str0m's names, with the tags it was made from.
type Named = (Tag, Option<Tag>, (Mid, Option<Rid>));

/// What a drained uplink reports to its peer.
#[derive(Debug, Default)]
pub(crate) struct UplinkDrained {
    pub(crate) connected: bool,
    pub(crate) failed: bool,
    pub(crate) layers: Vec<LayerChange>,
}

/// A publisher's uplink on Convene's own transport.
pub(crate) struct Uplink {
    transport: Transport,
    /// Made once the first answer names the extension ids.
    session: Option<UplinkSession>,
    sender_ssrc: u32,
    /// The RTCP compound being written (kept: written after every packet).
    rtcp: Vec<u8>,
    /// Per stream (by index), its layer in str0m's names: made once, not per packet.
    names: Vec<Option<Named>>,
}

impl Uplink {
    /// A receiving transport with the ICE credentials and certificate the `Rtc`'s answers
    /// will name.
    pub(crate) fn new(
        now: Instant,
        creds: IceCreds,
        cert: &Certificate,
        local: &[(Proto, SocketAddr)],
    ) -> Option<Uplink> {
        let mut transport = Transport::new(now, creds, cert, local)?;
        transport.set_receiving();
        let sender_ssrc = *str0m::rtp::Ssrc::new();
        Some(Uplink { transport, session: None, sender_ssrc, rtcp: Vec::with_capacity(1200), names: Vec::new() })
    }

    /// Takes what an accepted offer settled: the publisher's ICE credentials and
    /// certificate (the first offer; later ones renegotiate media only), who opens DTLS (the
    /// answer says), the extension ids, and each m-line's codecs and repair payload types.
    pub(crate) fn answered(&mut self, now: Instant, rtc: &Rtc, offer: &str, answer: &str, mids: &[Mid]) {
        // str0m answers a browser's `actpass` with `passive`: the browser opens DTLS.
        let client = answer.lines().any(|l| l.trim() == "a=setup:active");
        set_remote_once(&mut self.transport, now, offer, client);
        // Every offer lists every m-line: the ids of all of them, as they now stand.
        let ids = extension_ids(rtc, mids);
        let session = match self.session.as_mut() {
            Some(session) => {
                session.set_ids(ids);
                session
            }
            None => {
                let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                self.session.insert(UplinkSession::new(now, wall, ids, self.sender_ssrc))
            }
        };
        for &mid in mids {
            if let Some((tag, line)) = media_line(rtc, mid) {
                session.streams().set_line(tag, line);
            }
        }
    }

    /// Feeds a datagram routed to this connection; each media packet it carried goes to
    /// `packet` with its layer. False if the transport rejected the datagram.
    pub(crate) fn handle_receive(
        &mut self,
        now: Instant,
        d: &Datagram<'_>,
        packet: impl FnMut(&Received<'_>, (Mid, Option<Rid>)),
    ) -> bool {
        let accepted = self.transport.handle_receive(now, d);
        self.take_inbound(now, packet);
        accepted
    }

    fn take_inbound(&mut self, now: Instant, mut packet: impl FnMut(&Received<'_>, (Mid, Option<Rid>))) {
        while let Some(inbound) = self.transport.poll_inbound() {
            let Some(session) = self.session.as_mut() else { continue };
            match inbound {
                Inbound::Rtp(plain) => {
                    if let Some(received) = session.receive_rtp(now, &plain) {
                        if let Some(layer) = name(&mut self.names, received.stream, &received.mid, received.rid) {
                            packet(&received, layer);
                        }
                    }
                    crate::downlink::buffers::recycle(plain);
                }
                Inbound::Rtcp(plain) => {
                    session.receive_rtcp(now, &plain);
                }
            }
        }
        self.send_rtcp(now);
    }

    /// Sends what the session has to say now (reports, NACKs, PLIs, transport feedback).
    fn send_rtcp(&mut self, now: Instant) {
        let Some(session) = self.session.as_mut() else { return };
        self.rtcp.clear();
        if session.poll_rtcp(now, &mut self.rtcp) {
            self.transport.send_rtcp(&self.rtcp);
        }
    }

    /// Asks the publisher for a keyframe of (`mid`, `rid`); false if that layer never sent.
    pub(crate) fn request_keyframe(&mut self, now: Instant, mid: &[u8], rid: Option<&[u8]>) -> bool {
        let asked = self.session.as_mut().is_some_and(|s| s.request_keyframe(now, mid, rid));
        if asked {
            self.send_rtcp(now);
        }
        asked
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.transport.handle_timeout(now);
        if let Some(session) = self.session.as_mut() {
            session.handle_timeout(now);
        }
        self.send_rtcp(now);
    }

    /// When the uplink next needs a timeout.
    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        let session = self.session.as_ref().and_then(UplinkSession::poll_timeout);
        [self.transport.poll_timeout(), session].into_iter().flatten().min()
    }

    /// Moves the transport's datagrams to `transmit` and reports what changed.
    pub(crate) fn drain(&mut self, transmit: impl FnMut(Transmit)) -> UplinkDrained {
        let mut drained = UplinkDrained::default();
        // A publisher's connection sends no media: it hears no feedback about any.
        (drained.connected, drained.failed) = drain_transport(&mut self.transport, transmit, |_| {});
        if let Some(session) = self.session.as_mut() {
            while let Some(event) = session.poll_event() {
                let (index, paused) = match event {
                    UplinkEvent::Paused { stream } => (stream, true),
                    UplinkEvent::Resumed { stream } => (stream, false),
                };
                let Some(s) = session.streams().get(index) else { continue };
                if let Some((mid, rid)) = name(&mut self.names, index, &s.mid, s.rid) {
                    drained.layers.push((mid, rid, paused));
                }
            }
        }
        drained
    }
}

/// Stream `index`'s layer in str0m's names, from `names` or made and kept there.
fn name(names: &mut Vec<Option<Named>>, index: usize, mid: &Tag, rid: Option<Tag>) -> Option<(Mid, Option<Rid>)> {
    if let Some(Some((m, r, named))) = names.get(index) {
        if m == mid && *r == rid {
            return Some(*named);
        }
    }
    let named = layer_of(mid, rid.as_ref())?;
    if names.len() <= index {
        names.resize(index + 1, None);
    }
    names[index] = Some((*mid, rid, named));
    Some(named)
}

/// The m-line and layer an uplink stream's mid and rid name (browsers send short ASCII
/// tokens; anything else names nothing the SDP could have declared).
fn layer_of(mid: &Tag, rid: Option<&Tag>) -> Option<(Mid, Option<Rid>)> {
    fn text(tag: &Tag) -> Option<&str> {
        std::str::from_utf8(tag.as_bytes()).ok()
    }
    let rid = match rid {
        Some(rid) => Some(Rid::from(text(rid)?)),
        None => None,
    };
    Some((Mid::from(text(mid)?), rid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streams_name_is_made_once_and_follows_its_tags() {
        let mut names = Vec::new();
        let (one, h) = (Tag::new(b"1").unwrap(), Tag::new(b"h").unwrap());
        let named = name(&mut names, 2, &one, Some(h)).unwrap();
        assert_eq!((&*named.0, named.1.as_deref()), ("1", Some("h")));
        assert_eq!(name(&mut names, 2, &one, Some(h)), Some(named), "kept");
        let other = name(&mut names, 2, &one, None).unwrap();
        assert_eq!(other.1, None, "a stream whose tags changed is named again");
        assert_eq!(name(&mut names, 0, &Tag::new(&[0xff]).unwrap(), None), None, "a mid that is not text");
    }
}
