use super::*;

#[tokio::test]
async fn wait_until_times_out_and_succeeds() {
    assert!(!wait_until(Duration::from_millis(50), || async { false }).await);
    let mut calls = 0;
    assert!(
        wait_until(Duration::from_secs(5), || {
            calls += 1;
            let done = calls >= 3;
            async move { done }
        })
        .await
    );
}
