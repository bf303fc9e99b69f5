//! Pausing an accept loop after errors (out of file descriptors, …) instead of
//! spinning and flooding the log: the pause doubles from 10 ms to 1 s, with one log
//! line per pause, and resets on the next success.

use std::time::Duration;

/// Shortest pause.
const FIRST: Duration = Duration::from_millis(10);
/// Longest pause.
const LONGEST: Duration = Duration::from_secs(1);

/// The back-off state of one accept loop.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    pause: Duration,
}

impl AcceptBackoff {
    /// An accept succeeded.
    pub fn reset(&mut self) {
        self.pause = Duration::ZERO;
    }

    /// An accept of `what` failed: logs once and waits.
    pub async fn failed(&mut self, what: &str, error: &std::io::Error) {
        let pause = self.next_pause();
        tracing::warn!(%error, ?pause, "accepting {what} connections failed; pausing");
        tokio::time::sleep(pause).await;
    }

    fn next_pause(&mut self) -> Duration {
        self.pause = (self.pause * 2).clamp(FIRST, LONGEST);
        self.pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_a_second_and_reset() {
        let mut b = AcceptBackoff::default();
        let seen: Vec<u128> = (0..9).map(|_| b.next_pause().as_millis()).collect();
        assert_eq!(seen, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_pause(), FIRST);
    }
}
