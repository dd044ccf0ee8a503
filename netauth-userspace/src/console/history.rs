//! The last 24 hours of clients and traffic, for the console's graphs: one sample a
//! minute, in memory (a restart starts a new day of graphs; the sessions themselves are in
//! the store). Drawn as server-rendered SVG: no chart library, works offline.

use std::{
    collections::VecDeque,
    fmt::Write as _,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::sessions::Sessions;

/// One sample a minute, a day of them.
pub const EVERY: Duration = Duration::from_secs(60);
const KEEP: usize = 24 * 60;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Wall-clock time, Unix milliseconds.
    pub at_ms: u64,
    /// Signed-in devices.
    pub clients: u64,
    /// Bytes to and from the clients since netauth started (all sessions, ended ones too).
    pub down: u64,
    pub up: u64,
}

#[derive(Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn push(&self, s: Sample) {
        let mut q = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() == KEEP {
            q.pop_front();
        }
        q.push_back(s);
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// Samples the session table every [`EVERY`], forever.
    pub async fn run(self: Arc<Self>, sessions: Arc<Sessions>) {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let sessions = sessions.clone();
            let sample = tokio::task::spawn_blocking(move || {
                let now = crate::clock::now();
                let u = sessions.total_usage(now);
                Sample {
                    at_ms: crate::clock::real_wall_ms().max(0) as u64,
                    clients: sessions.count() as u64,
                    down: u.down_bytes,
                    up: u.up_bytes,
                }
            })
            .await;
            if let Ok(sample) = sample {
                self.push(sample);
            }
        }
    }
}

/// Traffic rates between consecutive samples, bits per second (down, up). A counter that
/// went backwards (a restart) gives no point rather than a negative one.
pub fn rates(samples: &[Sample]) -> Vec<(u64, f64, f64)> {
    samples
        .windows(2)
        .filter_map(|w| {
            let secs = w[1].at_ms.checked_sub(w[0].at_ms)? as f64 / 1000.0;
            if secs <= 0.0 {
                return None;
            }
            let down = w[1].down.checked_sub(w[0].down)? as f64 * 8.0 / secs;
            let up = w[1].up.checked_sub(w[0].up)? as f64 * 8.0 / secs;
            Some((w[1].at_ms, down, up))
        })
        .collect()
}

/// A line of a chart: its CSS colour, its label, its points (time in Unix ms, value).
pub type Series<'a> = (&'a str, &'a str, Vec<(u64, f64)>);

const W: f64 = 720.0;
const H: f64 = 160.0;

/// An SVG line chart of `series` (each: a CSS colour, a label and its points
/// (time, value)) over the last 24 h ending at `now_ms`, with `unit` formatting the axis.
pub fn chart(title: &str, now_ms: u64, series: &[Series], unit: fn(f64) -> String) -> String {
    let day = 24.0 * 3600.0 * 1000.0;
    let start = now_ms as f64 - day;
    let max = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, v)| *v))
        .fold(0.0f64, f64::max)
        .max(1.0);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" \
aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\">\
<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#fff\" stroke=\"#ccd\"/>\
<text x=\"6\" y=\"14\" font-size=\"12\" fill=\"#333\">{t}: max {m}</text>\
<text x=\"6\" y=\"{hb}\" font-size=\"10\" fill=\"#667\">24 h ago</text>\
<text x=\"{wr}\" y=\"{hb}\" font-size=\"10\" fill=\"#667\" text-anchor=\"end\">now</text>",
        w = W,
        h = H,
        t = html_escape::encode_double_quoted_attribute(title),
        m = html_escape::encode_text(&unit(max)),
        hb = H - 4.0,
        wr = W - 6.0,
    );
    for (i, (colour, label, points)) in series.iter().enumerate() {
        let pts: Vec<String> = points
            .iter()
            .filter(|(t, _)| *t as f64 >= start)
            .map(|(t, v)| {
                let x = (*t as f64 - start) / day * W;
                let y = (H - 20.0) - v / max * (H - 40.0);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>\
<text x=\"{lx}\" y=\"14\" font-size=\"12\" fill=\"{colour}\">{label}</text>",
            pts.join(" "),
            lx = W - 160.0 + i as f64 * 70.0,
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: u64, clients: u64, down: u64, up: u64) -> Sample {
        Sample {
            at_ms,
            clients,
            down,
            up,
        }
    }

    #[test]
    fn keeps_a_day_of_samples() {
        let h = History::default();
        for i in 0..(KEEP as u64 + 10) {
            h.push(s(i * 60_000, i, 0, 0));
        }
        let all = h.samples();
        assert_eq!(all.len(), KEEP);
        assert_eq!(all[0].clients, 10);
    }

    #[test]
    fn rates_are_bits_per_second_and_skip_restarts() {
        let r = rates(&[
            s(0, 1, 0, 0),
            s(60_000, 1, 7_500_000, 750_000),
            s(120_000, 1, 100, 100),
        ]);
        assert_eq!(r, vec![(60_000, 1_000_000.0, 100_000.0)]);
    }

    #[test]
    fn the_chart_plots_the_points_inside_the_box() {
        let svg = chart(
            "Clients",
            86_400_000,
            &[("#06c", "clients", vec![(0, 0.0), (86_400_000, 10.0)])],
            |v| format!("{v:.0}"),
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("points=\"0.0,140.0 720.0,20.0\""), "{svg}");
        assert!(svg.contains("Clients: max 10"), "{svg}");
    }
}
