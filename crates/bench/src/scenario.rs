//! Who joins and what they send: the named scenarios of the benchmark and their knobs.

use std::time::Duration;

use crate::synth::Profile;

/// The estimate the simulated subscribers report in REMB (`--downlink-estimate remb`): far
/// above what any scenario forwards to one viewer (scenario 1's nine tiles of the middle layer
/// and nine microphones take ~5 Mbit/s).
pub(crate) const REMB_ESTIMATE_BPS: u64 = 50_000_000;
/// How often they report, by default: libwebrtc's receive-side estimator reports every 200 ms to 1 s (the
/// more often the higher the rate: every 200 ms at a few Mbit/s); once a second keeps what the
/// generator spends on it small.
pub(crate) const REMB_INTERVAL: Duration = Duration::from_secs(1);

/// One benchmark scenario. Counts are per meeting.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scenario {
    pub name: String,
    pub meetings: usize,
    /// Everyone in a meeting, publishers included; everyone subscribes.
    pub participants: usize,
    /// The first `video_publishers` participants send VP8 simulcast (three layers).
    pub video_publishers: usize,
    /// The first `audio_publishers` participants send Opus (50 packets/s).
    pub audio_publishers: usize,
    /// Of those, the first `talkers` talk (audio level −30 dBov); the others' microphones are
    /// open in silence (−127 dBov), as in a meeting where a few people speak. `None`: all talk.
    pub talkers: Option<usize>,
    /// Convene's `--audible-speakers`: in a crowded meeting (more than
    /// `convene_sfu::DEFAULT_CROWD` microphones) it forwards only this many of the loudest
    /// (0: every microphone, as Janus does). Default: Convene's own, 3.
    pub audible: usize,
    /// Seconds measured once everyone is in and the warm-up is over.
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Participants joining per second (across meetings).
    pub ramp_per_s: f64,
    pub profile: Profile,
    /// The simulcast layer subscribers ask for (0 = lowest): Convene gets a tile of that
    /// layer's size (`set_video_size`), Janus a `substream`.
    pub layer: u8,
    /// Offer transport-wide congestion control (TWCC), as browsers do.
    pub twcc: bool,
    /// Where Convene takes a subscriber's downlink estimate from: its own (TWCC) or the
    /// subscriber's REMB, which the simulated subscribers then send (the bench's `remb` module). Janus
    /// and the plain forwarder ignore it.
    pub downlink_estimate: Estimate,
    /// Whether Convene reads publishers with its own uplink (`--uplink-transport own`, the
    /// server's default) or str0m's session.
    pub own_uplink: bool,
    /// The estimate the subscribers report in REMB (only with [`Estimate::Remb`]), bit/s:
    /// fixed, the bench's loopback network being uncongested; by default far above what any
    /// viewer receives, so everyone gets the layer the scenario asks for. A lower one follows
    /// a first report of the default, as a browser's estimate falls when its link congests.
    pub remb_bps: u64,
    /// How often they report it, ms.
    pub remb_every_ms: u64,
    /// Run Convene with its overload admission and shedding on (its default high-water
    /// marks): joins past them are refused with `server_busy`, counted as refusals, not
    /// errors. Off, the server is measured up to and past its limit, as Janus.
    pub admission: bool,
    /// Fill meetings one after another (all of meeting 0, then meeting 1, …), as new meetings
    /// arrive at a busy server; otherwise side by side.
    pub in_turn: bool,
    /// Sample the server's resident memory every this many seconds of the measured window
    /// (0: only at the end), for a soak's memory curve.
    pub rss_every_s: f64,
    /// Subscribers take slots (`convene_sfu::Subscription::Slots`) with this many video
    /// slots instead of an m-line per track; `None`: per track, as browsers do today.
    pub video_slots: Option<u8>,
}

/// Convene's `--downlink-estimate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Estimate {
    /// The SFU estimates from the subscriber's transport-wide feedback and paces, on str0m's
    /// transport.
    Twcc,
    /// The subscriber's browser estimates and reports it in REMB; the SFU neither paces nor pads.
    Remb,
    /// As `remb`, with subscribers' media sent by Convene's own transport
    /// (`--downlink-transport own`) instead of str0m's: the server's default.
    #[default]
    #[serde(rename = "remb-own")]
    #[value(name = "remb-own")]
    RembOwn,
}

impl Estimate {
    /// The value of Convene's `--downlink-estimate`.
    pub fn flag(self) -> &'static str {
        match self {
            Estimate::Twcc => "twcc",
            Estimate::Remb | Estimate::RembOwn => "remb",
        }
    }

    /// The name reports give the mode.
    pub fn label(self) -> &'static str {
        match self {
            Estimate::RembOwn => "remb-own",
            other => other.flag(),
        }
    }

    /// The value of Convene's `--downlink-transport`.
    pub fn transport_flag(self) -> &'static str {
        if self.own_transport() {
            "own"
        } else {
            "str0m"
        }
    }

    /// Whether subscribers' media goes through Convene's own transport.
    pub fn own_transport(self) -> bool {
        self == Estimate::RembOwn
    }

    /// The SFU core's setting for it.
    pub fn sfu(self) -> convene_sfu::DownlinkEstimate {
        match self {
            Estimate::Twcc => convene_sfu::DownlinkEstimate::SenderSide,
            Estimate::Remb | Estimate::RembOwn => convene_sfu::DownlinkEstimate::Receiver,
        }
    }
}

impl Scenario {
    /// The issue's scenarios: `meeting10` (10 people, all send camera + microphone),
    /// `meeting100` (100 people, 10 cameras, 100 microphones), `webinar300` (1 presenter,
    /// 300 receivers), `overload` (30 meetings of ten at a server with its overload admission
    /// on), `soak` (scenario 2's shape for ten minutes), `smoke` (2 people, a few seconds).
    pub fn preset(name: &str) -> Option<Scenario> {
        let base = Scenario {
            name: name.to_owned(),
            meetings: 1,
            participants: 10,
            video_publishers: 10,
            audio_publishers: 10,
            talkers: None,
            audible: convene_sfu::DEFAULT_AUDIBLE_LIMIT,
            duration_s: 20.0,
            warmup_s: 3.0,
            ramp_per_s: 20.0,
            profile: Profile::default(),
            layer: 1,
            twcc: true,
            downlink_estimate: Estimate::default(),
            own_uplink: true,
            remb_bps: REMB_ESTIMATE_BPS,
            remb_every_ms: REMB_INTERVAL.as_millis() as u64,
            admission: false,
            in_turn: false,
            rss_every_s: 0.0,
            video_slots: None,
        };
        Some(match name {
            "meeting10" => base,
            // Every microphone open, three people talking.
            "meeting100" => {
                Scenario { participants: 100, video_publishers: 10, audio_publishers: 100, talkers: Some(3), ..base }
            }
            "webinar300" => Scenario { participants: 301, video_publishers: 1, audio_publishers: 1, ..base },
            // Twice what one core carried in scenario 4 (150 people in meetings of ten on the
            // default server, RESULTS.md thirteenth pass): 30 meetings arriving one after
            // another at a server with its overload admission on. Those admitted must keep
            // < 1 % loss and p99 < 50 ms; every refused join must get `server_busy` within a
            // second.
            "overload" => Scenario { meetings: 30, admission: true, in_turn: true, ramp_per_s: 10.0, ..base },
            // Scenario 2's shape for ten minutes (the full soak: `--duration 3600`), memory
            // sampled every 10 s: flat after the first five minutes, no errors, loss < 0.1 %.
            "soak" => Scenario {
                participants: 100,
                video_publishers: 10,
                audio_publishers: 100,
                talkers: Some(3),
                duration_s: 600.0,
                warmup_s: 10.0,
                rss_every_s: 10.0,
                ..base
            },
            "smoke" => Scenario {
                participants: 2,
                video_publishers: 2,
                audio_publishers: 2,
                duration_s: 2.0,
                warmup_s: 1.0,
                // The second joins 2 s after the first, whose media is flowing by then: its
                // join time is measured.
                ramp_per_s: 0.5,
                ..base
            },
            _ => return None,
        })
    }

    /// The preset names, for help texts.
    pub const PRESETS: &'static [&'static str] =
        &["meeting10", "meeting100", "webinar300", "overload", "soak", "smoke"];

    /// Refuses shapes that cannot run.
    pub fn check(&self) -> Result<(), String> {
        if self.participants == 0 || self.meetings == 0 {
            return Err("a scenario needs at least one meeting with one participant".into());
        }
        if self.video_publishers > self.participants || self.audio_publishers > self.participants {
            return Err("more publishers than participants".into());
        }
        if self.layer > 2 {
            return Err("layer is 0, 1 or 2".into());
        }
        if self.remb_every_ms == 0 {
            return Err("REMB reports need an interval above 0 ms".into());
        }
        if !(self.duration_s > 0.0 && self.warmup_s >= 0.0 && self.ramp_per_s > 0.0 && self.rss_every_s >= 0.0) {
            return Err("duration and ramp-up rate must be positive".into());
        }
        Ok(())
    }

    /// Participant `i` of a meeting: (sends audio, sends video).
    pub fn publishes(&self, i: usize) -> (bool, bool) {
        (i < self.audio_publishers, i < self.video_publishers)
    }

    /// Whether participant `i`'s microphone carries speech rather than silence.
    pub fn talks(&self, i: usize) -> bool {
        i < self.audio_publishers.min(self.talkers.unwrap_or(usize::MAX))
    }

    /// Microphones a subscriber of Convene should receive, given how many other publishers'
    /// microphones are open and how many of those talk.
    pub fn convene_audio_streams(&self, other_mics: usize, other_talkers: usize) -> usize {
        if self.convene_crowded() {
            other_talkers.min(self.audible)
        } else {
            other_mics
        }
    }

    /// Whether Convene holds back all but the loudest microphones of a meeting of this shape.
    pub fn convene_crowded(&self) -> bool {
        convene_sfu::crowded(self.audible, convene_sfu::DEFAULT_CROWD, self.audio_publishers)
    }

    pub fn total_participants(&self) -> usize {
        self.meetings * self.participants
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_issue_shapes() {
        let s = Scenario::preset("meeting100").unwrap();
        assert_eq!((s.participants, s.video_publishers, s.audio_publishers), (100, 10, 100));
        assert_eq!(s.publishes(9), (true, true));
        assert_eq!(s.publishes(10), (true, false));
        let w = Scenario::preset("webinar300").unwrap();
        assert_eq!(w.publishes(0), (true, true));
        assert_eq!(w.publishes(1), (false, false));
        assert_eq!(w.total_participants(), 301);
        for name in Scenario::PRESETS {
            assert!(Scenario::preset(name).unwrap().check().is_ok(), "{name}");
        }
        assert!(Scenario::preset("nope").is_none());
    }

    #[test]
    fn a_subscriber_of_a_crowded_meeting_expects_only_the_loudest_microphones() {
        let s = Scenario::preset("meeting100").unwrap();
        assert!(s.talks(2) && !s.talks(3), "three talk, 97 microphones are open in silence");
        assert_eq!(s.convene_audio_streams(99, 3), 3);
        assert_eq!(s.convene_audio_streams(99, 2), 2, "a talker hears the two others");
        let mut all = s.clone();
        all.audible = 0;
        assert_eq!(all.convene_audio_streams(99, 3), 99, "no limit: every microphone");
        let small = Scenario::preset("meeting10").unwrap();
        assert!(small.talks(9));
        assert_eq!(small.convene_audio_streams(9, 9), 9, "ten microphones: not crowded, all forwarded");
        let silent = Scenario { talkers: Some(1), ..small };
        assert_eq!(silent.convene_audio_streams(9, 1), 9, "silence too, below the crowd size");
    }

    #[test]
    fn impossible_shapes_are_refused() {
        let mut s = Scenario::preset("meeting10").unwrap();
        s.video_publishers = 11;
        assert!(s.check().is_err());
        let mut s = Scenario::preset("meeting10").unwrap();
        s.layer = 3;
        assert!(s.check().is_err());
        let mut s = Scenario::preset("meeting10").unwrap();
        s.ramp_per_s = 0.0;
        assert!(s.check().is_err());
    }
}
