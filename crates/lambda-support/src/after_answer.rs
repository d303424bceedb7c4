//! Work that waits until the caller has its answer: [`AfterAnswer`].
//!
//! A custom runtime (which every Rust function is) answers an invocation by posting to the
//! runtime API's `response`, and Lambda hands that answer to the caller at once; the execution
//! environment is frozen only when the runtime next asks for an event (`next`). What the
//! function does in between runs at full speed, inside the invocation's timeout and billed
//! duration, before any other event reaches this instance, and the caller does not wait for it
//! (AWS Compute Blog, "Running code after returning a response from an AWS Lambda function",
//! the custom-runtime option). A task spawned by the handler instead would be frozen mid-call
//! and finish, if ever, at the next thaw.
//!
//! Only for work whose loss the system already survives: here, publishing an event that the
//! transactional outbox holds until it is published (a process killed in between leaves it for
//! the outbox's flush), never for anything the answer promises.
//!
//! ```ignore
//! let (after, layer) = AfterAnswer::new();
//! Runtime::new(handler /* calls after.defer(work) */).layer(layer).layer(InvocationSpan).run()
//! ```
//! Added before [`crate::InvocationSpan`], so that the deferred work runs inside the
//! invocation's span and its lines carry the invocation's ids.

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{Error, LambdaInvocation};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

type Work = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The queue a handler puts its after-the-answer work on. Cheap to clone; every clone is the
/// same queue.
#[derive(Clone, Default)]
pub struct AfterAnswer(Arc<Mutex<Vec<Work>>>);

impl AfterAnswer {
    /// The queue, and the layer that runs it after each answer.
    pub fn new() -> (Self, AfterAnswerLayer) {
        let queue = Self::default();
        (queue.clone(), AfterAnswerLayer(queue))
    }

    /// Runs `work` once this invocation's answer is posted, before the next event is asked for.
    pub fn defer(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.queue().push(Box::pin(work));
    }

    /// Runs what was deferred, in order, until none is left (work may defer more). The layer
    /// calls it after each answer; tests that call a handler directly call it themselves.
    pub async fn run(&self) {
        loop {
            let work = std::mem::take(&mut *self.queue());
            if work.is_empty() {
                return;
            }
            for work in work {
                work.await;
            }
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Work>> {
        // The lock is never held across an await or user code: a poisoned lock's Vec is fine.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs an [`AfterAnswer`] queue after the runtime's service (which posts the answer) is done
/// with each invocation.
#[derive(Clone)]
pub struct AfterAnswerLayer(AfterAnswer);

impl<S> Layer<S> for AfterAnswerLayer {
    type Service = RunAfterAnswer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RunAfterAnswer {
            inner,
            after: self.0.clone(),
        }
    }
}

/// The service [`AfterAnswerLayer`] wraps the runtime's in.
#[derive(Clone)]
pub struct RunAfterAnswer<S> {
    inner: S,
    after: AfterAnswer,
}

impl<S> Service<LambdaInvocation> for RunAfterAnswer<S>
where
    S: Service<LambdaInvocation, Response = (), Error = Error>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let answered = self.inner.call(invocation);
        let after = self.after.clone();
        Box::pin(async move {
            let posted = answered.await;
            // Even if the answer could not be posted: the work is due all the same.
            after.run().await;
            posted
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_deferred_work_in_order_including_work_deferred_by_work() {
        let (after, _) = AfterAnswer::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        for n in [1, 2] {
            let (order, again) = (order.clone(), after.clone());
            after.defer(async move {
                order.lock().unwrap().push(n);
                if n == 2 {
                    let order = order.clone();
                    again.defer(async move { order.lock().unwrap().push(3) });
                }
            });
        }
        after.run().await;
        assert_eq!(*order.lock().unwrap(), [1, 2, 3]);
        after.run().await;
        assert_eq!(*order.lock().unwrap(), [1, 2, 3], "each piece of work runs once");
    }
}
