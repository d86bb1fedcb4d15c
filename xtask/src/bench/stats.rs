//! Medians, p95s and ratios of repeated measures.

use std::time::Duration;

/// Repeated measures of one thing, in milliseconds (signed: a difference may be negative).
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples(Vec<f64>);

impl Samples {
    /// No measure yet.
    pub(crate) fn new() -> Self {
        Samples(Vec::new())
    }

    /// Adds a duration.
    pub(crate) fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1000.0);
    }

    /// Adds a value in milliseconds (or a count).
    pub(crate) fn push_ms(&mut self, ms: f64) {
        self.0.push(ms);
    }

    /// How many measures.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The median (the mean of the two middle values for an even count); 0 when empty.
    pub(crate) fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// The 95th percentile (nearest rank); 0 when empty.
    pub(crate) fn p95(&self) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return 0.0;
        }
        let rank = (v.len() * 95).div_ceil(100).max(1);
        v[rank - 1]
    }

    /// Element-wise `self − other` (paired measures taken in the same round).
    pub(crate) fn minus(&self, other: &Samples) -> Samples {
        Samples(self.0.iter().zip(&other.0).map(|(a, b)| a - b).collect())
    }
}

/// `1234.5ms` → "1.23 s", `45.2` → "45 ms", `3.21` → "3.2 ms".
pub(crate) fn ms(v: f64) -> String {
    let a = v.abs();
    if a >= 10_000.0 {
        format!("{:.1} s", v / 1000.0)
    } else if a >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if a >= 10.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

/// `a / b` as "×3.4" (or "—" when `b` is zero).
pub(crate) fn ratio(a: f64, b: f64) -> String {
    if b.abs() < f64::EPSILON {
        "—".to_owned()
    } else {
        let r = a / b;
        if r >= 100.0 {
            format!("×{r:.0}")
        } else if r >= 10.0 {
            format!("×{r:.1}")
        } else {
            format!("×{r:.2}")
        }
    }
}

/// How much sooner `this` is than `anchor`: "×3.4 sooner", or "×1.2 later" when it is slower.
pub(crate) fn sooner(anchor: f64, this: f64) -> String {
    if this <= 0.0 || anchor <= 0.0 {
        "—".to_owned()
    } else if anchor >= this {
        format!("{} sooner", ratio(anchor, this))
    } else {
        format!("{} later", ratio(this, anchor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p95_of_known_samples() {
        let mut s = Samples::new();
        for v in 1..=20 {
            s.push_ms(f64::from(v));
        }
        assert!((s.median() - 10.5).abs() < 1e-9);
        assert!((s.p95() - 19.0).abs() < 1e-9);
        let mut t = Samples::new();
        t.push_ms(3.0);
        assert!((t.median() - 3.0).abs() < 1e-9);
        assert!((t.p95() - 3.0).abs() < 1e-9);
        assert!((s.minus(&s).median()).abs() < 1e-9);
    }

    #[test]
    fn figures_read_well() {
        assert_eq!(ms(1234.5), "1.23 s");
        assert_eq!(ms(45.2), "45 ms");
        assert_eq!(ms(3.21), "3.2 ms");
        assert_eq!(ratio(10.0, 4.0), "×2.50");
        assert_eq!(ratio(1.0, 0.0), "—");
        assert_eq!(sooner(10.0, 4.0), "×2.50 sooner");
        assert_eq!(sooner(4.0, 10.0), "×2.50 later");
    }
}
