//! A small seeded generator (SplitMix64): the same seed plays the same round, on any machine.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, good enough to pick faults.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// The generator of round `round` of the run seeded `seed` (each round replays alone).
    pub(crate) fn for_round(seed: u64, round: u64) -> Rng {
        let mut r = Rng(seed ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `percent` %.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// Milliseconds in `lo..=hi`, as a duration.
    pub(crate) fn millis(&mut self, lo: u64, hi: u64) -> std::time::Duration {
        std::time::Duration::from_millis(self.range(lo, hi))
    }

    /// Shuffles `items` (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.range(0, i as u64) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_replays_alone_and_rounds_differ() {
        let a: Vec<u64> = (0..5).map(|_| Rng::for_round(7, 3).next()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]), "same seed, same round");
        let mut r3 = Rng::for_round(7, 3);
        let mut r4 = Rng::for_round(7, 4);
        assert_ne!(r3.next(), r4.next());
        let mut r = Rng::for_round(1, 1);
        for _ in 0..1000 {
            let v = r.range(2, 5);
            assert!((2..=5).contains(&v));
        }
        let mut v: Vec<u32> = (0..20).collect();
        r.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
    }
}
