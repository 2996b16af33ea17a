//! The client side of the MySQL protocol, sans-IO (filled in next).
