use super::*;

const TEXT: &str = r#"# HELP blackhole_events_total Events published.
# TYPE blackhole_events_total counter
blackhole_events_total{source="callevt",result="ok"} 7
blackhole_events_total{source="conference",result="ok"} 3
blackhole_events_total{source="callevt",result="error"} 2
blackhole_sockets 12
blackhole_latency_seconds_bucket{le="0.005"} 1
blackhole_latency_seconds_bucket{le="+Inf"} 4
blackhole_latency_seconds_sum 0.25
weird{path="a \"quoted\" \\ value, with {braces}",other="x"} 1.5e3 1700000000000
blackhole_events_total_extra 100
"#;

#[test]
fn metric_without_labels() {
    assert_eq!(metric_value(TEXT, "blackhole_sockets", &[]), Some(12.0));
    assert_eq!(
        metric_value(TEXT, "blackhole_latency_seconds_sum", &[]),
        Some(0.25)
    );
}

#[test]
fn metric_sums_series_matching_a_label_subset() {
    assert_eq!(
        metric_value(TEXT, "blackhole_events_total", &[]),
        Some(12.0)
    );
    assert_eq!(
        metric_value(TEXT, "blackhole_events_total", &[("source", "callevt")]),
        Some(9.0)
    );
    assert_eq!(
        metric_value(TEXT, "blackhole_events_total", &[("result", "ok")]),
        Some(10.0)
    );
    assert_eq!(
        metric_value(
            TEXT,
            "blackhole_events_total",
            &[("source", "callevt"), ("result", "error")]
        ),
        Some(2.0)
    );
}

#[test]
fn metric_absent_is_none() {
    assert_eq!(metric_value(TEXT, "blackhole_missing", &[]), None);
    assert_eq!(
        metric_value(TEXT, "blackhole_events_total", &[("source", "faxes")]),
        None
    );
    // A prefix of a longer name is not that name.
    assert_eq!(metric_value(TEXT, "blackhole_events", &[]), None);
    // Help and type lines are not samples.
    assert_eq!(metric_value("# TYPE x counter\n", "x", &[]), None);
}

#[test]
fn metric_special_values_escapes_and_timestamps() {
    assert_eq!(
        metric_value(TEXT, "blackhole_latency_seconds_bucket", &[("le", "+Inf")]),
        Some(4.0)
    );
    assert_eq!(
        metric_value(
            TEXT,
            "weird",
            &[("path", r#"a "quoted" \ value, with {braces}"#)]
        ),
        Some(1500.0)
    );
    assert_eq!(metric_value("g -Inf\n", "g", &[]), Some(f64::NEG_INFINITY));
    assert!(metric_value("g NaN\n", "g", &[]).is_some_and(f64::is_nan));
    assert_eq!(metric_value("broken{a=\"x\" 1\n", "broken", &[]), None);
}
