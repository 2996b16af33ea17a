//! The result of one check, in HAProxy's vocabulary: a status code (what
//! `show stat` prints as `check_status`), its description (what the logs say
//! after "reason:"), an optional protocol code and an info text.

/// HAProxy's check status codes, limited to those a TCP load balancer's
/// checks can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckStatus {
    /// The check could not even create a socket.
    SockErr,
    L4Ok,
    L4Tout,
    L4Con,
    L6Ok,
    L6Tout,
    L6Rsp,
    L7Ok,
    /// Passed, but the server asked to be drained (`disable-on-404`).
    L7OkC,
    L7Tout,
    L7Rsp,
    L7Sts,
    /// Live traffic failed `error-limit` times in a row (`observe layer4`).
    HAna,
}

/// The statuses of a check the server passed.
const PASSING: [CheckStatus; 4] = [
    CheckStatus::L4Ok,
    CheckStatus::L6Ok,
    CheckStatus::L7Ok,
    CheckStatus::L7OkC,
];

impl CheckStatus {
    /// The server is healthy as far as this check goes.
    pub(crate) fn passed(self) -> bool {
        PASSING.contains(&self)
    }

    /// Whether `code` (a [`CheckStatus::code`], as `CheckInfo::status`
    /// keeps it) is a passed check.
    pub(crate) fn code_passed(code: &str) -> bool {
        PASSING.iter().any(|s| s.code() == code)
    }

    /// The short code (`show stat`'s `check_status`).
    pub(crate) fn code(self) -> &'static str {
        match self {
            CheckStatus::SockErr => "SOCKERR",
            CheckStatus::L4Ok => "L4OK",
            CheckStatus::L4Tout => "L4TOUT",
            CheckStatus::L4Con => "L4CON",
            CheckStatus::L6Ok => "L6OK",
            CheckStatus::L6Tout => "L6TOUT",
            CheckStatus::L6Rsp => "L6RSP",
            CheckStatus::L7Ok => "L7OK",
            CheckStatus::L7OkC => "L7OKC",
            CheckStatus::L7Tout => "L7TOUT",
            CheckStatus::L7Rsp => "L7RSP",
            CheckStatus::L7Sts => "L7STS",
            CheckStatus::HAna => "HANA",
        }
    }

    /// HAProxy's description, as logged after "reason:".
    pub(crate) fn description(self) -> &'static str {
        match self {
            CheckStatus::SockErr => "Socket error",
            CheckStatus::L4Ok => "Layer4 check passed",
            CheckStatus::L4Tout => "Layer4 timeout",
            CheckStatus::L4Con => "Layer4 connection problem",
            CheckStatus::L6Ok => "Layer6 check passed",
            CheckStatus::L6Tout => "Layer6 timeout",
            CheckStatus::L6Rsp => "Layer6 invalid response",
            CheckStatus::L7Ok => "Layer7 check passed",
            CheckStatus::L7OkC => "Layer7 check conditionally passed",
            CheckStatus::L7Tout => "Layer7 timeout",
            CheckStatus::L7Rsp => "Layer7 invalid response",
            CheckStatus::L7Sts => "Layer7 wrong status",
            CheckStatus::HAna => "Health analyze",
        }
    }

    /// HAProxy prints a `code:` for layer-7 results that carry one: a
    /// passed check and a wrong status, but not an invalid response nor a
    /// timeout (observed on HAProxy 2.6: "reason: Layer7 invalid response,
    /// info: ..." has no code even when the HTTP status was known).
    pub(crate) fn has_code(self) -> bool {
        matches!(
            self,
            CheckStatus::L7Ok | CheckStatus::L7OkC | CheckStatus::L7Sts
        )
    }
}

/// The outcome of one check (or of one step of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub status: CheckStatus,
    /// HTTP status, MySQL error number, ...
    pub code: Option<u32>,
    /// Free text: the HTTP reason phrase, the MySQL version or error
    /// message, what a tcp-check expected. Text taken from the network is
    /// stored as HAProxy logs it, escaped by [`printable`]; the agent's line
    /// is the exception (it is data for `parse_agent`, not a log text).
    pub info: Option<String>,
}

impl Verdict {
    pub(crate) fn new(status: CheckStatus) -> Self {
        Verdict {
            status,
            code: None,
            info: None,
        }
    }

    pub(crate) fn code(mut self, code: u32) -> Self {
        self.code = Some(code);
        self
    }

    pub(crate) fn info(mut self, info: impl Into<String>) -> Self {
        self.info = Some(info.into());
        self
    }

    /// `reason: Layer7 wrong status, code: 503, info: "Service Unavailable"`
    /// (without the check duration, which the caller knows).
    pub(crate) fn reason(&self) -> String {
        let mut s = format!("reason: {}", self.status.description());
        if self.status.has_code() {
            s.push_str(&format!(", code: {}", self.code.unwrap_or(0)));
        }
        if let Some(info) = &self.info {
            s.push_str(&format!(", info: \"{info}\""));
        }
        s
    }
}

/// Bytes as HAProxy writes them into a check's info text: controls,
/// non-ASCII bytes and `"`, `<`, `>` become `<XX>` (upper-case hex), so a
/// log line stays one printable line whatever the server sent. The text
/// stops at a NUL, as HAProxy's C strings do.
pub(crate) fn printable(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut s = String::with_capacity(end);
    for &b in &bytes[..end] {
        if (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'<' | b'>') {
            s.push(b as char);
        } else {
            s.push_str(&format!("<{b:02X}>"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_like_haproxy() {
        let cases = [
            (
                Verdict::new(CheckStatus::L7Sts)
                    .code(503)
                    .info("Service Unavailable"),
                "reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\"",
            ),
            (
                Verdict::new(CheckStatus::L4Con).info("Connection refused"),
                "reason: Layer4 connection problem, info: \"Connection refused\"",
            ),
            (Verdict::new(CheckStatus::L7Tout), "reason: Layer7 timeout"),
            (
                Verdict::new(CheckStatus::L7Ok).info("via agent : up"),
                "reason: Layer7 check passed, code: 0, info: \"via agent : up\"",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(v.reason(), want);
        }
    }

    #[test]
    fn invalid_response_and_timeout_print_no_code() {
        // HAProxy 2.6: `reason: Layer7 invalid response, info: "HTTP content
        // check did not match"` although the response had a status.
        let v = Verdict::new(CheckStatus::L7Rsp)
            .code(200)
            .info("HTTP content check did not match");
        assert_eq!(
            v.reason(),
            "reason: Layer7 invalid response, info: \"HTTP content check did not match\""
        );
        assert_eq!(
            Verdict::new(CheckStatus::L7Sts).reason(),
            "reason: Layer7 wrong status, code: 0"
        );
    }

    #[test]
    fn printable_escapes_like_haproxy_logs() {
        // Captured from HAProxy 2.6 logs (redis-check and httpchk infos).
        let cases: [(&str, &[u8], &str); 4] = [
            (
                "quotes, UTF-8, DEL, tab",
                b"-ERR \"q\" \xc3\xa9 \x7f\t\\<>%'",
                "-ERR <22>q<22> <C3><A9> <7F><09>\\<3C><3E>%'",
            ),
            ("CR LF", b"it's\r\n", "it's<0D><0A>"),
            ("stops at NUL", b"A\x00\xffB", "A"),
            ("plain", b"Service Unavailable", "Service Unavailable"),
        ];
        for (what, input, want) in cases {
            assert_eq!(printable(input), want, "{what}");
        }
    }
}
