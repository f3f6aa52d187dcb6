//! CMU PocketSphinx (the 5prealpha C library Debian ships as `libpocketsphinx3`) through a
//! minimal FFI of its own: no maintained binding crate exists for this API (the
//! `pocketsphinx` crate targets an older one and panics when a model fails to load).
//!
//! The C library ends the whole process (`exit`, or a crash) on some corrupt model files, so
//! before a model is first loaded into this process it is loaded once in a child process,
//! Debian's `pocketsphinx_continuous` ([`probe`]); only a model that survives that is loaded here.

use std::collections::HashSet;
use std::ffi::{c_char, c_int, CStr, CString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Engine;
use crate::error::{Error, Result};

/// The model `pocketsphinx-en-us` installs (US English).
pub const DEFAULT_MODEL: &str = "/usr/share/pocketsphinx/model/en-us";

/// How long the probe may take to load a model.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

#[allow(non_camel_case_types)]
#[repr(C)]
struct cmd_ln_t {
    _private: [u8; 0],
}
#[allow(non_camel_case_types)]
#[repr(C)]
struct ps_decoder_t {
    _private: [u8; 0],
}
#[allow(non_camel_case_types)]
#[repr(C)]
struct arg_t {
    _private: [u8; 0],
}

#[link(name = "pocketsphinx")]
#[link(name = "sphinxbase")]
extern "C" {
    fn ps_args() -> *const arg_t;
    fn cmd_ln_parse_r(
        inout: *mut cmd_ln_t,
        defn: *const arg_t,
        argc: i32,
        argv: *const *const c_char,
        strict: i32,
    ) -> *mut cmd_ln_t;
    fn cmd_ln_free_r(cmdln: *mut cmd_ln_t) -> c_int;
    fn ps_init(config: *mut cmd_ln_t) -> *mut ps_decoder_t;
    fn ps_free(ps: *mut ps_decoder_t) -> c_int;
    fn ps_start_utt(ps: *mut ps_decoder_t) -> c_int;
    fn ps_process_raw(ps: *mut ps_decoder_t, data: *const i16, n: usize, no_search: c_int, full_utt: c_int) -> c_int;
    fn ps_end_utt(ps: *mut ps_decoder_t) -> c_int;
    fn ps_get_hyp(ps: *mut ps_decoder_t, out_best_score: *mut i32) -> *const c_char;
}

/// ps_init reads shared global state in sphinxbase (logging, the argument tables): one at a time.
static INIT: Mutex<()> = Mutex::new(());
/// Model directories already probed by this process.
static PROBED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// The three parts of a model directory laid out as Debian's `pocketsphinx-en-us` is:
/// `<dir>/<name>/` (acoustic model), `<dir>/<name>.lm.bin`, `<dir>/cmudict-<name>.dict`.
#[derive(Debug)]
struct Model {
    hmm: PathBuf,
    lm: PathBuf,
    dict: PathBuf,
}

impl Model {
    fn find(dir: &Path) -> Result<Model> {
        let bad = |reason: String| Error::BadModel { path: dir.to_path_buf(), reason };
        if !dir.is_dir() {
            return Err(bad("not a directory (install pocketsphinx-en-us, or give a model directory)".into()));
        }
        let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| bad("has no usable name".into()))?;
        let model = Model {
            hmm: dir.join(name),
            lm: dir.join(format!("{name}.lm.bin")),
            dict: dir.join(format!("cmudict-{name}.dict")),
        };
        for file in ["mdef", "means", "variances", "transition_matrices", "noisedict"] {
            if !model.hmm.join(file).is_file() {
                return Err(bad(format!("the acoustic model {} has no {file}", model.hmm.display())));
            }
        }
        for file in [&model.lm, &model.dict] {
            if !file.is_file() {
                return Err(bad(format!("{} is missing", file.display())));
            }
        }
        Ok(model)
    }

    fn args(&self) -> Vec<String> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        vec![
            "-hmm".into(),
            path(&self.hmm),
            "-lm".into(),
            path(&self.lm),
            "-dict".into(),
            path(&self.dict),
            "-logfn".into(),
            "/dev/null".into(),
        ]
    }
}

/// Loads the model in a child process (`pocketsphinx_continuous` on a moment of noise) to
/// learn whether loading it here would end this process. Without that program (Debian's
/// `pocketsphinx`) only the layout is checked, with a warning.
fn probe(dir: &Path) -> Result<()> {
    let model = Model::find(dir)?;
    let bad = |reason: String| Error::BadModel { path: dir.to_path_buf(), reason };
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let wav = std::env::temp_dir().join(format!("convene-captions-probe-{}-{n}.wav", std::process::id()));
    std::fs::write(&wav, probe_wav()).map_err(|e| bad(format!("cannot write a probe file: {e}")))?;
    let mut args = model.args();
    args.truncate(6); // without -logfn: the probe's errors say what is wrong
    let spawned = Command::new("pocketsphinx_continuous")
        .args(&args)
        .arg("-infile")
        .arg(&wav)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&wav);
            tracing::warn!(error = %e, "pocketsphinx_continuous not found (Debian: pocketsphinx): model checked by layout only");
            return Ok(());
        }
    };
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < PROBE_TIMEOUT => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let _ = std::fs::remove_file(&wav);
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        use std::io::Read;
        let _ = err.read_to_string(&mut stderr);
    }
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => {
            let why = stderr.lines().rev().find(|l| l.starts_with("FATAL") || l.starts_with("ERROR"));
            Err(bad(match why {
                Some(line) => format!("PocketSphinx cannot load it: {}", line.trim()),
                None => format!("PocketSphinx cannot load it (it ended with {s})"),
            }))
        }
        None => Err(bad(format!("PocketSphinx did not load it within {}s", PROBE_TIMEOUT.as_secs()))),
    }
}

/// The probe's audio, a 16 kHz mono WAV file: a second of noise between silences. Silence
/// alone would not do: the decoder's own voice detector would skip it, and some corrupt
/// models only crash once frames are scored.
fn probe_wav() -> Vec<u8> {
    const SILENCE: usize = 4_800;
    const NOISE: usize = 16_000;
    let mut seed: u32 = 0x2545_f491;
    let mut samples = vec![0i16; SILENCE];
    samples.extend((0..NOISE).map(|_| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((seed >> 16) as i16) / 3
    }));
    samples.resize(SILENCE * 2 + NOISE, 0);
    let data = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut w = Vec::with_capacity(44 + samples.len() * 2);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&16_000u32.to_le_bytes());
    w.extend_from_slice(&32_000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

/// One PocketSphinx decoder.
pub(crate) struct PocketSphinx {
    ps: *mut ps_decoder_t,
    in_utterance: bool,
}

// SAFETY: a decoder has no thread affinity; it is used by one thread at a time (`&mut self`).
unsafe impl Send for PocketSphinx {}

impl PocketSphinx {
    /// Loads the model directory (see [`DEFAULT_MODEL`] for the layout), probing it first
    /// the first time this process sees it.
    pub(crate) fn load(dir: &Path) -> Result<PocketSphinx> {
        let model = Model::find(dir)?;
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let seen = PROBED.lock().map(|p| p.as_ref().is_some_and(|s| s.contains(&key))).unwrap_or(false);
        if !seen {
            probe(dir)?;
            if let Ok(mut p) = PROBED.lock() {
                p.get_or_insert_with(HashSet::new).insert(key);
            }
        }
        let bad = |reason: &str| Error::BadModel { path: dir.to_path_buf(), reason: reason.to_owned() };
        let args: Vec<CString> = model
            .args()
            .into_iter()
            .map(CString::new)
            .collect::<Result<_, _>>()
            .map_err(|_| bad("the path contains a NUL byte"))?;
        let argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
        let argc = i32::try_from(argv.len()).unwrap_or(i32::MAX);
        let _one_at_a_time = INIT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // SAFETY: argv points at `args`, alive for the call; the library copies what it keeps.
        let config = unsafe { cmd_ln_parse_r(std::ptr::null_mut(), ps_args(), argc, argv.as_ptr(), 1) };
        if config.is_null() {
            return Err(bad("PocketSphinx refused the model's paths"));
        }
        // SAFETY: ps_init takes its own reference to `config`; ours is released right after.
        let ps = unsafe { ps_init(config) };
        unsafe { cmd_ln_free_r(config) };
        if ps.is_null() {
            return Err(bad("PocketSphinx cannot load it"));
        }
        Ok(PocketSphinx { ps, in_utterance: false })
    }

    fn hypothesis(&mut self) -> Option<String> {
        let mut score = 0;
        // SAFETY: the decoder is valid; the returned string belongs to it and is copied at once.
        let hyp = unsafe { ps_get_hyp(self.ps, &mut score) };
        (!hyp.is_null()).then(|| unsafe { CStr::from_ptr(hyp) }.to_string_lossy().trim().to_owned())
    }
}

impl Engine for PocketSphinx {
    fn name(&self) -> &'static str {
        "pocketsphinx"
    }

    fn begin(&mut self) -> Result<()> {
        if self.in_utterance {
            // SAFETY: valid decoder in an utterance.
            unsafe { ps_end_utt(self.ps) };
        }
        // SAFETY: valid decoder.
        if unsafe { ps_start_utt(self.ps) } < 0 {
            return Err(Error::Engine("pocketsphinx cannot start an utterance".into()));
        }
        self.in_utterance = true;
        Ok(())
    }

    fn accept(&mut self, pcm: &[i16]) -> Result<Option<String>> {
        if !self.in_utterance {
            self.begin()?;
        }
        // SAFETY: `pcm` is a valid slice for the call; the decoder copies what it needs.
        if unsafe { ps_process_raw(self.ps, pcm.as_ptr(), pcm.len(), 0, 0) } < 0 {
            return Err(Error::Engine("pocketsphinx failed on audio".into()));
        }
        Ok(self.hypothesis().filter(|h| !h.is_empty()))
    }

    fn finish(&mut self) -> Result<String> {
        if !self.in_utterance {
            return Ok(String::new());
        }
        self.in_utterance = false;
        // SAFETY: valid decoder in an utterance.
        if unsafe { ps_end_utt(self.ps) } < 0 {
            return Err(Error::Engine("pocketsphinx cannot end an utterance".into()));
        }
        Ok(self.hypothesis().unwrap_or_default())
    }
}

impl Drop for PocketSphinx {
    fn drop(&mut self) {
        // SAFETY: the decoder was created by ps_init and is freed once.
        unsafe { ps_free(self.ps) };
    }
}
