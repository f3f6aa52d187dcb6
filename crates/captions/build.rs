//! Links libpocketsphinx and libsphinxbase (Debian: `libpocketsphinx-dev`, `libsphinxbase-dev`)
//! found through pkg-config, so a missing library is a clear build error naming the package.

fn main() {
    if let Err(e) = pkg_config::Config::new().probe("pocketsphinx") {
        panic!(
            "convene-captions needs libpocketsphinx (Debian: apt-get install libpocketsphinx-dev \
             libsphinxbase-dev pocketsphinx-en-us; scripts/test installs them): {e}"
        );
    }
}
