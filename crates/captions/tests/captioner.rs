//! The captioner as the server runs it: packets offered from "media threads", captions out
//! on a channel, several speakers, people leaving, bad packets.

mod common;

use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use common::{has_word, silence, speech, Mic};
use convene_captions::{AudioPacket, Caption, Captioner, CaptionerConfig, EngineConfig, MeetingCaption, Transcript};

const MEETING: i64 = 4242;
/// Long enough for a loaded two-core machine to recognise a few seconds of speech.
const WAIT: Duration = Duration::from_secs(60);
/// Packets are offered faster than real time, stamped from this far into the meeting: a
/// loaded machine pausing the feeding thread must not make a speaker look quiet by the clock
/// (only the test of exactly that runs on the real clock).
const AHEAD: Duration = Duration::from_secs(30);

fn captioner(workers: usize) -> (Captioner, Receiver<MeetingCaption>) {
    let (tx, rx) = channel();
    let mut config = CaptionerConfig::new(EngineConfig::parse("pocketsphinx", None).unwrap());
    config.workers = workers;
    let tx = std::sync::Mutex::new(tx);
    let c = Captioner::start(&config, move |m| {
        let _ = tx.lock().unwrap().send(m);
    })
    .unwrap();
    (c, rx)
}

/// Packets of a phrase after `lead_ms` of silence, with 1.5 s of silence after.
fn phrase(mic: &mut Mic, lead_ms: usize, text: &str) -> Vec<AudioPacket> {
    let mut pcm = silence(lead_ms);
    pcm.extend(speech(text));
    pcm.extend(silence(1500));
    mic.send(&pcm)
}

/// Interleaves several speakers' packets in arrival order.
fn mixed(mut streams: Vec<Vec<AudioPacket>>) -> Vec<AudioPacket> {
    let mut all: Vec<AudioPacket> = streams.drain(..).flatten().collect();
    all.sort_by_key(|p| p.arrived);
    all
}

/// Captions until `n` final ones have come (or the wait runs out).
fn finals(rx: &Receiver<MeetingCaption>, n: usize) -> Vec<Caption> {
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.iter().filter(|c: &&Caption| c.is_final).count() < n {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(m) => {
                assert_eq!(m.meeting_id, MEETING);
                got.push(m.caption);
            }
            Err(_) => break,
        }
    }
    got
}

#[test]
fn two_people_speaking_at_once_each_get_their_own_captions_and_a_transcript() {
    let (c, rx) = captioner(2);
    let t0 = Instant::now();
    c.start_meeting(MEETING, t0).unwrap();
    let (mut alice, mut bob) =
        (Mic::new("p-alice", t0 + AHEAD), Mic::new("p-bob", t0 + AHEAD + Duration::from_millis(700)));
    let packets = mixed(vec![
        phrase(&mut alice, 300, "the quick brown fox jumps over the lazy dog"),
        phrase(&mut bob, 300, "please send me the report by friday"),
    ]);
    let sink = c.sink();
    std::thread::spawn(move || packets.into_iter().for_each(|p| sink.offer(MEETING, p)));
    let captions = finals(&rx, 2);
    let fin: Vec<&Caption> = captions.iter().filter(|c| c.is_final).collect();
    assert_eq!(fin.len(), 2, "{captions:?}");
    let of = |who: &str| {
        *fin.iter().find(|c| c.participant_id == who).unwrap_or_else(|| panic!("no caption of {who}: {captions:?}"))
    };
    let (a, b) = (of("p-alice"), of("p-bob"));
    assert!(has_word(&a.text, "dog") && has_word(&b.text, "friday"), "{a:?} {b:?}");
    assert_ne!(a.utterance, b.utterance);
    // Alice started 30.3 s into the meeting, Bob 0.7 s after her.
    assert!((30_000..=30_400).contains(&a.start_ms) && (30_800..=31_100).contains(&b.start_ms), "{a:?} {b:?}");
    assert!(a.end_ms > a.start_ms + 1_500, "{a:?}");
    // Partial captions came first, for the same utterances, never after their final one.
    for f in [a, b] {
        let partials: Vec<&Caption> = captions.iter().filter(|c| c.utterance == f.utterance && !c.is_final).collect();
        assert!(!partials.is_empty(), "partial captions of {}: {captions:?}", f.participant_id);
        let last = captions.iter().rposition(|c| c.utterance == f.utterance).unwrap();
        assert!(captions[last].is_final, "the final caption is the utterance's last");
    }

    let mut transcript = Transcript::new();
    for cap in &captions {
        transcript.push(cap, if cap.participant_id == "p-alice" { "Alice" } else { "Bob" });
    }
    let vtt = transcript.to_vtt();
    assert!(vtt.starts_with("WEBVTT\n\n1\n00:00:30."), "{vtt}");
    assert!(vtt.contains("<v Alice>") && vtt.contains("<v Bob>") && vtt.contains("friday</v>"), "{vtt}");
    assert_eq!(c.stats().final_captions.load(Ordering::Relaxed), 2);
    c.shutdown();
}

#[test]
fn with_one_worker_a_second_speaker_waits_and_is_still_captioned() {
    let (c, rx) = captioner(1);
    let t0 = Instant::now();
    c.start_meeting(MEETING, t0).unwrap();
    let packets = mixed(vec![
        phrase(&mut Mic::new("p1", t0 + AHEAD), 200, "the project is on schedule"),
        phrase(
            &mut Mic::new("p2", t0 + AHEAD + Duration::from_millis(300)),
            200,
            "please send me the report by friday",
        ),
    ]);
    for p in packets {
        c.sink().offer(MEETING, p);
    }
    let fin: Vec<Caption> = finals(&rx, 2).into_iter().filter(|c| c.is_final).collect();
    assert_eq!(fin.len(), 2, "{fin:?}");
    assert!(fin.iter().any(|c| c.participant_id == "p2" && has_word(&c.text, "friday")), "{fin:?}");
    assert_eq!(c.stats().utterances_dropped.load(Ordering::Relaxed), 0);
}

#[test]
fn someone_who_leaves_mid_sentence_gets_a_final_caption_for_what_they_said() {
    let (c, rx) = captioner(1);
    let t0 = Instant::now();
    c.start_meeting(MEETING, t0).unwrap();
    // Packets stamped an hour ahead: the speaker cannot fall quiet by the clock during the
    // test, so only their leaving can end the utterance.
    let mut mic = Mic::new("p1", t0 + Duration::from_secs(3_600));
    let mut pcm = silence(300);
    let said = speech("please send me the report by friday");
    pcm.extend_from_slice(&said[..said.len() * 2 / 3]); // cut off mid-sentence: no silence after
    for p in mic.send(&pcm) {
        c.sink().offer(MEETING, p);
    }
    std::thread::sleep(Duration::from_millis(200)); // the packets reach the captioner first
    c.speaker_left(MEETING, "p1").unwrap();
    let fin: Vec<Caption> = finals(&rx, 1).into_iter().filter(|c| c.is_final).collect();
    assert_eq!(fin.len(), 1, "{fin:?}");
    assert!(has_word(&fin[0].text, "report") && !has_word(&fin[0].text, "friday"), "{:?}", fin[0]);
}

#[test]
fn a_microphone_that_goes_quiet_mid_sentence_ends_its_utterance_by_time() {
    let (c, rx) = captioner(1);
    // Real time here: the packets "arrive" now, and then nothing more comes (muted).
    let t0 = Instant::now();
    c.start_meeting(MEETING, t0).unwrap();
    let said = speech("please send me the report by friday");
    let mut mic = Mic::new("p1", t0);
    let mut pcm = silence(300);
    pcm.extend_from_slice(&said[..said.len() * 2 / 3]);
    for p in mic.send(&pcm) {
        c.sink().offer(MEETING, p);
    }
    let fin: Vec<Caption> = finals(&rx, 1).into_iter().filter(|c| c.is_final).collect();
    assert_eq!(fin.len(), 1, "the utterance ended without more packets: {fin:?}");
    assert!(has_word(&fin[0].text, "report"), "{:?}", fin[0]);
}

#[test]
fn silence_and_garbage_packets_make_no_captions_and_others_are_still_captioned() {
    let (c, rx) = captioner(1);
    let t0 = Instant::now();
    c.start_meeting(MEETING, t0).unwrap();
    let mut noisy = Mic::new("p-garbage", t0 + AHEAD);
    let mut bad: Vec<AudioPacket> = noisy.send(&silence(2_000));
    for i in 0..200u32 {
        let payload = match i % 4 {
            0 => Vec::new(),
            1 => vec![0xff; 1_400],
            2 => i.to_le_bytes().repeat(i as usize % 50 + 1),
            _ => vec![0x0b, 0xff, 0xff, 0xff, 0xff, 0x00], // a TOC claiming impossible frame counts
        };
        bad.push(noisy.packet(payload));
    }
    let good = phrase(&mut Mic::new("p-good", t0 + AHEAD), 300, "the project is on schedule");
    for p in mixed(vec![bad, good]) {
        c.sink().offer(MEETING, p);
    }
    let captions = finals(&rx, 1);
    assert!(captions.iter().all(|c| c.participant_id == "p-good"), "{captions:?}");
    assert!(captions.iter().any(|c| c.is_final && has_word(&c.text, "schedule")), "{captions:?}");
    c.stop_meeting(MEETING).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.stats().undecodable.load(Ordering::Relaxed) >= 150, "undecodable packets are counted");
    assert!(rx.try_recv().is_err(), "nothing more after the meeting's captions stopped");
}

#[test]
fn packets_of_meetings_without_captions_are_ignored() {
    let (c, rx) = captioner(1);
    let t0 = Instant::now();
    c.start_meeting(MEETING, t0).unwrap();
    for p in phrase(&mut Mic::new("p1", t0), 200, "the project is on schedule") {
        c.sink().offer(MEETING + 1, p);
    }
    assert!(rx.recv_timeout(Duration::from_secs(3)).is_err(), "no captions for a meeting that did not ask");
    assert!(c.stats().packets_ignored.load(Ordering::Relaxed) > 100);
}

#[test]
fn a_stopped_meeting_finishes_what_was_being_said_and_then_ignores_its_audio() {
    let (c, rx) = captioner(1);
    let t0 = Instant::now();
    c.start_meeting(MEETING, t0).unwrap();
    let mut mic = Mic::new("p1", t0 + AHEAD);
    let said = speech("please send me the report by friday");
    let mut pcm = silence(300);
    pcm.extend_from_slice(&said[..said.len() * 2 / 3]);
    for p in mic.send(&pcm) {
        c.sink().offer(MEETING, p);
    }
    c.stop_meeting(MEETING).unwrap();
    for p in phrase(&mut mic, 0, "the project is on schedule") {
        c.sink().offer(MEETING, p);
    }
    let fin: Vec<Caption> = finals(&rx, 1).into_iter().filter(|c| c.is_final).collect();
    assert_eq!(fin.len(), 1, "a final caption for what was said before the stop: {fin:?}");
    assert!(has_word(&fin[0].text, "report"), "{:?}", fin[0]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(rx.try_recv().is_err(), "nothing of what was said after the stop");
}
