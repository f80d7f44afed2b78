//! A TCP proxy on loopback in front of a real store (PostgreSQL, Redis), with a switch, so a
//! test can take the store away from one app without stopping the service the other tests
//! share: [`Fault::Refuse`] is a stopped server (every connection closed, new ones refused at
//! once), [`Fault::Blackhole`] a network that drops everything (connections accepted, nothing
//! ever answered).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwards bytes both ways.
    None,
    /// Closes every connection and every new one at once, as a stopped server does.
    Refuse,
    /// Keeps connections open and forwards nothing.
    Blackhole,
}

/// A running proxy; stops when dropped (its tasks end with the test's runtime).
pub struct Proxy {
    /// The address to give the app instead of the store's.
    pub addr: SocketAddr,
    state: Arc<watch::Sender<Fault>>,
}

impl Proxy {
    /// Starts a proxy to `target` (e.g. `127.0.0.1:6379`) on a free loopback port.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (state, _) = watch::channel(Fault::None);
        let state = Arc::new(state);
        let accept_state = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                tokio::spawn(serve(client, target, accept_state.subscribe()));
            }
        });
        Proxy { addr, state }
    }

    /// Switches what the proxy does, for existing and new connections.
    pub fn set(&self, fault: Fault) {
        self.state.send_replace(fault);
    }
}

async fn serve(mut client: TcpStream, target: SocketAddr, mut state: watch::Receiver<Fault>) {
    let fault = *state.borrow_and_update();
    match fault {
        Fault::Refuse => {
            let _ = client.shutdown().await;
            return;
        }
        Fault::Blackhole => {
            // Hold the connection until the fault ends, then close it.
            while state.changed().await.is_ok() && *state.borrow() == Fault::Blackhole {}
            return;
        }
        Fault::None => {}
    }
    let Ok(mut server) = TcpStream::connect(target).await else { return };
    // Forward until a fault starts; then stop forwarding (the copy is dropped).
    let fault = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
        fault = async {
            loop {
                if state.changed().await.is_err() {
                    return Fault::Refuse;
                }
                let fault = *state.borrow();
                if fault != Fault::None {
                    return fault;
                }
            }
        } => fault,
    };
    // Blackhole: hold both sockets, silent, until the fault ends; then (or at once for
    // Refuse) close them.
    if fault == Fault::Blackhole {
        while state.changed().await.is_ok() && *state.borrow() == Fault::Blackhole {}
    }
}
