//! Shared by the captions tests: speech made with espeak-ng (resampled by sox), encoded to
//! Opus RTP packets as a browser sends them, and word error rate.
#![allow(dead_code)] // each test binary uses its own part

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use convene_captions::AudioPacket;

/// The voice the tests speak with: espeak-ng's Klatt synthesiser, the one PocketSphinx's
/// US English model recognises best of those tried (see the crate's tests/README).
pub const VOICE: &str = "en-us+klatt2";
/// 20 ms at 48 kHz: one Opus frame as WebRTC sends it.
pub const FRAME: usize = 960;

/// `text` spoken by espeak-ng, as 48 kHz mono PCM.
pub fn speech(text: &str) -> Vec<i16> {
    let wav = Command::new("espeak-ng").args(["-v", VOICE, "--stdout", text]).output().expect("espeak-ng runs");
    assert!(wav.status.success(), "espeak-ng failed: {}", String::from_utf8_lossy(&wav.stderr));
    let dir = std::env::temp_dir().join(format!("captions-test-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let (src, dst) = (dir.join("in.wav"), dir.join("out.raw"));
    std::fs::write(&src, &wav.stdout).unwrap();
    let sox = Command::new("sox")
        .args(["-V1", "-R", "-D"]) // repeatable, no dither: the same audio every run
        .arg(&src)
        .args(["-t", "raw", "-r", "48000", "-e", "signed", "-b", "16", "-c", "1"])
        .arg(&dst)
        .status()
        .expect("sox runs");
    assert!(sox.success(), "sox failed");
    let raw = std::fs::read(&dst).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    raw.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `ms` of silence at 48 kHz.
pub fn silence(ms: usize) -> Vec<i16> {
    vec![0; ms * 48]
}

/// A speaker's microphone: an Opus encoder and an RTP sequence, sending 20 ms packets that
/// "arrive" 20 ms apart from `t0`.
pub struct Mic {
    pub participant: Arc<str>,
    encoder: opus::Encoder,
    pub seq: u64,
    pub timestamp: u32,
    pub at: Instant,
}

impl Mic {
    pub fn new(participant: &str, t0: Instant) -> Mic {
        let mut encoder = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        encoder.set_bitrate(opus::Bitrate::Bits(32_000)).unwrap();
        Mic { participant: participant.into(), encoder, seq: 1_000, timestamp: 123_456, at: t0 }
    }

    /// Encodes `pcm` (48 kHz) into packets.
    pub fn send(&mut self, pcm: &[i16]) -> Vec<AudioPacket> {
        let mut out = Vec::new();
        for frame in pcm.chunks(FRAME) {
            let mut f = frame.to_vec();
            f.resize(FRAME, 0);
            let payload = self.encoder.encode_vec(&f, 1500).unwrap();
            out.push(self.packet(payload));
        }
        out
    }

    /// A packet carrying `payload` as the next one.
    pub fn packet(&mut self, payload: Vec<u8>) -> AudioPacket {
        let p = AudioPacket {
            participant: self.participant.clone(),
            seq: self.seq,
            timestamp: self.timestamp,
            payload,
            arrived: self.at,
        };
        self.seq += 1;
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
        self.at += Duration::from_millis(20);
        p
    }
}

/// Word error rate of `hypothesis` against `reference`: (substitutions + deletions +
/// insertions) / words of the reference, by word-level edit distance.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let r: Vec<&str> = reference.split_whitespace().collect();
    let h: Vec<&str> = hypothesis.split_whitespace().collect();
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(!rw.eq_ignore_ascii_case(hw));
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len().max(1) as f64
}

/// Whether `text` contains `word` as a whole word.
pub fn has_word(text: &str, word: &str) -> bool {
    text.split_whitespace().any(|w| w.eq_ignore_ascii_case(word))
}
