//! A TCP relay that a test can cut: what stands for the network between
//! splicer and one server (a relay on another port of 127.0.0.1, or at the
//! server's own address inside a network namespace).

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A TCP relay to a server, on a listener of the test's choosing. `cut`
/// closes the connections it carries, but those spared, and turns new
/// ones away at once: the way between splicer and the server is lost
/// while the server's replica keeps its own; `restore` undoes it.
pub struct Relay {
    pub addr: SocketAddr,
    shared: Arc<RelayShared>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct RelayShared {
    stop: AtomicBool,
    cut: AtomicBool,
    links: Mutex<Vec<Link>>,
}

/// One connection carried: both sockets, how many directions still
/// flow, and whether a cut spares it.
struct Link {
    client: TcpStream,
    server: TcpStream,
    flowing: Arc<AtomicUsize>,
    spared: bool,
}

impl Link {
    fn close(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

impl Relay {
    pub fn start(listener: TcpListener, to: SocketAddr) -> Relay {
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(RelayShared::default());
        let s = shared.clone();
        let accept = thread::spawn(move || {
            while !s.stop.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(2));
                    continue;
                };
                if s.cut.load(Ordering::Relaxed) {
                    continue; // closed at once
                }
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(to) else {
                    continue;
                };
                let flowing = Arc::new(AtomicUsize::new(2));
                for (from, into) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    let flowing = flowing.clone();
                    thread::spawn(move || {
                        let (mut from, mut into) = (from, into);
                        let _ = std::io::copy(&mut from, &mut into);
                        let _ = into.shutdown(Shutdown::Write);
                        flowing.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                s.links.lock().unwrap().push(Link {
                    client,
                    server,
                    flowing,
                    spared: false,
                });
            }
        });
        Relay {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// Connections carried now.
    pub fn open(&self) -> usize {
        let links = self.shared.links.lock().unwrap();
        links
            .iter()
            .filter(|l| l.flowing.load(Ordering::SeqCst) == 2)
            .count()
    }

    /// A cut will spare the connections carried now.
    pub fn spare_open(&self) {
        for l in self.shared.links.lock().unwrap().iter_mut() {
            l.spared = l.flowing.load(Ordering::SeqCst) == 2;
        }
    }

    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        for l in self.shared.links.lock().unwrap().iter() {
            if !l.spared {
                l.close();
            }
        }
    }

    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for l in self.shared.links.lock().unwrap().iter() {
            l.close();
        }
    }
}
