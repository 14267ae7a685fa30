//! Every error string Tessera replies with, byte for byte as Redis 7.0 writes
//! them (without the leading '-').

pub const SYNTAX: &str = "ERR syntax error";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const INCR_OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const INCR_NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const DB_INDEX_OUT_OF_RANGE: &str = "ERR DB index is out of range";
pub const INVALID_EXPIRE: &str = "ERR invalid expire time in '{}' command";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_NOT_CONFIGURED: &str =
    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
pub const WATCH_IN_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const PROTOCOL_VERSION: &str = "NOPROTO unsupported protocol version";
pub const CLIENT_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";
pub const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
pub const NO_SUCH_CLIENT: &str = "ERR No such client";
pub const CLIENT_ID_INVALID: &str = "ERR client-id should be greater than 0";
pub const PAUSE_MODE: &str = "ERR CLIENT PAUSE mode must be WRITE or ALL";
pub const NO_CONFIG_FILE: &str = "ERR The server is running without a config file";
pub const SHUTDOWN_NOT_IN_PROGRESS: &str = "ERR No shutdown in progress.";
pub const EXPIRE_NX_CONFLICT: &str = "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const EXPIRE_GT_LT_CONFLICT: &str = "ERR GT and LT options at the same time are not compatible";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
pub const INVALID_FIRST_DB_INDEX: &str = "ERR invalid first DB index";
pub const INVALID_SECOND_DB_INDEX: &str = "ERR invalid second DB index";
pub const LFU_IDLETIME: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const LFU_FREQ: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const DEBUG_RELOAD_OPTIONS: &str = "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.";
pub const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
pub const BGSAVE_IN_PROGRESS: &str = "ERR Background save already in progress";
pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";

/// `ERR Unsupported option <opt>` (EXPIRE's options).
pub fn unsupported_option(option: &[u8]) -> String {
    format!("ERR Unsupported option {}", String::from_utf8_lossy(option))
}

/// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try <CMD> HELP.`
pub fn subcommand_syntax(command: &[u8], sub: &[u8]) -> String {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        sanitize(sub, 128),
        String::from_utf8_lossy(command).to_uppercase()
    )
}

/// `ERR unknown command '<name>', with args beginning with: '<a>' '<b>' `
pub fn unknown_command(argv: &[&[u8]]) -> String {
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        sanitize(argv[0], 128)
    );
    for arg in argv.iter().skip(1) {
        if msg.len() >= 128 {
            break;
        }
        let remaining = 128usize.saturating_sub(msg.len());
        msg.push_str(&format!("'{}' ", sanitize(arg, remaining)));
    }
    msg
}

/// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
pub fn unknown_subcommand(command: &[u8], sub: &[u8]) -> String {
    format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        sanitize(sub, 128),
        String::from_utf8_lossy(command).to_uppercase()
    )
}

/// `ERR wrong number of arguments for '<name>' command`
pub fn wrong_arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// Formats `INVALID_EXPIRE` for a command name.
pub fn invalid_expire(command: &str) -> String {
    INVALID_EXPIRE.replace("{}", command)
}

/// Renders client-supplied bytes for an error message: non-printable bytes
/// become spaces (Redis does the same so replies stay single-line), and the
/// text is cut to `limit` bytes.
pub fn sanitize(bytes: &[u8], limit: usize) -> String {
    let cut = &bytes[..bytes.len().min(limit)];
    cut.iter()
        .map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { ' ' })
        .collect()
}

pub const READONLY: &str = "READONLY You can't write against a read only replica.";
pub const MASTERDOWN: &str = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_lists_args() {
        assert_eq!(
            unknown_command(&[b"foo", b"a", b"b"]),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            unknown_command(&[b"foo"]),
            "ERR unknown command 'foo', with args beginning with: "
        );
    }
}
