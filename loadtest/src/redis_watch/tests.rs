use super::*;

#[test]
fn command_stats_lines() {
    assert_eq!(
        parse_command_stat(
            "cmdstat_evalsha:calls=100000,usec=2243000,usec_per_call=22.43,rejected_calls=0,failed_calls=0\r"
        ),
        Some(CommandStat {
            command: "evalsha".to_owned(),
            calls: 100_000,
            usec_per_call: 22.43,
        })
    );
    // Subcommands keep their `|`.
    assert_eq!(
        parse_command_stat("cmdstat_client|setname:calls=2,usec=3,usec_per_call=1.50")
            .map(|s| s.command),
        Some("client|setname".to_owned())
    );
    assert_eq!(parse_command_stat("# Commandstats"), None);
    assert_eq!(parse_command_stat("used_cpu_sys:1.0"), None);
}
