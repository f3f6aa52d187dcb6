//! How fast live captions run on this machine: CPU time per second of speech for the
//! pipeline (Opus decoding and voice activity) and for the engine, on espeak-ng speech.
//!
//! ```sh
//! cargo run --release -p convene-captions --example rtf                  # PocketSphinx
//! cargo run --release -p convene-captions --features whisper --example rtf -- whisper /path/ggml-base.en.bin
//! ```
//! The real-time factor (RTF) is CPU seconds per second of audio: 1 / RTF is how many
//! people speaking continuously one core keeps up with.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{silence, speech, Mic};
use convene_captions::{EngineConfig, Pipeline, Voice};

const PHRASES: [&str; 6] = [
    "the quick brown fox jumps over the lazy dog",
    "good morning everyone let us start the meeting",
    "please send me the report by friday",
    "we need to review the budget for next quarter",
    "thank you all for joining today",
    "i will share my screen now",
];

/// CPU time of this thread.
fn cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Resident memory of this process.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok());
    kib.unwrap_or(0.0) / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine_name = args.first().map_or("pocketsphinx", String::as_str);
    let config = EngineConfig::parse(engine_name, args.get(1).map(Path::new)).unwrap_or_else(|e| panic!("{e}"));
    let load = Instant::now();
    let mut engine = config.load().unwrap_or_else(|e| panic!("{e}"));
    println!(
        "engine {engine_name}: loaded in {:.2} s (first load includes the model probe)",
        load.elapsed().as_secs_f64()
    );
    let before = rss_mib();
    let load = Instant::now();
    let more: Vec<_> = (0..3).map(|_| config.load().unwrap()).collect();
    println!(
        "each further instance (one per worker): {:.2} s to load, {:.0} MiB resident",
        load.elapsed().as_secs_f64() / 3.0,
        (rss_mib() - before) / 3.0
    );
    drop(more);

    let (mut audio, mut pipeline_cpu, mut engine_cpu, mut utterances) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO, 0);
    let mut engine_samples = 0usize;
    for round in 0..3 {
        for phrase in PHRASES {
            let t0 = Instant::now();
            let mut pcm = silence(300);
            pcm.extend(speech(phrase));
            pcm.extend(silence(1_000));
            audio += Duration::from_millis(pcm.len() as u64 / 48);
            let packets = Mic::new("p", t0).send(&pcm);
            let mut pipeline = Pipeline::new(t0);
            let mut text = String::new();
            for p in &packets {
                let c = cpu();
                pipeline.push(p);
                pipeline_cpu += cpu() - c;
                while let Some(v) = pipeline.poll() {
                    let c = cpu();
                    match v {
                        Voice::Begin { .. } => engine.begin().unwrap(),
                        Voice::Audio { pcm, .. } => {
                            engine_samples += pcm.len();
                            drop(engine.accept(&pcm).unwrap());
                        }
                        Voice::End { .. } => {
                            text = engine.finish().unwrap();
                            utterances += 1;
                        }
                    }
                    engine_cpu += cpu() - c;
                }
            }
            if round == 0 {
                println!("  {phrase:?} -> {text:?}");
            }
        }
    }
    let engine_audio = Duration::from_millis(engine_samples as u64 / 16);
    let pipeline_rtf = pipeline_cpu.as_secs_f64() / audio.as_secs_f64();
    let engine_rtf = engine_cpu.as_secs_f64() / engine_audio.as_secs_f64();
    println!(
        "audio: {:.1} s, of it {:.1} s in {utterances} utterances for the engine",
        audio.as_secs_f64(),
        engine_audio.as_secs_f64()
    );
    println!("pipeline (Opus decoding + voice activity): RTF {pipeline_rtf:.4} of all audio");
    println!("engine ({engine_name}): RTF {engine_rtf:.3} of the utterances' audio");
    let total = pipeline_rtf + engine_rtf;
    println!("one core keeps up with {:.1} people speaking at once", 1.0 / total);
}
