//! whisper.cpp through `whisper-rs` (cargo feature `whisper`): a ggml model file the
//! operator supplies (`ggml-base.en.bin`, `ggml-small.bin`…). Not streaming: an utterance is
//! recognised when it ends, so whisper gives final captions only.

use std::path::Path;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

use super::Engine;
use crate::error::{Error, Result};

/// whisper.cpp decodes at least this much audio; shorter utterances are padded with silence.
const MIN_SAMPLES: usize = 16_000;

/// One whisper model and its decoding state.
pub(crate) struct Whisper {
    // The state refers to the context's model: the context is kept alive beside it.
    _context: WhisperContext,
    state: WhisperState,
    language: Option<String>,
    audio: Vec<f32>,
}

impl Whisper {
    /// Loads a ggml model file.
    pub(crate) fn load(path: &Path, language: Option<String>) -> Result<Whisper> {
        let bad = |reason: String| Error::BadModel { path: path.to_path_buf(), reason };
        if !path.is_file() {
            return Err(bad("no such file (give a whisper.cpp ggml model, e.g. ggml-base.en.bin)".into()));
        }
        whisper_rs::install_logging_hooks();
        let context = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| bad(format!("whisper.cpp cannot load it ({e}); is it a ggml model?")))?;
        let state = context.create_state().map_err(|e| bad(format!("whisper.cpp cannot use it ({e})")))?;
        Ok(Whisper { _context: context, state, language, audio: Vec::new() })
    }
}

impl Engine for Whisper {
    fn name(&self) -> &'static str {
        "whisper"
    }

    fn begin(&mut self) -> Result<()> {
        self.audio.clear();
        Ok(())
    }

    fn accept(&mut self, pcm: &[i16]) -> Result<Option<String>> {
        self.audio.extend(pcm.iter().map(|&s| f32::from(s) / 32_768.0));
        Ok(None)
    }

    fn finish(&mut self) -> Result<String> {
        if self.audio.is_empty() {
            return Ok(String::new());
        }
        if self.audio.len() < MIN_SAMPLES {
            self.audio.resize(MIN_SAMPLES, 0.0);
        }
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(1); // one worker, one core: the pool decides the parallelism
        params.set_language(self.language.as_deref());
        params.set_no_context(true);
        params.set_single_segment(true);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        let audio = std::mem::take(&mut self.audio);
        self.state.full(params, &audio).map_err(|e| Error::Engine(format!("whisper: {e}")))?;
        let mut text = String::new();
        for segment in self.state.as_iter() {
            if let Ok(s) = segment.to_str_lossy() {
                text.push_str(&s);
            }
        }
        Ok(text.trim().to_owned())
    }
}
