//! The steps that run now, polled in the executor's own future (docs/decisions.md, "The
//! running steps in the executor's own future").
//!
//! A `FuturesUnordered` holds them. After it has polled each of its futures once it asks to
//! be polled again (it wakes its caller), so that one busy set cannot starve the rest of a
//! task. Here the set *is* the task's work, and a turn of the runtime for that wake costs an
//! `epoll_wait` and a pass of the executor's loop: twice per HTTP check (once for the request
//! handed to the connection, once for the connection writing it). So the set's wakes go
//! through a [`Relay`]: one that comes while the set is being polled polls it again at once,
//! up to [`POLLS_PER_TURN`] times; one that comes later (a reply, a timer, a child's exit)
//! reaches the runtime as before.

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;
use petgraph::graph::NodeIndex;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use super::step::StepOutcome;

/// Polls of the set in one turn of the runtime, at most: after that the runtime gets its turn
/// (its timers and other events) even if a step keeps waking itself.
const POLLS_PER_TURN: usize = 16;

pub(super) struct RunningSteps {
    set: FuturesUnordered<Running>,
    relay: Arc<Relay>,
    /// The relay as a waker, made once.
    waker: Waker,
}

impl RunningSteps {
    pub fn new() -> Self {
        let relay = Arc::new(Relay::default());
        Self {
            set: FuturesUnordered::new(),
            waker: Waker::from(relay.clone()),
            relay,
        }
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn start(
        &mut self,
        index: NodeIndex,
        step: impl Future<Output = StepOutcome> + Send + 'static,
    ) {
        self.set.push(Running {
            index,
            step: Box::pin(step),
        });
    }

    /// The steps that have finished: waits for the first, then takes every other one that is
    /// done by now, so that all of them are settled before one flush. `waiting` is called
    /// each time none has finished yet, just before the run waits for them.
    pub async fn finished(&mut self, mut waiting: impl FnMut()) -> Vec<(NodeIndex, StepOutcome)> {
        std::future::poll_fn(|cx| {
            let polled = self.poll_finished(cx);
            if polled.is_pending() {
                waiting();
            }
            polled
        })
        .await
    }

    fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<Vec<(NodeIndex, StepOutcome)>> {
        self.relay.runtime.register(cx.waker());
        self.relay.polling.store(true, Ordering::SeqCst);
        let mut inner = Context::from_waker(&self.waker);
        let mut finished = Vec::new();
        for _ in 0..POLLS_PER_TURN {
            self.relay.woken.store(false, Ordering::SeqCst);
            while let Poll::Ready(Some(done)) = self.set.poll_next_unpin(&mut inner) {
                finished.push(done);
            }
            if !finished.is_empty() || !self.relay.woken.load(Ordering::SeqCst) {
                break;
            }
        }
        self.relay.polling.store(false, Ordering::SeqCst);
        if !finished.is_empty() {
            // The executor settles them and polls the set again straight after: a wake
            // noted meanwhile is acted on then.
            return Poll::Ready(finished);
        }
        // A wake not acted on (the limit was reached, or it raced the last check) goes to
        // the runtime.
        if self.relay.woken.load(Ordering::SeqCst) {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Cancels every running step: dropping a step's future kills what it started (process
    /// groups, requests). Returns which steps they were, in the playbook's order.
    pub fn cancel(&mut self) -> Vec<NodeIndex> {
        let mut cancelled: Vec<NodeIndex> = self.set.iter().map(|r| r.index).collect();
        self.set.clear();
        cancelled.sort();
        cancelled
    }
}

/// Stands between the set and the runtime: a wake while the set is being polled is noted
/// (and acted on by polling again); any other is passed on to the runtime's waker.
#[derive(Default)]
struct Relay {
    runtime: AtomicWaker,
    polling: AtomicBool,
    woken: AtomicBool,
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // SeqCst with `poll_finished`'s stores and loads: either the wake sees the polls
        // still going (and they see `woken`), or it passes the wake on; it is never lost.
        self.woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.runtime.wake();
        }
    }
}

/// A running step: its future and which step it is. A step whose code panics ends as a
/// failed step, as a task that panicked did, rather than taking the run down with it.
struct Running {
    index: NodeIndex,
    step: Pin<Box<dyn Future<Output = StepOutcome> + Send>>,
}

impl Future for Running {
    type Output = (NodeIndex, StepOutcome);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index;
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.step.as_mut().poll(cx)));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(outcome)) => Poll::Ready((index, outcome)),
            Err(panic) => Poll::Ready((
                index,
                StepOutcome::Failed {
                    error: format!(
                        "internal error: the step's code panicked: {}",
                        panic_message(panic.as_ref())
                    ),
                    attempts: 0,
                    duration: std::time::Duration::ZERO,
                },
            )),
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A step that asks to be polled again `times` times (as hyper does when a request is
    /// handed to the connection polled beside it), then succeeds.
    fn waking_itself(times: usize) -> impl Future<Output = StepOutcome> + Send {
        let mut left = times;
        std::future::poll_fn(move |cx| {
            if left == 0 {
                return Poll::Ready(StepOutcome::Skipped {
                    reason: "done".into(),
                });
            }
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }

    #[test]
    fn wakes_during_the_polls_are_acted_on_in_the_same_turn() {
        let mut running = RunningSteps::new();
        running.start(NodeIndex::new(3), waking_itself(POLLS_PER_TURN - 2));
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(finished) = running.poll_finished(&mut cx) else {
            panic!("a step that only woke itself should finish within one turn");
        };
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].0, NodeIndex::new(3));
        assert!(running.is_empty());
    }

    #[tokio::test]
    async fn a_step_that_keeps_waking_itself_yields_to_the_runtime_and_still_ends() {
        let mut running = RunningSteps::new();
        running.start(NodeIndex::new(0), waking_itself(10 * POLLS_PER_TURN));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            running.poll_finished(&mut cx).is_pending(),
            "polls are bounded per turn"
        );
        let finished = tokio::time::timeout(Duration::from_secs(10), running.finished(|| {}))
            .await
            .expect("the runtime was woken again");
        assert_eq!(finished.len(), 1);
    }

    #[tokio::test]
    async fn a_wake_from_another_thread_reaches_the_runtime() {
        let mut running = RunningSteps::new();
        let (send, receive) = tokio::sync::oneshot::channel::<()>();
        running.start(NodeIndex::new(1), async move {
            receive.await.expect("sent");
            StepOutcome::Skipped {
                reason: "woken".into(),
            }
        });
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let _ = send.send(());
        });
        let finished = tokio::time::timeout(Duration::from_secs(10), running.finished(|| {}))
            .await
            .expect("the wake was not lost");
        assert_eq!(finished[0].0, NodeIndex::new(1));
    }
}
