//! The columns of `show stat`, in HAProxy 2.6's order, as an enum: a row
//! is filled and read by [`Field`], so a mistyped column does not compile
//! and nothing looks a name up at run time. `Modules` is HAProxy's `-`,
//! the separator before its statistics modules' columns (SSL, HTTP/2,
//! HTTP/1).

/// Declares the enum and its names from one list, so the two cannot drift.
macro_rules! fields {
    ($($variant:ident = $name:literal,)*) => {
        /// One column of `show stat`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Field {
            $($variant,)*
        }

        impl Field {
            /// Every column, in order.
            pub(crate) const ALL: &'static [Field] = &[$(Field::$variant,)*];

            /// The column's name in the CSV header.
            pub(crate) const fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }
        }
    };
}

fields! {
    Pxname = "pxname",
    Svname = "svname",
    Qcur = "qcur",
    Qmax = "qmax",
    Scur = "scur",
    Smax = "smax",
    Slim = "slim",
    Stot = "stot",
    Bin = "bin",
    Bout = "bout",
    Dreq = "dreq",
    Dresp = "dresp",
    Ereq = "ereq",
    Econ = "econ",
    Eresp = "eresp",
    Wretr = "wretr",
    Wredis = "wredis",
    Status = "status",
    Weight = "weight",
    Act = "act",
    Bck = "bck",
    Chkfail = "chkfail",
    Chkdown = "chkdown",
    Lastchg = "lastchg",
    Downtime = "downtime",
    Qlimit = "qlimit",
    Pid = "pid",
    Iid = "iid",
    Sid = "sid",
    Throttle = "throttle",
    Lbtot = "lbtot",
    Tracked = "tracked",
    Type = "type",
    Rate = "rate",
    RateLim = "rate_lim",
    RateMax = "rate_max",
    CheckStatus = "check_status",
    CheckCode = "check_code",
    CheckDuration = "check_duration",
    Hrsp1xx = "hrsp_1xx",
    Hrsp2xx = "hrsp_2xx",
    Hrsp3xx = "hrsp_3xx",
    Hrsp4xx = "hrsp_4xx",
    Hrsp5xx = "hrsp_5xx",
    HrspOther = "hrsp_other",
    Hanafail = "hanafail",
    ReqRate = "req_rate",
    ReqRateMax = "req_rate_max",
    ReqTot = "req_tot",
    CliAbrt = "cli_abrt",
    SrvAbrt = "srv_abrt",
    CompIn = "comp_in",
    CompOut = "comp_out",
    CompByp = "comp_byp",
    CompRsp = "comp_rsp",
    Lastsess = "lastsess",
    LastChk = "last_chk",
    LastAgt = "last_agt",
    Qtime = "qtime",
    Ctime = "ctime",
    Rtime = "rtime",
    Ttime = "ttime",
    AgentStatus = "agent_status",
    AgentCode = "agent_code",
    AgentDuration = "agent_duration",
    CheckDesc = "check_desc",
    AgentDesc = "agent_desc",
    CheckRise = "check_rise",
    CheckFall = "check_fall",
    CheckHealth = "check_health",
    AgentRise = "agent_rise",
    AgentFall = "agent_fall",
    AgentHealth = "agent_health",
    Addr = "addr",
    Cookie = "cookie",
    Mode = "mode",
    Algo = "algo",
    ConnRate = "conn_rate",
    ConnRateMax = "conn_rate_max",
    ConnTot = "conn_tot",
    Intercepted = "intercepted",
    Dcon = "dcon",
    Dses = "dses",
    Wrew = "wrew",
    Connect = "connect",
    Reuse = "reuse",
    CacheLookups = "cache_lookups",
    CacheHits = "cache_hits",
    SrvIcur = "srv_icur",
    SrcIlim = "src_ilim",
    QtimeMax = "qtime_max",
    CtimeMax = "ctime_max",
    RtimeMax = "rtime_max",
    TtimeMax = "ttime_max",
    Eint = "eint",
    IdleConnCur = "idle_conn_cur",
    SafeConnCur = "safe_conn_cur",
    UsedConnCur = "used_conn_cur",
    NeedConnEst = "need_conn_est",
    Uweight = "uweight",
    AggServerStatus = "agg_server_status",
    AggServerCheckStatus = "agg_server_check_status",
    AggCheckStatus = "agg_check_status",
    Modules = "-",
    SslSess = "ssl_sess",
    SslReusedSess = "ssl_reused_sess",
    SslFailedHandshake = "ssl_failed_handshake",
    H2HeadersRcvd = "h2_headers_rcvd",
    H2DataRcvd = "h2_data_rcvd",
    H2SettingsRcvd = "h2_settings_rcvd",
    H2RstStreamRcvd = "h2_rst_stream_rcvd",
    H2GoawayRcvd = "h2_goaway_rcvd",
    H2DetectedConnProtocolErrors = "h2_detected_conn_protocol_errors",
    H2DetectedStrmProtocolErrors = "h2_detected_strm_protocol_errors",
    H2RstStreamResp = "h2_rst_stream_resp",
    H2GoawayResp = "h2_goaway_resp",
    H2OpenConnections = "h2_open_connections",
    H2BackendOpenStreams = "h2_backend_open_streams",
    H2TotalConnections = "h2_total_connections",
    H2BackendTotalStreams = "h2_backend_total_streams",
    H1OpenConnections = "h1_open_connections",
    H1OpenStreams = "h1_open_streams",
    H1TotalConnections = "h1_total_connections",
    H1TotalStreams = "h1_total_streams",
    H1BytesIn = "h1_bytes_in",
    H1BytesOut = "h1_bytes_out",
    H1SplicedBytesIn = "h1_spliced_bytes_in",
    H1SplicedBytesOut = "h1_spliced_bytes_out",
}

impl Field {
    /// Its position in the CSV.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_the_list() {
        assert_eq!(Field::ALL.len(), 128);
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(f.index(), i, "{}", f.name());
        }
        assert_eq!(Field::Modules.name(), "-");
        assert_eq!(Field::Modules.index(), 103);
    }
}
