//! `Tty`: a program in a real pseudo-terminal, its output read into a vt100 screen
//! so tests can wait for text and type keys as an operator would.

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for text to appear.
const WAIT: Duration = Duration::from_secs(20);
/// The cursor-position query; answered so nothing waits for a real terminal.
const CURSOR_QUERY: &[u8] = b"\x1b[6n";

/// A program in a pseudo-terminal.
pub struct Tty {
    master: Box<dyn MasterPty + Send>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    screen: Arc<Mutex<vt100::Parser>>,
    child: Box<dyn Child + Send + Sync>,
}

impl Tty {
    /// Starts `program args…` in a `cols`×`rows` terminal with `env` set.
    pub fn spawn(program: &str, args: &[&str], env: &[(&str, &str)], cols: u16, rows: u16) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut command = CommandBuilder::new(program);
        command.args(args);
        command.env("TERM", "xterm-256color");
        command.env_remove("TESSERA_SOCKET");
        command.env_remove("NO_COLOR");
        for (k, v) in env {
            command.env(k, v);
        }
        let child = pair.slave.spawn_command(command).expect("spawn in the pty");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = Arc::new(Mutex::new(pair.master.take_writer().expect("pty writer")));
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let (sink, answer) = (Arc::clone(&screen), Arc::clone(&writer));
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    return;
                }
                let chunk = &buf[..n];
                if chunk.windows(CURSOR_QUERY.len()).any(|w| w == CURSOR_QUERY) {
                    let _ = answer.lock().unwrap().write_all(b"\x1b[1;1R");
                }
                sink.lock().unwrap().process(chunk);
            }
        });
        Self {
            master: pair.master,
            writer,
            screen,
            child,
        }
    }

    /// The terminal device the program runs on.
    pub fn device(&self) -> PathBuf {
        self.master.tty_name().expect("the pty's device name")
    }

    /// The screen as text, one line per row.
    pub fn contents(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// Types raw bytes.
    pub fn send(&self, bytes: &[u8]) {
        let mut writer = self.writer.lock().unwrap();
        writer.write_all(bytes).unwrap();
        writer.flush().unwrap();
        drop(writer);
        // Keys typed apart, as a person would: an Esc followed at once by a key would
        // read as Alt+key.
        std::thread::sleep(Duration::from_millis(60));
    }

    /// Types text, one key at a time.
    pub fn typed(&self, text: &str) {
        for c in text.chars() {
            self.send(c.to_string().as_bytes());
        }
    }

    /// Waits until the screen shows `text`; returns the screen. Panics with the
    /// screen after [`WAIT`].
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let contents = self.contents();
            if contents.contains(text) {
                return contents;
            }
            if Instant::now() > deadline {
                panic!("waited for {text:?}; the screen shows:\n{contents}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits for the program to exit; its exit code.
    pub fn wait_exit(&mut self) -> u32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                return status.exit_code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the program did not exit; the screen shows:\n{}", self.contents());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
