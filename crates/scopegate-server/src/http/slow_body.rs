//! A request body must keep arriving: within `gateway.body_timeout` of the
//! head, plus one second per `gateway.body_min_rate` bytes received (the
//! rule of Apache's `mod_reqtimeout`). A client that trickles a body, a
//! byte now and then, to hold a connection (and the upstream's) is cut off
//! with [`BodyTimeout`]; a slow but honest upload of a large body is not.
//!
//! Every request hyper serves goes through it: the gateway's and scopegate's
//! own endpoints alike.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time (gateway.body_timeout, gateway.body_min_rate)")]
pub(crate) struct BodyTimeout;

/// The deadline a body is held to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyDeadline {
    pub timeout: Duration,
    /// Bytes per second that earn one more second; 0 earns none.
    pub min_rate: u64,
}

/// `B`, cut off when it falls behind its [`BodyDeadline`].
#[derive(Debug)]
pub(crate) struct SlowBody<B> {
    inner: B,
    deadline: BodyDeadline,
    started: Instant,
    received: u64,
    sleep: Pin<Box<Sleep>>,
}

impl<B> SlowBody<B> {
    pub(crate) fn new(inner: B, deadline: BodyDeadline) -> Self {
        let started = Instant::now();
        Self {
            inner,
            deadline,
            started,
            received: 0,
            sleep: Box::pin(tokio::time::sleep_until(started + deadline.timeout)),
        }
    }

    fn due(&self) -> Instant {
        let earned = self.received.checked_div(self.deadline.min_rate).unwrap_or(0);
        self.started + self.deadline.timeout + Duration::from_secs(earned)
    }
}

impl<B> Body for SlowBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len() as u64);
                    let due = this.due();
                    this.sleep.as_mut().reset(due);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `error`, or an error it was caused by, is a [`BodyTimeout`].
pub(crate) fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<BodyTimeout>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http_body_util::BodyExt;

    /// A body whose chunks arrive from a task, `chunk` bytes after each gap.
    struct Trickle(tokio::sync::mpsc::Receiver<Bytes>);

    impl Body for Trickle {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0.poll_recv(cx).map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
        }
    }

    fn trickle(gaps_ms: Vec<u64>, chunk: usize) -> Trickle {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            for gap in gaps_ms {
                tokio::time::sleep(Duration::from_millis(gap)).await;
                if tx.send(Bytes::from(vec![b'x'; chunk])).await.is_err() {
                    return;
                }
            }
        });
        Trickle(rx)
    }

    const DEADLINE: BodyDeadline = BodyDeadline {
        timeout: Duration::from_secs(10),
        min_rate: 100,
    };

    #[tokio::test(start_paused = true)]
    async fn a_trickled_body_is_cut_off_at_its_deadline() {
        // One byte every 4 s earns nothing: cut off 10 s in.
        let body = SlowBody::new(trickle(vec![4000; 10], 1), DEADLINE);
        let e = body.collect().await.unwrap_err();
        assert!(is_body_timeout(&*e), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_its_rate_arrives_whole() {
        // 500 bytes every 4 s: 125 bytes/s earns more than the time it takes.
        let body = SlowBody::new(trickle(vec![4000; 10], 500), DEADLINE);
        assert_eq!(body.collect().await.unwrap().to_bytes().len(), 5000);
    }
}
