//! One speaker's Opus stream back to 16 kHz mono PCM on the meeting's timeline.
//!
//! libopus decodes straight to 16 kHz (no resampler needed). A few lost packets are
//! concealed by the decoder (its packet-loss concealment); a longer gap — the speaker muted,
//! the network dropped out — is a break: what was being said has ended, and the timeline is
//! taken afresh from the next packet's arrival. Late and duplicate packets are dropped;
//! an undecodable packet counts as lost.

use std::time::{Duration, Instant};

use crate::engine::SAMPLE_RATE;
use crate::error::Result;
use crate::AudioPacket;

/// RTP clock rate of Opus.
const RTP_RATE: u64 = 48_000;
/// At most this many lost packets in a row are concealed; more is a break.
const MAX_CONCEALED: u64 = 5;
/// A timestamp jump beyond this (without lost packets: discontinuous transmission) is a break.
const MAX_JUMP: Duration = Duration::from_millis(200);
/// The longest Opus packet: 120 ms.
const MAX_PACKET_SAMPLES: usize = SAMPLE_RATE as usize * 120 / 1000;
/// A 20 ms frame, the size concealment assumes when nothing else is known.
const DEFAULT_FRAME: usize = SAMPLE_RATE as usize / 50;

/// What one packet produced.
#[derive(Debug, PartialEq)]
pub(crate) enum Decoded {
    /// Audio starting at `at` (time since the meeting started).
    Audio { at: Duration, pcm: Vec<i16> },
    /// The stream broke before this packet's audio (which follows as its own `Audio`).
    Break,
}

/// Counters a decoder keeps.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeStats {
    pub(crate) undecodable: u64,
    pub(crate) concealed: u64,
    pub(crate) late: u64,
}

/// One speaker's decoder.
pub(crate) struct SpeakerDecoder {
    opus: opus::Decoder,
    /// Sequence number and RTP timestamp expected next, and the frame size last seen.
    next: Option<(u64, u32, usize)>,
    /// Meeting time of the next sample.
    position: Duration,
    pub(crate) stats: DecodeStats,
}

impl SpeakerDecoder {
    pub(crate) fn new() -> Result<SpeakerDecoder> {
        Ok(SpeakerDecoder {
            opus: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)?,
            next: None,
            position: Duration::ZERO,
            stats: DecodeStats::default(),
        })
    }

    /// Decodes one packet; `started` is when the meeting's captions started.
    pub(crate) fn push(&mut self, p: &AudioPacket, started: Instant, out: &mut Vec<Decoded>) {
        let mut pcm = Vec::new();
        match self.next {
            Some((seq, _, _)) if p.seq < seq => {
                self.stats.late += 1;
                return;
            }
            Some((seq, ts, frame)) => {
                let lost = p.seq - seq;
                let jump = u64::from(p.timestamp.wrapping_sub(ts));
                let expected = lost * (frame as u64) * RTP_RATE / u64::from(SAMPLE_RATE);
                let extra = Duration::from_millis(jump.saturating_sub(expected) * 1000 / RTP_RATE);
                // A timestamp far behind wraps to a huge jump: a break too.
                if lost > MAX_CONCEALED || extra > MAX_JUMP {
                    self.restart(p, started, out);
                } else {
                    for _ in 0..lost {
                        self.conceal(frame, &mut pcm);
                    }
                }
            }
            None => self.position = p.arrived.saturating_duration_since(started),
        }
        let at = self.position;
        let frame = self.decode(&p.payload, &mut pcm);
        self.position += Duration::from_micros(pcm.len() as u64 * 1_000_000 / u64::from(SAMPLE_RATE));
        self.next = Some((p.seq + 1, p.timestamp.wrapping_add(frame_ticks(frame)), frame));
        if !pcm.is_empty() {
            out.push(Decoded::Audio { at, pcm });
        }
    }

    fn restart(&mut self, p: &AudioPacket, started: Instant, out: &mut Vec<Decoded>) {
        out.push(Decoded::Break);
        // A fresh decoder state: concealment must not smear the old stream into the new one.
        let _ = self.opus.reset_state();
        self.position = p.arrived.saturating_duration_since(started).max(self.position);
    }

    /// Decodes into `pcm`; returns the frame size in samples. An undecodable packet is
    /// concealed like a lost one.
    fn decode(&mut self, payload: &[u8], pcm: &mut Vec<i16>) -> usize {
        let mut buf = [0i16; MAX_PACKET_SAMPLES];
        match self.opus.decode(payload, &mut buf, false) {
            Ok(n) if n > 0 && !payload.is_empty() => {
                pcm.extend_from_slice(&buf[..n]);
                n
            }
            _ => {
                self.stats.undecodable += 1;
                let frame = self.next.map_or(DEFAULT_FRAME, |(_, _, f)| f);
                self.conceal(frame, pcm);
                frame
            }
        }
    }

    fn conceal(&mut self, frame: usize, pcm: &mut Vec<i16>) {
        let mut buf = [0i16; MAX_PACKET_SAMPLES];
        let n = frame.min(MAX_PACKET_SAMPLES);
        self.stats.concealed += 1;
        match self.opus.decode(&[], &mut buf[..n], false) {
            Ok(got) => pcm.extend_from_slice(&buf[..got.min(n)]),
            Err(_) => pcm.extend(std::iter::repeat_n(0, n)),
        }
    }
}

/// RTP ticks (48 kHz) of a frame of `samples` at 16 kHz.
fn frame_ticks(samples: usize) -> u32 {
    u32::try_from(samples as u64 * RTP_RATE / u64::from(SAMPLE_RATE)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 ms Opus packets of a tone, as a browser sends them.
    struct Stream {
        enc: opus::Encoder,
        t0: Instant,
    }

    impl Stream {
        fn new() -> Stream {
            let enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
            Stream { enc, t0: Instant::now() }
        }

        /// Packet number `n` (seq n, timestamp n × 960, arriving n × 20 ms after t0).
        fn packet(&mut self, n: u64) -> AudioPacket {
            let tone: Vec<i16> = (0..960).map(|i| ((i as f32 * 0.0576).sin() * 8000.0) as i16).collect();
            AudioPacket {
                participant: "p".into(),
                seq: n,
                timestamp: (n as u32).wrapping_mul(960),
                payload: self.enc.encode_vec(&tone, 1500).unwrap(),
                arrived: self.t0 + Duration::from_millis(20 * n),
            }
        }
    }

    fn samples(out: &[Decoded]) -> usize {
        out.iter().map(|d| if let Decoded::Audio { pcm, .. } = d { pcm.len() } else { 0 }).sum()
    }

    #[test]
    fn a_few_lost_packets_are_concealed_and_the_timeline_stays_continuous() {
        let (mut s, mut d, mut out) = (Stream::new(), SpeakerDecoder::new().unwrap(), Vec::new());
        for n in [0, 1, 2, 5, 6] {
            let p = s.packet(n);
            d.push(&p, s.t0, &mut out);
        }
        assert!(!out.contains(&Decoded::Break));
        assert_eq!(d.stats.concealed, 2);
        assert_eq!(samples(&out), 7 * 320, "seven 20 ms frames at 16 kHz, two of them concealed");
        let Some(Decoded::Audio { at, .. }) = out.last() else { panic!() };
        assert_eq!(*at, Duration::from_millis(120), "packet 6 plays 120 ms in, after the two concealed frames");
    }

    #[test]
    fn a_long_gap_breaks_the_stream_and_retimes_it_from_arrival() {
        let (mut s, mut d, mut out) = (Stream::new(), SpeakerDecoder::new().unwrap(), Vec::new());
        for n in [0, 1, 50] {
            let p = s.packet(n);
            d.push(&p, s.t0, &mut out);
        }
        assert_eq!(out.iter().filter(|x| **x == Decoded::Break).count(), 1);
        let Some(Decoded::Audio { at, .. }) = out.last() else { panic!() };
        assert_eq!(*at, Duration::from_millis(1_000), "packet 50 arrived 1 s in");
    }

    #[test]
    fn a_timestamp_jump_without_loss_is_a_break_too() {
        let (mut s, mut d, mut out) = (Stream::new(), SpeakerDecoder::new().unwrap(), Vec::new());
        let p = s.packet(0);
        d.push(&p, s.t0, &mut out);
        let mut p = s.packet(1);
        p.timestamp += 48_000; // a second of discontinuous transmission
        d.push(&p, s.t0, &mut out);
        assert!(out.contains(&Decoded::Break));
    }

    #[test]
    fn late_and_duplicate_packets_are_dropped() {
        let (mut s, mut d, mut out) = (Stream::new(), SpeakerDecoder::new().unwrap(), Vec::new());
        for n in [0, 1, 2, 1, 2] {
            let p = s.packet(n);
            d.push(&p, s.t0, &mut out);
        }
        assert_eq!(d.stats.late, 2);
        assert_eq!(samples(&out), 3 * 320);
    }

    #[test]
    fn garbage_is_concealed_like_a_lost_packet() {
        let (mut s, mut d, mut out) = (Stream::new(), SpeakerDecoder::new().unwrap(), Vec::new());
        let p = s.packet(0);
        d.push(&p, s.t0, &mut out);
        for (n, payload) in [(1, vec![]), (2, vec![0xff; 3]), (3, vec![0x0b, 0xff, 0xff])] {
            let mut p = s.packet(n);
            p.payload = payload;
            d.push(&p, s.t0, &mut out);
        }
        assert_eq!(d.stats.undecodable, 3);
        assert_eq!(samples(&out), 4 * 320, "the timeline keeps its pace");
    }
}
