use super::*;

#[test]
fn the_request_budget_allows_a_burst_then_refills() {
    let start = Instant::now();
    let mut bucket = TokenBucket::new(100, 10);
    for _ in 0..100 {
        assert!(bucket.take(start));
    }
    assert!(
        !bucket.take(start),
        "the 101st request of a burst is refused"
    );
    assert!(
        bucket.take(start + std::time::Duration::from_millis(100)),
        "10/s refills one per 100 ms"
    );
    assert!(!bucket.take(start + std::time::Duration::from_millis(100)));
}
