//! The hash maps and sets of the media core: keyed by the room's own ids, mids, SSRCs and
//! addresses, looked up several times per forwarded packet. foldhash (seeded per process, so
//! not predictable from outside) hashes such short keys several times faster than std's
//! SipHash, which was ~2 % of a loaded server's CPU.

/// A hash map with foldhash.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A hash set with foldhash.
pub(crate) type Set<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
