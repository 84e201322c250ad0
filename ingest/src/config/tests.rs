use super::*;

fn parse(args: &[&str]) -> Result<Config, String> {
    let argv = std::iter::once("blackhole-ingest").chain(args.iter().copied());
    let args = Args::try_parse_from(argv).map_err(|e| e.to_string())?;
    args.into_config().map_err(|e| e.to_string())
}

#[test]
fn defaults_cover_every_kazoo_exchange() {
    let config = parse(&[]).unwrap();
    let exchanges: std::collections::BTreeSet<_> = config
        .bindings
        .iter()
        .map(|b| b.exchange.as_str())
        .collect();
    assert_eq!(
        exchanges.into_iter().collect::<Vec<_>>(),
        ["callevt", "conference", "configuration", "faxes"]
    );
    assert_eq!(config.amqp_urls.len(), 1);
    assert!(!config.redis.cluster);
}

#[test]
fn several_amqp_urls_are_several_zones() {
    let config = parse(&[
        "--amqp-url",
        "amqp://a:1@h1:5672/%2f, amqp://b:2@h2:5672/%2f",
    ])
    .unwrap();
    assert_eq!(config.amqp_urls.len(), 2);
}

#[test]
fn bindings_replace_the_defaults() {
    let config = parse(&[
        "--bind",
        "callevt:call.CHANNEL_CREATE.*",
        "--bind",
        "acdc_stats:acdc_stats.call.#",
    ])
    .unwrap();
    assert_eq!(config.bindings.len(), 2);
    assert_eq!(config.bindings[0].source, Source::Call);
    assert_eq!(config.bindings[1].source, Source::Other);
    assert_eq!(config.bindings[1].routing_key, "acdc_stats.call.#");
}

#[test]
fn bad_configuration_names_the_flag() {
    for (args, needle) in [
        (&["--amqp-url", "http://nope"][..], "--amqp-url"),
        (&["--redis-url", "nope://x"][..], "--redis-url"),
        (
            &["--redis-url", "redis://a:1,redis://b:2"][..],
            "--redis-cluster",
        ),
        (&["--bind", "no-colon"][..], "--bind"),
        (&["--bind", "callevt:"][..], "--bind"),
        (&["--prefetch", "0"][..], "--prefetch"),
        (&["--max-event-bytes", "0"][..], "--max-event-bytes"),
        (&["--queue", " "][..], "--queue"),
    ] {
        let err = parse(args).unwrap_err();
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn secrets_are_redacted() {
    let secret = Secret("amqp://guest:hunter2@rabbit:5672/%2f".into());
    assert_eq!(secret.to_string(), "amqp://guest:***@rabbit:5672/%2f");
    assert!(!format!("{secret:?}").contains("hunter2"));
    let err = parse(&["--amqp-url", "amqp://guest:hunter2@rabbit:notaport/%2f"]).unwrap_err();
    assert!(!err.contains("hunter2"), "{err}");
    assert_eq!(
        Secret("redis://127.0.0.1:6379".into()).to_string(),
        "redis://127.0.0.1:6379"
    );
}
