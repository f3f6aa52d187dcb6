//! The fuzz targets' corpora (`fuzz/corpus/<target>/`) replayed in the test suite, with seeded
//! mutations of them: what runs the targets' entry points on stable Rust, without libFuzzer.
//!
//! Every run of [`replay`] feeds each corpus file, then a fixed number of inputs derived from
//! them by a seeded generator (bit flips, interesting values, insertions, deletions,
//! duplications, splices of two inputs, the tokens of the target's libFuzzer dictionary
//! `fuzz/dict/<target>.dict`), so a test run is
//! repeatable and a failure names the input that caused it. `CONVENE_FUZZ_SECS` runs the
//! mutations for that long instead (the long runs recorded in `fuzz/README.md`);
//! `CONVENE_FUZZ_SEED` picks another seed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a replay ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Corpus files fed as they are.
    pub corpus: usize,
    /// Mutated inputs fed after them.
    pub mutations: u64,
}

/// The `fuzz/` package's directory.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The corpus directory of a fuzz target.
pub fn corpus_dir(target: &str) -> PathBuf {
    fuzz_dir().join("corpus").join(target)
}

/// The tokens of a fuzz target's dictionary (`fuzz/dict/<target>.dict`, libFuzzer's format:
/// one quoted string a line, `\xNN`, `\\` and `\"` escapes, `#` comments); none without one.
///
/// # Panics
/// When a line is not a quoted string.
pub fn dictionary(target: &str) -> Vec<Vec<u8>> {
    let path = fuzz_dir().join("dict").join(format!("{target}.dict"));
    let Ok(text) = std::fs::read_to_string(&path) else { return Vec::new() };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            // `"token"`, or `name="token"`.
            let quoted =
                if line.starts_with('"') { line } else { line.split_once('=').map_or(line, |(_, v)| v.trim()) };
            let inner = quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .unwrap_or_else(|| panic!("{}: not a quoted token: {line}", path.display()));
            unescape(inner).unwrap_or_else(|| panic!("{}: a bad escape in {line}", path.display()))
        })
        .collect()
}

fn unescape(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next()? {
            b'x' => {
                let hex = [bytes.next()?, bytes.next()?];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// The corpus of a fuzz target, in file-name order (the mutations depend on the order).
///
/// # Panics
/// When the directory cannot be read.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, data)
        })
        .collect()
}

/// Feeds `run` every corpus file of `target`, then `mutations` seeded mutations of them
/// (or as many as fit in `CONVENE_FUZZ_SECS` seconds when that is set). A panicking input is
/// saved under `fuzz/artifacts/<target>/` and the panic names it.
///
/// # Panics
/// When `run` panics, or the corpus is empty.
pub fn replay(target: &str, mutations: u64, run: impl Fn(&[u8])) -> Replayed {
    let inputs = corpus(target);
    let tokens = dictionary(target);
    assert!(!inputs.is_empty(), "{target}: an empty corpus");
    for (path, data) in &inputs {
        if catch_unwind(AssertUnwindSafe(|| run(data))).is_err() {
            panic!("{target}: the corpus input {} panics", path.display());
        }
    }
    let seed = std::env::var("CONVENE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x00c0_ffee);
    let deadline = std::env::var("CONVENE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(|secs| Instant::now() + Duration::from_secs(secs));
    let corpus: Vec<Vec<u8>> = inputs.into_iter().map(|(_, data)| data).collect();
    let mut mutator = Mutator { rng: Rng(seed), corpus: &corpus, dictionary: &tokens };
    let mut done = 0;
    while deadline.map_or(done < mutations, |d| done % 256 != 0 || Instant::now() < d) {
        let input = mutator.next();
        if catch_unwind(AssertUnwindSafe(|| run(&input))).is_err() {
            let dir = fuzz_dir().join("artifacts").join(target);
            let path = dir.join(format!("crash-seed{seed}-{done}"));
            let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &input));
            panic!(
                "{target}: mutation {done} of seed {seed} panics: {} ({saved:?}); input {input:02x?}",
                path.display()
            );
        }
        done += 1;
    }
    // Shown with `--nocapture`: what a long run covered.
    eprintln!("{target}: {} corpus inputs and {done} mutations (seed {seed})", corpus.len());
    Replayed { corpus: corpus.len(), mutations: done }
}

/// splitmix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Values at the edges of the integer types: where length and offset arithmetic breaks.
const INTERESTING: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x10, 0x40];

struct Mutator<'a> {
    rng: Rng,
    corpus: &'a [Vec<u8>],
    dictionary: &'a [Vec<u8>],
}

impl Mutator<'_> {
    /// One input: a corpus file with one to four mutations stacked, now and then bytes
    /// made up from nothing.
    fn next(&mut self) -> Vec<u8> {
        if self.rng.below(32) == 0 {
            let len = self.rng.below(64);
            return (0..len).map(|_| self.rng.next() as u8).collect();
        }
        let mut data = self.corpus[self.rng.below(self.corpus.len())].clone();
        for _ in 0..=self.rng.below(4) {
            self.mutate(&mut data);
        }
        data
    }

    fn mutate(&mut self, data: &mut Vec<u8>) {
        let len = data.len();
        let at = self.rng.below(len + 1);
        match self.rng.below(9) {
            0 if len > 0 => data[at.min(len - 1)] ^= 1 << self.rng.below(8),
            1 if len > 0 => data[at.min(len - 1)] = INTERESTING[self.rng.below(INTERESTING.len())],
            2 => {
                let bytes: Vec<u8> = (0..=self.rng.below(8)).map(|_| self.rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            3 => {
                let end = (at + 1 + self.rng.below(16)).min(len);
                data.drain(at.min(end)..end);
            }
            4 if len > 0 => {
                let start = self.rng.below(len);
                let end = (start + 1 + self.rng.below(32)).min(len);
                let copy = data[start..end].to_vec();
                data.splice(at..at, copy);
            }
            5 => data.truncate(at),
            6 => {
                let other = &self.corpus[self.rng.below(self.corpus.len())];
                let from = self.rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            7 if !self.dictionary.is_empty() => {
                let token = &self.dictionary[self.rng.below(self.dictionary.len())];
                data.splice(at..at, token.iter().copied());
            }
            8 if len >= 2 => {
                // A 16-bit field set to an edge value, as lengths and counts are.
                let i = self.rng.below(len - 1);
                let value: u16 = [0, 1, 0x7fff, 0x8000, 0xffff, u16::try_from(len).unwrap_or(0)][self.rng.below(6)];
                data[i..i + 2].copy_from_slice(&value.to_be_bytes());
            }
            _ => data.push(self.rng.next() as u8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_makes_the_same_inputs() {
        let corpus = vec![b"hello".to_vec(), b"{\"type\":1}".to_vec()];
        let make = |seed| {
            let dictionary = [b"null".to_vec()];
            let mut m = Mutator { rng: Rng(seed), corpus: &corpus, dictionary: &dictionary };
            (0..200).map(|_| m.next()).collect::<Vec<_>>()
        };
        assert_eq!(make(7), make(7));
        assert_ne!(make(7), make(8));
        let inputs = make(7);
        assert!(inputs.iter().filter(|i| !corpus.contains(i)).count() > 150, "most inputs are new");
        assert!(inputs.iter().any(|i| i.windows(4).any(|w| w == b"null")), "dictionary tokens are used");
    }

    #[test]
    fn the_dictionaries_read_as_libfuzzer_reads_them() {
        assert_eq!(unescape(r#"\x89PNG\x0d\"\\"#), Some(b"\x89PNG\r\"\\".to_vec()));
        assert_eq!(unescape(r"\x8"), None);
        for target in ["media_datagram", "rtp_payload", "signaling", "upload"] {
            assert!(dictionary(target).len() >= 5, "{target}");
        }
        assert!(dictionary("signaling").contains(&b"\"\\u0000\"".to_vec()));
    }
}
