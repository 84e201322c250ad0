use super::*;

#[test]
fn amqp_url_gets_the_vhost() {
    assert_eq!(
        amqp_url_with_vhost("amqp://guest:guest@127.0.0.1:5673/%2f", "bhtest-1-2"),
        "amqp://guest:guest@127.0.0.1:5673/bhtest-1-2"
    );
    assert_eq!(
        amqp_url_with_vhost("amqp://127.0.0.1:5673", "a/b c"),
        "amqp://127.0.0.1:5673/a%2Fb%20c"
    );
    assert_eq!(
        amqp_url_with_vhost("amqp://h:1/%2f?heartbeat=5", "v"),
        "amqp://h:1/v?heartbeat=5"
    );
}
