//! The privileged parent's wire format and what it agrees to do.

use super::*;

#[test]
fn socket_specs_survive_the_wire() {
    for spec in [
        SocketSpec {
            addr: "127.0.0.1:80".parse().unwrap(),
            v6only: false,
            v4v6: false,
            interface: None,
            transparent: false,
            reuseport: true,
        },
        SocketSpec {
            addr: "[::1]:8443".parse().unwrap(),
            v6only: true,
            v4v6: false,
            interface: Some("lo".into()),
            transparent: false,
            reuseport: false,
        },
        SocketSpec {
            addr: "[::]:0".parse().unwrap(),
            v6only: false,
            v4v6: true,
            interface: Some("eth0.100".into()),
            transparent: true,
            reuseport: true,
        },
    ] {
        assert_eq!(decode_spec(&encode_spec(&spec)).unwrap(), spec);
    }
    assert!(decode_spec("127.0.0.1:80").is_err());
    assert!(decode_spec("nonsense 0").is_err());
    assert!(decode_spec("127.0.0.1:80 0 lo extra").is_err());
}

#[test]
fn unix_specs_survive_the_wire() {
    for spec in [
        UnixSpec {
            addr: UnixAddr::Path("/run/with space.sock".into()),
            perms: UnixPerms {
                mode: Some(0o660),
                uid: Some(0),
                gid: None,
            },
        },
        UnixSpec {
            addr: UnixAddr::Abstract("name".into()),
            perms: UnixPerms::default(),
        },
    ] {
        assert_eq!(decode_unix(&encode_unix(&spec).unwrap()).unwrap(), spec);
    }
    assert!(decode_unix("u - - -").is_err());
    assert!(decode_unix("t - - - x").is_err());
}

#[test]
fn the_parent_makes_only_the_configured_socket_files() {
    let dir = std::env::temp_dir().join(format!("splicer-privsep-u-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ok = dir.join("ok.sock");
    let allowed = Allowed {
        files: Vec::new(),
        scripts: Vec::new(),
        sockets: vec![ok.clone()],
    };
    let req = |p: &Path| {
        let spec = UnixSpec {
            addr: UnixAddr::Path(p.into()),
            perms: UnixPerms::default(),
        };
        let mut r = vec![OP_BIND_UNIX];
        r.extend(encode_unix(&spec).unwrap().into_bytes());
        r
    };
    assert!(answer(&req(&ok), &allowed).unwrap().1.is_some());
    let err = answer(&req(&dir.join("other.sock")), &allowed).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_parent_opens_only_the_config_files() {
    let dir = std::env::temp_dir().join(format!("splicer-privsep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("a.cfg");
    std::fs::write(&cfg, "global\n").unwrap();
    let mut req = vec![OP_READ];
    req.extend_from_slice(cfg.to_str().unwrap().as_bytes());
    let only = |files: Vec<PathBuf>| Allowed {
        files,
        scripts: vec![PathBuf::from("/bin/true")],
        sockets: Vec::new(),
    };
    assert!(answer(&req, &only(vec![cfg.clone()])).unwrap().1.is_some());
    let err = answer(&req, &only(vec![dir.join("b.cfg")])).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    assert!(answer(b"S/bin/true\nINSTANCE", &only(vec![])).is_ok());
    let err = answer(b"S/bin/sh\n-c\nid", &only(vec![])).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    assert!(answer(b"?", &only(vec![])).is_err());
    assert!(answer(&[], &only(vec![])).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_request_and_its_answer_cross_a_socketpair() {
    let (a, b) = Socket::pair(Domain::UNIX, Type::SEQPACKET.cloexec(), None).unwrap();
    let cfg = std::env::temp_dir().join(format!("splicer-privsep-c-{}.cfg", std::process::id()));
    std::fs::write(&cfg, "global\n    maxconn 5\n").unwrap();
    let allowed = Allowed {
        files: vec![cfg.clone()],
        scripts: Vec::new(),
        sockets: Vec::new(),
    };
    let server = std::thread::spawn(move || serve(&OwnedFd::from(a), &allowed));
    let client = Client {
        sock: Mutex::new(b.into()),
        parent: 1,
    };
    assert_eq!(client.read_file(&cfg).unwrap(), "global\n    maxconn 5\n");
    assert!(client.read_file(Path::new("/etc/shadow")).is_err());
    assert!(
        client
            .resolve("localhost")
            .unwrap()
            .iter()
            .any(|ip| ip.is_loopback())
    );
    assert!(client.user("root").unwrap().is_some_and(|(u, _)| u == 0));
    assert_eq!(client.user("no-such-user-splicer").unwrap(), None);
    let spec = SocketSpec {
        addr: "127.0.0.1:0".parse().unwrap(),
        v6only: false,
        v4v6: false,
        interface: Some("lo".into()),
        transparent: false,
        reuseport: true,
    };
    let sock = client.listen_socket(&spec).unwrap();
    assert!(sock.local_addr().unwrap().as_socket().unwrap().port() != 0);
    drop(client);
    server.join().unwrap();
    std::fs::remove_file(&cfg).unwrap();
}

proptest::proptest! {
    /// What the jailed child sends is untrusted: any request bytes get an
    /// answer or an error, never a panic, and the decoders of socket
    /// requests never panic either. (Requests whose op would act — bind,
    /// resolve, run — are left to the examples above: arbitrary ones would
    /// bind sockets and query DNS.)
    #[test]
    fn arbitrary_requests_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let allowed = Allowed {
            files: Vec::new(),
            scripts: Vec::new(),
            sockets: Vec::new(),
        };
        if let Some(&op) = bytes.first()
            && ![OP_BIND, OP_BIND_UNIX, OP_RESOLVE, OP_SCRIPT, OP_NOTIFY, OP_USER, OP_GROUP].contains(&op)
        {
            let _ = answer(&bytes, &allowed);
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = decode_spec(&text);
        let _ = decode_unix(&text);
    }

    /// A socket request survives the wire whatever its address and flags.
    #[test]
    fn socket_requests_round_trip(
        ip in proptest::prelude::any::<[u8; 4]>(),
        port in proptest::prelude::any::<u16>(),
        flags in proptest::prelude::any::<[bool; 4]>(),
    ) {
        let spec = SocketSpec {
            addr: std::net::SocketAddr::from((ip, port)),
            v6only: flags[0],
            v4v6: flags[1],
            interface: None,
            transparent: flags[2],
            reuseport: flags[3],
        };
        proptest::prop_assert_eq!(decode_spec(&encode_spec(&spec)).unwrap(), spec);
    }
}
