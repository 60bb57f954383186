//! Work split over two cores, for large playbooks.
//!
//! The reference machine has two cores, and loading, compiling and planning a large playbook
//! are loops over steps that do not depend on each other. Each is done in two halves at once,
//! the second on a thread of std's scoped threads, all a fork-join of two needs (a persistent
//! helper thread from rayon was measured too: no faster, no less memory). Small playbooks,
//! which are most, stay on one thread.

use std::sync::{Mutex, OnceLock};

/// Fewer items than this are done on one thread: a second thread costs some tens of
/// microseconds to start, and an item here (a step's plan view) a microsecond or two.
const FROM_ITEMS: usize = 1_000;

/// Whether this machine can run two threads at once.
pub fn two_cores() -> bool {
    static TWO: OnceLock<bool> = OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// `a` on this thread and `b` on another, at once. `b` is `None` only if it could be run
/// on neither, which cannot happen: where no thread can be had (a limit on processes or
/// memory), it runs here after `a`, never a panic.
pub fn both<A, B: Send>(a: impl FnOnce() -> A, b: impl FnOnce() -> B + Send) -> (A, Option<B>) {
    let b = Mutex::new(Some(b));
    let run_b = || {
        let b = b.lock().ok()?.take();
        b.map(|b| b())
    };
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().spawn_scoped(scope, run_b);
        let a = a();
        let b = match thread {
            // A panic in `b` is the caller's, as it would have been on one thread.
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => run_b(),
        };
        (a, b)
    })
}

/// `work` done on each half of `items` at once (when there are enough of them and two
/// cores), given the index of the half's first item; its results in the order of the items.
pub fn in_halves<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(usize, &[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    if items.len() < FROM_ITEMS || !two_cores() {
        return work(0, items);
    }
    let middle = items.len() / 2;
    let (first, second) = items.split_at(middle);
    let (mut all, rest) = both(|| work(0, first), || work(middle, second));
    all.extend(rest.unwrap_or_else(|| work(middle, second)));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_runs_each_once_and_gives_both_results() {
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let count = || runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (a, b) = both(|| (count(), "a").1, || (count(), "b").1);
        assert_eq!((a, b), ("a", Some("b")));
        assert_eq!(runs.into_inner(), 2);
    }

    #[test]
    fn halves_keep_the_order_of_the_items() {
        for n in [0, 1, FROM_ITEMS - 1, FROM_ITEMS, 2 * FROM_ITEMS + 1] {
            let items: Vec<usize> = (0..n).collect();
            let doubled = in_halves(&items, |start, half| {
                assert_eq!(half.first(), items.get(start), "where the half starts");
                half.iter().map(|i| i * 2).collect()
            });
            assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
    }
}
