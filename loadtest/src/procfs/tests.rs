use super::*;

#[test]
fn status_fields_in_kib() {
    let status =
        "Name:\tblackhole-inges\nVmPeak:\t  900000 kB\nVmHWM:\t   41234 kB\nVmRSS:\t   40000 kB\n";
    assert_eq!(status_kib(status, "VmHWM"), Some(41234));
    assert_eq!(status_kib(status, "VmRSS"), Some(40000));
    assert_eq!(status_kib(status, "VmSwap"), None);
    // A key that is a prefix of another is not that key.
    assert_eq!(status_kib("VmHWMx:\t1 kB\n", "VmHWM"), None);
}

#[test]
fn cpu_ticks_are_counted_after_the_command_name() {
    // The name holds a space and a parenthesis, which must not shift the fields.
    let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                250 50 0 0 20 0 8 0 12345 1000000 5000";
    assert_eq!(stat_cpu_ticks(stat), Some(300));
    assert_eq!(stat_cpu_ticks("garbage"), None);
}

#[test]
fn machine_busy_ticks_leave_out_idle_and_iowait() {
    let stat = "cpu  100 5 30 1000 40 2 3 1 7 0\ncpu0 50 2 15 500 20 1 1 0 0 0\nintr 1\n";
    assert_eq!(busy_ticks(stat), Some(100 + 5 + 30 + 2 + 3 + 1));
    assert_eq!(busy_ticks("intr 1\n"), None);
}

#[test]
fn this_process_can_be_read() {
    let stats = process_stats(std::process::id()).unwrap();
    assert!(stats.peak_rss_kib >= stats.rss_kib && stats.rss_kib > 0);
    let clock = CpuClock::start(Some(std::process::id())).unwrap();
    let spent = clock.stop().unwrap();
    assert!(spent.own >= 0.0 && spent.machine >= 0.0);
    assert!(spent.broker.is_some());
    assert!(machine().cpus > 0);
}
