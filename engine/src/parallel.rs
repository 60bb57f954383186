//! Work split over two cores, for large playbooks.
//!
//! The reference machine has two cores, and loading, compiling and planning a large playbook
//! are loops over steps that do not depend on each other. Each is done in two halves at once,
//! the second on a thread of std's scoped threads, all a fork-join of two needs (a persistent
//! helper thread from rayon was measured too: no faster, no less memory). Small playbooks,
//! which are most, stay on one thread.

use std::sync::OnceLock;

/// Fewer items than this are done on one thread: a second thread costs some tens of
/// microseconds to start, and an item here (a step's plan view) a microsecond or two.
const FROM_ITEMS: usize = 1_000;

/// Whether this machine can run two threads at once.
pub fn two_cores() -> bool {
    static TWO: OnceLock<bool> = OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// `a` on this thread and `b` on another, at once.
pub fn both<A, B: Send>(a: impl FnOnce() -> A, b: impl FnOnce() -> B + Send) -> (A, B) {
    std::thread::scope(|scope| {
        let b = scope.spawn(b);
        let a = a();
        // A panic in `b` is the caller's, as it would have been on one thread.
        (
            a,
            b.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        )
    })
}

/// `work` done on each half of `items` at once (when there are enough of them and two
/// cores), its results in the order of the items.
pub fn in_halves<T: Sync, R: Send>(items: &[T], work: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    if items.len() < FROM_ITEMS || !two_cores() {
        return work(items);
    }
    let (first, second) = items.split_at(items.len() / 2);
    let (mut all, rest) = both(|| work(first), || work(second));
    all.extend(rest);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_keep_the_order_of_the_items() {
        for n in [0, 1, FROM_ITEMS - 1, FROM_ITEMS, 2 * FROM_ITEMS + 1] {
            let items: Vec<usize> = (0..n).collect();
            let doubled = in_halves(&items, |half| half.iter().map(|i| i * 2).collect());
            assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
    }
}
