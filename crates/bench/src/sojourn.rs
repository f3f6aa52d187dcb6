//! The server's own account of the latency it adds: Convene's `media_packet_sojourn_seconds`
//! histogram (a media packet's stay, from the kernel's arrival stamp to the end of the send of
//! what it made), scraped from `/metrics` before and after the measured window. The
//! subscribers' end-to-end figure (`latency_us`) also holds the load generator's own queueing
//! and the kernel's paths, which on a two-core machine can be most of it.

use crate::target::Target;

/// The histogram's cumulative buckets: (upper bound in seconds, packets at or under it); the
/// last bound is infinite.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    buckets: Vec<(f64, u64)>,
}

const BUCKET: &str = "media_packet_sojourn_seconds_bucket{";

impl Histogram {
    /// Reads the histogram out of a Prometheus text exposition; None if it is not there.
    pub fn parse(text: &str) -> Option<Histogram> {
        let mut buckets: Vec<(f64, u64)> = text
            .lines()
            .filter_map(|line| {
                let labels = line.strip_prefix(BUCKET)?;
                let (labels, count) = labels.split_once("} ")?;
                let le = labels.split(',').find_map(|l| l.strip_prefix("le=\""))?.strip_suffix('"')?;
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                Some((le, count.trim().parse::<f64>().ok()? as u64))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        (!buckets.is_empty()).then_some(Histogram { buckets })
    }

    /// What was recorded after `before`.
    pub fn since(&self, before: &Histogram) -> Histogram {
        let buckets = self
            .buckets
            .iter()
            .map(|&(le, n)| {
                let was = before.buckets.iter().find(|b| b.0 == le).map_or(0, |b| b.1);
                (le, n.saturating_sub(was))
            })
            .collect();
        Histogram { buckets }
    }

    /// Packets recorded.
    pub fn count(&self) -> u64 {
        self.buckets.last().map_or(0, |b| b.1)
    }

    /// The `q` quantile in seconds, interpolated linearly inside its bucket as Prometheus's
    /// `histogram_quantile` does (so it is only as fine as the buckets); the highest finite
    /// bound if it falls past them; None with nothing recorded.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let (mut lower, mut below) = (0.0, 0u64);
        for &(le, n) in &self.buckets {
            if n as f64 >= rank {
                if le.is_infinite() {
                    return Some(lower);
                }
                let inside = (n - below) as f64;
                let share = if inside > 0.0 { (rank - below as f64) / inside } else { 1.0 };
                return Some(lower + (le - lower) * share);
            }
            (lower, below) = (le, n);
        }
        Some(lower)
    }
}

/// Scrapes the histogram from a Convene the bench started (it holds the metrics token); None
/// for any other target or if the scrape fails.
pub async fn scrape(target: &Target) -> Option<Histogram> {
    let token = target.metrics_token.as_deref()?;
    let response = reqwest::Client::new()
        .get(format!("{}/metrics", target.url))
        .bearer_auth(token)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    Histogram::parse(&response.error_for_status().ok()?.text().await.ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE media_packet_sojourn_seconds histogram\n\
        media_packet_sojourn_seconds_bucket{le=\"0.001\"} 50\n\
        media_packet_sojourn_seconds_bucket{le=\"0.002\"} 90\n\
        media_packet_sojourn_seconds_bucket{le=\"0.005\"} 100\n\
        media_packet_sojourn_seconds_bucket{le=\"+Inf\"} 100\n\
        media_packet_sojourn_seconds_sum 0.1\n\
        media_packet_sojourn_seconds_count 100\n\
        http_request_duration_seconds_bucket{method=\"GET\",le=\"0.001\"} 7\n";

    #[test]
    fn quantiles_interpolate_inside_their_bucket() {
        let h = Histogram::parse(TEXT).unwrap();
        assert_eq!(h.count(), 100);
        assert!((h.quantile(0.5).unwrap() - 0.001).abs() < 1e-12);
        // The 95th packet is halfway through the (2, 5] ms bucket's ten.
        assert!((h.quantile(0.95).unwrap() - 0.0035).abs() < 1e-12);
        assert!((h.quantile(0.25).unwrap() - 0.0005).abs() < 1e-12);
    }

    #[test]
    fn the_window_is_the_difference_of_two_scrapes() {
        let before = Histogram::parse(TEXT).unwrap();
        let after = Histogram::parse(&TEXT.replace("} 100\n", "} 300\n")).unwrap();
        let window = after.since(&before);
        assert_eq!(window.count(), 200);
        // All 200 new packets took 2 to 5 ms; past the last bound it reads as that bound.
        assert!((window.quantile(0.5).unwrap() - 0.0035).abs() < 1e-12);
        let late = Histogram { buckets: vec![(0.001, 0), (f64::INFINITY, 4)] };
        assert_eq!(late.quantile(0.99), Some(0.001));
        assert_eq!(Histogram::parse("nothing here"), None);
        assert_eq!(Histogram::default().quantile(0.5), None);
    }
}
