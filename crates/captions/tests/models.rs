//! Configuration and models: a wrong engine name, an engine this build lacks, a missing or
//! corrupt model — each a clear error when the captioner starts, never a panic or a dead
//! process (PocketSphinx's C library exits or crashes on some corrupt files).

use std::path::{Path, PathBuf};

use convene_captions::{Captioner, CaptionerConfig, EngineConfig, EngineKind, Error, POCKETSPHINX_DEFAULT_MODEL};

fn start(model: &Path) -> Result<Captioner, Error> {
    let mut config = CaptionerConfig::new(EngineConfig::parse("pocketsphinx", Some(model)).unwrap());
    config.workers = 1;
    Captioner::start(&config, |_| {})
}

/// A copy of the installed model under a temporary `en-us/` directory (large files linked,
/// not copied), with `file` of the acoustic model replaced by what `spoil` makes of it.
fn spoiled_model(name: &str, file: &str, spoil: impl Fn(Vec<u8>) -> Vec<u8>) -> (PathBuf, PathBuf) {
    let root = std::env::temp_dir().join(format!("captions-model-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let src = Path::new(POCKETSPHINX_DEFAULT_MODEL);
    let dst = root.join("en-us");
    std::fs::create_dir_all(dst.join("en-us")).unwrap();
    for f in ["en-us.lm.bin", "cmudict-en-us.dict"] {
        std::os::unix::fs::symlink(src.join(f), dst.join(f)).unwrap();
    }
    for entry in std::fs::read_dir(src.join("en-us")).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join("en-us").join(entry.file_name());
        if entry.file_name() == file {
            std::fs::write(&to, spoil(std::fs::read(entry.path()).unwrap())).unwrap();
        } else {
            std::os::unix::fs::symlink(entry.path(), to).unwrap();
        }
    }
    (root, dst)
}

fn refused(model: &Path) -> String {
    match start(model) {
        Err(e @ Error::BadModel { .. }) => e.to_string(),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a bad model was accepted"),
    }
}

#[test]
fn the_installed_model_loads() {
    start(Path::new(POCKETSPHINX_DEFAULT_MODEL)).expect("pocketsphinx-en-us loads");
}

#[test]
fn a_missing_model_directory_is_a_clear_error() {
    let msg = refused(Path::new("/nonexistent/en-us"));
    assert!(msg.contains("/nonexistent/en-us") && msg.contains("pocketsphinx-en-us"), "{msg}");
}

#[test]
fn a_model_directory_missing_a_file_names_it() {
    let (root, model) = spoiled_model("nomeans", "means", |b| b);
    std::fs::remove_file(model.join("en-us/means")).unwrap();
    let msg = refused(&model);
    assert!(msg.contains("has no means"), "{msg}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_corrupt_acoustic_model_is_refused_and_this_process_lives_on() {
    // Flipped bits: libpocketsphinx's checksum check calls exit() on this one.
    let (root, model) = spoiled_model("bitflip", "means", |mut b| {
        for x in &mut b[1_000..2_000] {
            *x ^= 0x55;
        }
        b
    });
    let msg = refused(&model);
    assert!(msg.contains("PocketSphinx cannot load it") && msg.contains("Checksum"), "{msg}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_truncated_model_that_crashes_pocketsphinx_is_refused() {
    // A truncated sendump makes libpocketsphinx crash (SIGSEGV) while loading.
    let (root, model) = spoiled_model("truncated", "sendump", |b| b[..1_000].to_vec());
    let msg = refused(&model);
    assert!(msg.contains("PocketSphinx cannot load it"), "{msg}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn garbage_as_the_model_definition_is_refused() {
    let (root, model) = spoiled_model("garbage", "mdef", |b| b.iter().map(|x| x.wrapping_mul(31)).collect());
    let msg = refused(&model);
    assert!(msg.contains("PocketSphinx cannot load it"), "{msg}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn an_unknown_engine_is_refused_with_the_choices() {
    let e = EngineConfig::parse("vosk", None).unwrap_err();
    assert!(matches!(e, Error::UnknownEngine(_)));
    assert!(e.to_string().contains("\"pocketsphinx\" or \"whisper\""), "{e}");
    assert_eq!(EngineKind::parse(" PocketSphinx ").unwrap(), EngineKind::PocketSphinx);
}

#[cfg(not(feature = "whisper"))]
#[test]
fn whisper_in_a_build_without_it_says_how_to_build_it() {
    let e = EngineConfig::parse("whisper", Some(Path::new("/models/ggml-base.en.bin"))).unwrap_err();
    assert!(matches!(e, Error::EngineNotBuilt { engine: "whisper", .. }));
    assert!(e.to_string().contains("--features whisper"), "{e}");
}

#[cfg(feature = "whisper")]
#[test]
fn whisper_needs_a_model_and_refuses_a_file_that_is_not_one() {
    let e = EngineConfig::parse("whisper", None).unwrap_err();
    assert!(e.to_string().contains("--captions-model"), "{e}");
    let missing = EngineConfig::parse("whisper", Some(Path::new("/nonexistent/ggml.bin"))).unwrap();
    assert!(matches!(missing.load(), Err(Error::BadModel { .. })));
    let junk = std::env::temp_dir().join(format!("captions-junk-{}.bin", std::process::id()));
    std::fs::write(&junk, b"this is not a ggml model at all").unwrap();
    let e = EngineConfig::parse("whisper", Some(&junk)).unwrap().load().err().expect("refused");
    std::fs::remove_file(&junk).unwrap();
    assert!(matches!(e, Error::BadModel { .. }), "{e}");
}
