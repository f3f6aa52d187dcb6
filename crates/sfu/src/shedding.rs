//! Load shedding: what a room stops sending when the machine that runs it cannot keep up.
//!
//! The runtime measures its own load and sets a level on its rooms ([`Room::set_shedding`](crate::Room::set_shedding)).
//! Each level sheds more video and keeps what people need most: lower simulcast layers
//! first (a smaller picture still shows everyone), then fewer cameras — those of the
//! [`VIDEO_SLOTS`] people who spoke most recently, the others pause — then only the active
//! speaker's camera (screen shares go on throughout); audio is never shed.

/// Cameras kept at [`Shedding::FewerVideos`]: the most recent speakers'.
pub const VIDEO_SLOTS: usize = 4;

/// How much a room sheds, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum Shedding {
    /// Nothing: every subscriber gets the layer its tile and bandwidth allow.
    #[default]
    None = 0,
    /// No video above the middle simulcast layer.
    LowerLayers = 1,
    /// Only the lowest simulcast layer of every video.
    LowestLayer = 2,
    /// Lowest layers, and only the cameras of the [`VIDEO_SLOTS`] most recent speakers (the
    /// least recently speaking pause); screen shares go on.
    FewerVideos = 3,
    /// Only the active speaker's camera (lowest layer) and screen shares; other cameras pause.
    SpeakerVideoOnly = 4,
}

impl Shedding {
    /// One step more (the last step stays: audio is never shed).
    pub fn more(self) -> Shedding {
        Shedding::from_level(self as u8 + 1)
    }

    /// One step less.
    pub fn less(self) -> Shedding {
        Shedding::from_level((self as u8).saturating_sub(1))
    }

    /// The level numbered `n` (0 = none; beyond the last, the last).
    pub fn from_level(n: u8) -> Shedding {
        match n {
            0 => Shedding::None,
            1 => Shedding::LowerLayers,
            2 => Shedding::LowestLayer,
            3 => Shedding::FewerVideos,
            _ => Shedding::SpeakerVideoOnly,
        }
    }

    /// The highest simulcast layer a subscriber may get.
    pub(crate) fn layer_cap(self) -> u8 {
        match self {
            Shedding::None => 2,
            Shedding::LowerLayers => 1,
            Shedding::LowestLayer | Shedding::FewerVideos | Shedding::SpeakerVideoOnly => 0,
        }
    }

    /// How many cameras flow (the most recent speakers' first); `None`: all.
    pub(crate) fn camera_slots(self) -> Option<usize> {
        match self {
            Shedding::None | Shedding::LowerLayers | Shedding::LowestLayer => None,
            Shedding::FewerVideos => Some(VIDEO_SLOTS),
            Shedding::SpeakerVideoOnly => Some(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_step_up_and_down_within_their_range() {
        assert_eq!(Shedding::None.more(), Shedding::LowerLayers);
        assert_eq!(Shedding::SpeakerVideoOnly.more(), Shedding::SpeakerVideoOnly);
        assert_eq!(Shedding::LowerLayers.less(), Shedding::None);
        assert_eq!(Shedding::None.less(), Shedding::None);
        assert_eq!([0, 1, 2, 3, 4].map(|n| Shedding::from_level(n).layer_cap()), [2, 1, 0, 0, 0]);
        assert_eq!(
            [0, 2, 3, 4].map(|n| Shedding::from_level(n).camera_slots()),
            [None, None, Some(VIDEO_SLOTS), Some(1)]
        );
        assert_eq!(Shedding::from_level(9), Shedding::SpeakerVideoOnly);
    }
}
