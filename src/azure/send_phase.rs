//! Whether an attempt's request may have reached the destination: the one fact that decides if
//! an attempt can still be abandoned (nothing left the process: its rows go elsewhere) or must
//! be waited for (its outcome settles the webhook). A request counts as possibly sent once its
//! body starts to leave; a token fetch or a connect that stalls before that sends nothing.

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

const UNSENT: u8 = 0;
const SENT: u8 = 1;
const ABANDONED: u8 = 2;

/// One attempt's phase: unsent, then either sent (a body started to leave) or abandoned (the
/// deadline came first). The two transitions race; exactly one wins.
#[derive(Debug, Default)]
pub struct SendPhase(AtomicU8);

/// The error a body gives when its attempt was abandoned before it left.
#[derive(Debug, thiserror::Error)]
#[error("the attempt was abandoned at its deadline before its request was sent")]
pub struct Abandoned;

impl SendPhase {
    pub fn new() -> Arc<Self> {
        Arc::new(SendPhase::default())
    }

    /// Marks the attempt sent, unless it was abandoned: true when the request may go.
    pub fn send(&self) -> bool {
        self.transition(SENT)
    }

    /// Abandons the attempt, unless something may have been sent: true when nothing was.
    pub fn abandon(&self) -> bool {
        self.transition(ABANDONED)
    }

    /// True once the attempt was abandoned: whatever failed afterwards sent nothing.
    pub fn abandoned(&self) -> bool {
        self.0.load(Ordering::Acquire) == ABANDONED
    }

    fn transition(&self, to: u8) -> bool {
        match self
            .0
            .compare_exchange(UNSENT, to, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now == to,
        }
    }

    /// A request body of `bytes` (its length known, so Content-Length is set) that marks this
    /// attempt sent when it starts to leave, and fails instead if the attempt was abandoned.
    pub fn body(self: &Arc<Self>, bytes: Bytes) -> reqwest::Body {
        reqwest::Body::wrap(GatedBody {
            bytes: Some(bytes),
            phase: Arc::clone(self),
        })
    }
}

struct GatedBody {
    bytes: Option<Bytes>,
    phase: Arc<SendPhase>,
}

impl Body for GatedBody {
    type Data = Bytes;
    type Error = Abandoned;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Abandoned>>> {
        let Some(bytes) = self.bytes.take() else {
            return Poll::Ready(None);
        };
        if self.phase.send() {
            Poll::Ready(Some(Ok(Frame::data(bytes))))
        } else {
            Poll::Ready(Some(Err(Abandoned)))
        }
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.as_ref().map_or(0, |b| b.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sending_and_abandoning_race_and_exactly_one_wins() {
        let sent = SendPhase::new();
        assert!(sent.send() && sent.send());
        assert!(!sent.abandon());
        let abandoned = SendPhase::new();
        assert!(abandoned.abandon() && abandoned.abandon());
        assert!(!abandoned.send());
    }
}
