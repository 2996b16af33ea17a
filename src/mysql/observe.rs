//! One monitor round's questions and how their answers become a member's
//! view: the server's variables (`read_only`, MariaDB's three GTID
//! positions, `server_id`), its replication channels (`SHOW ALL SLAVES
//! STATUS`, read by column name so a server version that adds columns
//! changes nothing), and its semi-sync status.

use super::proto::ResultSet;
use crate::runtime::mysql::{Channel, Seen};

/// The round's queries, in the order they are sent.
pub(super) const QUERIES: [&str; 3] = [
    "SELECT @@read_only AS read_only, @@gtid_current_pos AS gtid_current_pos, \
     @@gtid_binlog_pos AS gtid_binlog_pos, @@gtid_slave_pos AS gtid_slave_pos, \
     @@server_id AS server_id",
    "SHOW ALL SLAVES STATUS",
    "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_%_status'",
];

/// What one round learnt, filled answer by answer.
pub(super) type Observation = Seen;

impl Seen {
    /// Takes the answer to `QUERIES[step]`.
    pub(super) fn answer(&mut self, step: usize, rs: &ResultSet) -> Result<(), String> {
        match step {
            0 => self.variables(rs),
            1 => {
                self.channels = channels(rs);
                Ok(())
            }
            _ => {
                self.semi_sync(rs);
                Ok(())
            }
        }
    }

    fn variables(&mut self, rs: &ResultSet) -> Result<(), String> {
        if rs.rows.is_empty() {
            return Err("SELECT @@read_only returned no row".to_string());
        }
        let text = |name: &str| rs.get(0, name).unwrap_or("").to_string();
        self.read_only = match rs.get(0, "read_only") {
            Some("0") | Some("OFF") => Some(false),
            Some(_) => Some(true),
            None => None,
        };
        self.server_id = rs.get(0, "server_id").and_then(|v| v.parse().ok());
        self.gtid_current = text("gtid_current_pos");
        self.gtid_binlog = text("gtid_binlog_pos");
        self.gtid_slave = text("gtid_slave_pos");
        Ok(())
    }

    fn semi_sync(&mut self, rs: &ResultSet) {
        for row in 0..rs.rows.len() {
            let on = rs.get(row, "Value").map(|v| v.eq_ignore_ascii_case("ON"));
            match rs.get(row, "Variable_name").map(str::to_ascii_lowercase) {
                Some(n) if n == "rpl_semi_sync_master_status" => self.semi_master = on,
                Some(n) if n == "rpl_semi_sync_slave_status" => self.semi_slave = on,
                _ => {}
            }
        }
    }
}

/// Every row of `SHOW ALL SLAVES STATUS` (`SHOW SLAVE STATUS` has the same
/// columns without `Connection_name`).
pub(super) fn channels(rs: &ResultSet) -> Vec<Channel> {
    (0..rs.rows.len())
        .map(|r| {
            let text = |name: &str| rs.get(r, name).unwrap_or("").to_string();
            let number = |name: &str| rs.get(r, name).and_then(|v| v.parse().ok());
            Channel {
                name: text("Connection_name"),
                master_host: text("Master_Host"),
                master_port: number("Master_Port").unwrap_or(0) as u16,
                io: text("Slave_IO_Running"),
                sql: text("Slave_SQL_Running"),
                lag: number("Seconds_Behind_Master"),
                gtid_io_pos: text("Gtid_IO_Pos"),
                last_io_errno: number("Last_IO_Errno").unwrap_or(0) as u32,
                last_io_error: text("Last_IO_Error"),
                last_sql_errno: number("Last_SQL_Errno").unwrap_or(0) as u32,
                last_sql_error: text("Last_SQL_Error"),
                heartbeats: number("Slave_received_heartbeats").unwrap_or(0),
                read_pos: number("Read_Master_Log_Pos").unwrap_or(0),
                heartbeat_period: text("Slave_heartbeat_period"),
                connect_retry: number("Connect_Retry").map(|n| n as u32),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(columns: &[&str], rows: &[&[Option<&str>]]) -> ResultSet {
        ResultSet {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
                .collect(),
        }
    }

    #[test]
    fn variables_by_name() {
        let mut o = Observation::default();
        let answer = rs(
            &[
                "server_id",
                "gtid_slave_pos",
                "read_only",
                "gtid_binlog_pos",
                "gtid_current_pos",
            ],
            &[&[Some("2"), Some("0-1-5"), Some("1"), Some(""), Some("0-1-5")]],
        );
        o.answer(0, &answer).unwrap();
        assert_eq!(o.read_only, Some(true));
        assert_eq!(o.server_id, Some(2));
        assert_eq!(o.gtid_current, "0-1-5");
        assert!(o.answer(0, &rs(&["read_only"], &[])).is_err());
    }

    #[test]
    fn channels_by_name_with_null_lag() {
        let answer = rs(
            &[
                "Connection_name",
                "Slave_SQL_State",
                "Master_Host",
                "Master_Port",
                "Slave_IO_Running",
                "Slave_SQL_Running",
                "Seconds_Behind_Master",
                "Last_IO_Errno",
                "Gtid_IO_Pos",
                "Slave_received_heartbeats",
            ],
            &[
                &[
                    Some(""),
                    Some(""),
                    Some("127.0.0.1"),
                    Some("3306"),
                    Some("Connecting"),
                    Some("Yes"),
                    None,
                    Some("2003"),
                    Some("0-1-9"),
                    Some("14"),
                ],
                &[
                    Some("b"),
                    None,
                    Some("10.0.0.2"),
                    Some("3307"),
                    Some("Yes"),
                    Some("Yes"),
                    Some("3"),
                    Some("0"),
                    Some(""),
                    Some("0"),
                ],
            ],
        );
        let c = channels(&answer);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].master_host.as_str(), c[0].master_port),
            ("127.0.0.1", 3306)
        );
        assert!(!c[0].io_running());
        assert_eq!(c[0].lag, None, "NULL: not replicating");
        assert_eq!(c[0].last_io_errno, 2003);
        assert_eq!(c[0].heartbeats, 14);
        assert_eq!(c[1].lag, Some(3));
        assert_eq!(c[1].name, "b");
    }

    #[test]
    fn semi_sync_status() {
        let mut o = Observation::default();
        let answer = rs(
            &["Variable_name", "Value"],
            &[
                &[Some("Rpl_semi_sync_master_status"), Some("ON")],
                &[Some("Rpl_semi_sync_slave_status"), Some("OFF")],
            ],
        );
        o.answer(2, &answer).unwrap();
        assert_eq!((o.semi_master, o.semi_slave), (Some(true), Some(false)));
    }
}
