//! Test support: a tiny HTTP server on 127.0.0.1 that answers every request with one fixed document (which a
//! test may swap, as an issuer rotating its keys would) and counts the requests it gets. It serves loopback only
//! and stops by itself when dropped or after [`LIFETIME`], whichever comes first.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// No test needs the server longer than this; past it the thread ends even if the test forgot it.
const LIFETIME: Duration = Duration::from_secs(60);

struct Shared {
    status: u16,
    body: Vec<u8>,
}

pub struct JwksServer {
    addr: std::net::SocketAddr,
    shared: Arc<Mutex<Shared>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl JwksServer {
    pub fn start(body: Vec<u8>) -> Self {
        Self::start_with_status(200, body)
    }

    pub fn start_with_status(status: u16, body: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Mutex::new(Shared { status, body }));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, requests, stop) = (shared.clone(), requests.clone(), stop.clone());
            std::thread::spawn(move || serve(&listener, &shared, &requests, &stop))
        };
        Self {
            addr,
            shared,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The URL of the document (any path is answered the same).
    pub fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    /// How many requests were answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Serves `body` from now on.
    pub fn set_body(&self, body: Vec<u8>) {
        self.shared.lock().expect("lock").body = body;
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    listener: &TcpListener,
    shared: &Mutex<Shared>,
    requests: &AtomicUsize,
    stop: &AtomicBool,
) {
    let deadline = Instant::now() + LIFETIME;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                let (status, body) = {
                    let shared = shared.lock().expect("lock");
                    (shared.status, shared.body.clone())
                };
                // Counted before the answer is written: a client that stops reading early (an oversize
                // body) may look at the count before the write finishes.
                if let Some(stream) = read_head(stream) {
                    requests.fetch_add(1, Ordering::SeqCst);
                    answer(stream, status, &body);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Reads one request head; the stream back when a whole head arrived.
fn read_head(mut stream: TcpStream) -> Option<TcpStream> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(stream)
}

/// Answers a request whose head was read.
fn answer(mut stream: TcpStream, status: u16, body: &[u8]) {
    let response = format!(
        "HTTP/1.1 {status} Test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}
